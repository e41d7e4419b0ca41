"""The event log: the noise it leaves out, the full-screen log's filters and scrolling, the
bottom panel's scrolling, and how a manual halt reads next to an engine halt."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from cockpit import MakeApp, settle, wait_for
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Select

from gridtui.core.events import (
    AlertKind,
    AlertRaised,
    BotCrashed,
    BotHalted,
    BotStarted,
    Event,
    GridBuilt,
    OrderCanceled,
    OrderFilled,
    OrderPlaced,
    OrderRejected,
    Reconciled,
    Severity,
)
from gridtui.core.types import Side
from gridtui.state.accounting import HaltKind
from gridtui.tui.screens.event_log import EventLogScreen, FilteredEventLog
from gridtui.tui.widgets.event_log import EventLines, EventLog, LineLevel

T0 = 1_767_225_600_000  # 00:00:00 UTC


def at(n: int, bot: str = "btc") -> dict[str, object]:
    return {"bot": bot, "coin": bot.upper(), "timestamp_ms": T0 + n * 1000}


def grid_built(
    n: int, *, placed: int, canceled: int, bot: str = "btc", fresh: bool = False
) -> GridBuilt:
    return GridBuilt(
        **at(n, bot), center=D(100), levels=16, placed=placed, canceled=canceled, fresh=fresh
    )


def halted(n: int, bot: str = "btc") -> BotHalted:
    return BotHalted(**at(n, bot), reason=f"reason {n}")


MIXED: list[Event] = [
    BotStarted(**at(0)),
    OrderPlaced(**at(1), client_id="0x1", exchange_id=1, side=Side.BUY, price=D(99), size=D(1)),
    OrderFilled(**at(2), trade_id=1, client_id="0x1", side=Side.BUY, price=D(99), size=D(1),
                fee=D("0.01"), position=D(1), realized_pnl=D(0)),
    OrderCanceled(**at(3, "eth"), client_id="0x2", exchange_id=2, reason="stale grid level"),
    OrderRejected(**at(4, "eth"), client_id="0x3", side=Side.SELL, price=D(101), size=D(1),
                  reason="margin"),
    grid_built(5, placed=16, canceled=0),
    Reconciled(**at(6, "eth"), missing_fills=0, adopted_orders=0, canceled_unknown=0,
               position_corrected=False),
    BotHalted(**at(7), reason="manual halt"),
    AlertRaised(**at(8), severity=Severity.INFO, kind=AlertKind.BOT_HALTED,
                message="halted: manual halt"),
    AlertRaised(**at(9, "eth"), severity=Severity.CRITICAL, kind=AlertKind.DEAD_MAN_REFRESH_FAILED,
                message="expired"),
    BotCrashed(**at(10, "eth"), error="boom", restart_in_s=5.0),
]  # fmt: skip
"""One event of each kind, two bots: btc's are info or warning, eth's reach error."""


class Host(App[None]):
    """A bare app that opens the event log screen (the cockpit's wiring is the app's)."""

    def __init__(self, screen: EventLogScreen) -> None:
        super().__init__()
        self.log_screen = screen

    def on_mount(self) -> None:
        self.push_screen(self.log_screen)


def lines(log: EventLines) -> list[str]:
    return [strip.text.rstrip() for strip in log.lines]


def names(log: EventLines) -> list[str]:
    """Each line as "bot event_name"."""
    return [" ".join(line.split()[1:4:2]) for line in lines(log)]


def visible(log: EventLines) -> list[str]:
    top = round(log.scroll_y)
    return lines(log)[top : top + log.scrollable_content_region.height]


async def opened(pilot: Pilot[None]) -> FilteredEventLog:
    """The open screen's log, once it shows its first lines."""
    app = pilot.app

    def shown() -> bool:
        log = app.screen.query_one_optional(FilteredEventLog)
        return log is not None and bool(log.lines)

    await wait_for(shown, "the screen's first lines")
    await pilot.pause()
    return app.screen.query_one(FilteredEventLog)


async def settled(pilot: Pilot[None], log: EventLines) -> None:
    """Until a pending scroll to the end (after a refresh) has run."""
    await pilot.pause()
    await pilot.pause()
    await wait_for(lambda: not log.app._animator.is_being_animated(log, "scroll_y"), "scrolling")


# ---- noise ------------------------------------------------------------------------------------


