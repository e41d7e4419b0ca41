"""The mock exchange's ``POST /info`` handlers: engine state rendered as Hyperliquid's JSON.

Every number is a string in the venue's canonical form (``float_to_wire``), shapes follow the real
answers field for field, and account queries answer for the funded master only: an agent's
address (or any other) has no state, as on the real venue. ``mockFund`` and ``mockMove`` are
mock-only extensions.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from gridtui.core import rounding
from gridtui.core.account import AccountSummary
from gridtui.core.types import ZERO, ExchangeError, Fill, Order, Side
from gridtui.exchanges.hyperliquid.mock.exchange import FUNDING_INTERVAL_MS, MockError, MockExchange
from gridtui.exchanges.hyperliquid.wire import CANDLE_INTERVALS, float_to_wire

log = logging.getLogger(__name__)

FILLS_PAGE = 2000
CANDLES_PAGE = 5000
"""candleSnapshot answers at most this many candles, the oldest of the range first."""
CANDLES_KEPT = 5000
"""Only the newest this many candles of each coin and interval exist, as on the venue."""
FUNDING_PAGE = 500
"""fundingHistory answers at most this many records, the oldest of the range first."""
BOOK_LEVELS = 20
BOOK_STEP = Decimal("0.0001")
BOOK_LEVEL_NOTIONAL = Decimal(50_000)
_EIGHT = Decimal("0.00000001")
U64_MAX = 2**64 - 1
MAX_FUND_USD = Decimal(10) ** 12
ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
CLOID = re.compile(r"0x[0-9a-fA-F]{32}")
_AMOUNT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,8})?")

Json = Any
Handler = Callable[[MockExchange, Mapping[str, Any]], Awaitable[Json]]


class InfoRequestError(ValueError):
    """The request cannot be deserialized (unknown type, missing field): HTTP 422."""


def num(value: Decimal | int) -> str:
    """A number as the venue prints it; computed values (fees, averages) round to 8 decimals."""
    return float_to_wire(Decimal(value).quantize(_EIGHT, rounding=ROUND_HALF_EVEN))


def is_u64(value: object) -> bool:
    """An unsigned 64-bit integer, as the venue's fields are typed (a JSON ``true`` is not)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= U64_MAX


def _user(body: Mapping[str, Any]) -> str:
    """The ``user`` field: an address (0x + 40 hex), which the venue deserializes as 20 bytes,
    so anything else is a 422 rather than an unknown account."""
    user = body.get("user")
    if user is None:
        raise InfoRequestError("missing field `user`")
    if not isinstance(user, str) or not ADDRESS.fullmatch(user):
        raise InfoRequestError(f"field `user` is not an address: {user!r}"[:200])
    return user.lower()


def _owns(mock: MockExchange, body: Mapping[str, Any]) -> bool:
    return mock.account is not None and _user(body) == mock.account


def _meta(mock: MockExchange) -> dict[str, Any]:
    universe = [
        {"name": m.coin, "szDecimals": m.sz_decimals, "maxLeverage": m.max_leverage}
        for m in mock.metas.values()
    ]
    return {"universe": universe, "marginTables": []}


