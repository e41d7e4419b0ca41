"""Number formats shared by the panels."""

from __future__ import annotations

from decimal import Decimal

AVERAGE_SIGNIFICANT = 6


def average_price(value: Decimal) -> str:
    """An average entry is exact to 40 digits in the books; on screen it reads like a price,
    one significant figure finer than the exchange's five (63,665.0 not 63,665.0238095…)."""
    if not value:
        return "0"
    places = max(AVERAGE_SIGNIFICANT - value.adjusted() - 1, 0)
    return f"{value.quantize(Decimal(1).scaleb(-places)):,f}"
