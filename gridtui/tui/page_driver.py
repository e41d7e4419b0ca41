"""Textual's web driver, for the cockpit a browser page of ``gridtui serve`` runs: the process
ends when its page does, always.

textual-serve ends a page's cockpit with a "quit" message on its input, and the input ends when
the server itself goes. Textual can miss that quit when it comes while the app is still starting
(a browser that closes the page at once): the app then renders forever, at full speed, into a
page nobody reads, and the server waits for it forever. This cockpit holds nothing to save (the
bots live in the engine), so once the page has ended the process is given ``EXIT_GRACE_S`` to
close the usual way, and is ended after that.
"""

from __future__ import annotations

import os
import threading

from textual.drivers.web_driver import WebDriver

EXIT_GRACE_S = 5.0
"""How long a cockpit whose page ended may take to close before its process is ended."""


class PageDriver(WebDriver):
    """``WebDriver`` whose quit and end of input cannot be missed."""

    _ending: threading.Timer | None = None

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == "quit":
            self._end_soon()
        super().on_meta(packet_type, payload)

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        finally:  # the page or the server is gone (or the app closed its input on exit)
            self._end_soon()

    def _end_soon(self) -> None:
        """One timer, whichever of the quit and the end of input comes first."""
        if self._ending is None:
            self._ending = threading.Timer(EXIT_GRACE_S, os._exit, args=(0,))
            self._ending.daemon = True  # a process that closed in time does not wait for it
            self._ending.start()
