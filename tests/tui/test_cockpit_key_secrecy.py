"""Issue 4, point 6, in the cockpit: the agent key never reaches the TUI, its screenshots or the
debug log, not even when the signer fails with the key in its frames' locals.

Each test draws a fresh random key and runs the live venue (``venue.kind = "hyperliquid"``)
against an in-process Hyperliquid mock on an ephemeral port (hl_secrecy_kit.py, which also says
every form of the key searched for); tests/integration/test_hl_key_secrecy.py checks the CLI.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import NoReturn

import eth_account.account
import pytest
from hl_secrecy_kit import (
    assert_no_key,
    debug_log,
    files_text,
    fresh_key,
    live_config,
    live_mock,
    screen_text,
    wait_until,
)
from textual.command import CommandPalette

from gridtui.control.engine import LocalEngine
from gridtui.exchanges.hyperliquid.keys import ENV_VAR
from gridtui.monitoring.logs import EventLogger
from gridtui.supervisor import Supervisor
from gridtui.tui.app import GridApp
from gridtui.tui.screens.help import HelpScreen

__all__ = ["debug_log"]  # a fixture: imported to be found by pytest


async def test_the_tui_on_the_live_venue_never_shows_or_logs_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_log: io.StringIO
) -> None:
    key = fresh_key()
    monkeypatch.setenv(ENV_VAR, key)
    screens: dict[str, str] = {}
    async with live_mock(key) as venue:
        config = live_config(tmp_path, venue.url, venue.address)
        supervisor = Supervisor(config)
        supervisor.bus.subscribe(EventLogger())
        app = GridApp(LocalEngine(supervisor))
        async with app.run_test(size=(160, 48), notifications=True) as pilot:

            async def both_quoted() -> bool:
                return await venue.quoted_coins() == {"BTC", "ETH"}

            await wait_until(both_quoted, "both bots quoting on the mock")
            await wait_until(
                lambda: all(v.status == "running" for v in supervisor.views()), "running views"
            )
            app.refresh_views()
            await pilot.pause()
            assert "BTC" in screen_text(app) and "ETH" in screen_text(app)
            screens["cockpit (svg)"] = app.export_screenshot()
            screens["cockpit (text)"] = screen_text(app)
            await pilot.press("r")  # a reconcile: its outcome is a notification on screen
            await wait_until(lambda: "btc: reconciled" in screen_text(app), "the reconcile toast")
            screens["cockpit after reconcile (text)"] = screen_text(app)
            screens["cockpit after reconcile (svg)"] = app.export_screenshot()
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.pause()
            screens["help (svg)"] = app.export_screenshot()
            screens["help (text)"] = screen_text(app)
            await pilot.press("escape")
            await pilot.press("ctrl+p")
            await wait_until(lambda: isinstance(app.screen, CommandPalette), "the palette")
            await pilot.pause()
            screens["palette (svg)"] = app.export_screenshot()
            screens["palette (text)"] = screen_text(app)
            await pilot.press(*"key")  # what a user hunting for the key would type
            await pilot.pause()
            screens["palette searching 'key' (text)"] = screen_text(app)
            await pilot.press("escape")
            await pilot.press("q")
            await wait_until(lambda: app.shutdown_report is not None, "the shutdown report")
            screens["shutdown (text)"] = screen_text(app)
        report = app.shutdown_report
        assert report is not None and (report.open_orders, report.dead_man_disarmed) == (0, True)
        assert await venue.quoted_coins() == set()
    log_text = debug_log.getvalue()
    # The log really is the debug log of this run: engine events and the HTTP/WS libraries.
    assert '"event": "order_placed"' in log_text and '"level": "debug"' in log_text
    assert_no_key(key, **screens, debug_log=log_text, journals=files_text(config.data_dir))


async def test_a_failure_inside_the_signer_shows_and_logs_no_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_log: io.StringIO
) -> None:
    """The signing library failing mid-signature, with the key in its frames' locals: the crash
    text the cockpit shows, the failed shutdown and the debug log (tracebacks on) name the error,
    never the key — no traceback with locals reaches the screen or the log."""
    key = fresh_key()
    monkeypatch.setenv(ENV_VAR, key)

    def broken_backend(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("signing backend failed")

    screens: dict[str, str] = {}
    async with live_mock(key) as venue:
        config = live_config(tmp_path, venue.url, venue.address)
        supervisor = Supervisor(config)
        supervisor.bus.subscribe(EventLogger())
        app = GridApp(LocalEngine(supervisor))
        monkeypatch.setattr(eth_account.account, "sign_message_hash", broken_backend)
        async with app.run_test(size=(160, 48), notifications=True) as pilot:
            await wait_until(
                lambda: all(v.status == "crashed" for v in supervisor.views()), "crashed bots"
            )
            app.refresh_views()
            await pilot.pause()
            assert "signing backend failed" in screen_text(app)
            screens["crashed cockpit (svg)"] = app.export_screenshot()
            screens["crashed cockpit (text)"] = screen_text(app)
            await pilot.press("q")
            await wait_until(lambda: app.return_code is not None, "the app to exit")
            screens["failed shutdown (text)"] = screen_text(app)
    log_text = debug_log.getvalue()
    assert "RuntimeError: signing backend failed" in log_text  # the traceback was logged
    assert_no_key(key, **screens, debug_log=log_text)
