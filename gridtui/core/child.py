"""A long computation in a process of its own, with its progress, its log and its result.

Engine replays cannot be split, but independent ones (the two fill models of ``backtest
--fill-model both``, the confirmations of ``optimize``'s best settings) can run at the same time,
one per core. ``Child`` runs ``target(report, *args)`` in a spawned process: the target calls
``report(count)`` as it goes and returns its result, which comes back whole (pickled), as do its
errors and its log records (handled here, so the command's log level and format apply as if
the work had run in this process). Leaving a ``Child``'s context ends the process whatever
happened, so an error or Ctrl-C in the parent leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Report = Callable[[int], None]

PROGRESS = "progress"
LOG = "log"
DONE = "done"
FAILED = "failed"
EXIT_WAIT_S = 5.0
"""How long a child that has answered may take to exit on its own before it is ended."""


def cores() -> int:
    """The cores this process may run on: not the machine's count where the system says (a
    container may get fewer); the machine's where it cannot (macOS)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


class ChildTraceback(Exception):
    """Where in the child an unexpected error came from (the ``__cause__`` of the error raised
    here: a bug's traceback shows the child's frames)."""


class Child(Generic[T]):
    """``target(report, *args)`` in a spawned process (``target`` a module-level function,
    ``args`` picklable). A child that dies without a result is reported as ``failure`` (an
    error the CLI prints as one line) naming ``name`` and giving ``hint``. Start children from
    the main thread (it sets the signal handling they inherit).

    Ctrl-C reaches a terminal's whole process group; the child ignores it, so the interrupt is
    reported once, by the parent, even when it comes while the child is still importing."""

    def __init__(
        self,
        target: Callable[..., T],
        *args: Any,
        name: str,
        hint: str,
        failure: Callable[[str], Exception],
    ) -> None:
        self.name = name
        self.done = 0
        self._hint = hint
        self._failure_type = failure
        self._result: tuple[T] | None = None
        self._failure: BaseException | None = None
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe(duplex=False)
        level = logging.getLogger().getEffectiveLevel()
        self._process = context.Process(
            target=_run, args=(child_end, level, target, args), name=name, daemon=True
        )
        try:
            with sigint_ignored_by_children():
                self._process.start()
        except BaseException:  # a Ctrl-C held back while starting lands here: end the child
            self._end()
            raise
        finally:
            child_end.close()  # the child holds the only writing end: its exit reads as EOF

    def __enter__(self) -> Child[T]:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._result is not None:
            self._process.join(EXIT_WAIT_S)  # it has answered and is on its way out
        self._end()

    @property
    def finished(self) -> bool:
        """The child's result or failure has arrived."""
        return self._result is not None or self._failure is not None

    def poll(self) -> int:
        """Read what the child has said so far without waiting; return its count."""
        while not self.finished and self._conn.poll():
            self._receive()
        return self.done

    def result(self, progress: Report | None = None) -> T:
        """Wait for the child's result, passing each count on; its error is raised here as it
        would have been in this process."""
        while not self.finished:
            self._receive()
            if progress is not None:
                progress(self.done)
        if self._failure is not None:
            raise self._failure
        assert self._result is not None
        return self._result[0]

    @staticmethod
    def results(children: Sequence[Child[T]], progress: Report | None = None) -> list[T]:
        """Every child's result, in order, waiting on all of them at once; ``progress`` hears
        the sum of their counts as it grows. A failure is raised as soon as it arrives
        (leaving the children's contexts ends the others)."""
        while True:
            failed = next((c._failure for c in children if c._failure is not None), None)
            if failed is not None:
                raise failed
            waiting = {child._conn: child for child in children if not child.finished}
            if not waiting:
                return [child.result() for child in children]
            for conn in wait(list(waiting)):
                waiting[conn]._receive()  # type: ignore[index]
            if progress is not None:
                progress(sum(child.done for child in children))

    def _receive(self) -> None:
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):  # gone, maybe in the middle of a message (a large result)
            self._process.join()
            self._failure = self._failure_type(
                f"the {self.name} process ended without a result "
                f"(exit code {self._process.exitcode}); {self._hint}"
            )
            return
        if kind == PROGRESS:
            self.done = value
        elif kind == LOG:
            logging.getLogger(value.name).handle(value)
        elif kind == DONE:
            self._result = (value,)
        else:
            error, where = value
            error.__cause__ = ChildTraceback(where)
            self._failure = error

    def _end(self) -> None:
        if self._process.pid is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join()
            self._process.close()
        self._conn.close()


@contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """SIGINT ignored while a child is started, and so for the child's whole life (an ignored
    signal stays ignored across exec, and Python then installs no KeyboardInterrupt for it).
    Blocked in this thread meanwhile, so that a Ctrl-C in that moment (the child's first tens
    of milliseconds) waits and lands here afterwards: Linux keeps a blocked signal pending while
    it is ignored, but drops one already pending when it becomes ignored (raised again here).
    Another thread of this process that does not block it (a progress bar's) may take it and
    drop it instead: a second Ctrl-C then stops the command."""
    held = signal.pthread_sigmask(signal.SIG_BLOCK, ())  # the mask as it is, changed by nothing
    try:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        pending = signal.SIGINT in signal.sigpending()
        handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, signal.SIG_DFL if handler is None else handler)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, held)
    if pending:
        signal.raise_signal(signal.SIGINT)


class _Forward(logging.handlers.QueueHandler):
    """The child's log records, formatted into plain messages, sent to the parent."""

    def __init__(self, conn: Connection) -> None:
        super().__init__(None)  # type: ignore[arg-type]
        self._conn = conn

    def enqueue(self, record: logging.LogRecord) -> None:
        self._conn.send((LOG, record))


def _run(conn: Connection, level: int, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    """The child's whole life: its log to the parent, the target, then its result or error."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(_Forward(conn))
    root.setLevel(level)

    def report(count: int) -> None:
        conn.send((PROGRESS, count))

    try:
        conn.send((DONE, target(report, *args)))
    except Exception as exc:
        where = traceback.format_exc()
        try:
            conn.send((FAILED, (exc, where)))
        except OSError:
            pass  # the parent is gone (a progress send failed too): nobody is left to tell
        except Exception:  # an error that cannot be pickled: its text, as a bug report
            with contextlib.suppress(OSError):
                conn.send((FAILED, (RuntimeError(where), where)))
    finally:
        conn.close()
