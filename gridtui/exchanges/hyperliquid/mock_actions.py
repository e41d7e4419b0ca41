"""The mock exchange's ``POST /exchange``: verify the request as the venue does, then execute it.

Verification order follows the real venue: the body must deserialize (else HTTP 422); the signer
is recovered from the signature over the exact action bytes (a mismatch anywhere recovers some
other address, answered "User or API Wallet ... does not exist."); the signer must be the funded
account or an agent approved for it; the nonce must be fresh for that signer. Executed actions
answer with Hyperliquid's envelopes, per-order statuses coming straight from the engine's acks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gridtui.core.types import ExchangeError, PlaceAck, PlaceStatus
from gridtui.exchanges.hyperliquid import signing, wire_in
from gridtui.exchanges.hyperliquid.mock_info import MockError, num
from gridtui.exchanges.sim.vocabulary import ERR_CANCEL

if TYPE_CHECKING:
    from gridtui.exchanges.hyperliquid.mock_server import MockExchange

log = logging.getLogger(__name__)

ERR_MODIFY = "Cannot modify canceled or filled order"
ERR_ASSET = "Invalid asset."
DEFAULT = {"status": "ok", "response": {"type": "default"}}
Json = Any


class ActionFormatError(ValueError):
    """The body or action cannot be deserialized: HTTP 422, nothing executed."""


def err(message: str) -> dict[str, Any]:
    return {"status": "err", "response": message}


def _statuses(kind: str, statuses: list[Any]) -> dict[str, Any]:
    return {"status": "ok", "response": {"type": kind, "data": {"statuses": statuses}}}


def place_status(ack: PlaceAck) -> Json:
    """One engine ack as a ``statuses`` entry: resting, filled or error."""
    if ack.status is PlaceStatus.ERROR:
        return {"error": ack.error or "Order failed."}
    body: dict[str, Any]
    if ack.status is PlaceStatus.RESTING:
        body = {"oid": ack.exchange_id}
    else:
        body = {"totalSz": num(ack.filled_size), "avgPx": num(ack.avg_price or 0)}
        body["oid"] = ack.exchange_id
    if ack.client_id:
        body["cloid"] = ack.client_id
    return {"resting" if ack.status is PlaceStatus.RESTING else "filled": body}


async def _place(mock: MockExchange, orders: Sequence[wire_in.WireOrder]) -> list[Json]:
    """Place the orders in request order; those on an unknown asset fail alone."""
    valid = [o.request for o in orders if o.request.coin]
    acks = iter(await mock.sim.place_orders(valid) if valid else [])
    return [place_status(next(acks)) if o.request.coin else {"error": ERR_ASSET} for o in orders]


async def _order(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    return _statuses("order", await _place(mock, wire_in.parse_order_action(action, _coins(mock))))


def _cancel_status(success: bool, error: str | None) -> Json:
    return "success" if success else {"error": error or ERR_CANCEL}


async def _cancel(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    coins, statuses = _coins(mock), []
    for asset, oid in wire_in.parse_cancels(action):
        if asset not in coins:
            statuses.append({"error": ERR_CANCEL})
            continue
        (ack,) = await mock.sim.cancel_orders(coins[asset], [oid])
        statuses.append(_cancel_status(ack.success, ack.error))
    return _statuses("cancel", statuses)


async def _cancel_by_cloid(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    coins, statuses = _coins(mock), []
    for asset, cloid in wire_in.parse_cancels_by_cloid(action):
        if asset not in coins:
            statuses.append({"error": ERR_CANCEL})
            continue
        (ack,) = await mock.sim.cancel_by_client_ids(coins[asset], [cloid])
        statuses.append(_cancel_status(ack.success, ack.error))
    return _statuses("cancel", statuses)


async def _batch_modify(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    """Each modify cancels the live target and places its replacement. The engine never reuses
    a cloid, so a replacement must carry a new one (or none)."""
    statuses: list[Json] = []
    for target, new in wire_in.parse_modifies(action, _coins(mock)):
        key = {"exchange_id": target} if isinstance(target, int) else {"client_id": target}
        old = await mock.sim.order_status(**key)
        if old is None or not old.status.is_live or old.coin != new.request.coin:
            statuses.append({"error": ERR_MODIFY})
            continue
        (ack,) = await mock.sim.cancel_orders(old.coin, [old.exchange_id])
        if not ack.success:
            statuses.append({"error": ERR_MODIFY})
            continue
        statuses.extend(await _place(mock, [new]))
    return _statuses("order", statuses)


async def _schedule_cancel(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    await mock.sim.schedule_cancel(wire_in.parse_optional_time(action))
    return DEFAULT


async def _update_leverage(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    asset, is_cross, leverage = wire_in.parse_update_leverage(action)
    coin = _coins(mock).get(asset)
    if coin is None:
        return err(ERR_ASSET)
    if not 1 <= leverage <= mock.metas[coin].max_leverage:
        return err("Invalid leverage value")
    mock.leverage[coin] = (is_cross, leverage)
    return DEFAULT


async def _noop(mock: MockExchange, action: Mapping[str, Any]) -> Json:
    return DEFAULT


L1_ACTIONS = {
    "order": _order,
    "cancel": _cancel,
    "cancelByCloid": _cancel_by_cloid,
    "batchModify": _batch_modify,
    "scheduleCancel": _schedule_cancel,
    "updateLeverage": _update_leverage,
    "noop": _noop,
}


def _coins(mock: MockExchange) -> dict[int, str]:
    return mock.coins_by_asset


def _envelope(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], int, Mapping[str, Any]]:
    action, nonce, signature = body.get("action"), body.get("nonce"), body.get("signature")
    if not isinstance(action, Mapping) or not isinstance(action.get("type"), str):
        raise ActionFormatError("missing field `action`")
    if not isinstance(nonce, int) or isinstance(nonce, bool) or nonce < 0:
        raise ActionFormatError("missing field `nonce`")
    if not isinstance(signature, Mapping):
        raise ActionFormatError("missing field `signature`")
    return action, nonce, signature


async def handle_exchange(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Answer one /exchange body. Raises ``ActionFormatError`` for an undeserializable one."""
    action, nonce, signature = _envelope(body)
    kind = action["type"]
    if kind == "approveAgent":
        return _approve_agent(mock, action, nonce, signature)
    handler = L1_ACTIONS.get(kind)
    if handler is None:
        raise ActionFormatError(f"unknown variant `{kind}`")
    vault, expires = body.get("vaultAddress"), body.get("expiresAfter")
    if vault is not None:
        return err(f"Vault not registered: {vault}")
    if expires is not None and (not isinstance(expires, int) or isinstance(expires, bool)):
        raise ActionFormatError("field `expiresAfter` is not an integer")
    try:
        signer = signing.recover_l1_signer(
            action, None, nonce, expires, signature, is_mainnet=mock.is_mainnet
        )
    except ValueError as exc:
        raise ActionFormatError(str(exc)) from exc
    if mock.master_of(signer) is None:
        return err(f"User or API Wallet {signer} does not exist.")
    refusal = mock.nonces.check_and_use(signer, nonce, mock.clock.now_ms())
    if refusal is not None:
        return err(refusal)
    mock.actions_used += 1
    try:
        return await handler(mock, action)
    except wire_in.WireInError as exc:
        raise ActionFormatError(str(exc)) from exc
    except ExchangeError as exc:
        log.warning("mock exchange: %s action failed: %s", kind, exc)
        return err(str(exc))


def _approve_agent(
    mock: MockExchange, action: Mapping[str, Any], nonce: int, signature: Mapping[str, Any]
) -> Json:
    """A user-signed action: the master's own key signs it in the HyperliquidSignTransaction
    domain, for this network, with the body's nonce."""
    try:
        signer = signing.recover_user_signer(action, signature)
    except ValueError as exc:
        raise ActionFormatError(str(exc)) from exc
    chain = "Mainnet" if mock.is_mainnet else "Testnet"
    if action.get("hyperliquidChain") != chain:
        return err(f"Invalid hyperliquidChain: expected {chain}")
    if action.get("nonce") != nonce:
        return err("Action nonce does not match the request nonce")
    if signer != mock.account:
        return err(f"Must deposit before performing actions. User: {signer}")
    refusal = mock.nonces.check_and_use(signer, nonce, mock.clock.now_ms())
    if refusal is not None:
        return err(refusal)
    try:
        mock.approve_agent(signer, str(action.get("agentAddress", "")))
    except MockError as exc:
        return err(str(exc))
    return DEFAULT
