"""The process the kill -9 test kills: the real Supervisor on a file-backed paper venue.

Run as ``python crash_child.py CONFIG``. It builds everything the way ``gridtui --headless`` does
(Supervisor → factory → BotOrchestrator over a SimExchange whose state file and journals live next
to the config), writes ``up`` on stdout once the venue is open and the bot task is scheduled, and
then trades until it is killed. It never stops on its own: the only way out is SIGKILL, which is
the point. Warnings and errors go to stderr so the parent can show what the engine complained
about between kills.

``--die-at fill`` / ``--die-at ack`` make the child SIGKILL itself at one exact window instead of
waiting for the parent: when the first fill reaches the fill processor (the venue has committed
it, the journal has not), or when the first placement acknowledgement comes back (the venue holds
the orders, the journal still has them as pending). Random kills hit those windows only by luck.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gridtui.config.loader import load_config
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.fill_processor import FillProcessor
from gridtui.supervisor import Supervisor


def _die_before(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` that kills the process, uncatchably, the first time it is called with work."""

    def wrapper(self: object, work: Any, *args: Any, **kwargs: Any) -> Any:
        if work:
            os.kill(os.getpid(), signal.SIGKILL)
        return method(self, work, *args, **kwargs)

    return wrapper


def die_at(window: str) -> None:
    if window == "fill":
        FillProcessor.process_fills = _die_before(FillProcessor.process_fills)  # type: ignore[method-assign]
    elif window == "ack":
        ExecutionGateway._apply_ack = _die_before(ExecutionGateway._apply_ack)  # type: ignore[method-assign]


async def run(config_path: Path) -> None:
    supervisor = Supervisor(load_config(config_path))
    await supervisor.start()
    sys.stdout.write("up\n")
    sys.stdout.flush()
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(
        stream=sys.stderr, level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    parser = argparse.ArgumentParser()
    parser.add_argument("config", type=Path)
    parser.add_argument("--die-at", choices=("fill", "ack"))
    args = parser.parse_args()
    if args.die_at:
        die_at(args.die_at)
    asyncio.run(run(args.config))
