"""GridSnapshot: indexing, the initial layout with its gap, nearest level, leaving the grid."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from gridtui.config.schema import Direction
from gridtui.core.types import Level, Side
from gridtui.strategy.grid_snapshot import GridSnapshot


def snapshot() -> GridSnapshot:
    return GridSnapshot(
        coin="ETH",
        mid=D("2001"),
        center=D("2000"),
        spacing_pct=D("0.5"),
        prices=(D("1980"), D("1990"), D("2000"), D("2010"), D("2020")),
        sizes=(D("0.3"), D("0.2"), D("0.1"), D("0.2"), D("0.3")),
        created_ms=1,
        levels_per_side=2,
    )


def test_indexing_runs_from_minus_n_to_n() -> None:
    snap = snapshot()
    assert list(snap.indexes) == [-2, -1, 0, 1, 2]
    assert snap.price_of(-2) == D(1980)
    assert snap.price_of(0) == D(2000)
    assert snap.size_of(1) == D("0.2")
    assert snap.lowest == D(1980)
    assert snap.highest == D(2020)
    with pytest.raises(IndexError, match="outside the grid"):
        snap.price_of(3)
    with pytest.raises(IndexError):
        snap.size_of(-3)


def test_initial_levels_leave_the_center_empty_by_default() -> None:
    assert snapshot().initial_levels() == (
        Level(-2, D(1980), Side.BUY, D("0.3")),
        Level(-1, D(1990), Side.BUY, D("0.2")),
        Level(1, D(2010), Side.SELL, D("0.2")),
        Level(2, D(2020), Side.SELL, D("0.3")),
    )


def test_initial_levels_with_gap_off_center() -> None:
    levels = snapshot().initial_levels(gap_index=1)
    assert [(lv.index, lv.side) for lv in levels] == [
        (-2, Side.BUY),
        (-1, Side.BUY),
        (0, Side.BUY),
        (2, Side.SELL),
    ]
    edge = snapshot().initial_levels(gap_index=-2)
    assert all(lv.side is Side.SELL for lv in edge)
    assert len(edge) == 4
    with pytest.raises(IndexError):
        snapshot().initial_levels(gap_index=5)


@pytest.mark.parametrize(
    ("price", "index"),
    [
        ("1000", -2),
        ("1980", -2),
        ("1984.99", -2),
        ("1985", -2),  # exact tie → lower index
        ("1985.01", -1),
        ("2004", 0),
        ("2006", 1),
        ("2020", 2),
        ("9999", 2),
    ],
)
def test_nearest_index(price: str, index: int) -> None:
    assert snapshot().nearest_index(D(price)) == index


def test_is_outside_uses_threshold_percent_of_price() -> None:
    snap = snapshot()
    # Above: 2020 + 1 % of p  ⇔  p − 2020 > 0.01 p  ⇔  p > 2040.40…
    assert not snap.is_outside(D("2040.40"), D(1))
    assert snap.is_outside(D("2040.41"), D(1))
    # Below: 1980 − p > 0.01 p  ⇔  p < 1960.39…
    assert not snap.is_outside(D("1960.40"), D(1))
    assert snap.is_outside(D("1960.39"), D(1))
    assert not snap.is_outside(D(2000), D(0))
    assert snap.is_outside(D("2020.01"), D(0))


def test_malformed_snapshots_are_refused() -> None:
    good = snapshot()
    with pytest.raises(ValueError, match="strictly increasing"):
        GridSnapshot(
            coin="ETH",
            mid=D(1),
            center=D(2000),
            spacing_pct=D(1),
            prices=(D(1990), D(2000), D(2000)),
            sizes=(D(1),) * 3,
            created_ms=0,
            levels_per_side=1,
        )
    with pytest.raises(ValueError, match="needs 5"):
        GridSnapshot(
            coin="ETH",
            mid=D(1),
            center=D(2000),
            spacing_pct=D(1),
            prices=good.prices,
            sizes=good.sizes[:4],
            created_ms=0,
            levels_per_side=2,
        )


@pytest.mark.parametrize(
    ("direction", "gap", "inventory", "expected"),
    [
        # long: buys below; sells only for what is held, nearest the gap first
        (Direction.LONG, 0, "0", [(-2, "B"), (-1, "B")]),
        (Direction.LONG, 0, "0.2", [(-2, "B"), (-1, "B"), (1, "S")]),
        (Direction.LONG, 0, "0.45", [(-2, "B"), (-1, "B"), (1, "S")]),  # 0.2 + 0.3 > 0.45
        (Direction.LONG, 0, "0.5", [(-2, "B"), (-1, "B"), (1, "S"), (2, "S")]),
        (Direction.LONG, -1, "0.1", [(-2, "B"), (0, "S")]),
        (Direction.LONG, 0, "-0.2", [(-2, "B"), (-1, "B")]),  # short inventory: nothing sold
        # short mirrors it
        (Direction.SHORT, 0, "0", [(1, "S"), (2, "S")]),
        (Direction.SHORT, 0, "-0.2", [(-1, "B"), (1, "S"), (2, "S")]),
        (Direction.NEUTRAL, 0, "-5", [(-2, "B"), (-1, "B"), (1, "S"), (2, "S")]),
    ],
)
def test_a_long_grid_sells_and_a_short_one_buys_only_what_it_holds(
    direction: Direction, gap: int, inventory: str, expected: list[tuple[int, str]]
) -> None:
    levels = snapshot().initial_levels(gap, direction=direction, inventory=D(inventory))
    assert [(lv.index, lv.side.name[0]) for lv in levels] == expected
