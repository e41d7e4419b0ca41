"""The compiled sweep evaluator against the engine replay, on random settings and markets.

Each case draws a market (a random walk with wicks, a wave traded on notional volume, a trend
with jumps and gaps, or a recording of the paper venue's own market, its generated price path
aggregated into candles and replayed; prices from a tenth of a dollar to BTC's; hourly funding
or none) and a
bot's settings (levels, spacing and its kind, size and its scaling, rolling or bounded, re-centre
threshold, every risk limit, the fee, the fill model and the candle path), then runs both
evaluators. A case *agrees* when the fills are identical (time, side, price, size) and the
report's money (net, realized, unrealized, fees, funding) is equal to the cent, with the same
halts and final position; the drawdown may differ by a cent at most (it is read off float
equities). A case the fast evaluator declines (settings it does not model, a decision too close
to call) is counted apart: the optimizer scores those with the engine replay.

``tests/integration/test_fast_replay.py`` runs a CI-sized set; ``gridtui bench sweep`` runs
``--agreement N`` of them and prints the count.
"""

from __future__ import annotations

import math
import random
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

import attrs

from gridtui.backtest.replay import ReplayOptions, replay
from gridtui.backtest.report import BacktestReport, build_report, report_of
from gridtui.config.loader import ConfigError, load_config_text
from gridtui.config.schema import CandlePath, PaperMarket
from gridtui.exchanges.sim import load_candles, load_funding
from gridtui.exchanges.sim.exchange import DEFAULT_NOTIONAL_PER_TICK
from gridtui.exchanges.sim.price_path import GeneratedPath
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.optimize.fast_replay import Bailed, candle_arrays, fast_replay

START_MS = 1_704_060_000_000  # 2023-12-31T22:00:00Z: runs cross a UTC midnight
_MARKETS = ((Decimal("0.31"), 0), (Decimal("3.2"), 1), (Decimal("64"), 2), (Decimal("2500"), 3),
            (Decimal("64000"), 5))  # fmt: skip
"""Start prices and their coin's size decimals."""


@attrs.frozen(slots=True)
class Case:
    number: int
    config: str
    candles: str
    funding: str | None
    options: ReplayOptions


@attrs.frozen(slots=True)
class Outcome:
    case: int
    agreed: bool
    declined: str | None = None
    """Why the fast evaluator gave no answer (the engine replay scores such a trial)."""
    refused: str | None = None
    """Why the config loader refused the drawn settings (not a case at all)."""
    difference: str | None = None
    fills: int = 0
    halted: bool = False
    """The engine's run halted on a risk limit (drawdown or daily loss) at least once."""


def draw_case(number: int, seed: int) -> Case:
    """Case ``number`` of the seeded set ``seed``: the same numbers give the same case."""
    rng = random.Random(seed * 1_000_003 + number)
    start, szd = rng.choice(_MARKETS)
    interval = rng.choice((60_000, 60_000, 300_000, 3_600_000))
    count = rng.randint(300, 900)
    candles = (
        _recorded(rng, start, szd, interval, count)
        if rng.random() < 0.25
        else _candles(rng, float(start), interval, count)
    )
    funding = _funding(rng, interval, count) if rng.random() < 0.5 else None
    options = ReplayOptions(
        fill_model=rng.choice((FillModel.STRICT, FillModel.TOUCH)),
        path=rng.choice(
            (CandlePath.ADAPTIVE, CandlePath.ADAPTIVE, CandlePath.OHLC, CandlePath.OLHC)
        ),
    )
    return Case(number, _config(rng, start, szd), candles, funding, options)


