"""Crash recovery: a bot dropped without shutdown, then a new graph over the same files.

The paper venue is file-backed here, so the "restarted process" opens the venue's state file and
the bot's journal afresh while the crashed objects are simply abandoned (a crash closes
nothing). Start-up reconciliation is the recovery path: orders are adopted by client id, fills
missed while down are applied once, and the first cycle places only what is really missing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from bot_kit import D, Env, EnvFactory, running

from gridtui.core.events import OrderPlaced
from gridtui.core.types import Order, OrderRequest, OrderStatus, PlaceAck, Side
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator


class Crash(BaseException):
    """The process dies here: nothing below this point runs, nothing is cleaned up."""


async def crashed_bot(env: Env) -> BotOrchestrator:
    bot = await env.orchestrator()
    await bot.start()
    await bot.cycle()
    assert len(await env.open_orders()) == 6
    return bot


def assert_no_duplicates(orders: Sequence[Order]) -> None:
    keys = Counter((o.side, o.price) for o in orders)
    assert max(keys.values()) == 1, keys


async def test_restart_applies_missed_fills_once_and_places_only_what_is_missing(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99], file_backed=True)
    first = await crashed_bot(env)
    env.next_price()  # while the bot is dead the buy at 99 fills on the venue
    before = {o.client_id for o in await env.open_orders()}
    assert len(before) == 5

    env.reopen_exchange()
    placed = len(env.of_type(OrderPlaced))
    second = await env.orchestrator()
    async with running(second):
        state = second.c.state.get_snapshot()
        assert (state.position, state.fill_count) == (D("0.2"), 1)
        resting = await env.open_orders()
        new = env.of_type(OrderPlaced)[placed:]
        await second.reconcile()  # reconciling again changes nothing
    assert second.c.state.get_snapshot().fill_count == second.c.store.fill_count() == 1
    # the five survivors were kept, and only the filled level's replacement was added
    assert [(e.side, e.price) for e in new] == [(Side.SELL, D(100))]
    assert before < {o.client_id for o in resting}
    assert len(resting) == 6
    assert_no_duplicates(resting)
    assert first.c.state.get_snapshot().fill_count == 0  # the dead graph never saw the fill


async def test_orders_sent_but_never_acknowledged_are_adopted_not_resent(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env(file_backed=True)
    venue = env.exchange
    send = venue.place_orders

    async def send_then_die(requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        await send(requests)  # the venue has them, the acknowledgement never arrives
        raise Crash

    monkeypatch.setattr(venue, "place_orders", send_then_die)
    first = await env.orchestrator()
    await first.start()
    try:
        await first.cycle()
    except Crash:
        pass
    else:
        raise AssertionError("the first bot should have died mid-send")
    journaled = first.c.store.orders()
    assert len(journaled) == 6
    assert {o.status for o in journaled} == {OrderStatus.PENDING_SUBMIT}
    sent = {o.client_id: o.exchange_id for o in await venue.open_orders()}
    assert set(sent) == {o.client_id for o in journaled}

    env.reopen_exchange()
    placed = len(env.of_type(OrderPlaced))
    second = await env.orchestrator()
    async with running(second):
        adopted = {t.client_id: (t.status, t.exchange_id) for t in second.c.ledger.live()}
    assert adopted == {cid: (OrderStatus.OPEN, eid) for cid, eid in sent.items()}
    assert env.of_type(OrderPlaced)[placed:] == []  # nothing sent twice
    resting = await env.open_orders()
    assert {o.client_id for o in resting} == set(sent)
    assert_no_duplicates(resting)


async def test_orders_the_dead_man_switch_canceled_are_settled_and_the_grid_replaced(
    make_env: EnvFactory,
) -> None:
    env = make_env(file_backed=True)
    first = await crashed_bot(env)
    old = {t.client_id for t in first.c.ledger.live()}
    env.clock.advance(env.config.dead_man.timeout_s)
    env.step()  # nobody refreshed the switch: the venue cancels everything
    assert await env.open_orders() == []

    env.reopen_exchange()
    second = await env.orchestrator()
    async with running(second):
        resting = await env.open_orders()
    assert all(second.c.ledger.get(cid).status is OrderStatus.CANCELED for cid in old)  # type: ignore[union-attr]
    assert len(resting) == 6
    assert not old & {o.client_id for o in resting}  # fresh client ids: a new generation
    assert_no_duplicates(resting)
