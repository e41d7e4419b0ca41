"""A batch of orders is margin-checked exactly like the same orders placed one by one."""

from __future__ import annotations

from decimal import Decimal as D

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import SimClock
from gridtui.core.types import OrderRequest, PlaceStatus, Side
from gridtui.exchanges.sim.exchange import SimExchange

# $1000 at 50x leverage: $50,000 of order notional fits; each BTC buy below is ~$3,190.
SETTINGS = PaperSettings(starting_balance=D(1000), markets=(PaperMarket("BTC", D(64000), 5),))


def _grid() -> list[OrderRequest]:
    return [
        OrderRequest("BTC", Side.BUY, D(63900 - 10 * i), D("0.05"), f"0x{i:032x}")
        for i in range(20)
    ]


async def test_batch_and_single_placements_hit_the_margin_limit_at_the_same_order() -> None:
    batch_venue = SimExchange.in_memory(SETTINGS, SimClock())
    single_venue = SimExchange.in_memory(SETTINGS, SimClock())
    batch = await batch_venue.place_orders(_grid())
    single = [(await single_venue.place_orders([r]))[0] for r in _grid()]
    assert [a.status for a in batch] == [a.status for a in single]
    statuses = [a.status for a in batch]
    assert PlaceStatus.RESTING in statuses and PlaceStatus.ERROR in statuses  # the limit bites
    first_refused = statuses.index(PlaceStatus.ERROR)
    assert all(s is PlaceStatus.ERROR for s in statuses[first_refused:])
    assert batch[first_refused].error == "Insufficient margin to place order."
