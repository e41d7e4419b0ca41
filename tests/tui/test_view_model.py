"""The view model a display samples bots through (no Textual): one equity point per change of
fills or mark, bounded; engine events queued in a stable order."""

from __future__ import annotations

from decimal import Decimal as D

import attrs

from gridtui.core.events import BotHalted
from gridtui.core.types import BotStatus
from gridtui.orchestrator.view import BotView, ViewModel, idle_view


def running(name: str, mark: str | None, fills: int = 0, realized: str = "0") -> BotView:
    view = idle_view(name, name.upper(), "paper", BotStatus.RUNNING, None, 0)
    return attrs.evolve(
        view,
        mark=D(mark) if mark is not None else None,
        fill_count=fills,
        all_time_realized=D(realized),
        unrealized=D("0.5"),
    )


def test_one_equity_point_per_change_of_fills_or_mark() -> None:
    views: list[BotView] = []
    model = ViewModel(lambda: views)
    for batch in (
        [running("btc", None)],  # no mark: nothing to plot
        [running("btc", "100")],
        [running("btc", "100")],  # same fills, same mark: no point
        [running("btc", "101")],
        [running("btc", "101", fills=1, realized="2")],
    ):
        views[:] = batch
        assert model.refresh() == tuple(batch)
    assert [value for _, value in model.equity("btc")] == [0.5, 0.5, 2.5]
    assert model.equity("eth") == () and model.equity(None) == ()


def test_a_bots_series_starts_with_its_journals_history() -> None:
    past = [(1_000, -1.0), (2_000, 0.25)]
    model = ViewModel(lambda: [running("btc", "100")], history=lambda name: past)
    model.refresh()
    series = model.equity("btc")
    assert series[:2] == tuple(past) and series[2][1] == 0.5 and len(series) == 3


def test_the_equity_series_is_bounded() -> None:
    mark = [0]
    model = ViewModel(lambda: [running("btc", str(100 + mark[0]))], equity_points=5)
    for mark[0] in range(12):
        model.refresh()
    assert len(model.equity("btc")) == 5


def test_events_are_taken_once_ordered_by_time_then_bot() -> None:
    model = ViewModel(list, pending_events=3)
    for bot, ms in (("eth", 2), ("btc", 2), ("btc", 1), ("sol", 3)):
        model.add_event(BotHalted(bot=bot, coin=bot.upper(), timestamp_ms=ms, reason="x"))
    taken = [(e.timestamp_ms, e.bot) for e in model.take_events()]
    assert taken == [(1, "btc"), (2, "btc"), (3, "sol")]  # the oldest beyond 3 was dropped
    assert model.take_events() == []
