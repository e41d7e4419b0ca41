"""Reconciliation flow: timer → ReconciliationService → StateManager, on the paper venue.

The engine here reconciles every 5 s (and trusts the stream for 10 s), so advancing the clock 5 s
and running a cycle is "the timer fired" while the stream still counts as live: whatever the
cycle repairs, reconciliation repaired, not the REST poller.
"""

from __future__ import annotations

import attrs
from bot_kit import COIN, ENGINE, OTHER, D, Env, EnvFactory, cloid, running, settle

from gridtui.core.events import AlertRaised, OrderPlaced, Reconciled, Severity
from gridtui.core.types import BotStatus, OrderRequest, OrderStatus, PlaceStatus, Side
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.execution.rest_poller import MIN_INTERVAL_S
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator

FAST = attrs.evolve(ENGINE, reconcile_interval_s=5.0)


async def timer_fires(env: Env, bot: BotOrchestrator) -> ReconcileReport:
    """A fresh mid on the stream, 5 s on the clock, one cycle: returns the report of the timed
    reconcile that cycle ran (failing the test if the cycle polled REST or did not reconcile)."""
    env.step()
    await settle()
    env.clock.advance(FAST.reconcile_interval_s)
    service = bot.c.reconciliation
    reports: list[ReconcileReport] = []
    reconcile = service.reconcile

    async def recorded() -> ReconcileReport:
        reports.append(await reconcile())
        return reports[-1]

    service.reconcile = recorded  # type: ignore[method-assign]
    polls = bot.c.poller.polls
    try:
        await bot.cycle()
        await settle()
    finally:
        del service.reconcile
    assert bot.c.poller.polls == polls, "the stream looked stale: the REST poller ran instead"
    assert len(reports) == 1, "the timer did not reconcile"
    return reports[0]


async def test_fill_lost_by_the_stream_is_applied_exactly_once(make_env: EnvFactory) -> None:
    env = make_env(prices=[100, 99], engine=FAST)
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # the buy at 99 fills while the stream is down
        assert env.lose_stream() > 0
        await settle()
        assert bot.c.state.get_snapshot().fill_count == 0  # the bot missed it
        placed = len(env.of_type(OrderPlaced))

        report = await timer_fires(env, bot)
        assert report.missing_fills == 1 and env.of_type(Reconciled)[-1].missing_fills == 1
        state = bot.c.state.get_snapshot()
        assert (state.position, state.avg_entry, state.fill_count) == (D("0.2"), D(99), 1)
        # the grid reacted as to any fill: its replacement sell one level up
        new = env.of_type(OrderPlaced)[placed:]
        assert [(e.side, e.price) for e in new] == [(Side.SELL, D(100))]

        again = await bot.reconcile()
        polled = await bot.c.poller.poll()
        await timer_fires(env, bot)
    assert (again.missing_fills, polled) == (0, [])
    assert bot.c.state.get_snapshot().fill_count == bot.c.store.fill_count() == 1
    assert sorted((o.side.name, o.price) for o in await env.open_orders()) == [
        ("BUY", D(97)),
        ("BUY", D(98)),
        ("SELL", D(100)),
        ("SELL", D(101)),
        ("SELL", D(102)),
        ("SELL", D(103)),
    ]


async def test_unknown_order_on_the_coin_is_canceled_and_other_coins_are_left_alone(
    make_env: EnvFactory,
) -> None:
    env = make_env(engine=FAST)
    bot = await env.orchestrator()
    async with running(bot):
        grid = await env.book()
        stranger = await env.place_foreign(Side.BUY, "90", "0.2", n=1)
        elsewhere = await env.place_foreign(Side.BUY, "1900", "0.01", coin=OTHER, n=2)
        report = await timer_fires(env, bot)
    assert report.canceled_unknown == 1
    gone = await env.exchange.order_status(exchange_id=stranger.exchange_id)
    assert gone is not None and gone.status is OrderStatus.CANCELED
    assert [o.exchange_id for o in await env.open_orders(OTHER)] == [elsewhere.exchange_id]
    assert await env.book() == grid  # the bot's own orders were not touched


