"""Hyperliquid's wire formats in one place: numbers, actions, and parsers of its answers.

The exchange verifies a signature over the msgpack bytes of an action, so every dict built here
keeps Hyperliquid's key order and every number is rendered exactly as its own client renders it:
one differing byte (a trailing zero, a swapped key) makes the server recover a random address.
Parsers turn the venue's JSON (numbers as strings) into core types and refuse anything malformed
with a ``WireError`` naming the field, so no ``KeyError`` from a surprising answer reaches callers.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from typing import Any

from gridtui.core.types import (
    ZERO,
    CancelAck,
    ExchangeError,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceAck,
    PlaceStatus,
    Position,
    Side,
    Tif,
)

log = logging.getLogger(__name__)

WIRE_DECIMALS = 8
_QUANTUM = Decimal(1).scaleb(-WIRE_DECIMALS)
_CLOID = re.compile(r"0x[0-9a-f]{32}")
_RATE_LIMIT_MARKERS = ("too many", "rate limit")


class WireError(ExchangeError):
    """The venue answered something this client cannot read. Retrying would read it again."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


def float_to_wire(x: Decimal | int) -> str:
    """The canonical wire string: ≤ 8 decimals, no trailing zeros, no exponent, never "-0".

    Refuses a value that 8 decimals cannot hold exactly: sending a silently rounded price would
    sign something other than what the caller asked for.
    """
    value = Decimal(x)
    if not value.is_finite():
        raise ValueError(f"cannot put {value} on the wire")
    with localcontext() as ctx:
        ctx.prec = max(28, value.adjusted() + WIRE_DECIMALS + 2)
        rounded = value.quantize(_QUANTUM)
        if rounded != value:
            raise ValueError(f"{value} has more than {WIRE_DECIMALS} decimals")
        text = f"{rounded.normalize():f}"
    return "0" if text == "-0" else text


def check_cloid(cloid: str) -> str:
    """A Hyperliquid client order id is 0x + 32 lower-case hex digits (16 bytes)."""
    if not _CLOID.fullmatch(cloid):
        raise ValueError(f"cloid must be 0x + 32 lower-case hex digits, got {cloid!r}")
    return cloid


def order_wire(request: OrderRequest, asset: int) -> dict[str, Any]:
    """One order in Hyperliquid's order wire: keys a, b, p, s, r, t, then c only with a cloid."""
    wire: dict[str, Any] = {
        "a": asset,
        "b": request.side is Side.BUY,
        "p": float_to_wire(request.price),
        "s": float_to_wire(request.size),
        "r": request.reduce_only,
        "t": {"limit": {"tif": request.tif.value}},
    }
    if request.client_id:
        wire["c"] = check_cloid(request.client_id)
    return wire


def order_action(wires: Iterable[dict[str, Any]], grouping: str = "na") -> dict[str, Any]:
    return {"type": "order", "orders": list(wires), "grouping": grouping}


def cancel_action(cancels: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """Cancels by exchange order id: pairs of (asset, oid)."""
    return {"type": "cancel", "cancels": [{"a": asset, "o": oid} for asset, oid in cancels]}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, str]]) -> dict[str, Any]:
    """Cancels by client order id: pairs of (asset, cloid)."""
    return {
        "type": "cancelByCloid",
        "cancels": [{"asset": asset, "cloid": check_cloid(cloid)} for asset, cloid in cancels],
    }


def modify_action(modifies: Iterable[tuple[int | str, dict[str, Any]]]) -> dict[str, Any]:
    """batchModify: pairs of (oid or cloid of the order to replace, its new order wire)."""
    entries = []
    for target, wire in modifies:
        oid = check_cloid(target) if isinstance(target, str) else target
        entries.append({"oid": oid, "order": wire})
    return {"type": "batchModify", "modifies": entries}


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """Arm the dead-man switch at ``time_ms``; ``None`` disarms it (the key is then absent)."""
    action: dict[str, Any] = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = time_ms
    return action


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> dict[str, Any]:
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def noop_action() -> dict[str, Any]:
    """A signed no-op: burns a nonce, e.g. to invalidate an in-flight request."""
    return {"type": "noop"}


