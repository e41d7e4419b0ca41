"""Hyperliquid wire formats: number rendering, action shapes and byte layout, response parsers."""

from __future__ import annotations

from decimal import Decimal

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridtui.core.types import (
    CancelAck,
    ExchangeError,
    OrderRequest,
    OrderStatus,
    PlaceAck,
    PlaceStatus,
    Side,
    Tif,
)
from gridtui.exchanges.hyperliquid.wire import (
    WireError,
    cancel_action,
    cancel_by_cloid_action,
    check_default_response,
    exchange_request,
    float_to_wire,
    modify_action,
    noop_action,
    order_action,
    order_wire,
    parse_cancel_statuses,
    parse_fill,
    parse_open_order,
    parse_order_status,
    parse_order_statuses,
    parse_position,
    schedule_cancel_action,
    update_leverage_action,
)

CLOID = "0x00000000000000000000000000000001"


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        # The SDK's own vectors render these: 1670.1 and 0.0147 (phantom agent), 100 (orders).
        ("1670.1", "1670.1"),
        ("1670.10", "1670.1"),
        ("0.0147", "0.0147"),
        ("100", "100"),
        ("100.0", "100"),
        ("1E+3", "1000"),
        ("123123123123", "123123123123"),
        ("0.00000001", "0.00000001"),
        ("0.000012310", "0.00001231"),
        ("-1.50", "-1.5"),
        ("-0", "0"),
        ("-0.00000000", "0"),
        ("0E-12", "0"),
        ("99999999999999999999999999999999.5", "99999999999999999999999999999999.5"),
    ],
)
def test_float_to_wire_renders_canonically(value: str, wire: str) -> None:
    assert float_to_wire(Decimal(value)) == wire


@pytest.mark.parametrize("value", ["0.000012312312", "0.000000001", "1E-9", "NaN", "Infinity"])
def test_float_to_wire_refuses_what_8_decimals_cannot_hold(value: str) -> None:
    with pytest.raises(ValueError):
        float_to_wire(Decimal(value))


def test_order_wire_key_order_and_values() -> None:
    req = OrderRequest(
        "BTC", Side.SELL, Decimal("64000.0"), Decimal("0.00100"), CLOID, Tif.ALO, True
    )
    wire = order_wire(req, 3)
    assert list(wire) == ["a", "b", "p", "s", "r", "t", "c"]
    assert wire == {
        "a": 3,
        "b": False,
        "p": "64000",
        "s": "0.001",
        "r": True,
        "t": {"limit": {"tif": "Alo"}},
        "c": CLOID,
    }
    plain = order_wire(OrderRequest("BTC", Side.BUY, Decimal(1), Decimal(10), ""), 0)
    assert "c" not in plain and plain["b"] is True and plain["t"] == {"limit": {"tif": "Gtc"}}


@pytest.mark.parametrize("cloid", ["0x1", "0x" + "A" * 32, "00" * 17, "0x" + "g" * 32])
def test_malformed_cloids_are_refused(cloid: str) -> None:
    with pytest.raises(ValueError, match="cloid"):
        order_wire(OrderRequest("BTC", Side.BUY, Decimal(1), Decimal(10), cloid), 0)
    with pytest.raises(ValueError, match="cloid"):
        cancel_by_cloid_action([(0, cloid)])


def test_action_shapes() -> None:
    wire = order_wire(OrderRequest("ETH", Side.BUY, Decimal(100), Decimal(1), CLOID), 1)
    assert order_action([wire]) == {"type": "order", "orders": [wire], "grouping": "na"}
    assert list(order_action([wire])) == ["type", "orders", "grouping"]
    assert cancel_by_cloid_action([(1, CLOID)]) == {
        "type": "cancelByCloid",
        "cancels": [{"asset": 1, "cloid": CLOID}],
    }
    assert modify_action([(42, wire), (CLOID, wire)]) == {
        "type": "batchModify",
        "modifies": [{"oid": 42, "order": wire}, {"oid": CLOID, "order": wire}],
    }
    assert schedule_cancel_action(None) == {"type": "scheduleCancel"}
    assert schedule_cancel_action(5) == {"type": "scheduleCancel", "time": 5}
    lev = update_leverage_action(2, False, 5)
    assert list(lev.items()) == [
        ("type", "updateLeverage"),
        ("asset", 2),
        ("isCross", False),
        ("leverage", 5),
    ]
    assert noop_action() == {"type": "noop"}


def test_cancel_action_msgpack_bytes() -> None:
    """The bytes that get hashed, written out by hand from the msgpack spec."""
    expected = (
        b"\x82\xa4type\xa6cancel\xa7cancels"
        + b"\x92"
        + b"\x82\xa1a\x01\xa1o\x7b"  # {"a": 1, "o": 123}
        + b"\x82\xa1a\x02\xa1o\xcd\x01\x00"  # {"a": 2, "o": 256}
    )
    assert msgpack.packb(cancel_action([(1, 123), (2, 256)])) == expected


