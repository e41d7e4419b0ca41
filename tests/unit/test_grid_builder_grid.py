"""GridBuilder against a real paper venue whose BTC price follows a tape of flat candles."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from gridtui.config.schema import (
    BreakerSettings,
    GridSettings,
    PaperMarket,
    PaperSettings,
    RiskLimits,
)
from gridtui.core.clock import SimClock
from gridtui.core.events import AlertRaised, Event, EventBus, GridBuilt
from gridtui.core.types import AssetMeta, Fill, OrderStatus, Side
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.execution.execution_gateway import ExecutionGateway, client_order_id
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor, FillResult
from gridtui.execution.grid_builder import GridBuilder
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import CircuitBreaker
from gridtui.risk.risk_engine import RiskEngine
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store
from gridtui.strategy.grid_calculator import calculate_grid
from gridtui.strategy.grid_snapshot import GridSnapshot

D = Decimal
T0 = 1_700_000_000_000
BUY, SELL = Side.BUY, Side.SELL
META = AssetMeta("BTC", 0, 2)
GRID = GridSettings(levels=3, spacing_pct=D(1), size=D("0.2"))
STEPS_PER_PRICE = 4  # a flat candle holds its price for four venue steps


@attrs.define
class Rig:
    clock: SimClock
    venue: SimExchange
    state: StateManager
    processor: FillProcessor
    gateway: ExecutionGateway
    builder: GridBuilder
    events: list[Event]

    def snapshot(self, mid: str, settings: GridSettings = GRID) -> GridSnapshot:
        return calculate_grid(
            coin="BTC", mid=D(mid), settings=settings, meta=META, now_ms=self.clock.now_ms()
        )

    async def book(self) -> set[tuple[Side, Decimal, Decimal]]:
        return {(o.side, o.price, o.remaining) for o in await self.venue.open_orders("BTC")}

    async def next_price(self) -> list[FillResult]:
        """Move the tape to its next price and process the fills that caused."""
        before = {f.trade_id for f in await self.venue.fills_since(0, "BTC")}
        for _ in range(STEPS_PER_PRICE):
            self.clock.advance(1)
            self.venue.step()
        fills = [f for f in await self.venue.fills_since(0, "BTC") if f.trade_id not in before]
        return self.processor.process_fills(fills)

    def alerts(self, kind: str) -> list[AlertRaised]:
        return [e for e in self.events if isinstance(e, AlertRaised) and e.kind == kind]


MakeRig = Callable[..., Rig]


@pytest.fixture
async def make_rig(tmp_path: Path) -> AsyncIterator[MakeRig]:
    opened: list[tuple[Store, SimExchange]] = []

    def factory(prices: Sequence[int | str] = (100,), risk: RiskLimits | None = None) -> Rig:
        tape = tmp_path / "btc.csv"
        rows = [f"{T0 + i * 60_000},{p},{p},{p},{p},0" for i, p in enumerate(prices)]
        tape.write_text("\n".join(rows) + "\n", encoding="utf-8")
        clock = SimClock(T0)
        market = PaperMarket("BTC", D(prices[0]), 2, candles_file=tape)
        venue = SimExchange.in_memory(PaperSettings(markets=(market,)), clock)
        store = Store(tmp_path / "b1.db", venue="paper", bot="b1", coin="BTC")
        opened.append((store, venue))
        bus = EventBus()
        events: list[Event] = []
        bus.subscribe(events.append)
        state = StateManager(store, clock, bot="b1", coin="BTC")
        ledger = ShadowLedger(store, OrderStateMachine(), clock)
        processor = FillProcessor(state, FillDeduplicator(store), ledger, bus, clock)
        breaker = CircuitBreaker(BreakerSettings(), clock)
        metrics = Metrics()
        gateway = ExecutionGateway(
            venue, ledger, breaker, bus, clock, metrics, bot="b1", coin="BTC"
        )
        builder = GridBuilder(
            gateway,
            RiskEngine(risk or RiskLimits(), clock),
            state,
            Alerter(bus, clock),
            bus,
            clock,
            metrics,
        )
        return Rig(clock, venue, state, processor, gateway, builder, events)

    yield factory
    for store, venue in opened:
        store.close()
        await venue.close()


@pytest.fixture
def rig(make_rig: MakeRig) -> Rig:
    return make_rig()


FULL = {
    (BUY, D(97), D("0.2")),
    (BUY, D(98), D("0.2")),
    (BUY, D(99), D("0.2")),
    (SELL, D(101), D("0.2")),
    (SELL, D(102), D("0.2")),
    (SELL, D(103), D("0.2")),
}


async def test_places_exactly_the_desired_levels(rig: Rig) -> None:
    result = await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    assert (result.placed, result.canceled, result.refused) == (6, 0, ())
    assert await rig.book() == FULL  # buys below the empty center, sells above it
    (built,) = [e for e in rig.events if isinstance(e, GridBuilt)]
    assert (built.center, built.levels, built.placed) == (D(100), 6, 6)


async def test_gap_follows_the_mark(rig: Rig) -> None:
    # the mark sits at level -1 (99): that slot stays empty, the center is a sell
    result = await rig.builder.build_and_place_grid(rig.snapshot("100"), D("99.2"))
    assert result.placed == 6
    assert await rig.book() == (FULL - {(BUY, D(99), D("0.2"))}) | {(SELL, D(100), D("0.2"))}


async def test_a_second_build_places_nothing(rig: Rig) -> None:
    snapshot = rig.snapshot("100")
    await rig.builder.build_and_place_grid(snapshot, D(100))
    again = await rig.builder.build_and_place_grid(snapshot, D(100))
    assert (again.placed, again.canceled) == (0, 0)
    assert await rig.book() == FULL
    assert len(rig.gateway.ledger.store.orders()) == 6  # nothing new journaled either


async def test_orders_of_an_old_snapshot_are_canceled(rig: Rig) -> None:
    await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    old = {t.client_id for t in rig.gateway.ledger.live()}
    wider = attrs.evolve(GRID, spacing_pct=D(2))  # new levels: 94/96/98 and 102/104/106
    result = await rig.builder.build_and_place_grid(rig.snapshot("100", wider), D(100))
    assert (result.placed, result.canceled) == (6, 6)
    assert await rig.book() == {
        (BUY, D(94), D("0.2")),
        (BUY, D(96), D("0.2")),
        (BUY, D(98), D("0.2")),
        (SELL, D(102), D("0.2")),
        (SELL, D(104), D("0.2")),
        (SELL, D(106), D("0.2")),
    }
    assert {rig.gateway.ledger.get(cid).status for cid in old} == {OrderStatus.CANCELED}  # type: ignore[union-attr]


async def test_risk_refusals_cut_the_grid_from_the_far_end(make_rig: MakeRig) -> None:
    r = make_rig(risk=RiskLimits(max_open_orders=4))
    result = await r.builder.build_and_place_grid(r.snapshot("100"), D(100))
    assert result.placed == 4
    assert len(result.refused) == 2
    assert all("max_open_orders 4" in reason for reason in result.refused)
    assert {p for _, p, _ in await r.book()} == {D(98), D(99), D(101), D(102)}


async def test_a_halted_bot_places_nothing(rig: Rig) -> None:
    await rig.state.set_halted("operator")
    result = await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    assert result.placed == 0
    assert result.refused == ("halted: operator",) * 6
    assert await rig.venue.open_orders("BTC") == []
    assert rig.gateway.ledger.store.orders() == []


async def test_fill_is_replaced_one_level_away_on_the_other_side(make_rig: MakeRig) -> None:
    r = make_rig(prices=[100, 99, 100])
    await r.builder.build_and_place_grid(r.snapshot("100"), D(100))

    (bought,) = await r.next_price()  # 100 → 99: the buy at level -1 fills
    assert (bought.fill.side, bought.fill.price, bought.order_status) == (
        BUY,
        D(99),
        OrderStatus.FILLED,
    )
    result = await r.builder.on_fill(bought, D(99))
    assert result.placed == 1 and r.builder.gap_index == -1
    sell = await r.venue.order_status(client_id=client_order_id("b1", 0, 0))
    assert sell is not None and (sell.side, sell.price, sell.size) == (SELL, D(100), D("0.2"))

    (sold,) = await r.next_price()  # 99 → 100: that sell fills; a buy goes back to 99
    assert (sold.fill.side, sold.fill.price) == (SELL, D(100))
    assert (await r.builder.on_fill(sold, D(100))).placed == 1
    buy = await r.venue.order_status(client_id=client_order_id("b1", -1, 1))
    assert buy is not None and (buy.side, buy.price, buy.size) == (BUY, D(99), D("0.2"))
    assert await r.book() == FULL
    assert r.builder.check_drift() == 0


async def test_replacement_keeps_the_filled_size(make_rig: MakeRig) -> None:
    scaled = attrs.evolve(GRID, size_scaling_pct=D(50))  # 0.2 at ±1, 0.3 at ±2, 0.4 at ±3
    r = make_rig(prices=[100, 98])
    await r.builder.build_and_place_grid(r.snapshot("100", scaled), D(100))
    results = await r.next_price()  # 100 → 98: buys at 99 (0.2) and 98 (0.3) fill
    assert len(results) == 2  # one batch, as the stream delivers it
    for result in results:
        await r.builder.on_fill(result, D(98))
    # The state held both fills before the first on_fill ran: that is not drift.
    assert r.alerts("position_drift") == []
    book = await r.book()
    # each replacement sells what its buy bought, one level up: 0.3 at 99, 0.2 at 100
    assert {(s, p, q) for s, p, q in book if s is SELL and p < 101} == {
        (SELL, D(99), D("0.3")),
        (SELL, D(100), D("0.2")),
    }


async def test_a_partial_fill_is_not_replaced(rig: Rig) -> None:
    await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    tracked = next(t for t in rig.gateway.ledger.live() if t.level == -1)
    half = Fill(
        "paper", "BTC", 1, tracked.exchange_id or 0, tracked.client_id, BUY, D(99), D("0.1"),
        D(0), T0 + 1,
    )  # fmt: skip
    result = rig.processor.process_fill(half)
    assert result.order_status is OrderStatus.PARTIALLY_FILLED
    assert (await rig.builder.on_fill(result, D(99))).placed == 0
    assert await rig.book() == FULL


async def test_position_drift_over_ten_percent_raises_an_alert(rig: Rig) -> None:
    await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    await rig.state.adjust_position(D("0.02"), D(100), "manual trade")  # 10 % of 0.2: tolerated
    assert rig.builder.check_drift() == D("0.1")
    assert rig.alerts("position_drift") == []
    await rig.state.adjust_position(D("0.05"), D(100), "manual trade")  # 25 %
    assert rig.builder.check_drift() == D("0.25")
    (alert,) = rig.alerts("position_drift")
    assert "0.05" in alert.message and "25.0%" in alert.message
    rig.builder.check_drift()  # still drifted: one alert, not one per check
    assert len(rig.alerts("position_drift")) == 1


async def test_an_unexplained_fill_is_drift(rig: Rig) -> None:
    await rig.builder.build_and_place_grid(rig.snapshot("100"), D(100))
    manual = Fill("paper", "BTC", 1, 999, "0x" + "5" * 32, BUY, D(100), D("0.1"), D(0), T0 + 1)
    result = rig.processor.process_fill(manual)
    assert (await rig.builder.on_fill(result, D(100))).placed == 0
    assert rig.builder.drift_ratio == D("0.5")
    assert len(rig.alerts("position_drift")) == 1
