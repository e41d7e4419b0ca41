"""Reading a request body so that no input can take the mock exchange down.

Python's ``json`` module parses nested arrays and objects recursively in C; a body of 100 000
opening brackets overflows the C stack and the whole process dies with SIGSEGV (no exception, so
no handler can catch it). The cure is to never hand such a text to the parser: the body size is
bounded first, then a linear scan, which does not recurse, measures how deep the brackets nest
outside string literals, and only a text within ``MAX_DEPTH`` is parsed. The real venue's
deserializer (serde_json) has the same 128-level limit.

The parse itself is as strict as a typed deserializer: bytes must be UTF-8, ``NaN`` and
``Infinity`` literals are refused, a number that overflows a float is refused, and an integer must
fit the venue's 64-bit fields (the mock would otherwise fail later, deep inside signing or the
engine). Every refusal is a ``BodyError`` carrying the HTTP status to answer with.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any, NoReturn

MAX_BODY_BYTES = 1 << 20
"""1 MiB: a 1000-order batch is about 150 kB; aiohttp's own default limit is the same."""
MAX_DEPTH = 128
MIN_INT = -(2**63)
MAX_INT = 2**64 - 1
_MAX_INT_CHARS = 21
"""Longest integer text that can lie in [MIN_INT, MAX_INT]: checked before ``int()`` so a
5000-digit number never reaches Python's own (ValueError-raising) digit limit."""

PARSE_ERROR = "Failed to parse the request body as JSON"
TOO_LARGE = "Failed to buffer the request body: length limit exceeded"

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
"""A JSON string literal, or an unterminated one running to the end of the text. Possessive, so
the scan is linear whatever the input (no backtracking on ``"\\"\\"...``)."""
_NOT_BRACKET = re.compile(r"[^\[\]{}]++")
_DELTA = {"[": 1, "{": 1, "]": -1, "}": -1}


class BodyError(ValueError):
    """A body that cannot be read; ``status`` is the HTTP status to answer (400 or 413)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def nesting_exceeds(text: str, limit: int = MAX_DEPTH) -> bool:
    """True when arrays / objects in ``text`` nest deeper than ``limit`` (brackets inside string
    literals do not count). Linear and non-recursive, so it is safe on any input.

    The parser recurses once per unclosed bracket of the prefix it has read; that count is the
    prefix sum computed here (a mismatched or unterminated construct only stops the parser
    earlier), so a text this function passes cannot make the parser recurse deeper than ``limit``.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_DELTA.__getitem__, brackets)), default=0) > limit


def _refuse_constant(name: str) -> NoReturn:
    raise BodyError(f"{PARSE_ERROR}: `{name}` is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(f"{PARSE_ERROR}: number out of range: {text[:40]}")
    return value


def _bounded_int(text: str) -> int:
    value = int(text) if len(text) <= _MAX_INT_CHARS else None
    if value is None or not MIN_INT <= value <= MAX_INT:
        raise BodyError(f"{PARSE_ERROR}: integer out of range: {text[:40]}")
    return value


def parse_json(data: bytes | str) -> Any:
    """The JSON value of a request body or WebSocket text, or ``BodyError``."""
    if len(data) > MAX_BODY_BYTES:
        raise BodyError(TOO_LARGE, status=413)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BodyError(f"{PARSE_ERROR}: the body is not UTF-8 ({exc.reason})") from None
    else:
        text = data
    if nesting_exceeds(text):
        raise BodyError(f"{PARSE_ERROR}: recursion limit exceeded (deeper than {MAX_DEPTH})")
    try:
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except BodyError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise BodyError(f"{PARSE_ERROR}: {exc}") from None
