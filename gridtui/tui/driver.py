"""Textual's terminal driver, made to outlive its terminal.

When the terminal goes away (window closed, SSH dropped) the kernel sends SIGHUP and SIGCONT, and
every write to the terminal fails with EIO. Textual's Linux driver then blocks the app for good:
SIGCONT makes it "resume" a mode that was never suspended, starting a second writer thread; that
thread dies on its first EIO, its queue fills, and the app's next write waits forever — before the
clean stop the SIGHUP asked for could cancel the bots' orders. Here writes to a gone terminal are
dropped and only a real suspend (Ctrl+Z) is resumed, so the stop runs to its end.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any

from textual.drivers.linux_driver import LinuxDriver

if TYPE_CHECKING:
    from textual.app import App


class TerminalOutput:
    """The terminal as the driver's writer thread sees it: once a write or flush fails (the
    terminal is gone), later output is dropped instead of killing the thread."""

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except OSError:
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except OSError:
                self.gone = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver):
    """``LinuxDriver`` with output that survives a hung-up terminal and no resume without a
    suspend."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._file = TerminalOutput(self._file)  # type: ignore[assignment]
        self._suspended = False

    def suspend_application_mode(self) -> None:
        self._suspended = True
        super().suspend_application_mode()

    def resume_application_mode(self) -> None:
        """Only after a suspend: the SIGCONT that comes with a hangup has nothing to resume."""
        if not self._suspended:
            return
        self._suspended = False
        super().resume_application_mode()