def compare(case: Case, workdir: Path) -> Outcome:
    """Both evaluators on ``case``; files go into ``workdir``."""
    candles_file = workdir / f"case-{case.number}.csv"
    candles_file.write_text(case.candles, encoding="utf-8")
    funding = None
    if case.funding is not None:
        funding_file = workdir / f"case-{case.number}-funding.csv"
        funding_file.write_text(case.funding, encoding="utf-8")
        funding = load_funding(funding_file)
    try:
        config = load_config_text(case.config, base_dir=workdir, source=f"case {case.number}")
    except ConfigError as exc:
        return Outcome(case.number, False, refused="; ".join(exc.problems))
    bot = config.bots[0]
    series = load_candles(candles_file)
    sz_decimals = config.venue.paper.markets[0].sz_decimals
    arrays = candle_arrays(series, sz_decimals, case.options)
    fast = fast_replay(config, bot, arrays, funding, case.options)
    if isinstance(fast, Bailed):
        return Outcome(case.number, False, declined=fast.reason)
    engine = replay(config, bot, candles_file, series, funding, case.options)
    model, path = case.options.fill_model.value, case.options.path.value
    expected = build_report(engine, series, fill_model=model, path=path)
    got = report_of(
        fast.figures(bot, config.venue.paper.starting_balance, arrays),
        series,
        fill_model=model,
        path=path,
    )
    wanted = [(f.timestamp_ms, f.side, f.price, f.size) for f in engine.fills]
    found = fast.fill_tuples()
    if wanted != found:
        at = next(
            (i for i, (a, b) in enumerate(zip(wanted, found, strict=False)) if a != b),
            min(len(wanted), len(found)),
        )
        return Outcome(
            case.number,
            False,
            difference=f"fills differ from fill {at} of {len(wanted)} (fast has {len(found)}): "
            f"engine {wanted[at : at + 1]}, fast {found[at : at + 1]}",
            fills=len(wanted),
        )
    difference = _report_difference(expected, got)
    return Outcome(
        case.number,
        difference is None,
        difference=difference,
        fills=len(wanted),
        halted=expected.halts > 0,
    )


def _report_difference(expected: BacktestReport, got: BacktestReport) -> str | None:
    exact = ("net_pnl", "realized_pnl", "unrealized_pnl", "fees", "funding", "fills",
             "round_trips", "halts", "final_position", "time_halted_pct")  # fmt: skip
    for name in exact:
        if getattr(expected, name) != getattr(got, name):
            return f"{name}: engine {getattr(expected, name)}, fast {getattr(got, name)}"
    if abs(expected.max_drawdown - got.max_drawdown) > Decimal("0.01"):
        return f"max_drawdown: engine {expected.max_drawdown}, fast {got.max_drawdown}"
    for name in ("sharpe", "sortino"):
        a, b = getattr(expected, name), getattr(got, name)
        if (a is None) != (b is None) or (
            a is not None and b is not None and not math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
        ):
            return f"{name}: engine {a}, fast {b}"
    return None


@attrs.frozen(slots=True)
class Agreement:
    outcomes: tuple[Outcome, ...]

    @property
    def compared(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.refused is None and o.declined is None]

    @property
    def agreed(self) -> int:
        return sum(o.agreed for o in self.outcomes)

    @property
    def declined(self) -> Counter[str]:
        return Counter(o.declined for o in self.outcomes if o.declined is not None)

    @property
    def refused(self) -> int:
        return sum(o.refused is not None for o in self.outcomes)

    @property
    def differing(self) -> list[Outcome]:
        return [o for o in self.compared if not o.agreed]

    def summary(self) -> str:
        declined = sum(self.declined.values())
        fills = sum(o.fills for o in self.compared)
        halted = sum(o.halted for o in self.compared)
        return (
            f"{self.agreed} of {len(self.compared)} compared settings agree "
            f"({fills} fills, {halted} runs with risk halts); {declined} declined by the fast "
            f"evaluator (scored by the engine replay), {self.refused} refused by the config"
        )


def run_agreement(cases: int, seed: int = 1, *, workdir: Path | None = None) -> Agreement:
    """``cases`` settings drawn until that many were compared (declined and refused ones are
    drawn again, up to three times as many in all)."""
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="gridtui-agreement-") as scratch:
        folder = workdir or Path(scratch)
        number = 0
        compared = 0
        while compared < cases and number < 3 * cases:
            outcome = compare(draw_case(number, seed), folder)
            outcomes.append(outcome)
            compared += outcome.refused is None and outcome.declined is None
            number += 1
    return Agreement(tuple(outcomes))


