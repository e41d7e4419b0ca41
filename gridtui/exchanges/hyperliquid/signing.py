"""Hyperliquid signatures: L1 actions via a phantom agent, and user-signed actions (approveAgent).

An L1 action (order, cancel, modify, scheduleCancel, updateLeverage, noop) is not signed directly:
its msgpack bytes, the nonce, the vault flag and the optional expiry are hashed into a
``connectionId``, and an EIP-712 ``Agent{source, connectionId}`` in the fixed "Exchange" domain is
signed instead. The server rebuilds the same bytes and recovers the signer, so a single differing
byte does not fail loudly: it recovers some other address ("User or API Wallet ... does not
exist"). The recover functions exist so the mock exchange verifies exactly what the real one does.

The private key lives only inside a ``Signer``, whose text forms show the address alone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

import msgpack
from eth_account import Account
from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

log = logging.getLogger(__name__)

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
L1_CHAIN_ID = 1337
DEFAULT_SIGNATURE_CHAIN_ID = "0x66eee"
"""The chain id a wallet signs user actions with; any is accepted (``hyperliquidChain`` is what
stops replay between mainnet and testnet). This is the one the official client uses."""

_DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
_AGENT_TYPE = [{"name": "source", "type": "string"}, {"name": "connectionId", "type": "bytes32"}]
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_KEY = re.compile(r"(0x)?[0-9a-fA-F]{64}")
_HEX = re.compile(r"0x[0-9a-fA-F]{1,64}")

Field = Mapping[str, str]
APPROVE_AGENT_TYPE = "HyperliquidTransaction:ApproveAgent"
APPROVE_AGENT_FIELDS: tuple[Field, ...] = (
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "agentAddress", "type": "address"},
    {"name": "agentName", "type": "string"},
    {"name": "nonce", "type": "uint64"},
)


class Signer:
    """Holds an account's private key and shows nothing but its address.

    ``repr``/``str``/``format`` print the address; pickling and copying are refused so the key
    cannot leak into a snapshot or a log by accident.
    """

    __slots__ = ("_account", "address")

    def __init__(self, account: LocalAccount) -> None:
        self._account = account
        self.address: str = account.address.lower()

    @classmethod
    def from_key(cls, key: str) -> Signer:
        """From a hex private key. Errors never echo the key (nor chain an error that does)."""
        if not isinstance(key, str) or not _KEY.fullmatch(key.strip()):
            raise ValueError("a private key must be 64 hex digits (optionally 0x-prefixed)")
        try:
            account = Account.from_key(key.strip())
        except ValueError:
            log.warning("rejected a private key that is not a valid secp256k1 key")
            raise ValueError("the private key is not a valid secp256k1 key") from None
        return cls(account)

    def sign(self, message: SignableMessage) -> dict[str, Any]:
        signed = self._account.sign_message(message)
        return {"r": hex(signed.r), "s": hex(signed.s), "v": signed.v}

    def __repr__(self) -> str:
        return f"Signer({self.address})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be pickled or copied")


def as_signer(wallet: Signer | LocalAccount | str) -> Signer:
    """Accept a Signer, an eth_account LocalAccount or a hex key string."""
    if isinstance(wallet, Signer):
        return wallet
    if isinstance(wallet, LocalAccount):
        return Signer(wallet)
    return Signer.from_key(wallet)


def address_bytes(address: str) -> bytes:
    if not _ADDRESS.fullmatch(address):
        raise ValueError(f"an address must be 0x + 40 hex digits, got {address!r}")
    return bytes.fromhex(address[2:])


def action_hash(
    action: Any, vault_address: str | None, nonce: int, expires_after: int | None
) -> bytes:
    """keccak256(msgpack(action) ‖ nonce u64 BE ‖ vault flag [‖ address] [‖ 0x00 ‖ expiry u64 BE]).

    msgpack keeps the dict's insertion order, which is why actions are built in wire.py with
    Hyperliquid's key order.
    """
    data = msgpack.packb(action)
    data += nonce.to_bytes(8, "big")
    data += b"\x00" if vault_address is None else b"\x01" + address_bytes(vault_address)
    if expires_after is not None:
        data += b"\x00" + expires_after.to_bytes(8, "big")
    return keccak(data)


def phantom_agent(connection_id: bytes, *, is_mainnet: bool) -> dict[str, Any]:
    """The struct actually signed for an L1 action; the source letter binds it to one network."""
    return {"source": "a" if is_mainnet else "b", "connectionId": connection_id}


def l1_message(
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    *,
    is_mainnet: bool,
) -> SignableMessage:
    connection_id = action_hash(action, vault_address, nonce, expires_after)
    return encode_typed_data(
        full_message={
            "domain": {
                "name": "Exchange",
                "version": "1",
                "chainId": L1_CHAIN_ID,
                "verifyingContract": ZERO_ADDRESS,
            },
            "types": {"EIP712Domain": _DOMAIN_TYPE, "Agent": _AGENT_TYPE},
            "primaryType": "Agent",
            "message": phantom_agent(connection_id, is_mainnet=is_mainnet),
        }
    )


def sign_l1_action(
    wallet: Signer | LocalAccount | str,
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    *,
    is_mainnet: bool,
) -> dict[str, Any]:
    """``{"r": "0x..", "s": "0x..", "v": 27|28}``; r and s are unpadded hex of the integers."""
    message = l1_message(action, vault_address, nonce, expires_after, is_mainnet=is_mainnet)
    return as_signer(wallet).sign(message)


def recover_l1_signer(
    action: Any,
    vault_address: str | None,
    nonce: int,
    expires_after: int | None,
    signature: Mapping[str, Any],
    *,
    is_mainnet: bool,
) -> str:
    """The lower-case address that produced ``signature`` over this action (as the server sees
    it: any mismatch in the bytes yields a different, valid-looking address)."""
    message = l1_message(action, vault_address, nonce, expires_after, is_mainnet=is_mainnet)
    return _recover(message, signature)


def user_message(
    action: Mapping[str, Any], primary_type: str, fields: Sequence[Field]
) -> SignableMessage:
    """EIP-712 of a user-signed action: the typed fields of ``action`` in the
    HyperliquidSignTransaction domain, on the chain named by its ``signatureChainId``."""
    try:
        chain_id = int(action["signatureChainId"], 16)
        values = {field["name"]: action[field["name"]] for field in fields}
    except KeyError as exc:
        raise ValueError(f"user-signed action lacks field {exc.args[0]!r}") from None
    return encode_typed_data(
        full_message={
            "domain": {
                "name": "HyperliquidSignTransaction",
                "version": "1",
                "chainId": chain_id,
                "verifyingContract": ZERO_ADDRESS,
            },
            "types": {"EIP712Domain": _DOMAIN_TYPE, primary_type: [dict(f) for f in fields]},
            "primaryType": primary_type,
            "message": values,
        }
    )


def sign_user_action(
    wallet: Signer | LocalAccount | str,
    action: Mapping[str, Any],
    primary_type: str = APPROVE_AGENT_TYPE,
    fields: Sequence[Field] = APPROVE_AGENT_FIELDS,
) -> dict[str, Any]:
    """Sign a user action (by default approveAgent) with the master account's key."""
    return as_signer(wallet).sign(user_message(action, primary_type, fields))


