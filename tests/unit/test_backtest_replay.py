"""The replay's result as a value: it must stay cheap to show (asyncio shows a task's result)."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

from gridtui.backtest.replay import EquityPoint, Replay
from gridtui.state.accounting import BotState


def test_a_years_replay_has_a_short_repr_even_as_a_tasks_result() -> None:
    """asyncio.run (3.11) builds the repr of the main task, its result included, when it puts
    the SIGINT handler back: a year's points in that repr were a transient 1 GB string."""
    books = BotState.fresh("b", "BTC", 0)
    points = tuple(EquityPoint(i * 60_000, D(64000), books, D(0)) for i in range(525_600))
    run = Replay("b", "BTC", (), None, points, (), 0, D(100_000))

    async def main() -> Replay:
        return run

    async def shown() -> str:
        task = asyncio.ensure_future(main())
        await task
        return repr(task)

    assert len(repr(run)) < 200
    assert len(asyncio.run(shown())) < 500
