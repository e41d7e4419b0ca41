"""Hyperliquid's price/size rules: every edge the exchange would reject us for."""

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridtui.core.rounding import (
    MIN_ORDER_VALUE,
    Rounding,
    is_valid_price,
    is_valid_size,
    max_price_decimals,
    meets_min_value,
    min_size_for_value,
    round_price,
    round_size,
)


@pytest.mark.parametrize(
    ("price", "sz_decimals", "valid"),
    [
        ("64000", 5, True),  # integer
        ("123456", 5, True),  # integer beyond 5 significant figures is still valid
        ("123456.5", 5, False),
        ("64123.5", 5, False),  # 6 significant figures
        ("6412.5", 5, True),  # 5 significant figures, 1 decimal = 6 - 5
        ("641.25", 5, False),  # 2 decimals > 6 - 5
        ("1234.5", 2, True),
        ("1234.56", 2, False),
        ("0.012345", 0, True),  # 5 sig figs, 6 decimals
        ("0.0123456", 0, False),  # 7 decimals
        ("0.000012", 0, True),
        ("0.0000123", 0, False),
        ("1.2345", 2, True),  # 4 decimals = 6 - 2
        ("1.23456", 1, False),  # 6 significant figures
        ("0.12345", 2, False),  # 5 decimals > 6 - 2
        ("0", 0, False),
        ("-5", 0, False),
    ],
)
def test_is_valid_price(price: str, sz_decimals: int, valid: bool) -> None:
    assert is_valid_price(D(price), sz_decimals) is valid


def test_spot_allows_eight_minus_sz_decimals() -> None:
    assert max_price_decimals(0, is_spot=True) == 8
    assert is_valid_price(D("0.00012345"), 0, is_spot=True)
    assert not is_valid_price(D("0.00012345"), 0)


@pytest.mark.parametrize(
    ("price", "sz", "mode", "expected"),
    [
        ("64123.45", 5, Rounding.NEAREST, "64123"),
        ("64123.55", 5, Rounding.NEAREST, "64124"),
        ("64123.45", 5, Rounding.UP, "64124"),
        ("64123.99", 5, Rounding.DOWN, "64123"),
        ("123456.7", 5, Rounding.NEAREST, "123457"),  # > 100000: integers
        ("123456.7", 5, Rounding.DOWN, "123456"),
        ("99999.5", 5, Rounding.UP, "100000"),  # carry into a sixth digit: integer, valid
        ("3200.126", 4, Rounding.NEAREST, "3200.1"),
        ("3200.126", 4, Rounding.UP, "3200.2"),
        ("1.234567", 0, Rounding.NEAREST, "1.2346"),
        ("0.0123456", 0, Rounding.DOWN, "0.012345"),
        ("0.00001234", 0, Rounding.UP, "0.000013"),
        ("0.0999996", 0, Rounding.NEAREST, "0.1"),  # carry across a power of ten
        ("1670.10", 2, Rounding.NEAREST, "1670.1"),  # no trailing zero
        ("0.000001", 2, Rounding.DOWN, "0.0001"),  # below one tick: the smallest valid price
        ("0.0000123456", -3, Rounding.NEAREST, "0.000012346"),  # more decimals than 8
    ],
)
def test_round_price(price: str, sz: int, mode: Rounding, expected: str) -> None:
    result = round_price(D(price), sz, mode)
    assert str(result) == expected
    assert is_valid_price(result, sz)


def test_round_price_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        round_price(D(0), 2)


prices = st.decimals(min_value=D("0.000001"), max_value=D("5000000"), places=8, allow_nan=False)


@given(prices, st.integers(min_value=0, max_value=5))
def test_rounded_price_is_always_valid_and_directional(price: D, sz: int) -> None:
    down = round_price(price, sz, Rounding.DOWN)
    up = round_price(price, sz, Rounding.UP)
    assert is_valid_price(down, sz) and is_valid_price(up, sz)
    assert up >= price
    smallest_tick = D(1).scaleb(-max_price_decimals(sz))
    assert down <= price or down == smallest_tick
    assert "E" not in str(down) and "E" not in str(up)


@pytest.mark.parametrize(
    ("size", "sz", "mode", "expected"),
    [
        ("0.123456", 5, Rounding.DOWN, "0.12345"),
        ("0.123456", 5, Rounding.UP, "0.12346"),
        ("1.00", 2, Rounding.DOWN, "1"),
        ("17.9", 0, Rounding.DOWN, "17"),
        ("0.00009", 4, Rounding.DOWN, "0"),
    ],
)
def test_round_size(size: str, sz: int, mode: Rounding, expected: str) -> None:
    assert str(round_size(D(size), sz, mode)) == expected


@pytest.mark.parametrize(
    ("size", "sz", "valid"),
    [
        ("0.12345", 5, True),
        ("0.12345", 4, False),
        ("3", 0, True),
        ("0", 3, False),
        ("-1", 3, False),
    ],
)
def test_is_valid_size(size: str, sz: int, valid: bool) -> None:
    assert is_valid_size(D(size), sz) is valid


def test_minimum_order_value() -> None:
    assert MIN_ORDER_VALUE == D(10)
    assert meets_min_value(D("64000"), D("0.00016"))  # 10.24
    assert not meets_min_value(D("64000"), D("0.00015"))  # 9.60
    assert meets_min_value(D("10"), D("1"))  # exactly $10 is enough
    assert min_size_for_value(D("64000"), 5) == D("0.00016")
    assert min_size_for_value(D("3.3"), 0) == D(4)  # 3 would be $9.90
