"""The backtest's figures, computed from what the replay recorded (fills, funding, the books at each
close) and nothing else, so anyone can recompute them from ``--fills-out``.

Definitions (the help and the README say the same):
- ``net_pnl`` = ``realized_pnl`` + ``unrealized_pnl`` + ``funding``, where ``realized_pnl`` is net
  of fees (as the journal books it) and ``unrealized_pnl`` marks the final position at the last
  close;
- ``return_pct`` and ``max_drawdown_pct`` are against the paper venue's starting balance;
- ``round_trips`` = the smaller of the buy and sell fill counts; ``grid_profit_per_round_trip`` =
  ``realized_pnl`` / ``round_trips``;
- ``sharpe`` and ``sortino`` from daily equity changes over the starting balance, annualised with
  √365 (crypto trades every day), None with fewer than two days;
- ``buy_and_hold_pnl``: the starting balance bought at the first open, valued at the last close.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from gridtui.backtest.replay import EquityPoint, Replay
from gridtui.core.types import ZERO, Side
from gridtui.exchanges.sim import CandleSeries, Gaps

DAY_MS = 86_400_000
_CENTS = Decimal("0.01")


@attrs.frozen(slots=True)
class BacktestReport:
    bot: str
    coin: str
    start: str
    end: str
    candles: int
    gaps: Gaps
    fill_model: str
    path: str
    net_pnl: Decimal
    return_pct: Decimal
    realized_pnl: Decimal
    unrealized_pnl: Decimal
    fees: Decimal
    funding: Decimal | None
    fills: int
    round_trips: int
    grid_profit_per_round_trip: Decimal | None
    max_drawdown: Decimal
    max_drawdown_pct: Decimal
    sharpe: float | None
    sortino: float | None
    halts: int
    time_halted_pct: Decimal
    final_position: Decimal
    buy_and_hold_pnl: Decimal

    def to_json(self) -> dict[str, Any]:
        """Snake-case fields, amounts as exact strings, ratios rounded: the same inputs give
        the same bytes."""
        out: dict[str, Any] = {}
        for field in attrs.fields(BacktestReport):
            value = getattr(self, field.name)
            if isinstance(value, Gaps):
                value = {"count": value.count, "largest_ms": value.largest_ms}
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, float):
                value = round(value, 4)
            out[field.name] = value
        return out


def build_report(
    run: Replay,
    candles: CandleSeries,
    *,
    fill_model: str,
    path: str,
) -> BacktestReport:
    last = run.equity[-1]
    capital = run.capital
    buys = sum(1 for f in run.fills if f.side is Side.BUY)
    sells = len(run.fills) - buys
    round_trips = min(buys, sells)
    drawdown = _max_drawdown(run.equity)
    first_open = candles[0].open
    return BacktestReport(
        bot=run.bot,
        coin=run.coin,
        start=_iso(candles[0].time_ms),
        end=_iso(last.time_ms),
        candles=len(candles),
        gaps=candles.gaps,
        fill_model=fill_model,
        path=path,
        net_pnl=_cents(last.equity),
        return_pct=_cents(last.equity / capital * 100),
        realized_pnl=_cents(last.realized),
        unrealized_pnl=_cents(last.unrealized),
        fees=_cents(last.fees),
        funding=None if run.funding is None else _cents(last.funding),
        fills=len(run.fills),
        round_trips=round_trips,
        grid_profit_per_round_trip=_cents(last.realized / round_trips) if round_trips else None,
        max_drawdown=_cents(drawdown),
        max_drawdown_pct=_cents(drawdown / capital * 100),
        sharpe=_ratio(run.equity, capital, downside_only=False),
        sortino=_ratio(run.equity, capital, downside_only=True),
        halts=run.halts,
        time_halted_pct=_cents(Decimal(sum(p.halted for p in run.equity)) / len(run.equity) * 100),
        final_position=last.position,
        buy_and_hold_pnl=_cents(capital / first_open * (candles[-1].close - first_open)),
    )


def _max_drawdown(equity: Sequence[EquityPoint]) -> Decimal:
    peak = ZERO
    worst = ZERO
    for point in equity:
        peak = max(peak, point.equity)
        worst = max(worst, peak - point.equity)
    return worst


def _ratio(equity: Sequence[EquityPoint], capital: Decimal, *, downside_only: bool) -> float | None:
    """Annualised mean over deviation of daily returns (each day's last equity); Sortino counts
    only the losing days in the deviation."""
    closes: dict[int, Decimal] = {}
    for point in equity:
        closes[point.time_ms // DAY_MS] = point.equity
    days = [closes[d] for d in sorted(closes)]
    returns = [float((b - a) / capital) for a, b in zip([ZERO, *days], days, strict=False)]
    if len(returns) < 2:
        return None
    mean = sum(returns) / len(returns)
    pool = [min(r, 0.0) for r in returns] if downside_only else [r - mean for r in returns]
    deviation = math.sqrt(sum(x * x for x in pool) / len(pool))
    if deviation == 0:
        return None
    return mean / deviation * math.sqrt(365)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENTS)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
