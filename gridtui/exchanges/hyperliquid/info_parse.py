"""Parsers of Hyperliquid's /info answers about the market and the account.

They sit beside wire.py (which holds the action and order parsers) and share its strict field
readers, so a surprising answer becomes a ``WireError`` naming the field rather than a KeyError,
and numbers (strings on the wire) become ``Decimal`` without passing through float.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from gridtui.core.account import ZERO, AccountSummary, PositionRisk
from gridtui.core.types import AssetMeta, Position
from gridtui.exchanges.hyperliquid.wire import (
    WireError,
    _as_obj,
    _dec,
    _int,
    _obj,
    _str,
    _typed,
    parse_position,
)


@attrs.frozen(slots=True)
class BookLevel:
    price: Decimal
    size: Decimal
    orders: int


@attrs.frozen(slots=True)
class L2Book:
    """An l2Book snapshot: bids best (highest) first, asks best (lowest) first."""

    coin: str
    time_ms: int
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]


@attrs.frozen(slots=True)
class AssetContext:
    """The per-asset market context of metaAndAssetCtxs (``mid`` is absent without a book)."""

    coin: str
    mark: Decimal
    mid: Decimal | None
    oracle: Decimal
    funding: Decimal


@attrs.frozen(slots=True)
class UserRateLimit:
    """The per-address action budget as userRateLimit reports it."""

    cum_volume: Decimal
    used: int
    cap: int
    surplus: int


def _list(d: object, key: str, where: str) -> list[Any]:
    return _typed(d, key, where, list, "a list")


def parse_meta(d: object) -> dict[str, AssetMeta]:
    """``meta``: the perp universe. An asset's id is its index in the list, so delisted entries
    still occupy their slot (they are kept: an order on them is rejected by the venue)."""
    metas: dict[str, AssetMeta] = {}
    for index, entry in enumerate(_list(d, "universe", "meta")):
        where = f"meta.universe[{index}]"
        entry = _as_obj(entry, where)
        leverage = _int(entry, "maxLeverage", where) if "maxLeverage" in entry else 50
        coin = _str(entry, "name", where)
        metas[coin] = AssetMeta(coin, index, _int(entry, "szDecimals", where), leverage)
    return metas


def parse_meta_and_asset_ctxs(d: object) -> tuple[dict[str, AssetMeta], dict[str, AssetContext]]:
    """``metaAndAssetCtxs``: ``[meta, [ctx, ...]]`` with one context per universe entry."""
    if not isinstance(d, list) or len(d) != 2 or not isinstance(d[1], list):
        raise WireError("metaAndAssetCtxs: expected [meta, [contexts]]")
    metas = parse_meta(d[0])
    by_id = {meta.asset_id: meta.coin for meta in metas.values()}
    if len(d[1]) != len(by_id):
        raise WireError(f"metaAndAssetCtxs: {len(by_id)} assets but {len(d[1])} contexts")
    contexts: dict[str, AssetContext] = {}
    for index, ctx in enumerate(d[1]):
        where = f"assetCtxs[{index}]"
        ctx = _as_obj(ctx, where)
        mid = _dec(ctx, "midPx", where) if ctx.get("midPx") is not None else None
        contexts[by_id[index]] = AssetContext(
            coin=by_id[index],
            mark=_dec(ctx, "markPx", where),
            mid=mid,
            oracle=_dec(ctx, "oraclePx", where),
            funding=_dec(ctx, "funding", where),
        )
    return metas, contexts


def parse_all_mids(d: object) -> dict[str, Decimal]:
    """``allMids``: a flat coin → price object over REST (the WS wraps it in ``mids``)."""
    mids = _as_obj(d, "allMids")
    return {coin: _dec(mids, coin, "allMids") for coin in mids}


def _levels(side: object, where: str) -> tuple[BookLevel, ...]:
    if not isinstance(side, list):
        raise WireError(f"{where}: expected a list of levels")
    levels = []
    for i, level in enumerate(side):
        at = f"{where}[{i}]"
        levels.append(BookLevel(_dec(level, "px", at), _dec(level, "sz", at), _int(level, "n", at)))
    return tuple(levels)


def parse_l2_book(d: object) -> L2Book:
    """``l2Book``: ``levels`` is ``[bids, asks]``."""
    sides = _list(d, "levels", "l2Book")
    if len(sides) != 2:
        raise WireError(f"l2Book: field 'levels' has {len(sides)} sides, not 2")
    return L2Book(
        coin=_str(d, "coin", "l2Book"),
        time_ms=_int(d, "time", "l2Book"),
        bids=_levels(sides[0], "l2Book.levels[0]"),
        asks=_levels(sides[1], "l2Book.levels[1]"),
    )


def parse_clearinghouse_positions(d: object) -> dict[str, Position]:
    """``clearinghouseState``: every non-zero position by coin. The whole answer is read or
    refused: a partly readable state must never pass for a flat account."""
    state = _as_obj(d, "clearinghouseState")
    _obj(state, "marginSummary", "clearinghouseState")
    positions: dict[str, Position] = {}
    for entry in _list(state, "assetPositions", "clearinghouseState"):
        position = parse_position(entry)
        if position.size != 0:
            positions[position.coin] = position
    return positions


def parse_account(d: object, now_ms: int) -> AccountSummary:
    """``clearinghouseState`` as the account page: value, margin, withdrawable, and per position
    its leverage, liquidation price (null: none) and ``cumFunding.sinceOpen`` (what the position
    paid; the venue's front end shows it negated)."""
    where = "clearinghouseState"
    state = _as_obj(d, where)
    summary = _obj(state, "marginSummary", where)
    risks = []
    for i, entry in enumerate(_list(state, "assetPositions", where)):
        at = f"{where}.assetPositions[{i}].position"
        position = parse_position(entry)
        if position.size == 0:
            continue
        body = _obj(entry, "position", at)
        leverage = _obj(body, "leverage", at)
        liquidation = body.get("liquidationPx")
        funding = _obj(body, "cumFunding", at) if "cumFunding" in body else None
        risks.append(
            PositionRisk(
                coin=position.coin,
                size=position.size,
                entry_price=position.entry_price,
                mark=_dec(body, "positionValue", at) / abs(position.size),
                leverage=_int(leverage, "value", f"{at}.leverage"),
                cross=_str(leverage, "type", f"{at}.leverage") == "cross",
                margin_used=_dec(body, "marginUsed", at),
                liquidation_price=None if liquidation is None else _dec(body, "liquidationPx", at),
                funding_since_open=None
                if funding is None
                else _dec(funding, "sinceOpen", f"{at}.cumFunding"),
            )
        )
    maintenance = state.get("crossMaintenanceMarginUsed")
    cross = state.get("crossMarginSummary")
    return AccountSummary(
        account_value=_dec(summary, "accountValue", f"{where}.marginSummary"),
        margin_used=_dec(summary, "totalMarginUsed", f"{where}.marginSummary"),
        withdrawable=_dec(state, "withdrawable", where),
        maintenance_margin=ZERO
        if maintenance is None
        else _dec(state, "crossMaintenanceMarginUsed", where),
        positions=tuple(risks),
        read_at_ms=now_ms,
        cross_value=None
        if cross is None
        else _dec(cross, "accountValue", f"{where}.crossMarginSummary"),
    )


def parse_user_rate_limit(d: object) -> UserRateLimit:
    where = "userRateLimit"
    obj: Mapping[str, Any] = _as_obj(d, where)
    surplus = _int(obj, "nRequestsSurplus", where) if obj.get("nRequestsSurplus") is not None else 0
    return UserRateLimit(
        cum_volume=_dec(obj, "cumVlm", where),
        used=_int(obj, "nRequestsUsed", where),
        cap=_int(obj, "nRequestsCap", where),
        surplus=surplus,
    )


@attrs.frozen(slots=True)
class VenueCandle:
    """One candleSnapshot entry. Prices and volume keep the venue's own text: a candle file
    written from them holds exactly what the venue sent."""

    open_ms: int
    close_ms: int
    coin: str
    interval: str
    open: str
    high: str
    low: str
    close: str
    volume: str
    trades: int


@attrs.frozen(slots=True)
class FundingRecord:
    """One fundingHistory entry, numbers as the venue's text (a rate is paid by longs when
    positive)."""

    coin: str
    time_ms: int
    rate: str
    premium: str

    def wire(self) -> dict[str, Any]:
        """The record as the venue sends it (what ``load_funding`` reads back)."""
        return {
            "coin": self.coin,
            "fundingRate": self.rate,
            "premium": self.premium,
            "time": self.time_ms,
        }


def _dec_text(d: object, key: str, where: str) -> str:
    """A number field checked like ``_dec`` but kept as the venue wrote it."""
    _dec(d, key, where)
    return str(_as_obj(d, where)[key])


def _answer_list(d: object, where: str) -> list[Any]:
    if not isinstance(d, list):
        raise WireError(f"{where}: expected a list, got {type(d).__name__}")
    return d


def parse_candles(d: object) -> list[VenueCandle]:
    """``candleSnapshot``: ``[{"t","T","s","i","o","c","h","l","v","n"}]``, in the venue's order."""
    candles = []
    for index, entry in enumerate(_answer_list(d, "candleSnapshot")):
        where = f"candleSnapshot[{index}]"
        candles.append(
            VenueCandle(
                open_ms=_int(entry, "t", where),
                close_ms=_int(entry, "T", where),
                coin=_str(entry, "s", where),
                interval=_str(entry, "i", where),
                open=_dec_text(entry, "o", where),
                high=_dec_text(entry, "h", where),
                low=_dec_text(entry, "l", where),
                close=_dec_text(entry, "c", where),
                volume=_dec_text(entry, "v", where),
                trades=_int(entry, "n", where),
            )
        )
    return candles


def parse_funding_history(d: object) -> list[FundingRecord]:
    """``fundingHistory``: ``[{"coin","fundingRate","premium","time"}]``, oldest first."""
    records = []
    for index, entry in enumerate(_answer_list(d, "fundingHistory")):
        where = f"fundingHistory[{index}]"
        records.append(
            FundingRecord(
                coin=_str(entry, "coin", where),
                time_ms=_int(entry, "time", where),
                rate=_dec_text(entry, "fundingRate", where),
                premium=_dec_text(entry, "premium", where),
            )
        )
    return records
