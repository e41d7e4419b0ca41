"""Issue 8 on the paper venue: reconcile before trading, stops that leave nothing behind, start-up
that survives the venue, orphans swept, grid orders that never take.

Each test drives the real bot graph (bot_kit) with the venue's injected failures
(``SimExchange.fail_next``)."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable

import attrs
import pytest
from bot_kit import (
    COIN,
    ENGINE,
    OTHER,
    D,
    EnvFactory,
    quoting,
    running,
    settle,
    supervised,
    wait_until,
)

from gridtui.books import print_status
from gridtui.config.schema import BotSettings
from gridtui.core.events import AlertRaised, BotHalted, OrderCanceled, OrderPlaced, Severity
from gridtui.core.types import BotStatus, ExchangeError, OrderStatus, Side, Tif
from gridtui.execution.execution_gateway import UNANSWERED_LOOKUP_S
from gridtui.state.accounting import HaltKind
from gridtui.state.data_dir import list_journals
from gridtui.state.state_manager import ResumeRefused
from gridtui.supervisor import Supervisor


async def test_no_order_goes_out_until_the_start_up_reconciliation_succeeds(
    make_env: EnvFactory,
) -> None:
    env = make_env()
    bot = await env.orchestrator()
    env.exchange.fail_next(1000, "HTTP 502", calls={"fills_since"})
    async with running(bot):
        for _ in range(3):
            env.step()  # the stream brings a mid: only the unconfirmed books hold orders back
            await settle()
            env.clock.advance(1)
            await bot.cycle()
        assert bot.c.feed.mark() == D(100)
        assert bot.status is BotStatus.WAITING
        assert env.of_type(OrderPlaced) == []
        assert await env.open_orders() == []
        reason = bot.c.reconciliation.waiting_reason or ""
        assert reason.startswith("HTTP 502, retry in ") and reason.endswith(" s")
        env.exchange.fail_next(0)
        env.clock.advance(10)  # the backoff and the REST poller's interval (the mid) pass
        await bot.cycle()
        assert bot.status is BotStatus.RUNNING
        assert len(await env.open_orders()) == 6


async def test_a_stream_reset_stops_new_orders_until_the_books_are_confirmed(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    async with running(bot):
        placed = len(env.of_type(OrderPlaced))
        env.exchange.fail_next(1000, "HTTP 503", calls={"fills_since"})
        bot.c.reconciliation.unconfirm("stream reset (test)")
        env.next_price()  # the buy at 99 fills; its replacement must wait
        await settle()
        await bot.cycle()
        assert bot.status is BotStatus.WAITING
        assert env.of_type(OrderPlaced)[placed:] == []
        env.exchange.fail_next(0)
        env.clock.advance(ENGINE.restart_backoff_max_s)
        await bot.cycle()
        assert bot.status is BotStatus.RUNNING
        new = env.of_type(OrderPlaced)[placed:]
        assert [(e.side, e.price) for e in new] == [(Side.SELL, D(100))]


async def test_grid_orders_are_post_only_and_crossing_levels_wait(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    async with running(bot):
        orders = await env.open_orders()
        assert orders and all(o.tif is Tif.ALO for o in orders)
        # A stale center above the mid: its sells at and below the mid are not sent.
        snapshot = bot.c.strategy.desired_grid(D(102), env.clock.now_ms())
        await bot.c.gateway.cancel_all(reason="test")
        await bot.c.builder.build_and_place_grid(snapshot, D(100))
        sells = [o.price for o in await env.open_orders() if o.side is Side.SELL]
        assert sells and min(sells) > D(100)


async def test_shutdown_retries_cancels_until_the_exchange_confirms_none_is_left(
    make_env: EnvFactory,
) -> None:
    env = make_env()
    bot = await env.orchestrator()
    async with running(bot):
        assert len(await env.open_orders()) == 6
        env.exchange.fail_next(3, "HTTP 500", calls={"cancel_by_client_ids", "open_orders"})
    left = await bot.shutdown(time.monotonic() + 10)
    assert left == []
    assert await env.open_orders() == []


async def test_shutdown_past_its_deadline_names_what_is_left(make_env: EnvFactory) -> None:
    env = make_env()
    bot = await env.orchestrator()
    async with running(bot):
        env.exchange.fail_next(10_000, "HTTP 500", calls={"cancel_by_client_ids"})
    left = await bot.shutdown(time.monotonic() + 0.3)
    assert len(left) == 6 and len(await env.open_orders()) == 6
    assert bot.status is BotStatus.STOPPED


async def test_a_stop_that_leaves_orders_keeps_the_dead_man_switch_armed(
    make_env: EnvFactory,
) -> None:
    engine = attrs.evolve(ENGINE, shutdown_deadline_s=0.5)
    env = make_env(engine=engine)
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN)
    supervisor.exchange.fail_next(10_000, "HTTP 500", calls={"cancel_by_client_ids"})  # type: ignore[attr-defined]
    report = await supervisor.stop()
    assert report.open_orders == 6 and not report.clean
    assert not report.dead_man_disarmed and supervisor.dead_man.armed
    assert len(report.left) == 6 and all("BTC" in line for line in report.left)


async def test_a_venue_that_does_not_start_leaves_the_bots_waiting_not_crashed(
    make_env: EnvFactory,
) -> None:
    env = make_env()
    supervisor = supervised(env)
    failures = {"left": 3}
    real_start = supervisor.exchange.start

    async def flaky_start() -> None:
        if failures["left"]:
            failures["left"] -= 1
            from gridtui.core.types import ExchangeError

            raise ExchangeError("connection refused", retryable=True)
        await real_start()

    supervisor.exchange.start = flaky_start  # type: ignore[method-assign]
    await supervisor.start()
    await wait_until(lambda: any(v.status == "waiting for exchange" for v in supervisor.views()))
    (view,) = supervisor.views()
    assert view.error is not None and view.error.startswith("connection refused, retry in")
    await quoting(supervisor, COIN)
    report = await supervisor.stop()
    assert report.clean and all(s.last_error is None for s in supervisor.slots.values())


def _removed(bots: tuple[BotSettings, ...]) -> tuple[BotSettings, ...]:
    return bots[:1]


def _disabled(bots: tuple[BotSettings, ...]) -> tuple[BotSettings, ...]:
    return (bots[0], attrs.evolve(bots[1], enabled=False))


def _renamed(bots: tuple[BotSettings, ...]) -> tuple[BotSettings, ...]:
    return (bots[0], attrs.evolve(bots[1], name="e2"))


@pytest.mark.parametrize(
    ("edit", "why"),
    [(_removed, "not in the config"), (_disabled, "disabled"), (_renamed, "not in the config")],
)
async def test_orders_of_a_bot_no_longer_run_are_canceled_at_start_in_one_line(
    make_env: EnvFactory,
    caplog: pytest.LogCaptureFixture,
    edit: Callable[[tuple[BotSettings, ...]], tuple[BotSettings, ...]],
    why: str,
) -> None:
    env = make_env(with_eth_bot=True)
    first = supervised(env)
    await first.start()
    await quoting(first, COIN, OTHER)
    resting = len(await first.exchange.open_orders(OTHER))
    # The process dies: nothing is canceled (the supervisor is simply dropped).
    for slot in first.slots.values():
        if slot.handle is not None:
            slot.handle.cancel()
    await settle()
    for bot in first.bots:
        bot.detach()
    await first.exchange.close()
    # Restarted with the ETH bot removed, disabled or renamed: its orders must not keep resting
    # (a renamed bot starts a journal of its own and quotes afresh).
    env.config = attrs.evolve(env.config, bots=edit(env.config.bots))
    second = supervised(env)
    caplog.clear()
    await second.start()
    await quoting(second, COIN)

    def said() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.getMessage().startswith("bot e1 ")]

    await wait_until(lambda: bool(said()))  # the sweep says so once it is done
    assert said() == [
        f"bot e1 (ETH, {why}): canceled {resting} of its orders left on the exchange, "
        "journaled 0 missed fills"
    ]
    left = {o.client_id for o in await second.exchange.open_orders(OTHER)}
    assert not left & set(_journaled_client_ids(second, "e1"))
    report = await second.stop()
    assert report.clean


def _journaled_client_ids(supervisor: Supervisor, bot: str) -> list[str]:
    path = list_journals(supervisor.config.data_dir, supervisor.identity)[bot]
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute("SELECT client_id FROM orders")]


async def test_a_journal_that_refuses_writes_halts_the_bot_and_cancels_its_orders(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99], engine=attrs.evolve(ENGINE, cycle_interval_s=0.01))
    bot = await env.orchestrator()
    async with running(bot) as task:
        assert len(await env.open_orders()) == 6
        bot.c.store._conn.execute("PRAGMA query_only = ON")  # as on a full or read-only disk
        env.next_price()  # the buy at 99 fills: the journal refuses it
        await wait_until(lambda: bot.status is BotStatus.HALTED)

        await wait_until(lambda: bool(env.of_type(BotHalted)))
        assert await env.open_orders() == []  # canceled although nothing could be journaled
        assert not task.done()  # halted, not crashed (a restart would only fail again)
        state = bot.c.state.get_snapshot()  # one owner of the halt: the books, in memory
        assert (state.halted, state.halt_kind) == (True, HaltKind.DISK)
        assert (bot.status_detail() or "").startswith("journal write failed: ")
        alerts = [a for a in env.of_type(AlertRaised) if a.severity is Severity.CRITICAL]
        assert len(alerts) == 1 and "journal write failed" in alerts[0].message
        with pytest.raises(ResumeRefused, match="then restart gridtui"):
            await bot.resume()  # its loop has stopped: only a restart starts it afresh
    assert await bot.shutdown(time.monotonic() + 5) == []


async def test_a_newer_stream_fill_never_hides_an_older_missed_one_after_a_restart(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99, 98])
    bot = await env.orchestrator()
    async with running(bot):
        env.next_price()  # the buy at 99 fills...
        env.lose_stream()  # ...and its message is lost
        env.next_price()  # the buy at 98 fills; only its message arrives (reordered, gapped)
        env.lose_stream()
        venue_fills = await env.exchange.fills_since(0, COIN)
        assert len(venue_fills) == 2 and venue_fills[0].timestamp_ms < venue_fills[1].timestamp_ms
        bot.c.processor.process_fills([venue_fills[1]])
    # kill -9 here: the next start must find the older fill, not start after the newer one
    again = await env.orchestrator()
    async with running(again):
        journal = again.c.store.fills()
        assert sorted(f.trade_id for f in journal) == sorted(f.trade_id for f in venue_fills)
        assert again.c.store.adjustments() == []  # found as a fill, not papered over
        assert again.c.state.get_snapshot().position == D("0.4")


async def test_status_in_another_shell_says_what_the_bot_waits_for(
    make_env: EnvFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """`gridtui status` reads the journals; what the running process is doing right now (waiting
    for the exchange, and why) comes from the live-status file it keeps beside them."""
    env = make_env()
    supervisor = supervised(env)
    config = supervisor.config

    def status_lines() -> list[str]:
        assert print_status(config, as_json=False) == 0
        return capsys.readouterr().out.splitlines()

    def status_line() -> str:
        """The bot's row ("" before it has a journal)."""
        return next((line for line in status_lines() if line.startswith("b1 ")), "")

    def metric(status: BotStatus) -> float | None:
        labels = {"bot": "b1", "coin": COIN, "gridtui_bot_status": status.value}
        return supervisor.metrics.registry.get_sample_value("gridtui_bot_status", labels)

    supervisor.exchange.fail_next(10_000, "HTTP 502", calls={"fills_since"})  # type: ignore[attr-defined]
    await supervisor.start()
    await wait_until(lambda: "waiting for exchange: HTTP 502, retry in " in status_line())
    assert metric(BotStatus.WAITING) == 1  # /metrics says it too, though no cycle ran
    supervisor.exchange.fail_next(0)  # type: ignore[attr-defined]
    await quoting(supervisor, COIN)
    await wait_until(lambda: status_line().endswith(" running"))
    assert (metric(BotStatus.RUNNING), metric(BotStatus.WAITING)) == (1, 0)
    # The account as the running process last read it from the venue, under the table.
    await wait_until(lambda: status_lines()[-1].startswith("PAPER account (read "))
    assert status_lines()[-1].endswith(
        ": value 100,000.00, margin used 0.00, withdrawable 100,000.00"
    )
    assert (await supervisor.stop()).clean
    assert status_line().endswith(" stopped")  # no process: the journal's own word
    assert status_lines()[-1] == (
        "PAPER account: not read (no gridtui process is trading these books)"
    )


