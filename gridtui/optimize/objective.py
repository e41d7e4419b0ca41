"""What a trial is worth: one number from a backtest report, higher is better."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from datetime import datetime

from gridtui.backtest.report import BacktestReport

DAYS_A_YEAR = 365


class Objective(enum.StrEnum):
    NET_PNL = "net_pnl"
    """Net PnL in USD (realized, unrealized at the last close, funding)."""
    SHARPE = "sharpe"
    """Annualised Sharpe ratio of daily equity changes (the report's)."""
    CALMAR = "calmar"
    """Annualised return % over max drawdown %: return bought per unit of pain."""


def score(report: BacktestReport, objective: Objective) -> float | None:
    """The report's value for ``objective``; None where it is undefined (a Sharpe ratio over
    fewer than two days, a Calmar ratio without any drawdown): never a made-up number."""
    if objective is Objective.NET_PNL:
        return float(report.net_pnl)
    if objective is Objective.SHARPE:
        return report.sharpe
    if report.max_drawdown_pct <= 0:
        return None
    days = _days(report)
    if days <= 0:
        return None
    annual_return = float(report.return_pct) * DAYS_A_YEAR / days
    return annual_return / float(report.max_drawdown_pct)


def mean_score(reports: Sequence[BacktestReport], objective: Objective) -> float | None:
    """The mean over folds; undefined if any fold's is."""
    scores = [score(report, objective) for report in reports]
    if not scores or any(s is None or math.isnan(s) for s in scores):
        return None
    return sum(s for s in scores if s is not None) / len(scores)


def _days(report: BacktestReport) -> float:
    start = datetime.fromisoformat(report.start.replace("Z", "+00:00"))
    end = datetime.fromisoformat(report.end.replace("Z", "+00:00"))
    return (end - start).total_seconds() / 86_400