def recover_user_signer(
    action: Mapping[str, Any],
    signature: Mapping[str, Any],
    primary_type: str = APPROVE_AGENT_TYPE,
    fields: Sequence[Field] = APPROVE_AGENT_FIELDS,
) -> str:
    return _recover(user_message(action, primary_type, fields), signature)


def approve_agent_action(
    agent_address: str,
    agent_name: str,
    nonce: int,
    *,
    is_mainnet: bool,
    signature_chain_id: str = DEFAULT_SIGNATURE_CHAIN_ID,
) -> dict[str, Any]:
    """The approveAgent action a master signs (``sign_user_action``) to let an agent trade."""
    address_bytes(agent_address)
    return {
        "type": "approveAgent",
        "signatureChainId": signature_chain_id,
        "hyperliquidChain": "Mainnet" if is_mainnet else "Testnet",
        "agentAddress": agent_address.lower(),
        "agentName": agent_name,
        "nonce": nonce,
    }


def _recover(message: SignableMessage, signature: Mapping[str, Any]) -> str:
    r, s, v = signature.get("r"), signature.get("s"), signature.get("v")
    if not (isinstance(r, str) and _HEX.fullmatch(r) and isinstance(s, str) and _HEX.fullmatch(s)):
        raise ValueError("malformed signature: r and s must be 0x-prefixed hex")
    if v not in (27, 28) or isinstance(v, bool):
        raise ValueError(f"malformed signature: v must be 27 or 28, got {v!r}")
    try:
        address = Account.recover_message(message, vrs=(v, int(r, 16), int(s, 16)))
    except Exception as exc:  # eth_keys raises its own types for out-of-range r/s
        raise ValueError(f"malformed signature: {exc}") from exc
    return address.lower()
