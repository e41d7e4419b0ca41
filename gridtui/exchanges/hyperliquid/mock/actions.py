"""The mock exchange's ``POST /exchange``: verify the request as the venue does, then execute it.

Verification order follows the real venue: the body must deserialize (else HTTP 422); the signer
is recovered from the signature over the exact action bytes (a mismatch anywhere recovers some
other address, answered "User or API Wallet ... does not exist."); the signer must be the funded
account or an agent approved for it; the nonce must be fresh for that signer. Executed actions
answer with Hyperliquid's envelopes, per-order statuses coming straight from the engine's acks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import attrs

from gridtui.core.types import ExchangeError, PlaceAck, PlaceStatus
from gridtui.exchanges.hyperliquid import signing, wire_in
from gridtui.exchanges.hyperliquid.mock.exchange import MockError, MockExchange
from gridtui.exchanges.hyperliquid.mock.info import ADDRESS, is_u64, num
from gridtui.exchanges.sim.vocabulary import ERR_CANCEL

log = logging.getLogger(__name__)

ERR_MODIFY = "Cannot modify canceled or filled order"
ERR_ASSET = "Invalid asset."
DEFAULT = {"status": "ok", "response": {"type": "default"}}
Json = Any
_T = TypeVar("_T")
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?")
"""At most 20 + 20 digits: well inside Decimal's 28-digit context, so the engine's quantizing
and tick checks never overflow it."""
_SIG_HEX = re.compile(r"0x[0-9a-fA-F]{1,64}")


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


def _check_numbers(order_wire: object, where: str) -> None:
    """``p`` and ``s`` as the venue's fixed-point fields read them: plain non-negative decimals
    of bounded length. wire_in accepts anything ``Decimal`` does ("1e999999", "-1", "1_0"),
    which the engine cannot price and the venue would not deserialize."""
    if not isinstance(order_wire, Mapping):
        return  # wire_in reports the shape
    for key in ("p", "s"):
        value = order_wire.get(key)
        if isinstance(value, str) and not _PLAIN_DECIMAL.fullmatch(value):
            raise ActionFormatError(f"{where}: `{key}` is not a plain decimal: {value!r}"[:200])


def _orders_of(action: Mapping[str, Any], key: str, inner: str | None) -> list[Any]:
    items = action.get(key)
    if not isinstance(items, list):
        return []
    if inner is None:
        return items
    return [item.get(inner) if isinstance(item, Mapping) else None for item in items]


def _parse_order(mock: MockExchange, action: Mapping[str, Any]) -> list[wire_in.WireOrder]:
    for i, raw in enumerate(_orders_of(action, "orders", None)):
        _check_numbers(raw, f"orders[{i}]")
    return wire_in.parse_order_action(action, _coins(mock))


async def _order(mock: MockExchange, orders: list[wire_in.WireOrder]) -> Json:
    return _statuses("order", await _place(mock, orders))


def _cancel_status(success: bool, error: str | None) -> Json:
    return "success" if success else {"error": error or ERR_CANCEL}


def _parse_cancel(mock: MockExchange, action: Mapping[str, Any]) -> list[tuple[int, int]]:
    return wire_in.parse_cancels(action)


async def _cancel(mock: MockExchange, cancels: list[tuple[int, int]]) -> Json:
    coins, statuses = _coins(mock), []
    for asset, oid in cancels:
        if asset not in coins:
            statuses.append({"error": ERR_CANCEL})
            continue
        (ack,) = await mock.sim.cancel_orders(coins[asset], [oid])
        statuses.append(_cancel_status(ack.success, ack.error))
    return _statuses("cancel", statuses)


def _parse_cancel_by_cloid(mock: MockExchange, action: Mapping[str, Any]) -> list[tuple[int, str]]:
    return wire_in.parse_cancels_by_cloid(action)


async def _cancel_by_cloid(mock: MockExchange, cancels: list[tuple[int, str]]) -> Json:
    coins, statuses = _coins(mock), []
    for asset, cloid in cancels:
        if asset not in coins:
            statuses.append({"error": ERR_CANCEL})
            continue
        (ack,) = await mock.sim.cancel_by_client_ids(coins[asset], [cloid])
        statuses.append(_cancel_status(ack.success, ack.error))
    return _statuses("cancel", statuses)


Modifies = list[tuple[int | str, wire_in.WireOrder]]


def _parse_batch_modify(mock: MockExchange, action: Mapping[str, Any]) -> Modifies:
    for i, raw in enumerate(_orders_of(action, "modifies", "order")):
        _check_numbers(raw, f"modifies[{i}]")
    modifies = wire_in.parse_modifies(action, _coins(mock))
    for i, (target, _) in enumerate(modifies):
        if isinstance(target, int) and not is_u64(target):
            raise ActionFormatError(f"modifies[{i}]: `oid` is not an unsigned integer")
    return modifies


async def _batch_modify(mock: MockExchange, modifies: Modifies) -> Json:
    """Each modify cancels the live target and places its replacement. The engine never reuses
    a cloid, so a replacement must carry a new one (or none)."""
    statuses: list[Json] = []
    for target, new in modifies:
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


def _parse_schedule_cancel(mock: MockExchange, action: Mapping[str, Any]) -> int | None:
    return wire_in.parse_optional_time(action)


async def _schedule_cancel(mock: MockExchange, at_ms: int | None) -> Json:
    await mock.sim.schedule_cancel(at_ms)
    return DEFAULT


def _parse_update_leverage(mock: MockExchange, action: Mapping[str, Any]) -> tuple[int, bool, int]:
    return wire_in.parse_update_leverage(action)


async def _update_leverage(mock: MockExchange, parsed: tuple[int, bool, int]) -> Json:
    asset, is_cross, leverage = parsed
    coin = _coins(mock).get(asset)
    if coin is None:
        return err(ERR_ASSET)
    if not 1 <= leverage <= mock.metas[coin].max_leverage:
        return err("Invalid leverage value")
    mock.leverage[coin] = (is_cross, leverage)
    return DEFAULT


def _parse_noop(mock: MockExchange, action: Mapping[str, Any]) -> None:
    return None


async def _noop(mock: MockExchange, parsed: None) -> Json:
    return DEFAULT


@attrs.frozen(slots=True)
class _L1Action:
    """How one L1 action type is read (pure: raises on a malformed action, executes nothing)
    and then executed. Reading comes before the signature check, as the venue deserializes
    the whole body before it verifies anything: a malformed action is a 422 whoever signed it."""

    parse: Callable[[MockExchange, Mapping[str, Any]], Any]
    execute: Callable[[MockExchange, Any], Awaitable[Json]]


L1_ACTIONS: dict[str, _L1Action] = {
    "order": _L1Action(_parse_order, _order),
    "cancel": _L1Action(_parse_cancel, _cancel),
    "cancelByCloid": _L1Action(_parse_cancel_by_cloid, _cancel_by_cloid),
    "batchModify": _L1Action(_parse_batch_modify, _batch_modify),
    "scheduleCancel": _L1Action(_parse_schedule_cancel, _schedule_cancel),
    "updateLeverage": _L1Action(_parse_update_leverage, _update_leverage),
    "noop": _L1Action(_parse_noop, _noop),
}


def _coins(mock: MockExchange) -> dict[int, str]:
    return mock.coins_by_asset


def _check_signature(signature: object) -> Mapping[str, Any]:
    """``{"r": "0x..", "s": "0x..", "v": 27|28}`` with an integer v (signing.py would take 27.0)."""
    if not isinstance(signature, Mapping):
        raise ActionFormatError("missing field `signature`")
    r, s, v = signature.get("r"), signature.get("s"), signature.get("v")
    if not (isinstance(r, str) and _SIG_HEX.fullmatch(r) and isinstance(s, str)):
        raise ActionFormatError("signature: `r` is not 0x-prefixed hex of at most 64 digits")
    if not _SIG_HEX.fullmatch(s):
        raise ActionFormatError("signature: `s` is not 0x-prefixed hex of at most 64 digits")
    if not is_u64(v) or v not in (27, 28):
        raise ActionFormatError(f"signature: `v` must be 27 or 28, got {v!r}"[:200])
    return signature


def _envelope(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], int, Mapping[str, Any]]:
    action, nonce = body.get("action"), body.get("nonce")
    if not isinstance(action, Mapping) or not isinstance(action.get("type"), str):
        raise ActionFormatError("missing field `action`")
    if not is_u64(nonce):
        raise ActionFormatError("missing field `nonce`")
    return action, nonce, _check_signature(body.get("signature"))


def _l1_options(body: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """``vaultAddress`` (null or an address) and ``expiresAfter`` (null or a u64)."""
    vault, expires = body.get("vaultAddress"), body.get("expiresAfter")
    if vault is not None and not (isinstance(vault, str) and ADDRESS.fullmatch(vault)):
        raise ActionFormatError(f"field `vaultAddress` is not an address: {vault!r}"[:200])
    if expires is not None and not is_u64(expires):
        raise ActionFormatError("field `expiresAfter` is not an unsigned integer")
    return vault, expires


def _read(parse: Callable[[], _T]) -> _T:
    """Run a parser over client input: whatever it raises about that input is a 422. wire_in
    reports shapes with WireInError, but a value of an unexpected type can also surface as a
    TypeError (an unhashable tif looked up in a dict) or a ValueError."""
    try:
        return parse()
    except ActionFormatError:
        raise
    except (wire_in.WireInError, TypeError, ValueError) as exc:
        raise ActionFormatError(str(exc)[:300]) from None


async def handle_exchange(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    """Answer one /exchange body (HTTP or WS post) and publish what it changed, so the
    WebSocket streams the changes before the answer goes out. Raises ``ActionFormatError`` for
    an undeserializable one."""
    try:
        return await _answer(mock, body)
    finally:
        mock.publish()


async def _answer(mock: MockExchange, body: Mapping[str, Any]) -> Json:
    action, nonce, signature = _envelope(body)
    kind = action["type"]
    if kind == "approveAgent":
        return _approve_agent(mock, action, nonce, signature)
    spec = L1_ACTIONS.get(kind)
    if spec is None:
        raise ActionFormatError(f"unknown variant `{kind}`"[:200])
    vault, expires = _l1_options(body)
    parsed = _read(lambda: spec.parse(mock, action))
    if vault is not None:
        return err(f"Vault not registered: {vault}")
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
        return await spec.execute(mock, parsed)
    except ExchangeError as exc:
        log.warning("mock exchange: %s action failed: %s", kind, exc)
        return err(str(exc))


def _approve_fields(action: Mapping[str, Any]) -> dict[str, Any]:
    """The approveAgent action as it was signed. ``agentName`` is optional: the official SDK
    signs an unnamed agent with ``""`` and then drops the field from the body, so a missing (or
    null) name reads as ``""``. Every signed field is type-checked here, before EIP-712 encoding
    meets it (which raises assorted exception types on a wrong one)."""
    fields = dict(action)
    name = fields.get("agentName")
    fields["agentName"] = "" if name is None else name
    chain_id, chain = fields.get("signatureChainId"), fields.get("hyperliquidChain")
    if not isinstance(chain_id, str) or not _SIG_HEX.fullmatch(chain_id):
        raise ActionFormatError(f"approveAgent: `signatureChainId` is not hex: {chain_id!r}"[:200])
    if not isinstance(chain, str):
        raise ActionFormatError("approveAgent: missing field `hyperliquidChain`")
    agent = fields.get("agentAddress")
    if not isinstance(agent, str) or not ADDRESS.fullmatch(agent):
        raise ActionFormatError(f"approveAgent: `agentAddress` is not an address: {agent!r}"[:200])
    if not isinstance(fields["agentName"], str):
        raise ActionFormatError("approveAgent: `agentName` is not a string")
    if not is_u64(fields.get("nonce")):
        raise ActionFormatError("approveAgent: `nonce` is not an unsigned integer")
    return fields


def _approve_agent(
    mock: MockExchange, action: Mapping[str, Any], nonce: int, signature: Mapping[str, Any]
) -> Json:
    """A user-signed action: the master's own key signs it in the HyperliquidSignTransaction
    domain, for this network, with the body's nonce."""
    fields = _approve_fields(action)
    signer = _read(lambda: signing.recover_user_signer(fields, signature))
    chain = "Mainnet" if mock.is_mainnet else "Testnet"
    if fields["hyperliquidChain"] != chain:
        return err(f"Invalid hyperliquidChain: expected {chain}")
    if fields["nonce"] != nonce:
        return err("Action nonce does not match the request nonce")
    if signer != mock.account:
        return err(f"Must deposit before performing actions. User: {signer}")
    refusal = mock.nonces.check_and_use(signer, nonce, mock.clock.now_ms())
    if refusal is not None:
        return err(refusal)
    try:
        mock.approve_agent(signer, fields["agentAddress"])
    except MockError as exc:
        return err(str(exc))
    return DEFAULT
