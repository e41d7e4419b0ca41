"""SimExchange through the Exchange protocol: orders, cancels, dead-man switch, stream, faults."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal as D

import attrs
import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import ExchangeError, OrderRequest, OrderStatus, PlaceStatus, Side, Tif
from gridtui.exchanges.base import FillsReceived, MidUpdated, OrderUpdated
from gridtui.exchanges.sim import SimExchange

BTC = PaperMarket("BTC", D(64000), 5)
ETH = PaperMarket("ETH", D(3000), 4)
SETTINGS = PaperSettings(seed=11, markets=(BTC, ETH))
_ids = itertools.count(1)


def cloid() -> str:
    return f"0x{next(_ids):032x}"


def buy(price: str, size: str = "0.01", *, coin: str = "BTC", tif: Tif = Tif.GTC, cid=None):
    return OrderRequest(coin, Side.BUY, D(price), D(size), cid or cloid(), tif=tif)


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
async def venue(clock):
    exchange = SimExchange.in_memory(SETTINGS, clock, notional_per_tick=D(1280))
    yield exchange
    await exchange.close()


def drain(queue: asyncio.Queue) -> list:
    events = []
    while not queue.empty():
        events.append(queue.get_nowait())
    return events


async def test_asset_meta_and_unknown_coins(venue):
    meta = await venue.asset_meta("ETH")
    assert (meta.asset_id, meta.sz_decimals) == (1, 4)
    with pytest.raises(ExchangeError) as info:
        await venue.asset_meta("DOGE")
    assert not info.value.retryable
    with pytest.raises(ExchangeError):
        await venue.place_orders([buy("1", coin="DOGE")])


async def test_alo_that_would_cross_reports_the_synthetic_bbo(venue):
    [ack] = await venue.place_orders([buy("64010", tif=Tif.ALO)])
    assert ack.status is PlaceStatus.ERROR
    # 64000 × (1 ∓ 0.0001), floored / ceiled to whole dollars (5 significant figures)
    assert ack.error == "Post only order would have immediately matched, bbo was 63993@64007."
    [resting] = await venue.place_orders([buy("63993", tif=Tif.ALO)])
    assert resting.status is PlaceStatus.RESTING


async def test_duplicate_cloid_is_refused_even_after_the_first_order_is_gone(venue):
    first = buy("63000")
    [ack] = await venue.place_orders([first])
    [dup] = await venue.place_orders([buy("62000", cid=first.client_id)])
    assert dup.error == "Order has duplicate cloid."
    await venue.cancel_orders("BTC", [ack.exchange_id])
    [dup] = await venue.place_orders([buy("62000", cid=first.client_id)])
    assert dup.error == "Order has duplicate cloid."
    order = await venue.order_status(client_id=first.client_id)
    assert order.price == D(63000)  # the original is untouched


async def test_cancel_by_exchange_id_and_by_client_id(venue):
    a, b = buy("63000"), buy("62000")
    acks = await venue.place_orders([a, b])
    [by_id] = await venue.cancel_orders("BTC", [acks[0].exchange_id])
    [by_cloid] = await venue.cancel_by_client_ids("BTC", [b.client_id])
    assert by_id.success and by_cloid.success
    assert by_cloid.exchange_id == acks[1].exchange_id
    assert await venue.open_orders() == []
    never = "Order was never placed, already canceled, or filled."
    [again] = await venue.cancel_orders("BTC", [acks[0].exchange_id])
    [unknown] = await venue.cancel_by_client_ids("BTC", [cloid()])
    [wrong_coin] = await venue.cancel_orders("ETH", [acks[1].exchange_id])
    assert [(x.success, x.error) for x in (again, unknown, wrong_coin)] == [(False, never)] * 3
    assert venue.status_word(exchange_id=acks[0].exchange_id) == "canceled"


async def test_cancel_all_by_coin_and_everywhere(venue):
    await venue.place_orders([buy("63000"), buy("62000"), buy("2900", "0.01", coin="ETH")])
    assert await venue.cancel_all("ETH") == 1
    assert [o.coin for o in await venue.open_orders()] == ["BTC", "BTC"]
    assert await venue.cancel_all() == 2
    assert await venue.open_orders() == []


async def test_order_status_in_every_state(venue):
    acks = await venue.place_orders(
        [buy("63000"), buy("64100", "0.03"), buy("64100", "0.01"), buy("-1")]
    )
    # The touch holds 1280 USD / 64000 = 0.02 BTC: the 0.03 order fills 0.02 and rests 0.01.
    statuses = [(await venue.order_status(exchange_id=a.exchange_id)).status for a in acks[:3]]
    assert statuses == [OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED, OrderStatus.OPEN]
    taker = await venue.place_orders([buy("63000")])
    await venue.cancel_orders("BTC", [taker[0].exchange_id])
    assert (await venue.order_status(exchange_id=taker[0].exchange_id)).status is (
        OrderStatus.CANCELED
    )
    rejected = acks[3]
    assert rejected.error == "Order has invalid price."
    assert (await venue.order_status(client_id=rejected.client_id)).status is OrderStatus.REJECTED
    assert await venue.order_status(client_id=cloid()) is None
    assert await venue.order_status(exchange_id=10_000) is None
    venue.step()  # the crossed resting orders trade at their limits
    filled = await venue.order_status(exchange_id=acks[1].exchange_id)
    assert (filled.status, filled.remaining) == (OrderStatus.FILLED, D(0))


async def test_fills_carry_fees_and_ids_increase(venue, clock):
    acks = await venue.place_orders([buy("64100", "0.05")])  # 0.02 taker, 0.03 rests crossed
    for _ in range(3):
        clock.advance(1)
        venue.step()
    fills = await venue.fills_since(0)
    assert sum(f.size for f in fills) == D("0.05")
    taker, *makers = fills
    assert taker.is_taker and taker.price == D(64007)
    assert taker.fee == D(64007) * taker.size * SETTINGS.taker_fee
    assert makers and all(not f.is_taker and f.price == D(64100) for f in makers)
    assert all(f.fee == f.price * f.size * SETTINGS.maker_fee for f in makers)
    assert [f.trade_id for f in fills] == sorted({f.trade_id for f in fills})
    assert all(f.exchange_order_id == acks[0].exchange_id for f in fills)
    more = await venue.place_orders([buy("60000"), buy("60001")])
    assert acks[0].exchange_id < more[0].exchange_id < more[1].exchange_id


async def test_fills_since_is_inclusive_and_sorted(venue, clock):
    await venue.place_orders([buy("64100", "0.02")])
    clock.advance(1)
    await venue.place_orders([buy("3100", "0.01", coin="ETH")])
    await venue.place_orders([buy("3100", "0.02", coin="ETH")])
    first, *later = await venue.fills_since(0)
    assert [f.size for f in later] == [D("0.01"), D("0.02")]
    assert first.timestamp_ms < later[0].timestamp_ms == later[1].timestamp_ms
    assert await venue.fills_since(later[0].timestamp_ms) == later
    assert await venue.fills_since(later[0].timestamp_ms + 1) == []
    assert await venue.fills_since(0, "BTC") == [first]


async def test_schedule_cancel_fires_at_its_time_and_clears(venue, clock):
    with pytest.raises(ExchangeError) as info:
        await venue.schedule_cancel(clock.now_ms() + 4_999)
    assert str(info.value) == (
        "Scheduled cancel time too early, must be at least 5 seconds from now."
    )
    assert not info.value.retryable
    acks = await venue.place_orders([buy("63000"), buy("2900", "0.01", coin="ETH")])
    await venue.schedule_cancel(clock.now_ms() + 10_000)
    queue = venue.subscribe()
    clock.advance(9.999)
    venue.step()
    assert len(await venue.open_orders()) == 2
    clock.advance(0.001)
    venue.step()
    assert await venue.open_orders() == []
    assert venue.last_cancel_reason == "scheduledCancel"
    assert venue.status_word(exchange_id=acks[1].exchange_id) == "scheduledCancel"
    updates = [e.order for e in drain(queue) if isinstance(e, OrderUpdated)]
    assert {(o.exchange_id, o.status) for o in updates} == {
        (a.exchange_id, OrderStatus.CANCELED) for a in acks
    }
    await venue.place_orders([buy("63000")])  # disarmed: later orders survive
    clock.advance(60)
    venue.step()
    assert len(await venue.open_orders()) == 1


async def test_a_due_dead_man_switch_applies_before_any_call_even_without_a_step(venue, clock):
    await venue.place_orders([buy("63000")])
    await venue.schedule_cancel(clock.now_ms() + 5_000)
    clock.advance(5)
    assert await venue.open_orders() == []


async def test_stream_delivers_mids_fills_and_order_updates_to_every_subscriber(venue):
    first, second = venue.subscribe(), venue.subscribe()
    [ack] = await venue.place_orders([buy("64100", "0.03")])
    placed = drain(first)
    assert [type(e) for e in placed] == [FillsReceived, OrderUpdated]
    assert placed[0].fills[0].is_taker and placed[1].order.exchange_id == ack.exchange_id
    venue.step()
    stepped = drain(first)
    mids = [e for e in stepped if isinstance(e, MidUpdated)]
    assert {m.coin for m in mids} == {"BTC", "ETH"}
    assert {m.coin: m.price for m in mids} == await venue.all_mids()
    [fills] = [e for e in stepped if isinstance(e, FillsReceived)]
    assert fills.fills[0].price == D(64100) and not fills.fills[0].is_taker
    [update] = [e for e in stepped if isinstance(e, OrderUpdated)]
    assert update.order.status is OrderStatus.FILLED
    assert drain(second) == placed + stepped
    venue.unsubscribe(second)
    venue.step()
    assert second.empty() and not first.empty()


async def test_positions_report_non_zero_ones(venue):
    assert await venue.positions() == {}
    await venue.place_orders([buy("64100", "0.01")])
    positions = await venue.positions()
    assert list(positions) == ["BTC"]
    assert (positions["BTC"].size, positions["BTC"].entry_price) == (D("0.01"), D(64007))


async def test_injected_faults_fail_the_named_calls_then_recover(venue):
    venue.fail_next(2, "HTTP 502", calls={"place_orders"})
    assert await venue.open_orders() == []  # other calls unaffected
    for _ in range(2):
        with pytest.raises(ExchangeError, match="HTTP 502") as info:
            await venue.place_orders([buy("63000")])
        assert info.value.retryable
    assert await venue.open_orders() == []  # nothing was placed by a failed call
    [ack] = await venue.place_orders([buy("63000")])
    assert ack.status is PlaceStatus.RESTING


async def test_speed_scales_simulated_time():
    fast = SimExchange.in_memory(SETTINGS, SimClock())
    slow = SimExchange.in_memory(attrs.evolve(SETTINGS, speed=1.0), SimClock())
    fast.step(1.0)  # 60 simulated seconds
    slow.step(60.0)  # 60 simulated seconds
    assert await fast.all_mids() == await slow.all_mids()
    assert await fast.all_mids() != {"BTC": D(64000), "ETH": D(3000)}
    await fast.close()
    await slow.close()


async def test_start_runs_the_market_on_the_clock_until_closed(clock):
    venue = SimExchange.in_memory(SETTINGS, clock)
    queue = venue.subscribe()
    await venue.start()
    await venue.start()  # idempotent

    async def three_ticks() -> None:
        while queue.qsize() < 6:  # two mids per tick
            await asyncio.sleep(0)

    await asyncio.wait_for(three_ticks(), timeout=5)
    await venue.close()
    assert clock.now_ms() >= 1_700_000_000_000 + 3 * 250
    with pytest.raises(ExchangeError):
        await venue.open_orders()
