"""The venue's order rules applied before sending: what Hyperliquid would refuse is refused here,
with a clear reason, and never costs an action from the per-address budget."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from gridtui.core.rounding import Rounding, meets_min_value, round_price, round_size
from gridtui.core.types import AssetMeta, OrderRequest, PlaceAck, PlaceStatus, Side
from gridtui.exchanges.hyperliquid import wire

log = logging.getLogger(__name__)


def prepare_order(request: OrderRequest, meta: AssetMeta | None) -> dict[str, Any] | PlaceAck:
    """The order's wire form, rounded by the asset's rules, or an ERROR ack saying why not
    (unknown coin, bad cloid, under the $10 minimum)."""

    def refuse(reason: str) -> PlaceAck:
        log.warning("order %s not sent: %s", request.client_id, reason)
        return PlaceAck(PlaceStatus.ERROR, client_id=request.client_id, error=reason)

    if meta is None:
        return refuse(f"unknown coin {request.coin!r}")
    # Round towards the passive side: a buy never pays, nor a sell receives, a worse price
    # than asked, so rounding can never make a resting order cross.
    direction = Rounding.DOWN if request.side is Side.BUY else Rounding.UP
    try:
        price = round_price(request.price, meta.sz_decimals, direction)
        size = round_size(request.size, meta.sz_decimals)
    except ValueError as exc:
        return refuse(str(exc))
    if size <= 0 or not meets_min_value(price, size):
        return refuse(
            f"Order must have minimum value of $10 (price {price} × size {size} = {price * size})"
        )
    try:
        return wire.order_wire(attrs.evolve(request, price=price, size=size), meta.asset_id)
    except ValueError as exc:
        return refuse(str(exc))


def prepare_batch(
    entries: Sequence[tuple[int | str | None, OrderRequest]],
    metas: Mapping[str, AssetMeta | None],
) -> tuple[list[PlaceAck | None], list[tuple[int | str | None, dict[str, Any]]], list[int]]:
    """Prepare (target, order) entries of one batch: ``target`` is None for a new order, else
    the oid or cloid of the order it replaces. Returns the local refusals (None where the entry
    goes out), the (target, wire) pairs to send, and the entry index of each pair."""
    acks: list[PlaceAck | None] = [None] * len(entries)
    wires: list[tuple[int | str | None, dict[str, Any]]] = []
    sent_at: list[int] = []
    for i, (target, request) in enumerate(entries):
        outcome = prepare_order(request, metas.get(request.coin))
        if isinstance(target, str) and not isinstance(outcome, PlaceAck):
            try:
                wire.check_cloid(target)
            except ValueError as exc:
                log.warning("modify of %r not sent: %s", target, exc)
                outcome = PlaceAck(PlaceStatus.ERROR, client_id=request.client_id, error=str(exc))
        if isinstance(outcome, PlaceAck):
            acks[i] = outcome
        else:
            wires.append((target, outcome))
            sent_at.append(i)
    return acks, wires, sent_at