def test_exchange_request_sends_nulls_like_the_official_client() -> None:
    body = exchange_request({"type": "noop"}, 7, {"r": "0x1", "s": "0x2", "v": 27})
    assert body == {
        "action": {"type": "noop"},
        "nonce": 7,
        "signature": {"r": "0x1", "s": "0x2", "v": 27},
        "vaultAddress": None,
        "expiresAfter": None,
    }
    vault = exchange_request(
        {"type": "noop"}, 7, {}, "0xABCDEF0000000000000000000000000000000001", 9
    )
    assert vault["vaultAddress"] == "0xabcdef0000000000000000000000000000000001"
    assert vault["expiresAfter"] == 9


def ok(statuses: list) -> dict:
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def test_order_statuses_resting_filled_error() -> None:
    response = ok(
        [
            {"resting": {"oid": 77738308}},
            {"filled": {"totalSz": "0.02", "avgPx": "1891.4", "oid": 77747314, "cloid": CLOID}},
            {"error": "Order must have minimum value of $10. asset=1"},
        ]
    )
    acks = parse_order_statuses(response, ["0x" + "a" * 32, None, "0x" + "b" * 32])
    assert acks == [
        PlaceAck(PlaceStatus.RESTING, 77738308, "0x" + "a" * 32),
        PlaceAck(PlaceStatus.FILLED, 77747314, CLOID, None, Decimal("0.02"), Decimal("1891.4")),
        PlaceAck(
            PlaceStatus.ERROR,
            client_id="0x" + "b" * 32,
            error="Order must have minimum value of $10. asset=1",
        ),
    ]
    assert parse_order_statuses(response)[0].client_id is None


def test_action_level_errors_raise_with_the_message() -> None:
    message = "User or API Wallet 0xabc does not exist."
    with pytest.raises(ExchangeError, match="does not exist") as info:
        parse_order_statuses({"status": "err", "response": message})
    assert info.value.retryable is False and not isinstance(info.value, WireError)
    limited = "Too many cumulative requests sent (10001 > 10000) for cumulative volume traded $0."
    with pytest.raises(ExchangeError) as info:
        parse_cancel_statuses({"status": "err", "response": limited})
    assert info.value.retryable is True
    with pytest.raises(ExchangeError, match="duplicate nonce"):
        check_default_response({"status": "err", "response": "Invalid nonce: duplicate nonce 5"})
    check_default_response({"status": "ok", "response": {"type": "default"}})


def test_cancel_statuses() -> None:
    error = "Order was never placed, already canceled, or filled."
    acks = parse_cancel_statuses(ok(["success", {"error": error}]), [5, CLOID])
    assert acks == [
        CancelAck(True, exchange_id=5),
        CancelAck(False, client_id=CLOID, error=error),
    ]


@pytest.mark.parametrize(
    ("response", "field"),
    [
        ({"status": "ok"}, "'response'"),
        ({"status": "weird"}, "'status'"),
        ({"status": "ok", "response": {"type": "order"}}, "'data'"),
        ({"status": "ok", "response": {"type": "order", "data": {"statuses": 3}}}, "'statuses'"),
        (ok([{"resting": {}}]), "'oid'"),
        (ok([{"resting": {"oid": "12"}}]), "'oid'"),
        (ok([{"filled": {"oid": 1, "totalSz": "x", "avgPx": "1"}}]), "'totalSz'"),
        (ok([{"filled": {"oid": 1, "totalSz": 0.5, "avgPx": "1"}}]), "'totalSz'"),
        (ok(["waitingForFill"]), "statuses[0]"),
        (ok([{"resting": {"oid": 1}}, {"resting": {"oid": 2}}]), "expected 1"),
        ([], "expected an object"),
    ],
)
def test_malformed_order_responses_name_the_field(response: object, field: str) -> None:
    with pytest.raises(WireError) as info:
        parse_order_statuses(response, [None])
    assert field in str(info.value) and "\n" not in str(info.value)
    assert info.value.retryable is False


FILL = {
    "coin": "BTC",
    "px": "64000.5",
    "sz": "0.0015",
    "side": "A",
    "time": 1_700_000_000_123,
    "startPosition": "0.0",
    "dir": "Close Long",
    "closedPnl": "1.2",
    "hash": "0xabc",
    "oid": 91,
    "crossed": True,
    "fee": "-0.0012",
    "feeToken": "USDC",
    "tid": 555,
    "cloid": CLOID,
}