async def _meta_handler(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    return _meta(mock)


async def _spot_meta(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    return {"universe": [], "tokens": []}


async def _all_mids(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    return {coin: num(mid) for coin, mid in (await mock.sim.all_mids()).items()}


async def _meta_and_ctxs(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    mids = await mock.sim.all_mids()
    hour = mock.clock.now_ms() // FUNDING_INTERVAL_MS * FUNDING_INTERVAL_MS
    ctxs = []
    for market in mock.settings.markets:
        mid = mids[market.coin]
        bid, ask = mock.sim.bbo(market.coin)
        rates = mock.history.funding(market.coin, hour, hour, limit=1)  # this hour's, as served
        ctxs.append(
            {
                "funding": num(rates[0].rate) if rates else "0",
                "openInterest": "0",
                "prevDayPx": num(market.start_price),
                "dayNtlVlm": "0",
                "premium": "0",
                "oraclePx": num(mid),
                "markPx": num(mid),
                "midPx": num(mid),
                "impactPxs": [num(bid), num(ask)],
            }
        )
    return [_meta(mock), ctxs]


def _coin(mock: MockExchange, body: Mapping[str, Any]) -> str:
    coin = body.get("coin")
    if not isinstance(coin, str):
        raise InfoRequestError("missing field `coin`")
    return coin


async def _l2_book(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Synthetic depth around the engine's bbo, one basis point per level, ≤ 20 a side."""
    coin = _coin(mock, body)
    meta = mock.metas.get(coin)
    if meta is None:
        return None
    bid, ask = mock.sim.bbo(coin)
    sides: list[list[dict[str, Any]]] = []
    for touch, sign, mode in ((bid, -1, rounding.Rounding.DOWN), (ask, 1, rounding.Rounding.UP)):
        levels: list[dict[str, Any]] = []
        seen: set[Decimal] = set()
        for i in range(BOOK_LEVELS):
            raw = touch * (1 + sign * BOOK_STEP * i)
            px = touch if i == 0 else rounding.round_price(raw, meta.sz_decimals, mode)
            if px in seen or px <= 0:
                continue
            seen.add(px)
            size = rounding.round_size(BOOK_LEVEL_NOTIONAL / px, meta.sz_decimals)
            levels.append({"px": num(px), "sz": num(size), "n": 1})
        sides.append(levels)
    return {"coin": coin, "time": mock.clock.now_ms(), "levels": sides}


async def _clearinghouse(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    owned = _owns(mock, body)
    mids = await mock.sim.all_mids()
    positions = (await mock.sim.positions()).values() if owned else ()
    account = await mock.sim.account()
    asset_positions, ntl, signed_ntl, margin = [], ZERO, ZERO, ZERO
    for p in positions:
        meta = mock.metas[p.coin]
        is_cross, leverage = mock.leverage.get(p.coin, (True, meta.max_leverage))
        value = abs(p.size) * mids[p.coin]
        pnl = p.size * (mids[p.coin] - p.entry_price)
        used = value / leverage
        ntl, signed_ntl, margin = ntl + value, signed_ntl + p.size * mids[p.coin], margin + used
        roe = pnl / (abs(p.size) * p.entry_price / leverage)
        lev: dict[str, Any] = {"type": "cross" if is_cross else "isolated", "value": leverage}
        position = {
            "coin": p.coin,
            "szi": num(p.size),
            "leverage": lev,
            "entryPx": num(p.entry_price),
            "positionValue": num(value),
            "unrealizedPnl": num(pnl),
            "returnOnEquity": num(roe),
            "liquidationPx": _liquidation(account, p.coin),
            "marginUsed": num(used),
            "maxLeverage": meta.max_leverage,
            "cumFunding": {"allTime": "0", "sinceOpen": "0", "sinceChange": "0"},
        }
        asset_positions.append({"type": "oneWay", "position": position})
    value = mock.sim.account_value() if owned else ZERO
    summary = {
        "accountValue": num(value),
        "totalNtlPos": num(ntl),
        "totalRawUsd": num(value - signed_ntl),
        "totalMarginUsed": num(margin),
    }
    return {
        "marginSummary": summary,
        "crossMarginSummary": dict(summary),
        "crossMaintenanceMarginUsed": num(account.maintenance_margin if owned else ZERO),
        "withdrawable": num(max(ZERO, value - margin)),
        "assetPositions": asset_positions,
        "time": mock.clock.now_ms(),
    }


def _liquidation(account: AccountSummary, coin: str) -> str | None:
    """The paper engine's liquidation estimate, as the venue writes it (null: none)."""
    risk = account.position(coin)
    price = None if risk is None else risk.liquidation_price
    return None if price is None else num(price)


def order_wire_out(order: Order, *, frontend: bool) -> dict[str, Any]:
    """An order as openOrders (``frontend=False``) or frontendOpenOrders / orderStatus show it."""
    out: dict[str, Any] = {
        "coin": order.coin,
        "side": order.side.value,
        "limitPx": num(order.price),
        "sz": num(order.remaining),
        "oid": order.exchange_id,
        "timestamp": order.timestamp_ms,
    }
    if frontend:
        out.update(
            {
                "triggerCondition": "N/A",
                "isTrigger": False,
                "triggerPx": "0",
                "children": [],
                "isPositionTpsl": False,
                "reduceOnly": order.reduce_only,
                "orderType": "Limit",
                "origSz": num(order.size),
                "tif": order.tif.value,
                "cloid": order.client_id,
            }
        )
    return out


async def _open_orders(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    orders = await mock.sim.open_orders() if _owns(mock, body) else []
    return [order_wire_out(o, frontend=False) for o in reversed(orders)]


async def _frontend_open_orders(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    orders = await mock.sim.open_orders() if _owns(mock, body) else []
    return [order_wire_out(o, frontend=True) for o in reversed(orders)]


async def _order_status(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    target = body.get("oid")
    if not is_u64(target) and not (isinstance(target, str) and CLOID.fullmatch(target)):
        raise InfoRequestError("field `oid` is neither an unsigned integer nor a cloid")
    if not _owns(mock, body):
        return {"status": "unknownOid"}
    key = {"exchange_id": target} if isinstance(target, int) else {"client_id": target.lower()}
    order = await mock.sim.order_status(**key)
    word = mock.sim.status_word(**key)
    if order is None or word is None:
        return {"status": "unknownOid"}
    inner = order_wire_out(order, frontend=True)
    if word == "filled":
        inner["sz"] = "0"
    return {
        "status": "order",
        "order": {"order": inner, "status": word, "statusTimestamp": order.timestamp_ms},
    }


def fill_wires(fills: Sequence[Fill]) -> list[dict[str, Any]]:
    """Fills in Hyperliquid's shape; startPosition, dir and closedPnl come from replaying the
    account's fills in order with average-cost accounting (as the engine books them)."""
    size: dict[str, Decimal] = {}
    entry: dict[str, Decimal] = {}
    out = []
    for f in sorted(fills, key=lambda f: (f.timestamp_ms, f.trade_id)):
        start, avg = size.get(f.coin, ZERO), entry.get(f.coin, ZERO)
        delta = f.signed_size
        closing = start != 0 and (start > 0) != (delta > 0)
        closed = min(abs(delta), abs(start)) if closing else ZERO
        pnl = closed * (f.price - avg) * (1 if start > 0 else -1) if closing else ZERO
        new = start + delta
        if not closing:
            entry[f.coin] = (abs(start) * avg + abs(delta) * f.price) / abs(new)
        elif new != 0 and (new > 0) != (start > 0):
            entry[f.coin] = f.price
        size[f.coin] = new
        long_side = start > 0 if closing else f.side is Side.BUY
        verb = "Close" if closing else "Open"
        out.append(
            {
                "coin": f.coin,
                "px": num(f.price),
                "sz": num(f.size),
                "side": f.side.value,
                "time": f.timestamp_ms,
                "startPosition": num(start),
                "dir": f"{verb} {'Long' if long_side else 'Short'}",
                "closedPnl": num(pnl),
                "hash": f"0x{f.exchange_order_id:064x}",
                "oid": f.exchange_order_id,
                "crossed": f.is_taker,
                "fee": num(f.fee),
                "tid": f.trade_id,
                "cloid": f.client_id,
                "feeToken": "USDC",
            }
        )
    return out


async def _account_fills(mock: MockExchange, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    return fill_wires(await mock.sim.fills_since(0)) if _owns(mock, body) else []


async def _user_fills(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """The newest 2000 fills, newest first."""
    return list(reversed(await _account_fills(mock, body)))[:FILLS_PAGE]


def _time(body: Mapping[str, Any], key: str, *, required: bool) -> int | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not is_u64(value):
        raise InfoRequestError(f"field `{key}` is not an unsigned integer")
    return int(value)


async def _user_fills_by_time(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Fills with startTime ≤ time ≤ endTime, oldest first, at most 2000: page on by asking
    again from the last fill's time (and drop the ones already seen)."""
    start = _time(body, "startTime", required=True) or 0
    end = _time(body, "endTime", required=False)
    fills = await _account_fills(mock, body)
    picked = [f for f in fills if f["time"] >= start and (end is None or f["time"] <= end)]
    return picked[:FILLS_PAGE]


async def _user_rate_limit(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    fills = await mock.sim.fills_since(0) if _owns(mock, body) else []
    volume = sum((f.price * f.size for f in fills), ZERO)
    used = mock.actions_used if _owns(mock, body) else 0
    return {
        "cumVlm": num(volume),
        "nRequestsUsed": used,
        "nRequestsCap": 10_000 + int(volume),
        "nRequestsSurplus": 0,
    }


async def _mock_fund(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Mock-only: ``{"type": "mockFund", "user": ADDR, "usd": "1000"}`` funds the account.
    ``usd`` is a positive amount (a plain decimal string, or an integer) up to 10^12, with at
    most 8 decimals: NaN, infinities, exponents and the like are malformed, not a balance."""
    user, usd = _user(body), _fund_amount(body.get("usd"))
    try:
        await mock.fund(user, usd)
    except MockError as exc:
        return {"status": "err", "response": str(exc)}
    return {"status": "ok", "response": {"type": "default"}}


def _fund_amount(raw: object) -> Decimal:
    """A plain amount only: ``Decimal`` alone would take "NaN", "Infinity" and "1e999999"."""
    if is_u64(raw):
        raw = str(raw)
    if not isinstance(raw, str) or not _AMOUNT.fullmatch(raw):
        raise InfoRequestError(f"field `usd` is not a decimal amount: {raw!r}"[:200])
    usd = Decimal(raw)
    if not 0 < usd <= MAX_FUND_USD:
        raise InfoRequestError(f"field `usd` must lie in (0, {MAX_FUND_USD}], got {raw}")
    return usd


async def _mock_move(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Mock-only: ``{"type": "mockMove", "coin": "ETH", "price": "2990.5"}`` puts the coin's
    market at ``price`` from its next tick on, so a test makes resting orders fill when it needs
    them to. A target price (not a move) makes a retried request land in the same place."""
    coin, raw = _coin(mock, body), body.get("price")
    if not isinstance(raw, str) or not _AMOUNT.fullmatch(raw) or not Decimal(raw) > 0:
        raise InfoRequestError(f"field `price` is not a positive decimal: {raw!r}"[:200])
    try:
        mock.sim.move_market(coin, Decimal(raw))
    except (ValueError, ExchangeError) as exc:
        return {"status": "err", "response": str(exc)}
    log.info("mock exchange: %s market moved to %s", coin, raw)
    return {"status": "ok", "response": {"type": "default"}}


async def _candle_snapshot(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """``{"type": "candleSnapshot", "req": {coin, interval, startTime, endTime?}}``: the candles
    opening in [startTime, endTime] among the newest ``CANDLES_KEPT``, oldest first, at most
    ``CANDLES_PAGE`` (ask again from the last one's time to page on). An unlisted coin has none."""
    req = body.get("req")
    if req is None:
        raise InfoRequestError("missing field `req`")
    if not isinstance(req, Mapping):
        raise InfoRequestError("field `req` is not an object")
    coin = _coin(mock, req)
    interval = req.get("interval")
    if interval is None:
        raise InfoRequestError("missing field `interval`")
    if not isinstance(interval, str) or interval not in CANDLE_INTERVALS:
        expected = ", ".join(f"`{name}`" for name in CANDLE_INTERVALS)
        raise InfoRequestError(f"unknown variant `{interval}`, expected one of {expected}"[:300])
    start = _time(req, "startTime", required=True) or 0
    end = _time(req, "endTime", required=False)
    now = mock.clock.now_ms()
    candles = mock.history.candles(
        coin,
        interval,
        start,
        now if end is None else end,
        now_ms=now,
        kept=CANDLES_KEPT,
        limit=CANDLES_PAGE,
    )
    return [
        {
            "t": c.open_ms,
            "T": c.close_ms,
            "s": coin,
            "i": interval,
            "o": num(c.open),
            "c": num(c.close),
            "h": num(c.high),
            "l": num(c.low),
            "v": num(c.volume),
            "n": c.trades,
        }
        for c in candles
    ]


async def _funding_history(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """``{"type": "fundingHistory", "coin", "startTime", "endTime"?}``: hourly records with
    startTime <= time <= endTime (default now), oldest first, at most ``FUNDING_PAGE`` (page on
    from the last time + 1). An unlisted coin has none."""
    coin = _coin(mock, body)
    start = _time(body, "startTime", required=True) or 0
    end = _time(body, "endTime", required=False)
    now = mock.clock.now_ms()
    records = mock.history.funding(
        coin, start, now if end is None else min(end, now), limit=FUNDING_PAGE
    )
    return [
        {"coin": coin, "fundingRate": num(r.rate), "premium": num(r.premium), "time": r.time_ms}
        for r in records
    ]


HANDLERS: dict[str, Handler] = {
    "meta": _meta_handler,
    "spotMeta": _spot_meta,
    "metaAndAssetCtxs": _meta_and_ctxs,
    "allMids": _all_mids,
    "l2Book": _l2_book,
    "clearinghouseState": _clearinghouse,
    "openOrders": _open_orders,
    "frontendOpenOrders": _frontend_open_orders,
    "orderStatus": _order_status,
    "userFills": _user_fills,
    "userFillsByTime": _user_fills_by_time,
    "userRateLimit": _user_rate_limit,
    "candleSnapshot": _candle_snapshot,
    "fundingHistory": _funding_history,
    "mockFund": _mock_fund,
    "mockMove": _mock_move,
}


async def handle_info(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Answer one /info body; an unknown type raises ``InfoRequestError`` (HTTP 422)."""
    kind = body.get("type")
    handler = HANDLERS.get(kind) if isinstance(kind, str) else None
    if handler is None:
        raise InfoRequestError(f"unknown variant `{kind}`")
    return await handler(mock, body)
