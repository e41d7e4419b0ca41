"""Funding files: Hyperliquid's fundingHistory JSON and a CSV, exact rates, one-line errors."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from gridtui.exchanges.sim import FundingFileError, FundingRate, load_funding

HOUR = 3_600_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
TIME_RULE = "expected ISO-8601 such as 2024-01-01T00:00:00Z, or epoch seconds or milliseconds"
EXPECTED = (
    "expected Hyperliquid's fundingHistory JSON, or a CSV with a header naming time, "
    "fundingRate and optionally premium"
)


def write(tmp_path: Path, text: str, name: str = "funding.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error(path: Path) -> str:
    with pytest.raises(FundingFileError) as caught:
        load_funding(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def record(time: int, rate: object = "0.0000125", premium: object = "-0.0003", coin="ETH"):
    return {"coin": coin, "fundingRate": rate, "premium": premium, "time": time}


def as_json(tmp_path: Path, records: list[object]) -> Path:
    return write(tmp_path, json.dumps(records))


# -- layouts ---------------------------------------------------------------------------------


def test_hyperliquid_funding_history_as_returned(tmp_path):
    path = write(
        tmp_path,
        '[{"coin":"ETH","fundingRate":"-0.00022196","premium":"-0.00052196",'
        '"time":1683849600076},\n'
        '{"coin":"ETH","fundingRate":"0.0000125","premium":"0.00030000","time":1683853200050}]',
    )
    assert load_funding(path) == (
        FundingRate(1_683_849_600_076, D("-0.00022196"), D("-0.00052196")),
        FundingRate(1_683_853_200_050, D("0.0000125"), D("0.00030000")),
    )
    assert str(load_funding(path)[1].premium) == "0.00030000"


def test_json_numbers_keep_their_exact_text_and_premium_is_optional(tmp_path):
    path = write(
        tmp_path,
        f'[{{"time": {T0}, "fundingRate": 0.10000000000000000001}}, {{"time": {T0 + HOUR}, '
        + ('"fundingRate": 1.25e-5, "premium": null}]'),
    )
    assert load_funding(path) == (
        FundingRate(T0, D("0.10000000000000000001"), None),
        FundingRate(T0 + HOUR, D("0.0000125"), None),
    )


def test_a_csv_with_iso_times(tmp_path):
    path = write(
        tmp_path,
        "time,fundingRate,premium\n"
        "2024-01-01T00:00:00Z,0.0000125,0.0001\n"
        "2024-01-01 01:00:00,-0.00001,\n",
        "funding.csv",
    )
    assert load_funding(path) == (
        FundingRate(T0, D("0.0000125"), D("0.0001")),
        FundingRate(T0 + HOUR, D("-0.00001"), None),
    )


@pytest.mark.parametrize(
    ("header", "row"),
    [
        ("Time;FundingRate", f"{T0 // 1000};0.00001"),
        ("timestamp\tfunding_rate\tcoin", f"{T0}\t0.00001\tBTC"),
        ("premium,rate,date", f"0.5,0.00001,{T0}"),
    ],
)
def test_csv_headers_in_any_case_order_and_separator(tmp_path, header, row):
    path = write(tmp_path, f"{header}\n{row}\n", "funding.csv")
    (rate,) = load_funding(path)
    assert (rate.time_ms, rate.rate) == (T0, D("0.00001"))


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        (
            [record(T0), record(T0 + HOUR), record(T0 + HOUR), record(T0 + HOUR)],
            "2 duplicate funding records, first at entry 3 (same time as entry 2)",
        ),
        (
            [record(T0 + HOUR), record(T0)],
            "1 funding record out of order at entry 2 (earlier than entry 1)",
        ),
        (
            [record(T0, rate="high"), record(T0 + HOUR, rate=True), record(T0 + 2 * HOUR)],
            "2 records with a non-numeric rate, first at entry 1 (fundingRate 'high')",
        ),
        (
            [record(T0, premium="NaN")],
            "1 record with a non-numeric premium at entry 1 (premium 'NaN')",
        ),
        (
            [record(T0), record("noon")],
            f"1 record with an unparseable time at entry 2 ('noon'; {TIME_RULE})",
        ),
        (
            [record(T0), record((T0 + HOUR) // 1000)],
            "1 record whose time is in another format than the first at entry 2 "
            "('1704070800' is epoch seconds, the first time epoch milliseconds)",
        ),
        (
            [record(T0), {"coin": "ETH", "time": T0 + HOUR}, [1, 2]],
            "2 entries that are not funding records, first at entry 2 (expected an object "
            "with time and fundingRate)",
        ),
        (
            [record(T0), record(T0 + HOUR, coin="BTC")],
            "1 record of another coin at entry 2 (BTC, the first is ETH)",
        ),
    ],
)
def test_each_json_problem_is_one_line_with_its_count_and_first_entry(tmp_path, records, problem):
    path = as_json(tmp_path, records)
    assert error(path) == f"{path}: {problem}"


@pytest.mark.parametrize(
    ("rows", "problem"),
    [
        (
            ["2024-01-01T00:00:00Z,0.1", "2024-01-01T00:00:00Z,0.1", "2024-01-01T00:00:00Z,0.1"],
            "2 duplicate funding records, first at line 3 (same time as line 2)",
        ),
        (
            ["2024-01-01T01:00:00Z,0.1", "2024-01-01T00:00:00Z,0.1"],
            "1 funding record out of order at line 3 (earlier than line 2)",
        ),
        (
            ["2024-01-01T00:00:00Z,", "2024-01-01T01:00:00Z,n/a"],
            "2 records with a non-numeric rate, first at line 2 (fundingRate '')",
        ),
        (
            ["2024-01-01T00:00:00Z,0.1", "2024-13-01T00:00:00Z,0.1"],
            f"1 record with an unparseable time at line 3 ('2024-13-01T00:00:00Z'; {TIME_RULE})",
        ),
        (
            ["2024-01-01T00:00:00Z"],
            "1 row with too few columns at line 2 (found 1, expected at least 2 columns)",
        ),
    ],
)
def test_each_csv_problem_is_one_line_with_its_count_and_first_line(tmp_path, rows, problem):
    path = write(tmp_path, "\n".join(["time,fundingRate", *rows]) + "\n", "funding.csv")
    assert error(path) == f"{path}: {problem}"


def test_a_csv_header_without_a_rate(tmp_path):
    path = write(tmp_path, f"time,premium\n{T0},0.1\n", "funding.csv")
    assert error(path) == (
        f"{path}: the header at line 1 has no fundingRate column ({EXPECTED}; got 'time,premium')"
    )


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", f"no funding records ({EXPECTED})"),
        ("", f"no funding records ({EXPECTED})"),
        ("time,fundingRate\n", f"no funding records ({EXPECTED})"),
        (
            '[{"time": 1,]',
            f"not valid JSON (line 1, column 13: Expecting property name "
            f"enclosed in double quotes; {EXPECTED})",
        ),
        (
            '[{"time": 1}',
            f"not valid JSON (line 1, column 13: Expecting ',' delimiter; {EXPECTED})",
        ),
    ],
)
def test_empty_and_broken_files(tmp_path, text, problem):
    path = write(tmp_path, text)
    assert error(path) == f"{path}: {problem}"


def test_json_that_is_not_an_array_of_records(tmp_path):
    path = write(tmp_path, "  [1] ")
    assert error(path) == (
        f"{path}: 1 entry that is not a funding record at entry 1 (expected an object with "
        "time and fundingRate)"
    )
    path = write(tmp_path, '{"time": 1}', "object.json")
    assert error(path) == f"{path}: not a JSON array ({EXPECTED})"


def test_a_missing_file(tmp_path):
    path = tmp_path / "nope.json"
    assert error(path) == f"{path}: cannot read the funding file (No such file or directory)"