async def test_a_stop_while_the_journal_refuses_writes_still_cancels_and_reports(
    make_env: EnvFactory,
) -> None:
    """A full or read-only disk at SIGTERM: the exchange does not need our disk, so the stop
    cancels every order, confirms none is left and disarms the switch; what could not be
    journaled is caught up at the next start."""
    env = make_env()
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN)
    (bot,) = supervisor.bots
    bot.c.store._conn.execute("PRAGMA query_only = ON")  # as on a full or read-only disk
    report = await supervisor.stop()
    assert (report.open_orders, report.dead_man_disarmed) == (0, True)  # the venue's own count


async def test_a_stop_tells_the_venue_client_first_so_nothing_queues_behind_trading(
    make_env: EnvFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = make_env()
    supervisor = supervised(env)
    await supervisor.start()
    await quoting(supervisor, COIN)
    calls: list[str] = []
    cancel = supervisor.exchange.cancel_by_client_ids  # type: ignore[attr-defined]

    async def canceling(*args: object, **kwargs: object) -> object:
        calls.append("cancel")
        return await cancel(*args, **kwargs)

    monkeypatch.setattr(supervisor.exchange, "serve_stop", lambda: calls.append("serve_stop"))
    monkeypatch.setattr(supervisor.exchange, "cancel_by_client_ids", canceling)
    assert (await supervisor.stop()).clean
    assert calls[0] == "serve_stop" and "cancel" in calls


async def _a_replacement_sent_without_answer(env, bot, *, reached: bool, pushed: bool) -> str:
    """The buy at 99 fills; its replacement (a sell at 100) is sent and no answer comes back:
    the call fails (``reached``: after the venue placed it, a timeout after accept; ``pushed``:
    and the venue's push of the new order arrives)."""
    place = env.exchange.place_orders

    async def unanswered(requests):
        if reached:
            await place(requests)
            if not pushed:
                env.lose_stream()
        raise ExchangeError("HTTP 502")

    env.exchange.place_orders = unanswered
    env.next_price()
    await settle()
    env.exchange.place_orders = place
    (sent,) = [e for e in env.of_type(OrderPlaced) if e.price == D(100)] or [None]
    assert sent is None  # no answer: nothing was acknowledged
    (replacement,) = [t for t in bot.c.ledger.live() if t.request.price == D(100)]
    return replacement.request.client_id


@pytest.mark.parametrize(
    ("reached", "pushed"),
    [(False, False), (True, False), (True, True)],
    ids=["never placed", "placed, its push lost", "placed, its push seen"],
)
async def test_an_order_sent_without_an_answer_is_settled_within_seconds(
    make_env: EnvFactory, reached: bool, pushed: bool
) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    async with running(bot):
        client_id = await _a_replacement_sent_without_answer(
            env, bot, reached=reached, pushed=pushed
        )
        status = bot.c.ledger.get(client_id).status
        assert status is (OrderStatus.OPEN if pushed else OrderStatus.UNKNOWN)
        env.clock.advance(UNANSWERED_LOOKUP_S - 1)
        await bot.cycle()
        assert bot.c.ledger.get(client_id).status is status  # not asked yet
        env.clock.advance(1)
        await bot.cycle()  # looked up: on the book, or not there
        env.clock.advance(1)
        await bot.cycle()  # a level left empty is placed again
        expected = OrderStatus.OPEN if reached else OrderStatus.REJECTED
        assert bot.c.ledger.get(client_id).status is expected
        sells = [o for o in await env.open_orders() if o.side is Side.SELL]
        assert sorted(o.price for o in sells) == [D(100), D(101), D(102), D(103)]  # once each
        assert bot.c.machine.illegal_count == 0
        assert UNANSWERED_LOOKUP_S + 1 < ENGINE.stuck_order_after_s


async def test_an_order_that_arrives_after_it_was_given_up_is_canceled_at_once(
    make_env: EnvFactory,
) -> None:
    env = make_env(prices=[100, 99])
    bot = await env.orchestrator()
    async with running(bot):
        place = env.exchange.place_orders
        held = []

        async def in_flight(requests):  # the request is still on its way to the venue
            held.extend(requests)
            raise ExchangeError("HTTP 502")

        env.exchange.place_orders = in_flight
        env.next_price()  # the buy at 99 fills; its replacement's call gets no answer
        await settle()
        env.exchange.place_orders = place
        (late,) = held
        env.clock.advance(UNANSWERED_LOOKUP_S)
        await bot.cycle()  # not there: given up
        assert bot.c.ledger.get(late.client_id).status is OrderStatus.REJECTED
        env.clock.advance(1)
        await bot.cycle()  # the level is placed again, under a new client id
        await place([late])  # ... and then the first request lands after all
        await settle()  # its "open" on the stream cancels it
        sells_at_100 = [o for o in await env.open_orders() if o.price == D(100)]
        assert [o.client_id for o in sells_at_100] != [late.client_id]
        assert len(sells_at_100) == 1
        assert bot.c.ledger.get(late.client_id).status is OrderStatus.REJECTED
        assert bot.c.machine.illegal_count == 0  # the venue's "canceled" is no contradiction
        (canceled,) = [e for e in env.of_type(OrderCanceled) if e.reason == "arrived late"]
        assert canceled.client_id == late.client_id  # the trader reads which order it was