def _config(rng: random.Random, start: Decimal, szd: int) -> str:
    levels = rng.randint(2, 12)
    spacing_pct = round(rng.uniform(0.05, 2.0), 2)
    lot = 10.0**-szd
    size = max(round(rng.uniform(10.5, 120.0) / float(start) / lot) * lot, lot)
    grid = [
        f"levels = {levels}",
        f'spacing = "{rng.choice(("arithmetic", "arithmetic", "geometric"))}"',
        f"spacing_pct = {spacing_pct}",
        f"size = {size:.{szd}f}",
        f"size_scaling_pct = {rng.choice((0, 0, round(rng.uniform(0, 50), 1)))}",
        f"recenter_threshold_pct = {round(rng.uniform(0, 2), 2)}",
    ]
    roll = rng.random()
    if roll < 0.15:
        low, high = float(start) * rng.uniform(0.8, 0.97), float(start) * rng.uniform(1.03, 1.2)
        grid += ['mode = "bounded"', f"lower = {low:.4g}", f"upper = {high:.4g}"]
    elif roll < 0.2:
        grid.append("volatility_scaled = true")
    elif roll < 0.25:
        grid.append(f"trend_bias = {round(rng.uniform(0.1, 1), 2)}")
    position = size * rng.choice((2, 5, 20, 1000))
    risk = [
        f"max_position = {position:.{szd}f}",
        f"max_notional = {rng.choice((200, 1000, 100000, 10000000))}",
        f"max_open_orders = {rng.randint(2, 40)}",
        f"max_orders_per_second = {rng.choice((0.5, 1, 2.5, 5, 10))}",
        f"order_burst = {rng.randint(2, 30)}",
        f"max_drawdown = {rng.choice((5, 30, 300, 100000))}",
        f"daily_loss_limit = {rng.choice((3, 20, 200, 100000))}",
    ]
    maker_fee = rng.choice(("0", "0.0001", "0.00015", "0.0003"))
    return "\n".join([
        'data_dir = "data"',
        "[venue]",
        'kind = "paper"',
        "[venue.paper]",
        "starting_balance = 100000",
        f"maker_fee = {maker_fee}",
        "taker_fee = 0.00045",
        "[[venue.paper.markets]]",
        'coin = "X"',
        f"start_price = {start}",
        f"sz_decimals = {szd}",
        "[grid]",
        *grid,
        "[risk]",
        *risk,
        "[[bots]]",
        'name = "case"',
        'coin = "X"',
        "",
    ])  # fmt: skip


def _candles(rng: random.Random, start: float, interval: int, count: int) -> str:
    shape = rng.choice(("walk", "wave", "trend"))
    sigma = rng.choice((0.0005, 0.002, 0.006))
    volume = rng.choice((0.0, 5.0, 500.0, 1e6))
    rows = ["time_ms,open,high,low,close,volume"]
    price = start
    at = START_MS
    for i in range(count):
        if shape == "wave":
            target = start * (1 + 0.03 * math.sin(i / rng.uniform(8, 40)))
            close = target * (1 + rng.gauss(0, sigma / 3))
        elif shape == "trend":
            close = price * (1 + rng.gauss(0.0004, sigma))
            if rng.random() < 0.01:
                close *= rng.choice((0.95, 1.05))
        else:
            close = price * (1 + rng.gauss(0, sigma))
        close = max(close, start * 0.3)
        high = max(price, close) * (1 + abs(rng.gauss(0, sigma / 2)))
        low = min(price, close) * (1 - abs(rng.gauss(0, sigma / 2)))
        candle_volume = volume * rng.uniform(0.2, 2) if volume else 0.0
        rows.append(
            f"{at},{_price(price)},{_price(high)},{_price(low)},{_price(close)},{candle_volume:.3f}"
        )
        price = float(_price(close))
        at += interval * (2 if shape == "trend" and rng.random() < 0.02 else 1)
    return "\n".join(rows) + "\n"


def _recorded(rng: random.Random, start: Decimal, szd: int, interval: int, count: int) -> str:
    """The paper venue's generated market (mean reversion, trend regimes, jumps), recorded tick
    by tick and written as candles: what a trader who recorded a paper run would replay."""
    market = PaperMarket("REC", start, szd, volatility=rng.choice((0.5, 0.8, 2.0)))
    path = GeneratedPath(market, rng.randrange(1 << 30), DEFAULT_NOTIONAL_PER_TICK)
    ticks = rng.choice((1, 4, 12))
    rows = ["time_ms,open,high,low,close,volume"]
    for i in range(count):
        steps = [path.next_tick(interval / 1000 / ticks) for _ in range(ticks)]
        high = max(t.high for t in steps)
        low = min(t.low for t in steps)
        volume = sum((t.volume for t in steps), Decimal(0))
        rows.append(f"{START_MS + i * interval},{steps[0].open:f},{high:f},{low:f},"
                    f"{steps[-1].close:f},{volume:f}")  # fmt: skip
    return "\n".join(rows) + "\n"


def _price(value: float) -> str:
    """Five significant figures, never in exponent form (the candle reader wants plain
    numbers)."""
    return format(Decimal(f"{value:.5g}"), "f")


def _funding(rng: random.Random, interval: int, count: int) -> str:
    rows = ["time,fundingRate,premium"]
    hour = 3_600_000
    first = START_MS // hour + 1
    last = (START_MS + 2 * interval * count) // hour
    for h in range(first, last + 1):
        rows.append(f"{h * hour},{rng.gauss(0.00001, 0.00005):.8f},0")
    return "\n".join(rows) + "\n"
