"""Hyperliquid signing, checked against the official SDK's published vectors bit for bit.

Every literal r/s/v and connectionId below is a published vector of hyperliquid-python-sdk
(tests/signing_test.py, v0.23): fixed key, fixed inputs, expected outputs. The actions are built
with our own wire.py wherever it can express them, so the vectors also pin our key order and
number rendering.
"""

from __future__ import annotations

import copy
import pickle
import traceback
from decimal import Decimal

import msgpack
import pytest
from eth_account import Account
from eth_utils import keccak

from gridtui.core.types import OrderRequest, Side, Tif
from gridtui.exchanges.hyperliquid.signing import (
    Signer,
    action_hash,
    recover_l1_signer,
    sign_l1_action,
)
from gridtui.exchanges.hyperliquid.wire import order_action, order_wire, schedule_cancel_action

SDK_KEY = "0x0123456789012345678901234567890123456789012345678901234567890123"
SDK_ADDRESS = Account.from_key(SDK_KEY).address.lower()
OTHER_KEY = "0x" + "42" * 32
VAULT = "0x1719884eb866cb12b2287399b15f7db5e7d775ea"
DUMMY = {"type": "dummy", "num": 100_000_000_000}  # the SDK's float_to_int_for_hashing(1000)


def sig(r: str, s: str, v: int) -> dict[str, object]:
    return {"r": r, "s": s, "v": v}


def sdk_order(price: str, size: str, tif: Tif, cloid: str = "") -> OrderRequest:
    return OrderRequest("ETH", Side.BUY, Decimal(price), Decimal(size), cloid, tif)


def test_phantom_agent_connection_id_matches_the_sdk_vector() -> None:
    action = order_action([order_wire(sdk_order("1670.1", "0.0147", Tif.IOC), 4)])
    expected = "0fcbeda5ae3c4950a548021552a4fea2226858c4453571bf3f24ba017eac2908"
    assert action_hash(action, None, 1677777606040, None).hex() == expected


