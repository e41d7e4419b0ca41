"""The header's venue badge: whose money the orders are."""

from __future__ import annotations

import pytest

from gridtui.config.schema import PaperPrices, PaperSettings, VenueKind, VenueSettings
from gridtui.venues import badge_of


@pytest.mark.parametrize(
    ("venue", "badge"),
    [
        (VenueSettings(), "PAPER"),
        (
            VenueSettings(paper=PaperSettings(prices=PaperPrices.HYPERLIQUID)),
            "PAPER·LIVE PRICES",  # real prices, but play money
        ),
        (
            VenueSettings(
                paper=PaperSettings(prices=PaperPrices.HYPERLIQUID, api_url="http://127.0.0.1:3001")
            ),
            "PAPER·LIVE PRICES via 127.0.0.1:3001",
        ),
        (VenueSettings(kind=VenueKind.HYPERLIQUID, network="mainnet"), "MAINNET"),
        (VenueSettings(kind=VenueKind.HYPERLIQUID), "TESTNET"),
        (
            VenueSettings(
                kind=VenueKind.HYPERLIQUID, network="mainnet", api_url="https://proxy.example:8443"
            ),
            "MAINNET via proxy.example:8443",  # a proxy does not make it play money
        ),
        (
            VenueSettings(kind=VenueKind.HYPERLIQUID, api_url="http://127.0.0.1:3001"),
            "TESTNET via 127.0.0.1:3001",
        ),
    ],
)
def test_the_badge_says_whether_real_money_is_at_stake(venue: VenueSettings, badge: str) -> None:
    assert badge_of(venue) == badge