async def test_a_repair_pass_that_changed_nothing_shows_in_neither_log() -> None:
    panel = EventLog(id="log")

    class PanelHost(App[None]):
        def compose(self) -> ComposeResult:
            yield panel

    batch = [
        grid_built(1, placed=16, canceled=0),
        grid_built(2, placed=0, canceled=0),  # noise
        grid_built(3, placed=0, canceled=2),
        grid_built(4, placed=0, canceled=0, bot="eth"),  # noise
        grid_built(5, placed=0, canceled=0, fresh=True),  # a new grid, every order adopted
    ]
    async with PanelHost().run_test(size=(120, 20)) as pilot:
        panel.add_batch(batch)
        panel.add(grid_built(6, placed=0, canceled=0))  # noise
        await pilot.pause()
        expected = [
            "00:00:01 btc BTC grid_built center 100, 16 orders, placed 16, canceled 0",
            "00:00:03 btc BTC grid_built center 100, 16 orders, placed 0, canceled 2",
            "00:00:05 btc BTC grid_built center 100, 16 orders, placed 0, canceled 0",
        ]
        assert lines(panel) == expected
        assert [e.timestamp_ms for e in panel.events] == [T0 + 1000, T0 + 3000, T0 + 5000]

        screen = EventLogScreen(batch)  # handed the raw events, it leaves the noise out too
        pilot.app.push_screen(screen)
        log = await opened(pilot)
        screen.add_batch([grid_built(6, placed=0, canceled=0), grid_built(7, placed=1, canceled=0)])
        await pilot.pause()
        assert lines(log) == [
            *expected,
            "00:00:07 btc BTC grid_built center 100, 16 orders, placed 1, canceled 0",
        ]


# ---- filters ----------------------------------------------------------------------------------

ALL_LINES = [
    "btc bot_started", "btc order_placed", "btc order_filled", "eth order_canceled",
    "eth order_rejected", "btc grid_built", "eth reconciled", "btc bot_halted",
    "btc alert_raised", "eth alert_raised", "eth bot_crashed",
]  # fmt: skip


@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ("b", [line for line in ALL_LINES if line.startswith("btc")]),
        ("bb", [line for line in ALL_LINES if line.startswith("eth")]),
        ("bbb", ALL_LINES),  # back to all bots
        ("k", ["btc order_filled"]),
        ("kk", ["btc order_placed", "eth order_canceled", "eth order_rejected"]),
        (
            "kkk",
            ["btc bot_halted", "btc alert_raised", "eth alert_raised", "eth bot_crashed"],
        ),
        ("kkkk", ["btc grid_built", "eth reconciled"]),
        ("s", ["eth order_rejected", "btc bot_halted", "eth alert_raised", "eth bot_crashed"]),
        ("ss", ["eth alert_raised", "eth bot_crashed"]),
        ("bs", ["btc bot_halted"]),  # filters combine
        ("bbkk", ["eth order_canceled", "eth order_rejected"]),
    ],
)
async def test_each_filter_key_narrows_the_lines(keys: str, expected: list[str]) -> None:
    async with Host(EventLogScreen(MIXED, ["btc", "eth"])).run_test(size=(120, 30)) as pilot:
        log = await opened(pilot)
        assert names(log) == ALL_LINES
        await pilot.press(*keys)
        await pilot.pause()
        assert names(log) == expected


async def test_the_selects_set_the_filters_and_show_the_keys_choice() -> None:
    screen = EventLogScreen(MIXED, ["btc", "eth"])
    async with Host(screen).run_test(size=(120, 30)) as pilot:
        log = await opened(pilot)
        screen.query_one("#event-log-kind", Select).value = "fills"
        await wait_for(lambda: names(log) == ["btc order_filled"], "the fills only")
        screen.query_one("#event-log-kind", Select).value = ""
        screen.query_one("#event-log-bot", Select).value = "eth"
        screen.query_one("#event-log-level", Select).value = LineLevel.ERROR
        await wait_for(
            lambda: names(log) == ["eth alert_raised", "eth bot_crashed"], "eth's errors"
        )
        await pilot.press("b")  # a key moves the Select too (eth → all bots)
        await pilot.pause()
        assert screen.query_one("#event-log-bot", Select).value == ""
        assert names(log) == ["eth alert_raised", "eth bot_crashed"]  # btc has no error


async def test_a_bot_first_seen_while_open_joins_the_filter_which_stays_put() -> None:
    screen = EventLogScreen([halted(1)], ["btc"])
    async with Host(screen).run_test(size=(120, 30)) as pilot:
        log = await opened(pilot)
        await pilot.press("b")  # btc only
        screen.add_batch([halted(2, "sol"), halted(3)])
        await pilot.pause()
        await pilot.pause()
        select = screen.query_one("#event-log-bot", Select)
        assert select.value == "btc" and screen.bot == "btc"
        assert names(log) == ["btc bot_halted", "btc bot_halted"]
        await pilot.press("b")  # btc → sol: the new bot is in the cycle
        await pilot.pause()
        assert names(log) == ["sol bot_halted"] and select.value == "sol"