def exchange_request(
    action: dict[str, Any],
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The /exchange body. The optional fields are sent as null, as the official client does."""
    return {
        "action": action,
        "nonce": nonce,
        "signature": dict(signature),
        "vaultAddress": vault_address.lower() if vault_address else None,
        "expiresAfter": expires_after,
    }


# -- market history: candleSnapshot and fundingHistory ---------------------------------------

CANDLE_INTERVALS: tuple[str, ...] = (
    "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "8h", "12h", "1d", "3d", "1w", "1M",
)  # fmt: skip
"""The candle intervals candleSnapshot accepts (``1M`` is a calendar month)."""
CANDLES_KEPT = 5000
"""The venue keeps only the newest this many candles of each coin and interval."""
FUNDING_PAGE = 500
"""fundingHistory returns at most this many records per call: page on from the last time + 1."""
_MINUTE_MS = 60_000
_INTERVAL_MS = {
    "1m": _MINUTE_MS,
    "3m": 3 * _MINUTE_MS,
    "5m": 5 * _MINUTE_MS,
    "15m": 15 * _MINUTE_MS,
    "30m": 30 * _MINUTE_MS,
    "1h": 60 * _MINUTE_MS,
    "2h": 120 * _MINUTE_MS,
    "4h": 240 * _MINUTE_MS,
    "8h": 480 * _MINUTE_MS,
    "12h": 720 * _MINUTE_MS,
    "1d": 1440 * _MINUTE_MS,
    "3d": 3 * 1440 * _MINUTE_MS,
    "1w": 7 * 1440 * _MINUTE_MS,
}
_MONTH = "1M"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def _check_interval(interval: str) -> None:
    if interval not in CANDLE_INTERVALS:
        raise ValueError(
            f"unknown candle interval {interval!r}; expected one of {CANDLE_INTERVALS}"
        )


def _month_of(time_ms: int) -> int:
    """Calendar months since January 1970 of the month ``time_ms`` falls in (UTC)."""
    moment = _EPOCH + time_ms * _MS
    return (moment.year - 1970) * 12 + moment.month - 1


def _month_open(month: int) -> int:
    year, month0 = divmod(month, 12)
    return (datetime(1970 + year, month0 + 1, 1, tzinfo=UTC) - _EPOCH) // _MS


def candle_open_ms(interval: str, time_ms: int) -> int:
    """The open time of the ``interval`` candle that ``time_ms`` falls in: fixed intervals on a
    grid from the epoch, ``1M`` at the first millisecond of the calendar month (UTC)."""
    _check_interval(interval)
    if interval == _MONTH:
        return _month_open(_month_of(time_ms))
    step = _INTERVAL_MS[interval]
    return time_ms // step * step


def candle_shift_ms(interval: str, open_ms: int, count: int) -> int:
    """The open time ``count`` candles after (negative: before) the candle opening at
    ``open_ms``."""
    _check_interval(interval)
    if interval == _MONTH:
        return _month_open(_month_of(open_ms) + count)
    return open_ms + count * _INTERVAL_MS[interval]


def candle_snapshot_request(
    coin: str, interval: str, start_ms: int, end_ms: int | None
) -> dict[str, Any]:
    """The candleSnapshot info body: candles of ``coin`` opening from ``start_ms`` to ``end_ms``
    (both epoch ms, inclusive)."""
    _check_interval(interval)
    req = {"coin": coin, "interval": interval, "startTime": start_ms, "endTime": end_ms}
    return {"type": "candleSnapshot", "req": req}


def funding_history_request(coin: str, start_ms: int, end_ms: int | None) -> dict[str, Any]:
    """The fundingHistory info body: ``coin``'s hourly funding from ``start_ms`` to ``end_ms``."""
    return {"type": "fundingHistory", "coin": coin, "startTime": start_ms, "endTime": end_ms}


def _as_obj(d: object, where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise WireError(f"{where}: expected an object, got {type(d).__name__}")
    return d


def _get(d: object, key: str, where: str) -> Any:
    d = _as_obj(d, where)
    if key not in d:
        raise WireError(f"{where}: field '{key}' is missing")
    return d[key]


def _typed(d: object, key: str, where: str, kind: type | tuple[type, ...], what: str) -> Any:
    value = _get(d, key, where)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise WireError(f"{where}: field '{key}' is not {what}: {_short(value)}")
    return value


def _obj(d: object, key: str, where: str) -> Mapping[str, Any]:
    return _typed(d, key, where, Mapping, "an object")


def _str(d: object, key: str, where: str) -> str:
    return _typed(d, key, where, str, "a string")


def _int(d: object, key: str, where: str) -> int:
    return _typed(d, key, where, int, "an integer")


def _bool(d: object, key: str, where: str) -> bool:
    return _typed(d, key, where, bool, "a boolean")


def _dec(d: object, key: str, where: str) -> Decimal:
    """Numbers arrive as strings; integers are tolerated, floats are not (they lose digits)."""
    value = _get(d, key, where)
    if isinstance(value, str | int) and not isinstance(value, bool):
        with suppress(InvalidOperation):  # reported just below, with the field's name
            parsed = Decimal(value)
            if parsed.is_finite():
                return parsed
    raise WireError(f"{where}: field '{key}' is not a decimal string: {_short(value)}")


def _side(d: object, key: str, where: str) -> Side:
    letter = _get(d, key, where)
    if letter not in ("B", "A"):
        raise WireError(f"{where}: field '{key}' is not 'B' or 'A': {_short(letter)}")
    return Side(letter)


def _opt_cloid(d: Mapping[str, Any], where: str) -> str | None:
    return _typed(d, "cloid", where, (str, type(None)), "a string") if "cloid" in d else None


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_rate_limit_message(message: str) -> bool:
    """The per-address budget's refusal ("Too many cumulative requests sent ...")."""
    lowered = message.lower()
    return any(marker in lowered for marker in _RATE_LIMIT_MARKERS)


def action_payload(response: object) -> Mapping[str, Any]:
    """The ``response`` object of an ok /exchange answer; a failed action raises ExchangeError.

    A failed action is HTTP 200 with ``{"status": "err", "response": message}``. Only a rate-limit
    refusal is worth retrying (after backing off); a bad signature or nonce would fail again.
    """
    status = _get(response, "status", "exchange response")
    if status == "err":
        message = _get(response, "response", "exchange response")
        text = message if isinstance(message, str) else _short(message)
        raise ExchangeError(text, retryable=is_rate_limit_message(text))
    if status != "ok":
        raise WireError(f"exchange response: field 'status' is not 'ok' or 'err': {_short(status)}")
    return _obj(response, "response", "exchange response")


def check_default_response(response: object) -> None:
    """Answers to scheduleCancel, updateLeverage, noop: ``{"type": "default"}`` when accepted."""
    payload = action_payload(response)
    kind = _str(payload, "type", "exchange response.response")
    if kind != "default":
        raise WireError(f"exchange response.response: field 'type' is {kind!r}, not 'default'")


def _statuses(response: object, expected: int | None) -> list[Any]:
    payload = action_payload(response)
    data = _obj(payload, "data", "exchange response.response")
    statuses = _typed(data, "statuses", "exchange response.response.data", list, "a list")
    if expected is not None and len(statuses) != expected:
        raise WireError(f"statuses: expected {expected} entries, got {len(statuses)}")
    return statuses


def parse_order_statuses(
    response: object, client_ids: Sequence[str | None] | None = None
) -> list[PlaceAck]:
    """Per-order answers to an order or batchModify action, in request order.

    ``client_ids`` (the cloids sent, in order) fills in the id the venue omits on errors and checks
    that one status came back per order.
    """
    expected = None if client_ids is None else len(client_ids)
    acks = []
    for i, entry in enumerate(_statuses(response, expected)):
        where = f"statuses[{i}]"
        sent = client_ids[i] if client_ids is not None else None
        if isinstance(entry, Mapping) and "resting" in entry:
            body = _obj(entry, "resting", where)
            cloid = _opt_cloid(body, where) or sent
            acks.append(PlaceAck(PlaceStatus.RESTING, _int(body, "oid", where), cloid))
        elif isinstance(entry, Mapping) and "filled" in entry:
            body = _obj(entry, "filled", where)
            oid, cloid = _int(body, "oid", where), _opt_cloid(body, where) or sent
            size, avg = _dec(body, "totalSz", where), _dec(body, "avgPx", where)
            acks.append(PlaceAck(PlaceStatus.FILLED, oid, cloid, filled_size=size, avg_price=avg))
        elif isinstance(entry, Mapping) and "error" in entry:
            acks.append(
                PlaceAck(PlaceStatus.ERROR, client_id=sent, error=_str(entry, "error", where))
            )
        else:
            raise WireError(f"{where}: not resting, filled or error: {_short(entry)}")
    return acks


def parse_cancel_statuses(
    response: object, targets: Sequence[int | str] | None = None
) -> list[CancelAck]:
    """Per-order answers to cancel / cancelByCloid. ``targets`` (oids or cloids sent, in order)
    labels each ack and checks that one status came back per cancel."""
    expected = None if targets is None else len(targets)
    acks = []
    for i, entry in enumerate(_statuses(response, expected)):
        target = targets[i] if targets is not None else None
        oid = target if isinstance(target, int) else None
        cloid = target if isinstance(target, str) else None
        if entry == "success":
            acks.append(CancelAck(True, exchange_id=oid, client_id=cloid))
        elif isinstance(entry, Mapping) and "error" in entry:
            error = _str(entry, "error", f"statuses[{i}]")
            acks.append(CancelAck(False, exchange_id=oid, client_id=cloid, error=error))
        else:
            raise WireError(f"statuses[{i}]: not 'success' or error: {_short(entry)}")
    return acks


def parse_fill(d: object, venue: str) -> Fill:
    """One entry of userFills / userFillsByTime / the userFills stream."""
    where = "fill"
    d = _as_obj(d, where)
    return Fill(
        venue=venue,
        coin=_str(d, "coin", where),
        trade_id=_int(d, "tid", where),
        exchange_order_id=_int(d, "oid", where),
        client_id=_opt_cloid(d, where),
        side=_side(d, "side", where),
        price=_dec(d, "px", where),
        size=_dec(d, "sz", where),
        fee=_dec(d, "fee", where),
        timestamp_ms=_int(d, "time", where),
        is_taker=_bool(d, "crossed", where),
    )


_TIFS = {tif.value: tif for tif in Tif}


def _order(d: Mapping[str, Any], status: OrderStatus, where: str) -> Order:
    """An order object as openOrders / frontendOpenOrders / orderStatus carry it. ``sz`` is what
    still rests; ``origSz`` (frontend shapes only) what was placed."""
    remaining = _dec(d, "sz", where)
    size = _dec(d, "origSz", where) if "origSz" in d else remaining
    if status is OrderStatus.OPEN and remaining < size:
        status = OrderStatus.PARTIALLY_FILLED
    if status is OrderStatus.FILLED:
        remaining = ZERO
    tif = d.get("tif")
    reduce_only = _bool(d, "reduceOnly", where) if "reduceOnly" in d else False
    return Order(
        coin=_str(d, "coin", where),
        side=_side(d, "side", where),
        price=_dec(d, "limitPx", where),
        size=size,
        remaining=remaining,
        exchange_id=_int(d, "oid", where),
        client_id=_opt_cloid(d, where),
        status=status,
        timestamp_ms=_int(d, "timestamp", where),
        tif=_TIFS.get(tif, Tif.GTC) if isinstance(tif, str) else Tif.GTC,
        reduce_only=reduce_only,
    )


def parse_open_order(d: object) -> Order:
    """One entry of openOrders or frontendOpenOrders."""
    return _order(_as_obj(d, "open order"), OrderStatus.OPEN, "open order")


_STATUSES = {
    "open": OrderStatus.OPEN,
    "triggered": OrderStatus.OPEN,
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
}


def order_status_of(status: str) -> OrderStatus:
    """Map the venue's order status onto ours. Every ``...Canceled`` (scheduledCancel,
    marginCanceled, reduceOnlyCanceled, ...) is a cancel and every ``...Rejected`` a rejection."""
    if status in _STATUSES:
        return _STATUSES[status]
    if status == "scheduledCancel" or status.endswith("Canceled"):
        return OrderStatus.CANCELED
    if status.endswith("Rejected"):
        return OrderStatus.REJECTED
    log.warning("unknown Hyperliquid order status %r; treating the order as unknown", status)
    return OrderStatus.UNKNOWN


def parse_order_status(d: object) -> Order | None:
    """The orderStatus info answer; ``None`` when the venue does not know the order."""
    status = _str(d, "status", "orderStatus")
    if status == "unknownOid":
        return None
    if status != "order":
        raise WireError(f"orderStatus: field 'status' is {status!r}, not 'order' or 'unknownOid'")
    outer = _obj(d, "order", "orderStatus")
    inner = _obj(outer, "order", "orderStatus.order")
    state = order_status_of(_str(outer, "status", "orderStatus.order"))
    return _order(inner, state, "orderStatus.order.order")


def parse_position(asset_position: object) -> Position:
    """One entry of clearinghouseState.assetPositions. ``szi`` is signed (short < 0)."""
    where = "assetPosition.position"
    body = _obj(asset_position, "position", "assetPosition")
    size = _dec(body, "szi", where)
    entry = ZERO if body.get("entryPx") is None and size == 0 else _dec(body, "entryPx", where)
    return Position(coin=_str(body, "coin", where), size=size, entry_price=entry)
