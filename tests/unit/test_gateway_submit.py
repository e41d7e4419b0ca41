"""ExecutionGateway.submit_level(s) against a real in-memory paper venue."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

import attrs
import pytest
from bot_kit import Env, EnvFactory

from gridtui.config.schema import BreakerSettings
from gridtui.core.events import OrderPlaced, OrderRejected
from gridtui.core.types import (
    ExchangeError,
    Level,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceAck,
    Side,
)
from gridtui.execution.execution_gateway import (
    UNANSWERED_LOOKUP_S,
    SubmitResult,
    client_order_id,
)
from gridtui.orchestrator.factory import BotComponents
from gridtui.risk.circuit_breaker import BreakerState

D = Decimal
BREAKER = BreakerSettings(error_threshold=3, cooldown_s=5.0, max_cooldown_s=60.0)
BUY_99 = Level(-1, D(99), Side.BUY, D("0.2"))
SELL_101 = Level(1, D(101), Side.SELL, D("0.2"))


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    return make_env(breaker=BREAKER)  # BTC held at 100, ETH at 2000


@pytest.fixture(autouse=True)
def sent(env: Env) -> list[list[OrderRequest]]:
    """Every place_orders batch the venue received."""
    batches: list[list[OrderRequest]] = []
    place = env.exchange.place_orders

    async def recorded(requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        batches.append(list(requests))
        return await place(requests)

    env.exchange.place_orders = recorded  # type: ignore[method-assign]
    return batches


async def test_intent_is_journaled_before_the_exchange_sees_the_order(
    env: Env, bot: BotComponents, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str]] = []
    place = env.exchange.place_orders

    async def looking(requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        # read the journal from another connection, as a restarted process would
        with sqlite3.connect(bot.store.path) as other:
            for request in requests:
                intent = other.execute(
                    "SELECT COUNT(*) FROM intents WHERE client_id = ?", (request.client_id,)
                ).fetchone()[0]
                status = other.execute(
                    "SELECT status FROM orders WHERE client_id = ?", (request.client_id,)
                ).fetchone()
                seen.append((f"intents={intent}", status[0] if status else "no order row"))
        return await place(requests)

    monkeypatch.setattr(env.exchange, "place_orders", looking)
    results = await bot.gateway.submit_levels([BUY_99, SELL_101])
    assert all(r.success for r in results)
    assert seen == [("intents=1", "pending_submit")] * 2


def test_client_ids_are_deterministic() -> None:
    cid = client_order_id("b1", -1, 0)
    assert re.fullmatch(r"0x[0-9a-f]{32}", cid)
    assert client_order_id("b1", -1, 0) == cid
    others = {
        client_order_id("b1", -1, 1),
        client_order_id("b1", 1, 0),
        client_order_id("b2", -1, 0),
    }
    assert cid not in others and len(others) == 3


async def test_same_level_gets_the_same_id_in_a_fresh_journal_and_a_new_one_per_generation(
    env: Env, bot: BotComponents, tmp_path: Path
) -> None:
    first = await bot.gateway.submit_level(BUY_99)
    assert first.client_id == client_order_id("b1", -1, 0)
    await bot.gateway.cancel(first.client_id)
    second = await bot.gateway.submit_level(BUY_99)
    assert second.client_id == client_order_id("b1", -1, 1)

    # another process with an empty journal derives the same id for the same level/generation
    other = await env.build(data_dir=tmp_path / "elsewhere")
    assert other.gateway.request_for(BUY_99)[0].client_id == first.client_id
    other.close()
    # the same journal reopened (a restart) continues the generations: no id is reused
    bot.close()
    reopened = await env.build()
    third = await reopened.gateway.submit_level(BUY_99)
    assert third.client_id == client_order_id("b1", -1, 2)


async def test_resting_ack_marks_the_order_open_with_its_exchange_id(
    env: Env, bot: BotComponents
) -> None:
    result = await bot.gateway.submit_level(BUY_99)
    on_venue = await env.exchange.order_status(client_id=result.client_id)
    assert on_venue is not None and on_venue.status is OrderStatus.OPEN
    assert result == SubmitResult(True, result.client_id, exchange_id=on_venue.exchange_id)
    tracked = bot.ledger.get(result.client_id)
    assert tracked is not None
    assert (tracked.status, tracked.exchange_id) == (OrderStatus.OPEN, on_venue.exchange_id)
    assert bot.store.order(result.client_id).exchange_id == on_venue.exchange_id  # type: ignore[union-attr]
    (placed,) = [e for e in env.events if isinstance(e, OrderPlaced)]
    assert (placed.exchange_id, placed.grid_level, placed.price) == (
        on_venue.exchange_id,
        -1,
        D(99),
    )


async def test_per_order_rejection_is_a_failed_result_not_an_exception(
    env: Env, bot: BotComponents
) -> None:
    tiny = Level(-2, D(98), Side.BUY, D("0.1"))  # $9.80: under the venue's $10 minimum
    rejected, accepted = await bot.gateway.submit_levels([tiny, BUY_99])
    assert rejected == SubmitResult(
        False,
        client_order_id("b1", -2, 0),
        error="Order must have minimum value of $10.",
    )
    assert accepted.success
    assert bot.ledger.get(accepted.client_id).status is OrderStatus.OPEN  # type: ignore[union-attr]
    assert bot.ledger.get(rejected.client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    (event,) = [e for e in env.events if isinstance(e, OrderRejected)]
    assert event.reason == "Order must have minimum value of $10."
    assert bot.breaker.consecutive_errors == 0  # the venue answered: not an API failure


async def test_exchange_error_leaves_the_order_unknown_and_counts_a_breaker_failure(
    env: Env,
    bot: BotComponents,
) -> None:
    env.exchange.fail_next(1, "gateway timeout", calls={"place_orders"})
    result = await bot.gateway.submit_level(BUY_99)
    assert result == SubmitResult(False, client_order_id("b1", -1, 0), error="gateway timeout")
    assert bot.ledger.get(result.client_id).status is OrderStatus.UNKNOWN  # type: ignore[union-attr]
    assert bot.breaker.consecutive_errors == 1
    assert bot.breaker.state is BreakerState.CLOSED
    # the outcome is settled by asking the venue: it never got the order
    assert await bot.gateway.resolve(result.client_id) is OrderStatus.REJECTED


async def test_open_breaker_refuses_without_calling_the_exchange(
    env: Env, sent: list[list[OrderRequest]], bot: BotComponents
) -> None:
    for _ in range(BREAKER.error_threshold):
        bot.breaker.record_failure("venue down")
    assert bot.breaker.state is BreakerState.OPEN
    results = await bot.gateway.submit_levels([BUY_99, SELL_101])
    assert [(r.success, r.client_id, r.error) for r in results] == [
        (False, "", "circuit breaker open")
    ] * 2
    assert sent == []
    assert bot.store.orders() == []  # nothing journaled either

    env.clock.advance(BREAKER.cooldown_s)  # half-open: one probe goes through and closes it
    assert (await bot.gateway.submit_level(BUY_99)).success
    assert bot.breaker.state is BreakerState.CLOSED
    assert len(sent) == 1


async def test_a_batch_is_one_exchange_call(
    sent: list[list[OrderRequest]], bot: BotComponents
) -> None:
    levels = [BUY_99, SELL_101, Level(2, D(102), Side.SELL, D("0.2"))]
    results = await bot.gateway.submit_levels(levels)
    assert [r.success for r in results] == [True] * 3
    assert [[r.price for r in batch] for batch in sent] == [[D(99), D(101), D(102)]]


async def test_breaker_trip_during_a_submit_counts_no_illegal_transition(
    env: Env, bot: BotComponents
) -> None:
    env.exchange.fail_next(BREAKER.error_threshold, "venue 503", calls={"place_orders"})
    results = [await bot.gateway.submit_level(BUY_99) for _ in range(BREAKER.error_threshold)]
    assert bot.breaker.state is BreakerState.OPEN
    assert {(r.success, r.error) for r in results} == {(False, "venue 503")}
    # the trip's cancel-all asked the venue about each one: none was ever placed
    assert {bot.ledger.get(r.client_id).status for r in results} == {OrderStatus.REJECTED}  # type: ignore[union-attr]
    assert bot.machine.illegal_count == 0


async def test_an_unanswered_order_is_looked_up_after_a_pause_then_at_most_that_often(
    make_env: EnvFactory,
) -> None:
    env = make_env(breaker=attrs.evolve(BREAKER, error_threshold=10))
    bot = await env.build()
    env.exchange.fail_next(1, "HTTP 502", calls={"place_orders"})
    sent_ms = env.clock.now_ms()
    client_id = (await bot.gateway.submit_level(BUY_99)).client_id
    asked: list[int] = []
    order_status = env.exchange.order_status

    async def failing(**kwargs: object) -> None:
        asked.append(env.clock.now_ms() - sent_ms)
        raise ExchangeError("HTTP 503")

    env.exchange.order_status = failing  # type: ignore[assignment,method-assign]
    pause_ms = round(UNANSWERED_LOOKUP_S * 1000)
    for _ in range(2 * pause_ms // 500):  # a cycle every half second
        env.clock.advance(0.5)
        assert await bot.gateway.look_up_unanswered() == 0
    assert asked == [pause_ms, 2 * pause_ms]
    env.exchange.order_status = order_status  # type: ignore[method-assign]
    env.clock.advance(UNANSWERED_LOOKUP_S)
    assert await bot.gateway.look_up_unanswered() == 1
    assert bot.ledger.get(client_id).status is OrderStatus.REJECTED  # type: ignore[union-attr]
    assert bot.breaker.consecutive_errors == 1  # the place call's: a lookup counts neither way


async def test_a_venue_refusing_every_order_trips_the_breaker_though_it_answers_lookups(
    env: Env, bot: BotComponents
) -> None:
    for _ in range(BREAKER.error_threshold - 1):
        env.exchange.fail_next(1, "HTTP 502", calls={"place_orders"})
        assert not (await bot.gateway.submit_level(BUY_99)).success
        env.clock.advance(UNANSWERED_LOOKUP_S)
        assert await bot.gateway.look_up_unanswered() == 1  # not there: the level is free
        assert bot.breaker.state is BreakerState.CLOSED
    env.exchange.fail_next(1, "HTTP 502", calls={"place_orders"})
    assert not (await bot.gateway.submit_level(BUY_99)).success
    assert bot.breaker.state is BreakerState.OPEN  # the answers in between reset nothing


async def _unanswered_batch(env: Env, bot: BotComponents, count: int) -> list[str]:
    env.exchange.fail_next(1, "HTTP 502", calls={"place_orders"})
    buys = [Level(-i, D(100 - i), Side.BUY, D("0.2")) for i in range(1, count + 1)]
    results = await bot.gateway.submit_levels(buys)
    env.clock.advance(UNANSWERED_LOOKUP_S)
    return [r.client_id for r in results]


async def test_lookups_stop_at_the_first_failure_and_wait_for_the_breaker(
    make_env: EnvFactory,
) -> None:
    env = make_env(breaker=attrs.evolve(BREAKER, error_threshold=3))
    bot = await env.build()
    await _unanswered_batch(env, bot, 5)  # the breaker's first failure: the batch
    calls: list[str] = []
    order_status = env.exchange.order_status

    async def down(**kwargs: object) -> None:
        calls.append(str(kwargs["client_id"]))
        raise ExchangeError("HTTP 503")

    env.exchange.order_status = down  # type: ignore[assignment,method-assign]
    for _ in range(3):
        assert await bot.gateway.look_up_unanswered() == 0
        env.clock.advance(UNANSWERED_LOOKUP_S)
    assert len(calls) == 3  # each pass ended at its first failure
    assert bot.breaker.consecutive_errors == 1  # and lookups' failures count for nothing
    env.exchange.fail_next(2, "HTTP 502", calls={"place_orders"})
    for level in (Level(-4, D(96), Side.BUY, D("0.2")), Level(-5, D(95), Side.BUY, D("0.2"))):
        await bot.gateway.submit_level(level)
    assert bot.breaker.state is BreakerState.OPEN  # the place calls tripped it
    assert len(calls) == 4  # its cancel-all settled orders until the first failed lookup
    env.clock.advance(UNANSWERED_LOOKUP_S)
    assert await bot.gateway.look_up_unanswered() == 0  # due, but the breaker is open
    assert len(calls) == 4
    env.clock.advance(BREAKER.cooldown_s)  # half-open: the lookup is its one probe
    assert await bot.gateway.look_up_unanswered() == 0
    assert bot.breaker.state is BreakerState.OPEN  # the probe failed: open again
    assert bot.breaker.cooldown_s == 2 * BREAKER.cooldown_s
    env.exchange.order_status = order_status  # type: ignore[method-assign]
    env.clock.advance(2 * BREAKER.cooldown_s)
    assert await bot.gateway.look_up_unanswered() == 7  # none arrived
    assert bot.breaker.state is BreakerState.CLOSED  # the probe's answer closed it


async def test_a_found_order_is_settled_and_a_status_we_do_not_know_is_asked_again(
    env: Env, bot: BotComponents
) -> None:
    on_book, odd, filled = await _unanswered_batch(env, bot, 3)
    order_status = env.exchange.order_status
    answers = {
        on_book: Order("BTC", Side.BUY, D(99), D("0.2"), D("0.2"), 7, on_book, OrderStatus.OPEN, 0),
        odd: Order("BTC", Side.BUY, D(98), D("0.2"), D("0.2"), 8, odd, OrderStatus.UNKNOWN, 0),
        filled: Order("BTC", Side.BUY, D(97), D("0.2"), D(0), 9, filled, OrderStatus.FILLED, 0),
    }

    async def answering(*, client_id: str, **kwargs: object) -> Order:
        return answers[client_id]

    env.exchange.order_status = answering  # type: ignore[assignment,method-assign]
    assert await bot.gateway.look_up_unanswered() == 1  # the resting one; a fill comes as one
    status = {cid: bot.ledger.get(cid).status for cid in answers}  # type: ignore[union-attr]
    assert status == {
        on_book: OrderStatus.OPEN,
        odd: OrderStatus.UNKNOWN,
        filled: OrderStatus.FILLED,
    }
    env.exchange.order_status = order_status  # type: ignore[method-assign]


@pytest.mark.parametrize("answer", ["error", "ack"])
async def test_the_venues_push_during_the_place_call_settles_the_order(
    env: Env, bot: BotComponents, answer: str
) -> None:
    place = env.exchange.place_orders

    async def pushed_first(requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        acks = await place(requests)
        for request in requests:  # the stream's "open" comes before the call's answer
            order = await env.exchange.order_status(client_id=request.client_id)
            assert order is not None
            assert bot.gateway.on_order_update(order) is False
        if answer == "error":
            raise ExchangeError("HTTP 502")
        return acks

    env.exchange.place_orders = pushed_first  # type: ignore[method-assign]
    result = await bot.gateway.submit_level(BUY_99)
    resting = await env.exchange.order_status(client_id=result.client_id)
    tracked = bot.ledger.get(result.client_id)
    assert resting is not None and tracked is not None
    assert (tracked.status, tracked.exchange_id) == (OrderStatus.OPEN, resting.exchange_id)
    assert result.success is (answer == "ack")
    assert bot.machine.illegal_count == 0
