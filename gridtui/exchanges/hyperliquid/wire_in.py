"""Parsers from Hyperliquid's action wire back to our types: the server side of wire.py.

The mock exchange receives exactly what wire.py (or the official client) sends and must read it
as strictly as the real venue: a malformed action is refused as a whole (``WireInError``, which
the server answers with HTTP 422 like the real deserializer), while an order naming an unknown
asset is a per-order problem reported in that order's status.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from gridtui.core.types import OrderRequest, Side, Tif

_CLOID = re.compile(r"0x[0-9a-f]{32}")
_TIFS = {tif.value: tif for tif in Tif}


class WireInError(ValueError):
    """The action does not have Hyperliquid's shape; nothing of it is executed."""


@attrs.frozen(slots=True)
class WireOrder:
    """One order of an order / batchModify action: the asset id it names and the request.
    ``request.client_id`` is "" without a cloid (as the paper venue expects)."""

    asset: int
    request: OrderRequest


def _field(d: object, key: str, where: str) -> Any:
    if not isinstance(d, Mapping):
        raise WireInError(f"{where}: expected an object")
    if key not in d:
        raise WireInError(f"{where}: missing field `{key}`")
    return d[key]


def _int(d: object, key: str, where: str) -> int:
    value = _field(d, key, where)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise WireInError(f"{where}: `{key}` is not an unsigned integer")
    return value


def _bool(d: object, key: str, where: str) -> bool:
    value = _field(d, key, where)
    if not isinstance(value, bool):
        raise WireInError(f"{where}: `{key}` is not a boolean")
    return value


def _decimal(d: object, key: str, where: str) -> Decimal:
    """Prices and sizes travel as strings; a JSON number is refused like the real API does."""
    value = _field(d, key, where)
    if not isinstance(value, str):
        raise WireInError(f"{where}: `{key}` is not a string")
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        raise WireInError(f"{where}: `{key}` is not a decimal: {value!r}") from None
    if not parsed.is_finite():
        raise WireInError(f"{where}: `{key}` is not a finite decimal: {value!r}")
    return parsed


def _list(d: object, key: str, where: str) -> list[Any]:
    value = _field(d, key, where)
    if not isinstance(value, list):
        raise WireInError(f"{where}: `{key}` is not a list")
    return value


def parse_cloid(value: object, where: str) -> str:
    if not isinstance(value, str) or not _CLOID.fullmatch(value):
        raise WireInError(f"{where}: not a cloid (0x + 32 lower-case hex): {value!r}")
    return value


def parse_order_wire(d: object, coins: Mapping[int, str], where: str = "order") -> WireOrder:
    """``{"a","b","p","s","r","t":{"limit":{"tif"}},"c"?}`` → the asset and an OrderRequest.

    An asset id the mock does not list keeps coin "" so the caller answers that order alone with
    an error. Trigger orders (``t.trigger``) are not served by the mock and refused here.
    """
    asset = _int(d, "a", where)
    order_type = _field(d, "t", where)
    limit = _field(order_type, "limit", f"{where}.t")
    tif_name = _field(limit, "tif", f"{where}.t.limit")
    if tif_name not in _TIFS:
        raise WireInError(f"{where}.t.limit: unknown tif {tif_name!r}")
    cloid = d.get("c") if isinstance(d, Mapping) else None
    request = OrderRequest(
        coin=coins.get(asset, ""),
        side=Side.BUY if _bool(d, "b", where) else Side.SELL,
        price=_decimal(d, "p", where),
        size=_decimal(d, "s", where),
        client_id="" if cloid is None else parse_cloid(cloid, f"{where}.c"),
        tif=_TIFS[tif_name],
        reduce_only=_bool(d, "r", where),
    )
    return WireOrder(asset, request)


def parse_order_action(action: Mapping[str, Any], coins: Mapping[int, str]) -> list[WireOrder]:
    orders = _list(action, "orders", "order action")
    grouping = action.get("grouping", "na")
    if grouping != "na":
        raise WireInError(f"order action: grouping {grouping!r} is not served by the mock")
    return [parse_order_wire(o, coins, f"orders[{i}]") for i, o in enumerate(orders)]


def parse_cancels(action: Mapping[str, Any]) -> list[tuple[int, int]]:
    """cancel: ``[{"a": asset, "o": oid}]`` → (asset, oid) pairs."""
    cancels = _list(action, "cancels", "cancel action")
    where = "cancels[{}]"
    return [
        (_int(c, "a", where.format(i)), _int(c, "o", where.format(i)))
        for i, c in enumerate(cancels)
    ]


def parse_cancels_by_cloid(action: Mapping[str, Any]) -> list[tuple[int, str]]:
    """cancelByCloid: ``[{"asset": asset, "cloid": "0x.."}]`` → (asset, cloid) pairs."""
    cancels = _list(action, "cancels", "cancelByCloid action")
    pairs = []
    for i, c in enumerate(cancels):
        where = f"cancels[{i}]"
        pairs.append((_int(c, "asset", where), parse_cloid(_field(c, "cloid", where), where)))
    return pairs


def parse_modifies(
    action: Mapping[str, Any], coins: Mapping[int, str]
) -> list[tuple[int | str, WireOrder]]:
    """batchModify: ``[{"oid": oid | cloid, "order": <order wire>}]``."""
    modifies = _list(action, "modifies", "batchModify action")
    entries: list[tuple[int | str, WireOrder]] = []
    for i, m in enumerate(modifies):
        where = f"modifies[{i}]"
        target = _field(m, "oid", where)
        if isinstance(target, str):
            target = parse_cloid(target, f"{where}.oid")
        elif not isinstance(target, int) or isinstance(target, bool):
            raise WireInError(f"{where}: `oid` is neither an integer nor a cloid")
        entries.append((target, parse_order_wire(_field(m, "order", where), coins, where)))
    return entries


def parse_optional_time(action: Mapping[str, Any]) -> int | None:
    """scheduleCancel's ``time``: absent or null disarms the switch."""
    if action.get("time") is None:
        return None
    return _int(action, "time", "scheduleCancel action")


def parse_update_leverage(action: Mapping[str, Any]) -> tuple[int, bool, int]:
    where = "updateLeverage action"
    return (
        _int(action, "asset", where),
        _bool(action, "isCross", where),
        _int(action, "leverage", where),
    )
