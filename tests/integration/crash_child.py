"""The process the kill -9 test kills: the real Supervisor on a file-backed paper venue.

Run as ``python crash_child.py CONFIG``. It builds everything the way ``gridtui --headless`` does
(Supervisor → factory → BotOrchestrator over a SimExchange whose state file and journals live next
to the config), writes ``up`` on stdout once the venue is open and the bot task is scheduled, and
then trades until it is killed. It never stops on its own: the only way out is SIGKILL, which is
the point. Warnings and errors go to stderr so the parent can show what the engine complained
about between kills.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from gridtui.config.loader import load_config
from gridtui.supervisor import Supervisor


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
    asyncio.run(run(Path(sys.argv[1])))