# (action, vault, mainnet signature, testnet signature) — the SDK's published vectors, nonce 0.
L1_VECTORS = {
    "dummy": (
        DUMMY,
        None,
        sig(
            "0x53749d5b30552aeb2fca34b530185976545bb22d0b3ce6f62e31be961a59298",
            "0x755c40ba9bf05223521753995abb2f73ab3229be8ec921f350cb447e384d8ed8",
            27,
        ),
        sig(
            "0x542af61ef1f429707e3c76c5293c80d01f74ef853e34b76efffcb57e574f9510",
            "0x17b8b32f086e8cdede991f1e2c529f5dd5297cbe8128500e00cbaf766204a613",
            28,
        ),
    ),
    "order": (
        order_action([order_wire(sdk_order("100", "100", Tif.GTC), 1)]),
        None,
        sig(
            "0xd65369825a9df5d80099e513cce430311d7d26ddf477f5b3a33d2806b100d78e",
            "0x2b54116ff64054968aa237c20ca9ff68000f977c93289157748a3162b6ea940e",
            28,
        ),
        sig(
            "0x82b2ba28e76b3d761093aaded1b1cdad4960b3af30212b343fb2e6cdfa4e3d54",
            "0x6b53878fc99d26047f4d7e8c90eb98955a109f44209163f52d8dc4278cbbd9f5",
            27,
        ),
    ),
    "order_with_cloid": (
        order_action(
            [order_wire(sdk_order("100", "100", Tif.GTC, "0x00000000000000000000000000000001"), 1)]
        ),
        None,
        sig(
            "0x41ae18e8239a56cacbc5dad94d45d0b747e5da11ad564077fcac71277a946e3",
            "0x3c61f667e747404fe7eea8f90ab0e76cc12ce60270438b2058324681a00116da",
            27,
        ),
        sig(
            "0xeba0664bed2676fc4e5a743bf89e5c7501aa6d870bdb9446e122c9466c5cd16d",
            "0x7f3e74825c9114bc59086f1eebea2928c190fdfbfde144827cb02b85bbe90988",
            28,
        ),
    ),
    "vault": (
        DUMMY,
        VAULT,
        sig(
            "0x3c548db75e479f8012acf3000ca3a6b05606bc2ec0c29c50c515066a326239",
            "0x4d402be7396ce74fbba3795769cda45aec00dc3125a984f2a9f23177b190da2c",
            28,
        ),
        sig(
            "0xe281d2fb5c6e25ca01601f878e4d69c965bb598b88fac58e475dd1f5e56c362b",
            "0x7ddad27e9a238d045c035bc606349d075d5c5cd00a6cd1da23ab5c39d4ef0f60",
            27,
        ),
    ),
    "tpsl_order": (
        {
            "type": "order",
            "orders": [
                {
                    "a": 1,
                    "b": True,
                    "p": "100",
                    "s": "100",
                    "r": False,
                    "t": {"trigger": {"isMarket": True, "triggerPx": "103", "tpsl": "sl"}},
                }
            ],
            "grouping": "na",
        },
        None,
        sig(
            "0x98343f2b5ae8e26bb2587daad3863bc70d8792b09af1841b6fdd530a2065a3f9",
            "0x6b5bb6bb0633b710aa22b721dd9dee6d083646a5f8e581a20b545be6c1feb405",
            27,
        ),
        sig(
            "0x971c554d917c44e0e1b6cc45d8f9404f32172a9d3b3566262347d0302896a2e4",
            "0x206257b104788f80450f8e786c329daa589aa0b32ba96948201ae556d5637eac",
            28,
        ),
    ),
    "create_sub_account": (
        {"type": "createSubAccount", "name": "example"},
        None,
        sig(
            "0x51096fe3239421d16b671e192f574ae24ae14329099b6db28e479b86cdd6caa7",
            "0xb71f7d293af92d3772572afb8b102d167a7cef7473388286bc01f52a5c5b423",
            27,
        ),
        sig(
            "0xa699e3ed5c2b89628c746d3298b5dc1cca604694c2c855da8bb8250ec8014a5b",
            "0x53f1b8153a301c72ecc655b1c315d64e1dcea3ee58921fd7507e35818fcc1584",
            28,
        ),
    ),
    "sub_account_transfer": (
        {
            "type": "subAccountTransfer",
            "subAccountUser": "0x1d9470d4b963f552e6f671a81619d395877bf409",
            "isDeposit": True,
            "usd": 10,
        },
        None,
        sig(
            "0x43592d7c6c7d816ece2e206f174be61249d651944932b13343f4d13f306ae602",
            "0x71a926cb5c9a7c01c3359ec4c4c34c16ff8107d610994d4de0e6430e5cc0f4c9",
            28,
        ),
        sig(
            "0xe26574013395ad55ee2f4e0575310f003c5bb3351b5425482e2969fa51543927",
            "0xefb08999196366871f919fd0e138b3a7f30ee33e678df7cfaf203e25f0a4278",
            28,
        ),
    ),
    "schedule_cancel_unset": (
        schedule_cancel_action(None),
        None,
        sig(
            "0x6cdfb286702f5917e76cd9b3b8bf678fcc49aec194c02a73e6d4f16891195df9",
            "0x6557ac307fa05d25b8d61f21fb8a938e703b3d9bf575f6717ba21ec61261b2a0",
            27,
        ),
        sig(
            "0xc75bb195c3f6a4e06b7d395acc20bbb224f6d23ccff7c6a26d327304e6efaeed",
            "0x342f8ede109a29f2c0723bd5efb9e9100e3bbb493f8fb5164ee3d385908233df",
            28,
        ),
    ),
    "schedule_cancel_time": (
        schedule_cancel_action(123456789),
        None,
        sig(
            "0x609cb20c737945d070716dcc696ba030e9976fcf5edad87afa7d877493109d55",
            "0x16c685d63b5c7a04512d73f183b3d7a00da5406ff1f8aad33f8ae2163bab758b",
            28,
        ),
        sig(
            "0x4e4f2dbd4107c69783e251b7e1057d9f2b9d11cee213441ccfa2be63516dc5bc",
            "0x706c656b23428c8ba356d68db207e11139ede1670481a9e01ae2dfcdb0e1a678",
            27,
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(L1_VECTORS))
def test_l1_signatures_match_the_sdk_vectors(name: str) -> None:
    action, vault, mainnet, testnet = L1_VECTORS[name]
    assert sign_l1_action(SDK_KEY, action, vault, 0, None, is_mainnet=True) == mainnet
    assert sign_l1_action(SDK_KEY, action, vault, 0, None, is_mainnet=False) == testnet


@pytest.mark.parametrize("name", sorted(L1_VECTORS))
def test_the_sdk_vectors_recover_the_sdk_key(name: str) -> None:
    action, vault, mainnet, testnet = L1_VECTORS[name]
    assert recover_l1_signer(action, vault, 0, None, mainnet, is_mainnet=True) == SDK_ADDRESS
    assert recover_l1_signer(action, vault, 0, None, testnet, is_mainnet=False) == SDK_ADDRESS
    # The network is part of what is signed: a mainnet signature read as testnet is someone else.
    assert recover_l1_signer(action, vault, 0, None, mainnet, is_mainnet=False) != SDK_ADDRESS


def test_hash_preimage_layout_with_vault_and_expiry() -> None:
    """action_hash = keccak(msgpack ‖ nonce u64 BE ‖ 01 ‖ vault ‖ 00 ‖ expiry u64 BE)."""
    preimage = (
        b"\x81\xa4type\xa4noop"  # msgpack of {"type": "noop"}, written out by hand
        + (1_700_000_000_123).to_bytes(8, "big")
        + b"\x01"
        + bytes.fromhex(VAULT[2:])
        + b"\x00"
        + (1_700_000_060_000).to_bytes(8, "big")
    )
    got = action_hash({"type": "noop"}, VAULT, 1_700_000_000_123, 1_700_000_060_000)
    assert got == keccak(preimage)
    no_expiry = action_hash({"type": "noop"}, VAULT, 1_700_000_000_123, None)
    assert no_expiry == keccak(preimage[:-9])


def test_expiry_is_signed_and_recovered() -> None:
    signature = sign_l1_action(SDK_KEY, DUMMY, None, 5, 99, is_mainnet=False)
    assert recover_l1_signer(DUMMY, None, 5, 99, signature, is_mainnet=False) == SDK_ADDRESS
    assert recover_l1_signer(DUMMY, None, 5, 100, signature, is_mainnet=False) != SDK_ADDRESS
    assert recover_l1_signer(DUMMY, None, 5, None, signature, is_mainnet=False) != SDK_ADDRESS


def test_recover_round_trip_and_wrong_key() -> None:
    action = order_action([order_wire(sdk_order("64000", "0.001", Tif.ALO), 0)])
    mine = Signer.from_key(SDK_KEY)
    other = Signer.from_key(OTHER_KEY)
    signature = sign_l1_action(mine, action, None, 1_700_000_000_000, None, is_mainnet=True)
    assert recover_l1_signer(action, None, 1_700_000_000_000, None, signature, is_mainnet=True) == (
        mine.address
    )
    forged = sign_l1_action(other, action, None, 1_700_000_000_000, None, is_mainnet=True)
    recovered = recover_l1_signer(action, None, 1_700_000_000_000, None, forged, is_mainnet=True)
    assert recovered == other.address != mine.address
    # A different nonce reads the same signature as a different signer.
    assert recover_l1_signer(action, None, 1, None, signature, is_mainnet=True) != mine.address


def test_a_trailing_zero_in_a_price_changes_the_hash() -> None:
    canonical = order_action([order_wire(sdk_order("1670.10", "0.0147", Tif.IOC), 4)])
    assert canonical["orders"][0]["p"] == "1670.1"
    padded = copy.deepcopy(canonical)
    padded["orders"][0]["p"] = "1670.10"
    assert action_hash(canonical, None, 0, None) != action_hash(padded, None, 0, None)


def test_key_order_is_part_of_the_hash() -> None:
    wire = order_wire(sdk_order("100", "100", Tif.GTC), 1)
    shuffled = dict(reversed(list(wire.items())))
    assert msgpack.packb(shuffled) != msgpack.packb(wire)
    assert action_hash(order_action([shuffled]), None, 0, None) != action_hash(
        order_action([wire]), None, 0, None
    )


def test_malformed_signatures_are_value_errors() -> None:
    good = sign_l1_action(SDK_KEY, DUMMY, None, 0, None, is_mainnet=True)
    for bad in (
        {},
        dict(good, r="zz"),
        dict(good, v=29),
        dict(good, v=True),
        dict(good, s=12),
        dict(good, r="0x" + "f" * 64),  # r beyond the curve order
    ):
        with pytest.raises(ValueError, match="malformed signature"):
            recover_l1_signer(DUMMY, None, 0, None, bad, is_mainnet=True)
    with pytest.raises(ValueError, match="address"):
        action_hash(DUMMY, "0x1234", 0, None)


def test_signer_never_shows_its_key() -> None:
    signer = Signer.from_key(SDK_KEY)
    bare = SDK_KEY[2:]
    for text in (repr(signer), str(signer), f"{signer}", format(signer), repr([signer])):
        assert bare not in text and SDK_ADDRESS in text
    with pytest.raises(TypeError):
        pickle.dumps(signer)
    with pytest.raises(TypeError):
        copy.deepcopy(signer)
    assert not hasattr(signer, "__dict__")
    assert Signer(Account.from_key(SDK_KEY)).address == SDK_ADDRESS


@pytest.mark.parametrize(
    "bad_key",
    [
        SDK_KEY[:-2],  # too short
        SDK_KEY + "ab",  # too long
        "0x" + "g" * 64,  # not hex
        "0x" + "0" * 64,  # zero is no key
        "0x" + "f" * 64,  # beyond the curve order
    ],
)
def test_bad_keys_fail_without_echoing_the_key(bad_key: str) -> None:
    with pytest.raises(ValueError) as info:
        Signer.from_key(bad_key)
    rendered = "".join(traceback.format_exception(info.value))
    for text in (str(info.value), repr(info.value), rendered):
        assert bad_key not in text and bad_key[2:] not in text
    assert info.value.__cause__ is None
