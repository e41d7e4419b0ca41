"""Seeded, reproducible fault injection for the mock exchange.

A live client must survive what the real venue and the network do to it: 429 storms, 5xx
answers, actions that were executed but never answered, dropped WebSocket connections,
duplicated and reordered fill messages, slow acks. ``Faults`` decides each of these with its own
``random.Random`` stream per fault kind (seeded from ``seed`` and the kind's name), so the same seed
gives the same decisions for each kind no matter how the other kinds were exercised. Tests swap
``mock.faults`` at runtime (start a storm, stop it); ``Faults.from_spec`` reads the CLI's
``--faults "seed=7,http_429_rate=0.2"`` form.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TypeVar

import attrs

T = TypeVar("T")
HTTP_5XX = (500, 502, 503)
TIMEOUT_HOLD_S = 30.0
"""How long a timed-out-after-accept request is held (wall time) before its connection is closed
without an answer, unless the client hangs up first."""
_KINDS = ("http_429", "http_5xx", "timeout", "ws_drop", "duplicate", "reorder")


def _rate(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value <= 1:
        raise ValueError(f"{attribute.name} must lie in [0, 1], got {value}")


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value < 0:
        raise ValueError(f"{attribute.name} must not be negative, got {value}")


@attrs.define
class Faults:
    """What goes wrong, how often; ``Faults(seed)`` alone is a healthy venue."""

    seed: int = 0
    http_429_rate: float = attrs.field(default=0.0, validator=_rate)
    http_5xx_rate: float = attrs.field(default=0.0, validator=_rate)
    timeout_after_accept_rate: float = attrs.field(default=0.0, validator=_rate)
    ws_drop_rate: float = attrs.field(default=0.0, validator=_rate)
    duplicate_fill_rate: float = attrs.field(default=0.0, validator=_rate)
    reorder_fills: bool = False
    ack_delay_s: float = attrs.field(default=0.0, validator=_non_negative)
    timeout_hold_s: float = attrs.field(default=TIMEOUT_HOLD_S, validator=_non_negative)
    _rngs: dict[str, random.Random] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        self._rngs = {kind: random.Random(f"{self.seed}:{kind}") for kind in _KINDS}

    @classmethod
    def from_spec(cls, spec: str) -> Faults:
        """Parse ``"seed=7,http_429_rate=0.1,reorder_fills=true"`` (the CLI's form)."""
        fields = {a.name: a for a in attrs.fields(cls) if a.init}
        values: dict[str, int | float | bool] = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, text = item.partition("=")
            name, text = name.strip(), text.strip()
            if not sep or name not in fields:
                known = ", ".join(fields)
                raise ValueError(f"bad fault {item!r}: expected NAME=VALUE with NAME in {known}")
            try:
                if name == "seed":
                    values[name] = int(text)
                elif name == "reorder_fills":
                    values[name] = _flag(text)
                else:
                    values[name] = float(text)
            except ValueError as exc:
                raise ValueError(f"bad fault {item!r}: {exc}") from None
        return cls(**values)  # type: ignore[arg-type]

    def _hit(self, kind: str, rate: float) -> bool:
        return rate > 0 and self._rngs[kind].random() < rate

    def http_error(self) -> int | None:
        """The HTTP status to answer instead of handling this request (429 or 5xx), or None."""
        if self._hit("http_429", self.http_429_rate):
            return 429
        if self._hit("http_5xx", self.http_5xx_rate):
            return self._rngs["http_5xx"].choice(HTTP_5XX)
        return None

    def timeout_after_accept(self) -> bool:
        """Execute this action, then never answer it."""
        return self._hit("timeout", self.timeout_after_accept_rate)

    def drop_ws(self) -> bool:
        """Close the WebSocket right after the message just sent."""
        return self._hit("ws_drop", self.ws_drop_rate)

    def duplicate_fills(self) -> bool:
        """Send this fill message twice."""
        return self._hit("duplicate", self.duplicate_fill_rate)

    def arrange_fills(self, fills: Sequence[T]) -> list[T]:
        """The fills of one message in the order they go out: shuffled when reordering."""
        out = list(fills)
        if self.reorder_fills:
            self._rngs["reorder"].shuffle(out)
        return out


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean")
