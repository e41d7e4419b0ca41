"""``Child``: a target in a spawned process, its progress, its log, its result or its error, and
nothing left running whatever happens. The targets are this module's functions (a spawned child
imports them by name)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time

import pytest

from gridtui.core import child as child_module
from gridtui.core.child import Child, ChildTraceback, Report


class Refused(Exception):
    """A one-line error, as the CLI prints them."""


def _counts(report: Report, upto: int) -> int:
    for count in range(1, upto + 1):
        report(count)
    return upto * 10


def _large(report: Report, size: int) -> bytes:
    report(1)
    return b"x" * size


def _broken(report: Report) -> None:
    {}["missing"]  # a bug, on purpose


def _logs(report: Report) -> str:
    log = logging.getLogger("gridtui.test_child")
    log.info("below the parent's level: never sent")
    log.warning("a warning from %s", "the child")
    return "done"


def _ours() -> list[multiprocessing.Process]:
    return [p for p in multiprocessing.active_children() if p.name.startswith("test child")]


def _child(target: object, *args: object, name: str = "test child") -> Child[object]:
    return Child(target, *args, name=name, hint="see why", failure=Refused)  # type: ignore[arg-type]


def test_counts_arrive_in_order_and_the_result_comes_back() -> None:
    heard: list[int] = []
    with _child(_counts, 5) as child:
        assert child.result(heard.append) == 50
    assert heard == [1, 2, 3, 4, 5, 5] and child.done == 5
    assert not _ours()


def test_several_children_give_their_results_in_order_and_the_sum_of_their_counts() -> None:
    heard: list[int] = []
    with _child(_counts, 3, name="test child a") as a, _child(_counts, 4, name="test child b") as b:
        assert Child.results([a, b], heard.append) == [30, 40]
    assert heard == sorted(heard) and heard[-1] == 7


def test_a_bug_in_the_child_is_raised_with_the_childs_traceback() -> None:
    with _child(_broken) as child, pytest.raises(KeyError) as caught:
        child.result()
    assert isinstance(caught.value.__cause__, ChildTraceback)
    assert "_broken" in str(caught.value.__cause__)  # the child's own frame


def test_a_child_dying_in_the_middle_of_its_result_is_one_line() -> None:
    """The result is far larger than a pipe holds: once its first bytes are readable the child
    is blocked writing the rest, and is killed there."""
    with _child(_large, 20_000_000) as child, pytest.raises(Refused) as caught:
        deadline = time.monotonic() + 60
        while child.done == 0 and time.monotonic() < deadline:
            child.poll()
        while not child._conn.poll(0.05):
            assert time.monotonic() < deadline
        (process,) = _ours()
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        child.result()
    assert str(caught.value) == (
        "the test child process ended without a result (exit code -9); see why"
    )
    assert not _ours()


def test_the_childs_log_is_handled_here_at_this_processs_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING)
    with _child(_logs) as child:
        assert child.result() == "done"
    records = [r for r in caplog.records if r.name == "gridtui.test_child"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", "a warning from the child")
    ]


def test_a_ctrl_c_while_a_child_starts_ends_that_child_and_reaches_the_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGINT is held back while the child starts; once let through it interrupts here, and
    the child just started must not outlive that."""
    start = multiprocessing.get_context("spawn").Process.start

    def start_then_interrupt(process: multiprocessing.Process) -> None:
        start(process)
        # To this thread: one sent to the process may be taken by another thread (pytest-xdist
        # runs some), which does not hold it back and so drops it while it is ignored.
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)

    monkeypatch.setattr(multiprocessing.get_context("spawn").Process, "start", start_then_interrupt)
    # As on a terminal: a run in the background (CI's, under nohup) inherits SIGINT ignored.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            _child(_counts, 3)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
    assert not _ours()
    assert signal.SIGINT not in signal.pthread_sigmask(signal.SIG_BLOCK, ())


def test_cores_where_the_system_cannot_say_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert child_module.cores() == 3
