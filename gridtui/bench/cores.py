"""What two busy processes get from this machine next to one: the yardstick a two-worker figure
is read against. A shared VM's second core comes and goes; without this a study that scaled as
well as the machine allowed would look like one that did not.

The work is a pure-Python loop: no memory traffic, no I/O, no locks, so two processes can only
slow each other through the cores themselves.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier

SPIN_LOOPS = 25_000_000
"""About a second of one core here."""


def busy_ratio() -> float:
    """The loops a second two processes run together, over what one runs alone (2.0: the
    machine has two whole cores to give)."""
    return _busy_rate(2) / _busy_rate(1)


def _busy_rate(processes: int) -> float:
    """Loops a second that ``processes`` processes started together run in all (the slowest
    one's time: they did the same work)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.SimpleQueue()
    workers = [context.Process(target=_spin, args=(start, results)) for _ in range(processes)]
    for worker in workers:
        worker.start()
    elapsed = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    return processes * SPIN_LOOPS / max(elapsed)


def _spin(start: Barrier, results: multiprocessing.SimpleQueue[float]) -> None:
    start.wait()  # after every process has started: spawn's start-up is not measured
    began = time.perf_counter()
    total = 0
    for number in range(SPIN_LOOPS):
        total += number & 7
    results.put(time.perf_counter() - began)