def test_parse_fill() -> None:
    fill = parse_fill(FILL, "hyperliquid")
    assert (fill.venue, fill.coin, fill.side, fill.trade_id, fill.exchange_order_id) == (
        "hyperliquid",
        "BTC",
        Side.SELL,
        555,
        91,
    )
    assert (fill.price, fill.size, fill.fee) == (
        Decimal("64000.5"),
        Decimal("0.0015"),
        Decimal("-0.0012"),
    )
    assert fill.is_taker and fill.client_id == CLOID and fill.timestamp_ms == 1_700_000_000_123
    maker = parse_fill({k: v for k, v in FILL.items() if k != "cloid"} | {"side": "B"}, "hl")
    assert maker.side is Side.BUY and maker.client_id is None
    assert not parse_fill(FILL | {"crossed": False}, "hl").is_taker


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"side": "S"}, "'side'"),
        ({"px": None}, "'px'"),
        ({"px": "NaN"}, "'px'"),
        ({"tid": True}, "'tid'"),
        ({"crossed": "yes"}, "'crossed'"),
        ({"cloid": 5}, "'cloid'"),
    ],
)
def test_malformed_fills_name_the_field(patch: dict, field: str) -> None:
    with pytest.raises(WireError, match=field):
        parse_fill(FILL | patch, "hl")
    with pytest.raises(WireError, match="'coin' is missing"):
        parse_fill({k: v for k, v in FILL.items() if k != "coin"}, "hl")


OPEN = {"coin": "ETH", "limitPx": "1800.5", "oid": 12, "side": "B", "sz": "0.5", "timestamp": 99}


def test_parse_open_order_plain_and_frontend() -> None:
    order = parse_open_order(OPEN)
    assert (order.coin, order.side, order.price, order.size, order.remaining) == (
        "ETH",
        Side.BUY,
        Decimal("1800.5"),
        Decimal("0.5"),
        Decimal("0.5"),
    )
    assert order.status is OrderStatus.OPEN and order.client_id is None and order.exchange_id == 12
    frontend = OPEN | {"origSz": "2", "reduceOnly": True, "tif": "Alo", "cloid": CLOID}
    partial = parse_open_order(frontend)
    assert partial.status is OrderStatus.PARTIALLY_FILLED
    assert (partial.size, partial.remaining, partial.filled) == (
        Decimal(2),
        Decimal("0.5"),
        Decimal("1.5"),
    )
    assert partial.reduce_only and partial.tif is Tif.ALO and partial.client_id == CLOID
    assert parse_open_order(OPEN | {"tif": None}).tif is Tif.GTC


def status_answer(status: str, **extra: object) -> dict:
    order = OPEN | {"origSz": "0.5"} | extra
    return {"status": "order", "order": {"order": order, "status": status, "statusTimestamp": 1}}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("open", OrderStatus.OPEN),
        ("filled", OrderStatus.FILLED),
        ("canceled", OrderStatus.CANCELED),
        ("scheduledCancel", OrderStatus.CANCELED),
        ("marginCanceled", OrderStatus.CANCELED),
        ("reduceOnlyCanceled", OrderStatus.CANCELED),
        ("selfTradeCanceled", OrderStatus.CANCELED),
        ("rejected", OrderStatus.REJECTED),
        ("tickRejected", OrderStatus.REJECTED),
        ("perpMarginRejected", OrderStatus.REJECTED),
        ("somethingNew", OrderStatus.UNKNOWN),
    ],
)
def test_order_status_mapping(status: str, expected: OrderStatus) -> None:
    order = parse_order_status(status_answer(status))
    assert order is not None and order.status is expected


def test_order_status_filled_and_unknown() -> None:
    filled = parse_order_status(status_answer("filled", sz="0.0"))
    assert filled is not None and filled.remaining == 0 and filled.filled == Decimal("0.5")
    assert parse_order_status({"status": "unknownOid"}) is None
    with pytest.raises(WireError, match="'status'"):
        parse_order_status({"status": "nope"})
    with pytest.raises(WireError, match="'limitPx'"):
        parse_order_status(status_answer("open", limitPx=[1]))


def test_parse_position() -> None:
    short = {"type": "oneWay", "position": {"coin": "BTC", "szi": "-0.25", "entryPx": "64000.1"}}
    pos = parse_position(short)
    assert (pos.coin, pos.size, pos.entry_price) == ("BTC", Decimal("-0.25"), Decimal("64000.1"))
    flat = parse_position({"position": {"coin": "ETH", "szi": "0", "entryPx": None}})
    assert flat.size == 0 and flat.entry_price == 0
    with pytest.raises(WireError, match="'entryPx'"):
        parse_position({"position": {"coin": "ETH", "szi": "1", "entryPx": None}})
    with pytest.raises(WireError, match="'position'"):
        parse_position({"type": "oneWay"})


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["status", "response", "data", "statuses", "order", "oid", "px", "sz"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(JSON)
def test_parsers_never_leak_anything_but_exchange_errors(junk: object) -> None:
    for parse in (
        parse_order_statuses,
        parse_cancel_statuses,
        lambda d: parse_fill(d, "hl"),
        parse_open_order,
        parse_order_status,
        parse_position,
        check_default_response,
    ):
        try:
            parse(junk)
        except ExchangeError:
            pass
