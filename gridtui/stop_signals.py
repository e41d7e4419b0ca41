"""The signals that mean "stop cleanly", and their release once a handler is in place.

``gridtui.__main__`` blocks them before anything is imported, so a signal sent during start-up
waits (pending) instead of being lost or raising mid-import; ``release`` delivers it.
"""

from __future__ import annotations

import signal

STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM, signal.SIGHUP})


def release() -> None:
    """Unblock the stop signals: one that came while they were blocked is delivered now."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
