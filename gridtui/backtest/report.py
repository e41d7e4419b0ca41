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
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs
import numpy as np

from gridtui.backtest.replay import Replay
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


@attrs.frozen(slots=True)
class RunFigures:
    """What a report is computed from, whichever evaluator produced the run: the exact final
    books and the equity at each close (floats: only the drawdown and the ratios read them)."""

    bot: str
    coin: str
    capital: Decimal
    realized: Decimal
    unrealized: Decimal
    fees: Decimal
    funding: Decimal | None
    buys: int
    sells: int
    halts: int
    final_position: Decimal
    max_drawdown: Decimal
    """The largest fall of the equity at a close from its peak so far (the start, zero, is a
    peak): ``_max_drawdown`` of the equity points."""
    close_times: np.ndarray = attrs.field(repr=False)
    equity: np.ndarray = attrs.field(repr=False)
    halted: np.ndarray = attrs.field(repr=False)

    @classmethod
    def of_replay(cls, run: Replay) -> RunFigures:
        last = run.equity[-1]
        buys = sum(1 for f in run.fills if f.side is Side.BUY)
        count = len(run.equity)
        equity = np.fromiter((float(p.equity) for p in run.equity), np.float64, count)
        return cls(
            bot=run.bot,
            coin=run.coin,
            capital=run.capital,
            realized=last.realized,
            unrealized=last.unrealized,
            fees=last.fees,
            funding=None if run.funding is None else last.funding,
            buys=buys,
            sells=len(run.fills) - buys,
            halts=run.halts,
            final_position=last.position,
            max_drawdown=_max_drawdown(equity),
            close_times=np.fromiter((p.time_ms for p in run.equity), np.int64, count),
            equity=equity,
            halted=np.fromiter((p.halted for p in run.equity), np.bool_, count),
        )


def build_report(
    run: Replay,
    candles: CandleSeries,
    *,
    fill_model: str,
    path: str,
) -> BacktestReport:
    return report_of(RunFigures.of_replay(run), candles, fill_model=fill_model, path=path)


def report_of(
    run: RunFigures,
    candles: CandleSeries,
    *,
    fill_model: str,
    path: str,
) -> BacktestReport:
    capital = run.capital
    round_trips = min(run.buys, run.sells)
    drawdown = run.max_drawdown
    first_open = candles[0].open
    funding = ZERO if run.funding is None else run.funding
    net = run.realized + run.unrealized + funding
    return BacktestReport(
        bot=run.bot,
        coin=run.coin,
        start=_iso(candles[0].time_ms),
        end=_iso(int(run.close_times[-1])),
        candles=len(candles),
        gaps=candles.gaps,
        fill_model=fill_model,
        path=path,
        net_pnl=_cents(net),
        return_pct=_cents(net / capital * 100),
        realized_pnl=_cents(run.realized),
        unrealized_pnl=_cents(run.unrealized),
        fees=_cents(run.fees),
        funding=None if run.funding is None else _cents(run.funding),
        fills=run.buys + run.sells,
        round_trips=round_trips,
        grid_profit_per_round_trip=_cents(run.realized / round_trips) if round_trips else None,
        max_drawdown=_cents(drawdown),
        max_drawdown_pct=_cents(drawdown / capital * 100),
        sharpe=_ratio(run, downside_only=False),
        sortino=_ratio(run, downside_only=True),
        halts=run.halts,
        time_halted_pct=_cents(Decimal(int(run.halted.sum())) / len(run.halted) * 100),
        final_position=run.final_position,
        buy_and_hold_pnl=_cents(capital / first_open * (candles[-1].close - first_open)),
    )


def _max_drawdown(equity: np.ndarray) -> Decimal:
    """The largest fall from a peak (the starting equity, zero, counts as one)."""
    peaks = np.maximum.accumulate(np.maximum(equity, 0.0))
    worst = float((peaks - equity).max(initial=0.0))
    return Decimal(repr(worst))


def _ratio(run: RunFigures, *, downside_only: bool) -> float | None:
    """Annualised mean over deviation of daily returns (each day's last equity); Sortino counts
    only the losing days in the deviation."""
    days = run.close_times // DAY_MS
    last_of_day = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    closes = run.equity[last_of_day]
    if len(closes) < 2:
        return None
    returns = np.diff(closes, prepend=0.0) / float(run.capital)
    mean = float(returns.mean())
    pool = np.minimum(returns, 0.0) if downside_only else returns - mean
    deviation = math.sqrt(float((pool * pool).sum()) / len(pool))
    if deviation == 0:
        return None
    return mean / deviation * math.sqrt(365)


def _cents(value: Decimal) -> Decimal:
    return value.quantize(_CENTS)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