async def test_position_difference_is_corrected_with_an_adjustment_and_an_alert(
    make_env: EnvFactory,
) -> None:
    env = make_env(engine=FAST)
    bot = await env.orchestrator()
    async with running(bot):
        # someone buys 0.2 BTC by hand on the same account: it crosses and fills at the ask
        manual = OrderRequest(COIN, Side.BUY, D(101), D("0.2"), cloid(7))
        (ack,) = await env.exchange.place_orders([manual])
        assert ack.status is PlaceStatus.FILLED and ack.avg_price == D("100.01")
        await settle()
        assert bot.c.state.get_snapshot().position == 0  # not our order: not our fill
        report = await timer_fires(env, bot)
    assert report.position_corrected
    state = bot.c.state.get_snapshot()
    assert (state.position, state.avg_entry) == (D("0.2"), D("100.01"))
    assert state.all_time_realized == 0 and state.fill_count == 0  # a correction is no trade
    (adjustment,) = bot.c.store.adjustments()
    assert (adjustment.field, adjustment.old_value, adjustment.new_value) == (
        "position",
        "0@0",
        "0.2@100.01",
    )
    assert "exchange reports 0.2" in adjustment.reason
    critical = [a for a in env.of_type(AlertRaised) if a.severity is Severity.CRITICAL]
    assert [a.kind for a in critical] == ["reconciliation_correction"]
    # the corrected figure is the grid's new baseline: no drift alert on top
    assert not [a for a in env.of_type(AlertRaised) if a.kind == "position_drift"]


async def test_exchange_error_during_the_position_check_never_reads_as_flat(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99], engine=FAST)
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()
        await settle()
        assert bot.c.state.get_snapshot().position == D("0.2")
        env.exchange.fail_next(10, "positions endpoint down", calls={"positions"})
        report = await timer_fires(env, bot)  # the cycle survives the failed check
        assert report.error == "positions endpoint down"
        assert (report.position_checked, report.position_corrected) == (False, False)
        assert bot.c.state.get_snapshot().position == D("0.2")
        assert bot.c.store.adjustments() == []

        env.exchange.fail_next(0)  # the endpoint is back: the books agree with the venue
        report = await bot.reconcile()
    assert (report.position_checked, report.position_corrected, report.error) == (
        True,
        False,
        None,
    )
    assert bot.c.state.get_snapshot().position == D("0.2")
    assert not [a for a in env.of_type(AlertRaised) if a.severity is Severity.CRITICAL]


async def test_fills_applied_before_a_failed_position_check_still_get_their_replacement(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99], engine=FAST)
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # the buy at 99 fills while the stream is down...
        env.lose_stream()
        placed = len(env.of_type(OrderPlaced))
        env.exchange.fail_next(10, "positions endpoint down", calls={"positions"})
        report = await timer_fires(env, bot)  # ...and the position check then fails
        assert report.error == "positions endpoint down"
        assert report.missing_fills == 1
        assert bot.c.state.get_snapshot().fill_count == 1
        assert bot.status is BotStatus.WAITING  # unconfirmed books: nothing goes out
        assert env.of_type(OrderPlaced)[placed:] == []
        env.exchange.fail_next(0)
        env.clock.advance(FAST.restart_backoff_max_s)
        await bot.cycle()  # the retry confirms the books; the repair places the replacement
        assert bot.status is BotStatus.RUNNING
        new = env.of_type(OrderPlaced)[placed:]
        assert [(e.side, e.price) for e in new] == [(Side.SELL, D(100))]
        assert bot.c.builder.check_drift() == 0
        for _ in range(10):  # the periodic repair must not buy the filled level again
            await bot.cycle()
    assert sorted((o.side.name, o.price) for o in await env.open_orders()) == [
        ("BUY", D(97)),
        ("BUY", D(98)),
        ("SELL", D(100)),
        ("SELL", D(101)),
        ("SELL", D(102)),
        ("SELL", D(103)),
    ]


async def test_the_rest_poller_spends_at_most_one_poll_per_interval(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    env.clock.advance(MIN_INTERVAL_S)
    before = bot.c.poller.polls
    await bot.c.poller.poll()
    await bot.c.poller.poll()  # too soon: Hyperliquid's weight budget is per minute
    assert bot.c.poller.polls == before + 1
    env.clock.advance(MIN_INTERVAL_S)
    await bot.c.poller.poll()
    assert bot.c.poller.polls == before + 2
