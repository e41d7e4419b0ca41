"""Number formats for people to read: the cockpit's panels and the CLI's tables."""

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


CENT = Decimal("0.01")
SUB_CENT = Decimal("0.0001")


def usd(value: Decimal, *, signed: bool = False) -> str:
    """A USD figure for reading: cents (the books keep 40 digits), or four decimals when it is
    under a cent but not zero (a small order's fee must not read as nothing)."""
    places = SUB_CENT if value and abs(value) < CENT else CENT
    text = f"{value.quantize(places):{'+' if signed else ''},f}"
    return text


FAR_PCT = Decimal(1000)


def percent_away(pct: Decimal | None) -> str:
    """How far a price is (a liquidation from the mark): one decimal; beyond ten times the
    price it only says so (a tiny short on a big account is "liquidated" at 30,000x)."""
    if pct is None:
        return "—"
    if pct > FAR_PCT:
        return f"> {FAR_PCT:,f}%"
    return f"{pct.quantize(Decimal('0.1')):,f}%"
