"""Failure paths of the live venue, end to end in one process: the real bot graph (factory,
orchestrator, gateway, reconciliation, dead-man switch) over the real Hyperliquid client, against
the mock over real sockets, with the mock's faults switched on and off at runtime."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import attrs
from hl_flow_kit import ADDRESS, COIN, KEY, D, HlEnv, hl_env, wait_for_async, wait_until

from gridtui.config.schema import Margin
from gridtui.core.events import BreakerTripped
from gridtui.core.rounding import round_price
from gridtui.core.types import Fill, OrderRequest, OrderStatus, PlaceStatus, Side, Tif
from gridtui.exchanges.hyperliquid import signing, wire
from gridtui.execution.execution_gateway import EXIT_LEVEL
from gridtui.execution.fill_processor import FillResult
from gridtui.risk.circuit_breaker import BreakerState

TAPE = [64000, 63900, 63800, 63700, 63800, 63900, 64000, 64100]
"""64000, then three grid levels down (buys fill), then back up (their counter sells fill)."""
RAW_CLOID = "0x" + "ab" * 16
TINY_CLOID = "0x" + "cd" * 16
CLIENT_CLOID = "0x" + "ef" * 16
CLIENT_TINY_CLOID = "0x" + "12" * 16


async def _journal_caught_up(env: HlEnv) -> bool:
    return sorted(f.trade_id for f in env.journal_fills()) == await env.mock_fill_tids()


async def test_ws_drop_with_fills_in_the_gap_loses_and_doubles_nothing(tmp_path: Path) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        stream = env.client.stream
        assert stream is not None
        env.next_price()  # 63900: the first buy fills and reaches the bot over the stream
        await wait_until(lambda: len(env.journal_fills()) == 1, what="first fill journaled")

        env.set_faults(ws_drop_rate=1.0)  # every connection dies after its first message
        env.step()
        await wait_until(lambda: not stream.is_live, what="stream dropped")
        env.next_price(2)  # 63800, 63700: fills while the stream is down
        gap = await env.mock_fill_tids()
        assert len(gap) > len(env.journal_fills()), "the gap must hold fills the bot missed"

        results = spy_fill_results(env)
        env.set_faults(duplicate_fill_rate=1.0, reorder_fills=True)  # link up, fills doubled
        await wait_until(lambda: stream.is_live and stream.reconnects >= 1, 10, "reconnected")
        await wait_for_async(lambda: _journal_caught_up(env), what="gap fills caught up")
        results.clear()  # from here on, fills come over the (duplicating) stream only
        env.next_price(3)  # back up: the counter sells fill
        await wait_for_async(
            lambda: _count_more(env, len(gap)), what="fills after the reconnect on the mock"
        )
        # The bot's replacement orders may still fill on the mock while we look: wait until the
        # books and the mock agree on every fill and on the position, then check the journal.
        await wait_for_async(lambda: _books_agree(env), what="books and mock agree")

        tids = [f.trade_id for f in env.journal_fills()]
        assert len(tids) == len(set(tids)), "a fill was journaled twice"
        assert any(r.duplicate for r in results), "the doubled fill messages reached the bot"
        assert set(gap) < set(tids)


async def _books_agree(env: HlEnv) -> bool:
    return (
        await _journal_caught_up(env)
        and env.bot.c.state.get_snapshot().position == await env.mock_position()
        and await _journal_caught_up(env)
    )


def spy_fill_results(env: HlEnv) -> list[FillResult]:
    """Every result the bot's FillProcessor returns from now on."""
    results: list[FillResult] = []
    processor = env.bot.c.processor
    process = processor.process_fills

    def spy(fills: Sequence[Fill]) -> list[FillResult]:
        out = process(fills)
        results.extend(out)
        return out

    processor.process_fills = spy  # type: ignore[method-assign]
    return results


async def _count_more(env: HlEnv, n: int) -> bool:
    return len(await env.mock_fill_tids()) > n


async def test_429_5xx_storm_trips_the_breaker_and_cancels_once_the_api_answers(
    tmp_path: Path,
) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        env.set_faults(http_429_rate=0.5, http_5xx_rate=1.0)  # every request: 429 or 5xx
        env.next_price(3)  # three buys fill; each counter order fails against the storm
        await wait_until(lambda: bool(env.of_type(BreakerTripped)), what="breaker tripped")
        (tripped,) = env.of_type(BreakerTripped)
        assert tripped.consecutive_errors >= 3
        assert env.bot.c.gateway.cancel_all_pending, "the trip's cancel-all hit the storm"
        assert await env.mock_open_orders(), "nothing could be cancelled during the storm"

        env.set_faults()  # the API answers again
        breaker = env.bot.c.breaker
        await wait_until(lambda: breaker.state is BreakerState.HALF_OPEN, 2, "cooldown over")
        await env.bot.cycle()
        assert await env.mock_open_orders() == []
        assert env.bot.c.ledger.live_count() == 0
        assert not env.bot.c.gateway.cancel_all_pending


