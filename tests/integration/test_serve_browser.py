"""``gridtui serve`` in a real headless Chromium: the page shows the bots, keys pressed in the
page steer the one engine, closing the page leaves the bots running, and the engine still stops
cleanly on a signal.

Chromium comes from the distribution's packages (``.ci/run`` installs it); where none can be
installed the test says so and is skipped."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_kit import browser_page, find_browser
from config_kit import write_paper_config
from soak_kit import free_port

from gridtui.control.remote import RemoteEngine
from gridtui.control.wire import socket_path
from gridtui.headless import PAGES_CLOSE_S

BROWSER = find_browser()
pytestmark = [
    pytest.mark.slow,  # ~12 s: a browser, the engine and a page's cockpit, each a process
    pytest.mark.skipif(
        BROWSER is None,
        reason="no Chromium on this machine and none could be installed (apt-get install chromium)",
    ),
]


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """Short, for the engine's control socket (AF_UNIX allows 107 bytes)."""
    with tempfile.TemporaryDirectory(prefix="gt-", dir="/tmp") as folder:
        yield Path(folder)


async def until(condition, what: str, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def halted(engine: RemoteEngine, name: str) -> bool:
    view = next(v for v in engine.views() if v.name == name)
    return view.risk is not None and view.risk.halted


def cockpits_of(socket: Path) -> list[str]:
    """The ``gridtui attach`` processes still running on ``socket`` (each page's cockpit)."""
    found = subprocess.run(
        ["pgrep", "-a", "-f", f"gridtui attach --socket {socket}"], capture_output=True, text=True
    )
    lines = [line.split(" ", 1) for line in found.stdout.splitlines()]
    return [pid for pid, command in lines if not command.startswith("/bin/sh ")]


async def test_the_browser_cockpit_steers_the_one_engine(short_dir: Path) -> None:
    assert BROWSER is not None
    config = write_paper_config(short_dir / "config.toml")
    port = free_port()
    log_path = short_dir / "serve.log"
    with log_path.open("w") as log_file:
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gridtui",
                "--config",
                str(config),
                "serve",
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=log_file,  # a file: a pipe nobody reads would block the engine's logging
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", "GRIDTUI_SERVE_TOKEN": "t0ken"},
        )
    socket = socket_path(short_dir / "data")
    try:
        assert serve.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(serve.stdout.readline), 60)
        url = f"http://127.0.0.1:{port}/?token=t0ken"
        assert line.strip() == f"gridtui: the cockpit is at {url}"
        probe = RemoteEngine(socket)
        await probe.connect()

        async with browser_page(url, BROWSER) as page:

            async def bots_shown() -> bool:
                text = await page.screen_text()
                return all(word in text for word in ("Bots", "btc", "eth", "running"))

            await until(bots_shown, "the bots table in the page")
            await page.press("tab")  # the page's cockpit selects eth …
            await page.press("h")  # … and halts it: in the engine

            async def eth_halted() -> bool:
                return halted(probe, "eth")

            await until(eth_halted, "eth halted by the key pressed in the page")
            assert not halted(probe, "btc")

            await page.press("q")  # closes the page's cockpit …

            async def closed() -> bool:
                return bool(await page.evaluate("document.body.classList.contains('-closed')"))

            await until(closed, "the page's session to end")
            await until(lambda: _async(not cockpits_of(socket)), "the page's cockpit to exit")
            assert probe.is_running("btc") and probe.is_running("eth")  # … not the bots
            await probe.stop()

            await page.call("Page.navigate", url=url)  # a page open when the engine stops
            await until(bots_shown, "the bots table in the reloaded page")
            assert len(cockpits_of(socket)) == 1
            asked = time.monotonic()
            serve.send_signal(signal.SIGTERM)
            await asyncio.to_thread(serve.wait, 60)
            stop_s = time.monotonic() - asked
            await until(closed, "the reloaded page's session to end")
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.wait()
    log = log_path.read_text()
    assert serve.returncode == 0, log[-2000:]
    assert "shutdown_complete open_orders=0 bots=2" in log
    assert stop_s < PAGES_CLOSE_S, f"the open page held the stop for {stop_s:.1f} s"
    await until(lambda: _async(not cockpits_of(socket)), "the page's cockpit to exit")


async def _async(value: bool) -> bool:
    return value
