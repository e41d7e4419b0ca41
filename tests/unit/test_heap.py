"""The collector settings a long run gets (in a child process: they are process-wide)."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import gc
from gridtui.core.heap import YOUNG_GENERATION_THRESHOLD, tune_gc_for_a_long_run

class Node:
    pass

kept = [Node() for _ in range(1000)]
dropped = Node(); dropped.me = dropped; del dropped  # a cycle start-up already let go
tune_gc_for_a_long_run()
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert not any(isinstance(o, Node) for o in gc.get_objects()), "start-up objects still scanned"
assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
later = Node(); later.me = later; del later  # a cycle made afterwards is still collected
assert gc.collect() >= 1
assert sum(isinstance(o, Node) for o in gc.get_objects()) == 0
print("ok", len(kept))
"""


def test_start_up_objects_are_left_out_of_collections_and_later_cycles_still_collected() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok 1000"
