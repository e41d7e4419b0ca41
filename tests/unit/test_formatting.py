from decimal import Decimal as D

import pytest

from gridtui.core.formatting import average_price, percent_away, usd


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("63665.0238095238095238095238095238095238", "63,665.0"),
        ("3209.04", "3,209.04"),
        ("150.123456", "150.123"),
        ("0.0012345678", "0.00123457"),
        ("0", "0"),
    ],
)
def test_average_price_reads_like_a_price(value: str, shown: str) -> None:
    assert average_price(D(value)) == shown


@pytest.mark.parametrize(
    ("value", "signed", "shown"),
    [
        ("0.12771935000000000000", True, "+0.13"),
        ("-1234.5", True, "-1,234.50"),
        ("0.004794225", False, "0.0048"),  # a small order's fee: not "0.00"
        ("0", False, "0.00"),
        ("12.3", False, "12.30"),
    ],
)
def test_usd_reads_in_cents_and_never_hides_a_sub_cent_fee(
    value: str, signed: bool, shown: str
) -> None:
    assert usd(D(value), signed=signed) == shown


@pytest.mark.parametrize(
    ("pct", "shown"),
    [
        (None, "—"),
        ("20", "20.0%"),
        ("15.349", "15.3%"),
        ("999.96", "1,000.0%"),
        ("109299.3", "> 1,000%"),
    ],
)
def test_a_distance_reads_to_a_tenth_and_far_is_only_far(pct: str | None, shown: str) -> None:
    assert percent_away(None if pct is None else D(pct)) == shown
