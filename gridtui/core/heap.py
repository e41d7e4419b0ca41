"""The garbage collector, tuned for a process that runs for days with a trader waiting on it.

CPython stops the whole process while it collects. With its default settings, a cockpit under a
trading load (`gridtui bench keys`: 4 bots × 100 levels, 200 mids/s) collected in full every two
seconds or so, and a full collection scans every object that has lived a while: ~145,000 made at
start-up and kept for good (modules, classes, functions, the app and its styles) plus what the
panels hold. Each full collection stopped the event loop for 250-400 ms: a key press landing in
one waited that long.

Two settings of the collector's own fix it:
- what start-up made is frozen once it is done, so later collections no longer scan it;
- the youngest generation is collected after 10,000 allocations instead of 700, so an object
  that lives for a few milliseconds (a rendered line, a message) is freed by its reference count
  before a collection can promote it. Full collections became rare: 2 in 85 s of the bench
  instead of ~40, each ~100 ms.
"""

from __future__ import annotations

import gc

YOUNG_GENERATION_THRESHOLD = 10_000
"""Allocations (net of frees) between two collections of the youngest generation; CPython's
default is 700."""


def tune_gc_for_a_long_run() -> None:
    """Collect once, freeze every object still alive, and space collections out.

    Called when a process has built what it keeps for its lifetime, just before its work starts.
    A frozen object is still freed when its last reference goes; only a reference cycle among
    frozen objects would stay, and start-up leaves none behind: the collection just before the
    freeze takes what it had already dropped."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, middle, oldest)
