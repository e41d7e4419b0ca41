"""Candle files: loading, one-line errors naming file:line, and replay through the venue."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, OrderStatus, Side
from gridtui.exchanges.sim import CandleFileError, CandleReplay, SimExchange, load_candles

GOOD = """time_ms,open,high,low,close,volume
1700000000000,100,104,99,103,8
1700000060000,103,103.5,97,98,0
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "candles.csv"
    path.write_text(text)
    return path


def market(path: Path) -> PaperMarket:
    return PaperMarket("X", D(1), 2, candles_file=path)


def test_loads_candles_with_a_header(tmp_path):
    candles = load_candles(write(tmp_path, GOOD))
    assert [c.time_ms for c in candles] == [1_700_000_000_000, 1_700_000_060_000]
    assert candles[1].low == D(97) and candles[0].volume == D(8)


def test_replay_walks_open_then_the_nearer_extreme_then_the_other_then_close(tmp_path):
    path = write(tmp_path, GOOD)
    replay = CandleReplay(market(path), load_candles(path), D(1000))
    mids = [replay.mid] + [replay.next_tick(0.0).close for _ in range(7)]
    assert mids == [D(x) for x in ("100", "99", "104", "103", "103", "103.5", "97", "98")]
    assert replay.finished


def test_tick_volume_is_a_quarter_of_the_candle_or_the_configured_notional(tmp_path):
    path = write(tmp_path, GOOD)
    replay = CandleReplay(market(path), load_candles(path), D(1000))
    first = replay.next_tick(0.0)
    assert (first.low, first.high, first.volume) == (D(99), D(100), D(2))
    ticks = [first] + [replay.next_tick(0.0) for _ in range(4)]
    assert [t.volume for t in ticks[:3]] == [D(2)] * 3
    # The fourth step closes at the second candle's open: that candle's volume, and it has
    # none, so 1000 USD at the mid per step (103 -> 9.7, then 103.5 -> 9.66).
    assert (ticks[3].close, ticks[3].volume) == (D(103), D("9.7"))
    assert (ticks[4].close, ticks[4].volume) == (D("103.5"), D("9.66"))


def test_peek_shows_the_mids_the_next_steps_walk_to_without_moving(tmp_path):
    """The venue's quiet walk decides from ``peek`` that no point reaches an order, then
    steps: the points it looked at must be the ones it steps through, across candles."""
    path = write(tmp_path, GOOD)
    walk = [D(x) for x in ("100", "99", "104", "103", "103", "103.5", "97", "98")]
    for start in range(len(walk)):
        replay = CandleReplay(market(path), load_candles(path), D(1000))
        for _ in range(start):
            replay.next_tick(0.0)
        ahead = walk[start + 1 :]
        for count in range(1, len(ahead) + 1):
            assert replay.peek(count) == tuple(ahead[:count])
        assert replay.peek(len(ahead) + 1) is None
        assert replay.mid == walk[start]  # looking ahead moved nothing


def test_a_finished_replay_stands_still_without_volume(tmp_path):
    path = write(tmp_path, GOOD)
    replay = CandleReplay(market(path), load_candles(path), D(1000))
    for _ in range(7):
        replay.next_tick(0.0)
    idle = replay.next_tick(0.0)
    assert (idle.open, idle.close, idle.volume) == (D(98), D(98), D(0))


def test_replay_resumes_from_its_state(tmp_path):
    path = write(tmp_path, GOOD)
    first = CandleReplay(market(path), load_candles(path), D(1000))
    for _ in range(3):
        first.next_tick(0.0)
    resumed = CandleReplay(market(path), load_candles(path), D(1000), state=first.state())
    assert [resumed.next_tick(0).close for _ in range(4)] == [
        first.next_tick(0).close for _ in range(4)
    ]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        (
            "1700000120000,98,99,97",
            "1 row with too few columns at line 4 (found 4, expected at least 6 columns)",
        ),
        (
            "soon,98,99,97,98,1",
            "1 candle with an unparseable time at line 4 ('soon'; expected ISO-8601 such as "
            "2024-01-01T00:00:00Z, or epoch seconds or milliseconds)",
        ),
        (
            "1700000120000,98,abc,97,98,1",
            "1 candle with a non-numeric price at line 4 (high 'abc')",
        ),
        ("1700000120000,98,99,97,-1,1", "1 candle with a non-positive price at line 4 (close -1)"),
        (
            "1700000120000,98,99,97,100,1",
            "1 candle with open or close outside low..high at line 4 (close 100 outside 97..99)",
        ),
        ("1700000060000,98,99,97,98,1", "1 duplicate candle at line 4 (same time as line 3)"),
    ],
)
def test_a_bad_row_names_file_and_line(tmp_path, row, problem):
    path = write(tmp_path, GOOD + row + "\n")
    with pytest.raises(CandleFileError) as info:
        load_candles(path)
    assert str(info.value) == f"{path}: {problem}"