async def test_escape_closes_the_screen() -> None:
    async with Host(EventLogScreen(MIXED)).run_test(size=(120, 30)) as pilot:
        await opened(pilot)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(pilot.app.screen, EventLogScreen)


# ---- scrolling --------------------------------------------------------------------------------


async def test_scrolled_up_the_screen_stays_put_and_at_the_bottom_it_follows() -> None:
    screen = EventLogScreen([halted(n) for n in range(100)])
    async with Host(screen).run_test(size=(100, 24)) as pilot:
        log = await opened(pilot)
        await settled(pilot, log)
        assert visible(log)[-1].endswith("reason 99")  # opens at the newest
        await pilot.press("pageup")
        await settled(pilot, log)
        top = log.scroll_y
        shown = visible(log)
        assert 0 < top < log.max_scroll_y
        screen.add_batch([halted(n) for n in range(100, 110)])
        await settled(pilot, log)
        assert len(log.lines) == 110
        assert log.scroll_y == top and visible(log) == shown  # the trader keeps reading

        await pilot.press("end")
        await settled(pilot, log)
        screen.add_batch([halted(110)])
        await settled(pilot, log)
        assert log.scroll_y == log.max_scroll_y
        assert visible(log)[-1].endswith("reason 110")  # back at the bottom: it follows
        await pilot.press("home")
        await settled(pilot, log)
        assert visible(log)[0].endswith("reason 0")


async def test_the_lines_in_view_stay_in_view_when_the_oldest_are_dropped() -> None:
    screen = EventLogScreen([halted(n) for n in range(40)], keep=40)
    async with Host(screen).run_test(size=(100, 24)) as pilot:
        log = await opened(pilot)
        await settled(pilot, log)
        log.scroll_to(y=20, animate=False)
        await settled(pilot, log)
        shown = visible(log)
        screen.add_batch([halted(n) for n in range(40, 45)])  # 5 lines dropped at the top
        await settled(pilot, log)
        assert len(log.lines) == 40 and lines(log)[0].endswith("reason 5")
        assert visible(log) == shown


async def test_the_bottom_panel_scrolls_with_the_keys_and_stays_put_on_new_events() -> None:
    panel = EventLog(id="log")

    class PanelHost(App[None]):
        CSS = "EventLog { height: 8; }"

        def compose(self) -> ComposeResult:
            yield panel

    async with PanelHost().run_test(size=(100, 24)) as pilot:
        panel.add_batch([halted(n) for n in range(30)])
        await settled(pilot, panel)
        panel.focus()
        await pilot.press("pageup")
        await settled(pilot, panel)
        top, shown = panel.scroll_y, visible(panel)
        assert top < panel.max_scroll_y
        panel.add_batch([grid_built(31, placed=1, canceled=0)])  # the next repair pass
        await settled(pilot, panel)
        assert (panel.scroll_y, visible(panel)) == (top, shown)
        await pilot.press("end")
        await settled(pilot, panel)
        panel.add_batch([halted(32)])
        await settled(pilot, panel)
        assert visible(panel)[-1].endswith("reason 32")


# ---- a manual halt against an engine halt -----------------------------------------------------


async def test_a_manual_halt_is_info_and_a_drawdown_halt_critical(make_app: MakeApp) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        await pilot.press("h")  # the selected bot, btc
        for worker in [w for w in app.workers if w.group == "commands"]:
            await worker.wait()
        eth = app.engine.supervisor.running("eth")
        assert eth is not None
        await eth.halt("drawdown 12% over the 10% limit", kind=HaltKind.DRAWDOWN)
        app.refresh_views()
        screen = EventLogScreen(app.query_one(EventLog).events, [b.name for b in app.config.bots])
        app.push_screen(screen)
        log = await opened(pilot)
        await pilot.press("k", "k", "k")  # halts, errors, alerts

        def alerts() -> list[str]:
            return [line[9:] for line in lines(log) if "alert_raised" in line]

        await pilot.pause()
        assert alerts() == [
            "btc BTC alert_raised INFO bot_halted: halted: manual halt",
            "eth ETH alert_raised CRITICAL bot_halted: halted: drawdown 12% over the 10% limit",
        ]
        await pilot.press("s", "s")  # errors only: the trader's own halt is not one
        await pilot.pause()
        assert alerts() == [
            "eth ETH alert_raised CRITICAL bot_halted: halted: drawdown 12% over the 10% limit"
        ]
        await app.engine.supervisor.stop()
