"""Order and trade ids of the paper venue: unique across crashes, lost WAL files and restarts.

A persisted counter alone is not enough: the counters live in the same SQLite state file as
everything else, so losing its newest transactions (a deleted ``paper.db-wal``, a crash that
takes the WAL with it, a restored backup) rolls the counters back, and the venue hands out ids
it already gave away. The bots' journals key fills on (venue, coin, trade id), so a reused trade
id makes them drop a new fill as "already journaled".

So an id is never below ``now_ms << TIME_SHIFT``: a clock component that the lost transactions
cannot take back. Ids handed out at time t are below ``(t + 1) << TIME_SHIFT`` unless more than
2**TIME_SHIFT (1024) were allocated in one millisecond, and a restart comes later than the work
it lost, so its ids start above every lost one. The counter still guarantees strict growth within
a millisecond and when the clock stalls or steps back. ``now_ms`` is the venue's injected clock:
a simulated clock gives the same ids on every run (tests and backtests stay deterministic), and a
clock at 0 gives the plain counter 1, 2, 3... .

Ids stay below 2**53, so a JSON consumer that reads numbers as doubles sees them exactly (the
Hyperliquid wire carries oid and tid as JSON integers): with 10 bits for the counter, the clock
part reaches that bound only in the year 2248.
"""

from __future__ import annotations

TIME_SHIFT = 10
MAX_WIRE_ID = 2**53 - 1


class IdSpaceExhausted(OverflowError):
    """An id would not fit the wire's safe integer range (a clock centuries ahead)."""


def allocate_id(counter: int, now_ms: int) -> int:
    """The id to hand out next: at least the persisted ``counter`` (the next unused id) and at
    least the clock's floor. The caller stores the result + 1 as its new counter."""
    allocated = max(counter, max(now_ms, 0) << TIME_SHIFT)
    if allocated > MAX_WIRE_ID:
        raise IdSpaceExhausted(f"paper venue id {allocated} exceeds 2**53 - 1 (now_ms={now_ms})")
    return allocated
