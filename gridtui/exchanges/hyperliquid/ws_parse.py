"""Parsers of Hyperliquid's WebSocket channel payloads into our stream events.

They reuse wire.py's strict field readers, so a malformed payload raises ``WireError`` naming
the field; the stream logs it and skips that one message rather than dying on it.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

import attrs

from gridtui.core.types import Fill
from gridtui.exchanges.base import MidUpdated, OrderUpdated
from gridtui.exchanges.hyperliquid.info_parse import parse_all_mids
from gridtui.exchanges.hyperliquid.wire import (
    WireError,
    _as_obj,
    _bool,
    _dec,
    _int,
    _obj,
    _order,
    _str,
    _typed,
    order_status_of,
    parse_fill,
)
from gridtui.exchanges.sim.live_market import TradePrint

GREETING = "Websocket connection established."
"""The plain-text (not JSON) frame the server sends first on every connection."""


@attrs.frozen(slots=True)
class UserFillsMessage:
    is_snapshot: bool
    fills: tuple[Fill, ...]


def subscribe_message(subscription: dict[str, Any]) -> dict[str, Any]:
    return {"method": "subscribe", "subscription": subscription}


def subscriptions(user: str, coins: Collection[str] | None = None) -> list[dict[str, Any]]:
    """allMids first and userFills last: the server handles them in order, so the userFills
    snapshot proves every earlier subscription is already live. One l2Book per traded coin."""
    books = [{"type": "l2Book", "coin": coin} for coin in sorted(coins or ())]
    return [
        {"type": "allMids"},
        *books,
        {"type": "orderUpdates", "user": user},
        {"type": "userEvents", "user": user},
        {"type": "userFills", "user": user},
    ]


def market_subscriptions(coins: Collection[str]) -> list[dict[str, Any]]:
    """The public market of ``coins``, no account: each coin's trades, then allMids (the server
    handles them in order, so the first allMids message proves the trades subscribed)."""
    return [*({"type": "trades", "coin": c} for c in sorted(coins)), {"type": "allMids"}]


def mids(data: object, coins: Collection[str] | None) -> dict[str, Decimal]:
    """``allMids``: ``{"mids": {coin: px}}``. Only the coins we trade are read, so an odd
    entry for some other market (spot ``@N`` keys) cannot spoil the ones we need."""
    every = _obj(data, "mids", "allMids")
    wanted = every if coins is None else {c: every[c] for c in coins if c in every}
    return parse_all_mids(wanted)


def mid_events(data: object, coins: Collection[str] | None, now_ms: int) -> list[MidUpdated]:
    """``allMids`` as stream events (see ``mids``)."""
    return [MidUpdated(coin, px, now_ms) for coin, px in mids(data, coins).items()]


def trade_prints(data: object) -> list[tuple[int, TradePrint]]:
    """``trades``: ``[{"coin", "side", "px", "sz", "time", "hash", "tid", "users"}]``; what a
    paper fill needs (coin, price, size) with the trade id (``tid``) that tells a repeat."""
    if not isinstance(data, list):
        raise WireError("trades: expected a list")
    prints = []
    for i, entry in enumerate(data):
        where = f"trades[{i}]"
        trade = TradePrint(
            _str(entry, "coin", where), _dec(entry, "px", where), _dec(entry, "sz", where)
        )
        prints.append((_int(entry, "tid", where), trade))
    return prints


def user_fills(data: object, user: str, venue: str) -> UserFillsMessage:
    """``userFills``: ``{"isSnapshot"?, "user", "fills": [...]}``; refused if it names another
    account (we subscribe only our own, so that would be a server bug worth hearing about)."""
    where = "userFills"
    obj = _as_obj(data, where)
    named = _str(obj, "user", where).lower()
    if named != user:
        raise WireError(f"{where}: fills of {named}, not of our account {user}")
    is_snapshot = _bool(obj, "isSnapshot", where) if obj.get("isSnapshot") is not None else False
    fills = _typed(obj, "fills", where, list, "a list")
    return UserFillsMessage(is_snapshot, tuple(parse_fill(f, venue) for f in fills))


def order_updates(data: object) -> list[OrderUpdated]:
    """``orderUpdates``: ``[{"order": {...}, "status", "statusTimestamp"}]``."""
    if not isinstance(data, list):
        raise WireError("orderUpdates: expected a list")
    events = []
    for i, entry in enumerate(data):
        where = f"orderUpdates[{i}]"
        status = order_status_of(_str(entry, "status", where))
        events.append(OrderUpdated(_order(_obj(entry, "order", where), status, f"{where}.order")))
    return events


@attrs.frozen(slots=True)
class NonUserCancel:
    """An order the venue cancelled on its own (e.g. margin), named by coin and oid only."""

    coin: str
    exchange_id: int


@attrs.frozen(slots=True)
class UserEvents:
    """What one ``user`` (userEvents) message carries that userFills does not: cancels the
    venue made and a liquidation. Its ``fills`` duplicate userFills and are not read."""

    cancels: tuple[NonUserCancel, ...] = ()
    liquidation: Any = None


def user_events(data: object) -> UserEvents:
    """``user`` channel: one of ``{"fills"}``, ``{"funding"}``, ``{"liquidation"}``,
    ``{"nonUserCancel"}`` (other kinds are ignored)."""
    obj = _as_obj(data, "userEvents")
    cancels = []
    if "nonUserCancel" in obj:
        entries = _typed(obj, "nonUserCancel", "userEvents", list, "a list")
        for i, entry in enumerate(entries):
            where = f"userEvents.nonUserCancel[{i}]"
            cancels.append(NonUserCancel(_str(entry, "coin", where), _int(entry, "oid", where)))
    return UserEvents(tuple(cancels), obj.get("liquidation"))