def test_missing_and_empty_files_are_one_line_errors(tmp_path):
    with pytest.raises(CandleFileError, match="cannot read the candle file"):
        load_candles(tmp_path / "nope.csv")
    with pytest.raises(CandleFileError, match="no candles"):
        load_candles(write(tmp_path, "time_ms,open,high,low,close,volume\n\n"))


async def test_the_venue_replays_candles_and_fills_orders_the_candle_reached(tmp_path):
    path = write(tmp_path, GOOD)
    settings = PaperSettings(markets=(market(path),))
    venue = SimExchange.in_memory(settings, SimClock())
    assert (await venue.all_mids())["X"] == D(100)
    [ack] = await venue.place_orders(
        [OrderRequest("X", Side.SELL, D("103.9"), D(1), "0x" + "1" * 32)]
    )
    venue.step()  # 100 -> 99
    assert (await venue.order_status(exchange_id=ack.exchange_id)).status is OrderStatus.OPEN
    venue.step()  # 99 -> 104: the high trades through 103.9
    assert (await venue.order_status(exchange_id=ack.exchange_id)).status is OrderStatus.FILLED
    for _ in range(5):
        venue.step()
    assert venue.replay_finished
    assert (await venue.all_mids())["X"] == D(98)
    await venue.close()


async def test_a_replayed_market_cannot_be_moved(tmp_path):
    settings = PaperSettings(markets=(market(write(tmp_path, GOOD)), PaperMarket("Y", D(50), 2)))
    venue = SimExchange.in_memory(settings, SimClock())
    with pytest.raises(ValueError, match="X replays candles and cannot be moved"):
        venue.move_market("X", D(90))
    with pytest.raises(ValueError, match="beyond this market's range"):
        venue.move_market("Y", D(99_999_999))
    venue.move_market("Y", D(45))  # a generated one can
    venue.step(0.0)
    assert (await venue.all_mids())["Y"] == D(45)
    await venue.close()


WALK = """time_ms,open,high,low,close,volume
1700000000000,100,101,99.5,100.5,8
1700000060000,100.5,101.5,100,101,8
1700000120000,101,103,100.8,102.5,8
1700000180000,102.5,102.8,101.2,101.5,8
1700000240000,101.5,101.9,100.6,101,8
"""


async def _walk(tmp_path: Path, *, quietly: bool) -> tuple[list, list[bool], list]:
    """Replay WALK with a sell resting at 102.5 (reached by candle 3 only), one step per
    point, or candle by candle through ``step_quietly`` where it agrees."""
    path = write(tmp_path, WALK)
    venue = SimExchange.in_memory(PaperSettings(markets=(market(path),)), SimClock())
    queue = venue.subscribe()
    await venue.place_orders([OrderRequest("X", Side.SELL, D("102.5"), D(1), "0x" + "2" * 32)])
    answers: list[bool] = []
    for number in range(5):
        times = [1_700_000_000_000 + number * 60_000 + p * 15_000 for p in range(4)][
            1 if number == 0 else 0 :
        ]
        went = quietly and venue.step_quietly(times)
        answers.append(went)
        if not went:
            for _ in times:
                venue.step()
    events = []
    while not queue.empty():
        event = queue.get_nowait()
        events.append((type(event).__name__, getattr(event, "price", None)))
    fills = await venue.fills_since(0)
    await venue.close()
    return events, answers, fills


async def test_a_quiet_walk_streams_what_point_by_point_steps_stream(tmp_path):
    """The backtest walks a candle that reaches no order in one call: the bot must see the same
    mids in the same order, and a candle that reaches an order is refused (stepped point by
    point), so the fill and the bot's reaction happen exactly as before."""
    stepped, _, stepped_fills = await _walk(tmp_path, quietly=False)
    walked, answers, walked_fills = await _walk(tmp_path, quietly=True)
    assert answers == [True, True, False, True, True]
    assert walked == stepped
    assert [(f.price, f.size) for f in walked_fills] == [(D("102.5"), D(1))]
    assert [(f.price, f.size) for f in stepped_fills] == [(D("102.5"), D(1))]


async def test_a_quiet_walk_stamps_each_mid_with_its_own_time(tmp_path):
    path = write(tmp_path, WALK)
    venue = SimExchange.in_memory(PaperSettings(markets=(market(path),)), SimClock())
    queue = venue.subscribe()
    assert venue.step_quietly([10, 20, 30])
    stamps = [(e.price, e.timestamp_ms) for e in (queue.get_nowait() for _ in range(3))]
    assert stamps == [(D("99.5"), 10), (D(101), 20), (D("100.5"), 30)]
    assert not venue.step_quietly([40] * 100)  # past the last candle: nothing to look at
    await venue.close()
