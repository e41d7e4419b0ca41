"""A real headless Chromium, driven over the DevTools protocol (CDP) with the ``websockets``
package we already depend on: open a page, press keys as a person would, read what the page's
terminal was sent.

The cockpit's page draws on a canvas, so its text is not in the DOM: ``TEE_TERMINAL`` runs before
the page's own script and keeps a copy of every byte its websocket receives (the terminal
output xterm.js draws), which ``screen_text`` returns with the escape sequences removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import websockets

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
START_TIMEOUT_S = 30.0
CALL_TIMEOUT_S = 30.0
"""A DevTools call unanswered this long fails the test instead of hanging it."""
TEE_TERMINAL = """
(() => {
  const Native = window.WebSocket;
  const decoder = new TextDecoder();
  window.__terminal = [];
  window.WebSocket = function (url, protocols) {
    const socket = protocols === undefined ? new Native(url) : new Native(url, protocols);
    socket.addEventListener("message", (event) => {
      if (typeof event.data !== "string") {
        window.__terminal.push(decoder.decode(new Uint8Array(event.data), {stream: true}));
      }
    });
    return socket;
  };
  window.WebSocket.prototype = Native.prototype;
})();
"""
ESCAPES = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][A-Z0-9]"
)
KEYS: dict[str, dict[str, Any]] = {
    "tab": {"key": "Tab", "code": "Tab", "windowsVirtualKeyCode": 9},
    "h": {"key": "h", "code": "KeyH", "text": "h", "windowsVirtualKeyCode": 72},
    "q": {"key": "q", "code": "KeyQ", "text": "q", "windowsVirtualKeyCode": 81},
}


def find_browser() -> str | None:
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


class Page:
    """One tab, over one CDP session."""

    def __init__(self, socket: Any, session: str) -> None:
        self._socket = socket
        self._session = session
        self._ids = itertools.count(1)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        return await _call(self._socket, self._ids, method, params, session=self._session)

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return reply["result"].get("value")

    async def screen_text(self) -> str:
        """Everything the page's terminal was sent so far, as plain text."""
        raw = await self.evaluate("(window.__terminal || []).join('')")
        return ESCAPES.sub("", raw or "")

    async def press(self, key: str) -> None:
        """A key pressed and released on the focused terminal, as a keyboard does."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        event = KEYS[key]
        await self.call("Input.dispatchKeyEvent", type="keyDown", **event)
        up = {k: v for k, v in event.items() if k != "text"}
        await self.call("Input.dispatchKeyEvent", type="keyUp", **up)


async def _call(
    socket: Any,
    ids: itertools.count[int],
    method: str,
    params: dict[str, Any],
    *,
    session: str | None = None,
) -> dict[str, Any]:
    ask_id = next(ids) + (0 if session is None else 1_000_000)
    message: dict[str, Any] = {"id": ask_id, "method": method, "params": params}
    if session is not None:
        message["sessionId"] = session
    await socket.send(json.dumps(message))
    deadline = time.monotonic() + CALL_TIMEOUT_S
    while True:  # events and other answers in between are not ours
        left = deadline - time.monotonic()
        reply = json.loads(await asyncio.wait_for(socket.recv(), max(left, 0.001)))
        if reply.get("id") == ask_id:
            if "error" in reply:
                raise RuntimeError(f"{method}: {reply['error']}")
            return reply["result"]


@contextlib.asynccontextmanager
async def browser_page(
    url: str, browser: str, *, size: tuple[int, int] = (1400, 1000)
) -> AsyncIterator[Page]:
    """A headless Chromium showing ``url``, its terminal's output teed from the start."""
    # Chromium's helper processes may still write to the profile as it goes: what they leave
    # behind is not the test's concern.
    with tempfile.TemporaryDirectory(
        prefix="gridtui-chromium-", ignore_cleanup_errors=True
    ) as profile:
        log_path = Path(profile) / "chromium.log"
        with log_path.open("w") as log_file:
            process = subprocess.Popen(
                [
                    browser,
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                    f"--user-data-dir={profile}",
                    f"--window-size={size[0]},{size[1]}",
                    "about:blank",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log_file,  # a file: a pipe nobody reads would block Chromium once full
                start_new_session=True,  # its helpers with it: ended together below
            )
        try:
            endpoint = await _devtools_url(log_path, process)
            async with websockets.connect(endpoint, max_size=None) as socket:
                ids = itertools.count(1)
                target = await _call(socket, ids, "Target.createTarget", {"url": "about:blank"})
                attached = await _call(
                    socket,
                    ids,
                    "Target.attachToTarget",
                    {"targetId": target["targetId"], "flatten": True},
                )
                page = Page(socket, attached["sessionId"])
                await page.call("Page.enable")
                await page.call("Page.addScriptToEvaluateOnNewDocument", source=TEE_TERMINAL)
                await page.call("Page.navigate", url=url)
                yield page
        finally:
            _end(process)


def _end(process: subprocess.Popen[bytes]) -> None:
    """Chromium and its helper processes (its own process group)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def _devtools_url(log_path: Path, process: subprocess.Popen[bytes]) -> str:
    """Where Chromium's DevTools listen, from the line it logs at start (within
    ``START_TIMEOUT_S``)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and process.poll() is None:
        for line in log_path.read_text(errors="replace").splitlines():
            if line.startswith("DevTools listening on "):
                return line.split(" on ", 1)[1].strip()
        await asyncio.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-500:]
    raise RuntimeError(f"Chromium did not start within {START_TIMEOUT_S} s: {tail}")
