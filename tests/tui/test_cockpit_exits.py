"""How the cockpit ends other than by ``q`` (issue 8 items 3 and 7): a stop signal takes the same
clean path as ``q``; an unhandled exception is logged with its traceback, never printed, and the
app ends with return code 1."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import pytest
from cockpit import MakeApp, settle, wait_for

from gridtui.tui.app import GridApp


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
async def test_a_stop_signal_stops_every_bot_cleanly_like_q(
    make_app: MakeApp, sig: signal.Signals, caplog: pytest.LogCaptureFixture
) -> None:
    before = signal.getsignal(sig)
    app = make_app()
    async with app.run_test(size=(120, 40)):
        await settle(app)
        assert await app.engine.supervisor.exchange.open_orders()
        # Without the app's handler this signal would end the test run itself.
        assert signal.getsignal(sig) is not before, "the cockpit handles no stop signal"
        with caplog.at_level(logging.WARNING, logger="gridtui.tui.app"):
            os.kill(os.getpid(), sig)
            os.kill(os.getpid(), sig)  # a second one only says what the stop waits for
            await wait_for(lambda: app.shutdown_report is not None, "the shutdown report", 10)
            # Not pilot.pause(): it waits for every widget of a screen the exiting app may be
            # tearing down, and timed out in CI under load.
            await wait_for(lambda: app.return_code is not None, "the app's exit", 10)
    report = app.shutdown_report
    # The exchange was asked after the cancels: none of ours is left (it is closed now).
    assert report is not None and (report.open_orders, report.dead_man_disarmed) == (0, True)
    assert app.return_code == 0
    messages = [r.getMessage() for r in caplog.records]
    assert f"{sig.name}: stopping every bot cleanly (their orders are canceled first)" in messages
    assert any(m.startswith(f"{sig.name}: still stopping, waiting for ") for m in messages)
    assert signal.getsignal(sig) is before  # the host's handler is back once the app is gone


async def test_a_signal_while_q_is_stopping_starts_no_second_stop(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture
) -> None:
    before = signal.getsignal(signal.SIGTERM)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app)
        assert signal.getsignal(signal.SIGTERM) is not before, "no SIGTERM handler"
        stops = 0
        stop = app.engine.supervisor.stop
        release = asyncio.Event()

        async def counted():  # type: ignore[no-untyped-def]
            nonlocal stops
            stops += 1
            await release.wait()  # held until the signal has had its answer
            return await stop()

        def answered() -> bool:
            prefix = "SIGTERM: still stopping, waiting for "
            return any(r.getMessage().startswith(prefix) for r in caplog.records)

        app.engine.supervisor.stop = counted  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="gridtui.tui.app"):
            await pilot.press("q")
            await wait_for(lambda: stops == 1, "the stop that q started", 10)
            os.kill(os.getpid(), signal.SIGTERM)
            await wait_for(answered, "the second stop request's answer", 10)
            release.set()
            await wait_for(lambda: app.shutdown_report is not None, "the shutdown report", 10)
    assert stops == 1


async def test_an_unhandled_exception_is_logged_not_printed_and_ends_with_code_1(
    make_app: MakeApp, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    app = make_app()

    def broken_key() -> None:
        raise RuntimeError("a widget bug")

    with pytest.raises(RuntimeError, match="a widget bug"):  # Pilot re-raises it for tests
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(app)
            app.action_next_theme = broken_key  # type: ignore[method-assign]
            await pilot.press("t")
            await pilot.pause()
    assert isinstance(app.crash, RuntimeError) and app.return_code == 1
    crash_logs = [r for r in caplog.records if r.name == "gridtui.tui.app"]
    assert any(
        "Traceback (most recent call last)" in r.getMessage() and "a widget bug" in r.getMessage()
        for r in crash_logs
    ), "the traceback must be in the log, whatever the log level"
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    assert "a widget bug" not in out.out + out.err
    # The bots are still up here: run_tui stops them after the app (see test_cockpit_process).
    await app.engine.supervisor.stop()


def test_the_app_uses_a_driver_that_survives_a_hangup(make_app: MakeApp) -> None:
    from gridtui.tui.driver import HangupSafeDriver

    app: GridApp = make_app()
    assert app.driver_class is HangupSafeDriver
