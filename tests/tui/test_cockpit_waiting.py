"""A bot whose venue fails at start shows as waiting, with why and when it retries (issue 8)."""

from __future__ import annotations

from cockpit import MakeApp, wait_for

from gridtui.core.types import BotStatus
from gridtui.tui.widgets.bots_table import STATE_CLASSES, BotsTable
from gridtui.tui.widgets.grid_ladder import GridLadder
from gridtui.tui.widgets.risk_panel import RiskPanel


async def test_a_bot_whose_venue_fails_shows_waiting_for_exchange_and_why(
    make_app: MakeApp,
) -> None:
    app = make_app()
    # Every fill catch-up gets a 502 until the venue recovers: no bot may trade before one
    # succeeds.
    venue = app.engine.supervisor.exchange
    venue.fail_next(1000, "HTTP 502", calls={"fills_since"})  # type: ignore[attr-defined]
    async with app.run_test(size=(120, 40)) as pilot:
        sup = app.engine.supervisor
        await wait_for(
            lambda: all(
                (b := sup.running(n)) is not None and b.status is BotStatus.WAITING
                for n in ("btc", "eth")
            ),
            "both bots waiting",
        )
        app.refresh_views()
        await pilot.pause()

        table = app.query_one(BotsTable)
        assert str(table.get_cell("btc", "state")) == "waiting for exchange"
        assert "waiting for exchange" in STATE_CLASSES  # its own colour, not the muted default
        reason = "waiting for exchange: HTTP 502, retry in 1 s"
        assert reason in str(app.query_one(GridLadder).render())
        assert reason in str(app.query_one(RiskPanel).render())
        assert await sup.exchange.open_orders() == []  # nothing placed while waiting

        # The venue answers again: the next retry confirms the books and the bot trades.
        venue.fail_next(0)  # type: ignore[attr-defined]
        sup.clock.advance(2)  # type: ignore[attr-defined]
        venue.step()  # type: ignore[attr-defined]  # a fresh price: the stream is not silent
        await pilot.pause()
        btc = sup.running("btc")
        assert btc is not None
        await btc.cycle()
        app.refresh_views()
        await pilot.pause()
        assert str(table.get_cell("btc", "state")) == "running"
        assert "waiting" not in str(app.query_one(RiskPanel).render())
        await sup.stop()
