"""The control socket's messages and framing: what a ``gridtui serve`` engine and the cockpits
attached to it say to each other.

A frame is a 4-byte big-endian length and a pickle of one message. Pickle, because both ends are
this same program and the messages are its own value types (views, events, the config, command
results), which would otherwise each need a second wire format kept in step; and it is safe here
because the socket lives in a folder only the engine's user can enter (``socket_dir``): whoever
can write to it can already run code as that user.
"""

from __future__ import annotations

import asyncio
import enum
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from gridtui.config.schema import AppConfig
from gridtui.core.account import AccountSummary
from gridtui.core.events import Event
from gridtui.core.types import AssetMeta
from gridtui.orchestrator.view import BotView, EquityPoint

MAX_FRAME = 64 * 1024 * 1024
"""A frame longer than this is a broken peer, not a message."""
SOCKET_NAME = "engine.sock"
TOKEN_ENV = "GRIDTUI_SERVE_TOKEN"
"""The token browsers must bring to ``gridtui serve`` off loopback, when the trader chooses it
(else one is made at start and printed)."""
MAX_SOCKET_PATH = 107
"""AF_UNIX paths are at most this many bytes on Linux (108 with the terminating zero)."""
COMMANDS = frozenset(
    {
        "halt",
        "resume",
        "flatten",
        "reconcile",
        "cancel_all",
        "mids",
        "asset_meta",
        "apply_edit",
    }
)
"""The engine methods a cockpit may call (gridtui.control.engine.Engine): nothing else runs."""


class SocketPathTooLong(Exception):
    """The data dir is so deep that the socket's path exceeds what AF_UNIX allows."""


def socket_dir(data_dir: Path) -> Path:
    return data_dir / "control"


def socket_path(data_dir: Path) -> Path:
    """Where the engine of this data dir listens; refused (with the fix) when too long."""
    path = socket_dir(data_dir) / SOCKET_NAME
    size = len(os.fsencode(path.absolute()))
    if size > MAX_SOCKET_PATH:
        raise SocketPathTooLong(
            f"{path.absolute()}: {size} bytes, over the {MAX_SOCKET_PATH} a control socket "
            "allows; set data_dir in the config to a shorter folder"
        )
    return path


@attrs.frozen(slots=True)
class EngineState:
    """The engine as of ``now_ms``, pushed to every cockpit a few times a second and before
    each answer (so a cockpit sees what its command did)."""

    now_ms: int
    names: tuple[str, ...]
    running: frozenset[str]
    views: tuple[BotView, ...]
    account: AccountSummary | None
    metas: Mapping[str, AssetMeta]
    stop_progress: str
    streamed: frozenset[str] | None
    """The coins the engine's venue client streams (None: any market)."""
    config: AppConfig | None = None
    """The config, when it changed since the last state this cockpit got (and in the first)."""
    environment: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """With a config: the engine's values of the variables its file names as ``${NAME}`` (alert
    tokens), so the cockpit reads an edited file as the engine does. No more than the config
    itself holds: the engine has already put them into its alert URLs."""
    histories: Mapping[str, tuple[EquityPoint, ...]] = attrs.field(factory=dict)
    """Each bot's realized-PnL history, in the first state that shows it running."""


@attrs.frozen(slots=True)
class Happened:
    """Engine events, in the order the bus published them."""

    events: tuple[Event, ...]


@attrs.frozen(slots=True)
class Ask:
    """A cockpit calls an engine command."""

    id: int
    command: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)


class ErrorKind(enum.StrEnum):
    """What a failed command's error was, so the cockpit handles it as it would in-process."""

    REFUSED = "refused"
    """The supervisor refused a reconfigure (``ReconfigureRefused``)."""
    VENUE = "venue"
    """The venue failed the call (``ExchangeError``)."""
    FAILED = "failed"
    """Anything else (a bot not running, …)."""


@attrs.frozen(slots=True)
class Answer:
    """The command's result, or why it failed."""

    id: int
    value: Any = None
    error: str | None = None
    kind: ErrorKind = ErrorKind.FAILED


class PeerGone(Exception):
    """The other end closed the socket, or sent something that is not a frame."""


async def read_message(reader: asyncio.StreamReader) -> object:
    try:
        head = await reader.readexactly(4)
        size = int.from_bytes(head, "big")
        if size > MAX_FRAME:
            raise PeerGone(f"a frame of {size} bytes")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise PeerGone("closed") from exc
    try:
        return pickle.loads(body)
    except Exception as exc:  # whatever a garbled pickle raises, it is no message of ours
        raise PeerGone(f"an unreadable frame ({type(exc).__name__}: {exc})") from exc


def frame(message: object) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(body).to_bytes(4, "big") + body
