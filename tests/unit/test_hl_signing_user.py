"""Hyperliquid user-signed actions (approveAgent and kin) in the HyperliquidSignTransaction domain.

The UsdSend and Withdraw r/s/v literals are published vectors of hyperliquid-python-sdk
(tests/signing_test.py, v0.23: fixed key, fixed inputs). The SDK publishes no approveAgent
vector, so approveAgent is checked against an EIP-712 digest computed by hand from the standard.
"""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak

from gridtui.exchanges.hyperliquid.signing import (
    Signer,
    approve_agent_action,
    recover_user_signer,
    sign_user_action,
)

SDK_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
SDK_ADDRESS = Account.from_key(SDK_KEY).address.lower()
OTHER_KEY = "0x" + "42" * 32


def sig(r: str, s: str, v: int) -> dict[str, object]:
    return {"r": r, "s": s, "v": v}


# EIP-712 field lists of two user-signed actions, as the protocol defines them.
TRANSFER_FIELDS = (
    {"name": "hyperliquidChain", "type": "string"},
    {"name": "destination", "type": "string"},
    {"name": "amount", "type": "string"},
    {"name": "time", "type": "uint64"},
)
TRANSFER = {
    "destination": "0x5e9ee1089755c3435139848e47e6635505d5a13a",
    "amount": "1",
    "time": 1687816341423,
    "signatureChainId": "0x66eee",
    "hyperliquidChain": "Testnet",
}


@pytest.mark.parametrize(
    ("primary_type", "expected"),
    [
        (
            "HyperliquidTransaction:UsdSend",
            sig(
                "0x637b37dd731507cdd24f46532ca8ba6eec616952c56218baeff04144e4a77073",
                "0x11a6a24900e6e314136d2592e2f8d502cd89b7c15b198e1bee043c9589f9fad7",
                27,
            ),
        ),
        (
            "HyperliquidTransaction:Withdraw",
            sig(
                "0x8363524c799e90ce9bc41022f7c39b4e9bdba786e5f9c72b20e43e1462c37cf9",
                "0x58b1411a775938b83e29182e8ef74975f9054c8e97ebf5ec2dc8d51bfc893881",
                28,
            ),
        ),
    ],
)
def test_user_signed_domain_matches_the_sdk_vectors(primary_type: str, expected: dict) -> None:
    """The SDK publishes no approveAgent vector; these two pin the same user-signed machinery
    (HyperliquidSignTransaction domain, chain id from signatureChainId)."""
    assert sign_user_action(SDK_KEY, TRANSFER, primary_type, TRANSFER_FIELDS) == expected
    assert recover_user_signer(TRANSFER, expected, primary_type, TRANSFER_FIELDS) == SDK_ADDRESS


def _eip712_approve_agent_digest(action: dict) -> bytes:
    """The EIP-712 digest computed by hand from the standard, independently of eth_account."""

    def word(n: int) -> bytes:
        return n.to_bytes(32, "big")

    def text(s: str) -> bytes:
        return keccak(s.encode())

    domain_type = (
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
    )
    domain = keccak(
        text(domain_type)
        + text("HyperliquidSignTransaction")
        + text("1")
        + word(int(action["signatureChainId"], 16))
        + word(0)
    )
    struct_type = (
        "HyperliquidTransaction:ApproveAgent("
        "string hyperliquidChain,address agentAddress,string agentName,uint64 nonce)"
    )
    struct = keccak(
        text(struct_type)
        + text(action["hyperliquidChain"])
        + word(int(action["agentAddress"], 16))
        + text(action["agentName"])
        + word(action["nonce"])
    )
    return keccak(b"\x19\x01" + domain + struct)


@pytest.mark.parametrize("is_mainnet", [True, False])
def test_approve_agent_signs_the_standard_eip712_digest(is_mainnet: bool) -> None:
    agent = Signer.from_key(OTHER_KEY).address
    action = approve_agent_action(agent, "grid", 1_700_000_000_000, is_mainnet=is_mainnet)
    assert action["hyperliquidChain"] == ("Mainnet" if is_mainnet else "Testnet")
    signature = sign_user_action(SDK_KEY, action)
    vrs = (signature["v"] - 27, int(signature["r"], 16), int(signature["s"], 16))
    digest = _eip712_approve_agent_digest(action)
    public = keys.Signature(vrs=vrs).recover_public_key_from_msg_hash(digest)
    assert public.to_checksum_address().lower() == SDK_ADDRESS
    assert recover_user_signer(action, signature) == SDK_ADDRESS


def test_approve_agent_binds_chain_and_agent() -> None:
    agent = Signer.from_key(OTHER_KEY).address
    action = approve_agent_action(agent, "grid", 7, is_mainnet=False)
    signature = sign_user_action(SDK_KEY, action)
    other_chain = dict(action, signatureChainId="0xa4b1")
    other_agent = dict(action, agentAddress=SDK_ADDRESS)
    assert recover_user_signer(other_chain, signature) != SDK_ADDRESS
    assert recover_user_signer(other_agent, signature) != SDK_ADDRESS
    with pytest.raises(ValueError, match="nonce"):
        sign_user_action(SDK_KEY, {k: v for k, v in action.items() if k != "nonce"})