async def test_timeout_after_accept_is_known_from_the_push_without_a_duplicate(
    tmp_path: Path,
) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        ledger = env.bot.c.ledger
        breaker = env.bot.c.breaker
        grid = {o.client_id for o in await env.mock_open_orders()}
        env.set_faults(timeout_after_accept_rate=1.0, timeout_hold_s=5.0)
        env.next_price()  # the buy at 63923 fills; its counter sell is accepted, never answered
        await wait_until(lambda: breaker.consecutive_errors >= 1, what="the call's timeout")
        env.set_faults()
        resting = {o.client_id: o for o in await env.mock_open_orders()}
        (new,) = set(resting) - grid

        def settled() -> bool:
            tracked = ledger.get(new)
            return tracked is not None and tracked.status is OrderStatus.OPEN

        await wait_until(settled, what="the push settling the order")
        counter = ledger.get(new)
        assert counter is not None
        # the venue's push that it rests settled it (read after the failed call: the counter
        # order is placed from the stream consumer), with no lookup and no refused transition
        assert (counter.status, counter.exchange_id) == (
            OrderStatus.OPEN,
            resting[counter.client_id].exchange_id,
        )
        assert env.bot.c.machine.illegal_count == 0
        before = await env.mock_open_orders()
        await env.bot.reconcile()
        builder = env.bot.c.builder
        assert builder.snapshot is not None
        await builder.build_and_place_grid(builder.snapshot, D(63900))  # a repair pass
        after = await env.mock_open_orders()
        assert [o.client_id for o in after].count(counter.client_id) == 1
        assert len(after) == len(before), "the order was placed a second time"


async def test_schedule_cancel_fires_when_the_bot_stops_refreshing_it(tmp_path: Path) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        dead_man = env.bot.c.dead_man
        assert dead_man.armed and dead_man.expires_at_ms is not None  # the first cycle armed it
        placed = await env.mock_open_orders()
        ledger = env.bot.c.ledger
        assert ledger.live_count() == len(placed) > 0

        # The bot stops refreshing (no cycle runs); the mock's time passes the deadline.
        env.mock_clock.advance((dead_man.expires_at_ms - env.mock_clock.now_ms()) / 1000 + 1)
        env.step()
        assert await env.mock_open_orders() == []
        for order in placed[:3]:
            status = await env.info(
                {"type": "orderStatus", "user": ADDRESS, "oid": order.client_id}
            )
            assert status["order"]["status"] == "scheduledCancel", status
        await wait_until(lambda: ledger.live_count() == 0, what="ledger settled by the stream")
        assert {ledger.get(o.client_id).status for o in placed} == {OrderStatus.CANCELED}  # type: ignore[union-attr]


async def test_invalid_price_and_order_below_minimum_are_clear_rejections(
    tmp_path: Path,
) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        too_precise = OrderRequest(COIN, Side.BUY, D("60000.5"), D("0.001"), RAW_CLOID)
        tiny = OrderRequest(COIN, Side.BUY, D(60000), D("0.0001"), TINY_CLOID)
        # Sent raw (no rounding), signed as the live client signs: the mock's own messages.
        action = wire.order_action([wire.order_wire(too_precise, 0), wire.order_wire(tiny, 0)])
        nonce = env.mock_clock.now_ms() + 5_000  # clear of the client's wall-time nonces
        signature = signing.sign_l1_action(KEY, action, None, nonce, None, is_mainnet=False)
        response = await env.http.post(
            f"{env.url}/exchange", json=wire.exchange_request(action, nonce, signature)
        )
        answer = response.json()
        assert answer["status"] == "ok", answer
        assert answer["response"]["data"]["statuses"] == [
            {"error": "Price must be divisible by tick size."},  # six significant figures
            {"error": "Order must have minimum value of $10."},
        ]

        # Through the client: the price is rounded to the venue's rules before it is sent, and
        # the $6 order is refused with its reason, without reaching the mock.
        too_precise = attrs.evolve(too_precise, client_id=CLIENT_CLOID)  # the raw one is spent
        tiny = attrs.evolve(tiny, client_id=CLIENT_TINY_CLOID)
        sent = env.mock.actions_used
        (refused,) = await env.client.place_orders([tiny])
        assert refused.status is PlaceStatus.ERROR
        assert refused.error is not None and "minimum value of $10" in refused.error
        assert env.mock.actions_used == sent, "the $6 order must be refused before sending"
        (rounded,) = await env.client.place_orders([too_precise])
        assert rounded.status is PlaceStatus.RESTING, rounded
        resting = {o.client_id: o for o in await env.mock_open_orders()}
        assert not {RAW_CLOID, TINY_CLOID, CLIENT_TINY_CLOID} & set(resting)
        assert resting[CLIENT_CLOID].price == round_price(too_precise.price, 5)
        assert resting[CLIENT_CLOID].price != too_precise.price


async def test_flatten_closes_the_position_on_the_mock_reduce_only_within_the_cap(
    tmp_path: Path,
) -> None:
    async with hl_env(tmp_path, TAPE) as env:
        env.next_price(2)  # 63900, 63800: two grid buys fill
        await wait_until(lambda: len(env.journal_fills()) >= 2, what="two fills journaled")
        await wait_for_async(lambda: _books_agree(env), what="books and mock agree")
        held = env.bot.c.state.get_snapshot().position
        assert held > 0
        mark = env.bot.c.feed.mark()
        assert mark is not None
        result = await env.bot.flatten()
        assert (result.closed, result.left) == (held, 0)
        assert await env.mock_position() == 0
        assert await env.mock_open_orders() == []
        (order,) = [o for o in env.bot.c.store.orders() if o.level == EXIT_LEVEL]
        assert (order.side, order.tif, order.reduce_only) == (Side.SELL, Tif.IOC, True)
        cap = mark * (1 - env.bot.c.settings.risk.max_slippage_pct / 100)
        assert order.price >= cap
        fills = await env.info({"type": "userFills", "user": ADDRESS})
        (taken,) = [f for f in fills if f.get("cloid") == order.client_id]
        assert taken["side"] == "A" and D(taken["px"]) >= order.price


async def test_the_leverage_is_set_on_the_mock_before_the_first_order(tmp_path: Path) -> None:
    async with hl_env(tmp_path, TAPE, leverage=3, margin=Margin.ISOLATED) as env:
        assert env.mock.leverage[COIN] == (False, 3)
        state = await env.info({"type": "clearinghouseState", "user": ADDRESS})
        assert state is not None  # the account answers with the grid resting at 3x isolated
