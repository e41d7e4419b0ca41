"""The ``gridtui`` command's entry point (the console script and ``python -m gridtui``).

A stop signal (Ctrl-C, SIGTERM, SIGHUP) that arrives while Python is still importing must neither
be lost (the bots would then start and trade until killed) nor end in a traceback. So the stop
signals are blocked first thing, which keeps them pending; whoever is ready to handle them
unblocks them (``gridtui.stop_signals``): the headless runner once its handlers are installed,
every other command at once.
"""

from __future__ import annotations

import signal
import sys

from gridtui.stop_signals import STOP_SIGNALS


def entry() -> int:
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    from gridtui.cli import main

    return main()


if __name__ == "__main__":
    sys.exit(entry())
