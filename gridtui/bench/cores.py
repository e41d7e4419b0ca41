"""What two busy processes get from this machine next to one: the yardstick a two-worker figure
is read against. A shared VM's second core comes and goes; without this a study that scaled as
well as the machine allowed would look like one that did not.

The work is a pure-Python loop: no memory traffic, no I/O, no locks, so two processes can only
slow each other through the cores themselves.
"""

from __future__ import annotations

import multiprocessing
import queue
import time
from multiprocessing.synchronize import Barrier

SPIN_LOOPS = 25_000_000
"""About a second of one core here."""
WAIT_S = 120.0
"""How long a process waits for the other at the start, and the bench for a process's time:
a process that died is an error, never a hang."""


def busy_ratio(loops: int = SPIN_LOOPS) -> float:
    """The loops a second two processes run together, over what one runs alone (2.0: the
    machine has two whole cores to give)."""
    return _busy_rate(2, loops) / _busy_rate(1, loops)


def _busy_rate(processes: int, loops: int) -> float:
    """Loops a second that ``processes`` processes started together run in all (the slowest
    one's time: they did the same work)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(target=_spin, args=(start, results, loops)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        elapsed = [results.get(timeout=WAIT_S) for _ in workers]
    except queue.Empty:
        codes = [worker.exitcode for worker in workers]
        raise RuntimeError(
            f"a busy-loop process gave no time within {WAIT_S:.0f} s (exit codes {codes})"
        ) from None
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
    return processes * loops / max(elapsed)


def _spin(start: Barrier, results: multiprocessing.Queue[float], loops: int) -> None:
    start.wait(timeout=WAIT_S)  # after every process has started: spawn's start-up is not timed
    began = time.perf_counter()
    total = 0
    for number in range(loops):
        total += number & 7
    results.put(time.perf_counter() - began)
