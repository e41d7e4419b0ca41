from decimal import Decimal as D

import pytest

from gridtui.tui.formatting import average_price


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
