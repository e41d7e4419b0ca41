"""A cockpit's engine when the bots run in a ``gridtui serve`` process: reads answer from the
newest state the server pushed, commands go over the control socket and wait for their answer.

The bots outlive this cockpit (``owns_bots`` is False): closing it only lets go of the socket.
When the engine goes away, ``lost`` is set and every command still waiting fails with
``EngineLost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from gridtui.config.schema import AppConfig
from gridtui.control.engine import EditApplied, Unsubscribe, tradable
from gridtui.control.wire import (
    Answer,
    Ask,
    EngineState,
    ErrorKind,
    Happened,
    PeerGone,
    frame,
    read_message,
)
from gridtui.core.account import AccountSummary
from gridtui.core.events import Event
from gridtui.core.types import AssetMeta, ExchangeError
from gridtui.execution.position_closer import CloseResult
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.orchestrator.view import BotView, EquityPoint
from gridtui.supervisor import ReconfigureRefused, Runner, ShutdownReport

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
"""The engine answers a new cockpit with its state at once; this long at most."""


class EngineLost(Exception):
    """The engine closed the control socket (it stopped, or dropped this cockpit)."""


class RemoteCommandFailed(Exception):
    """The engine ran the command and it failed; the message is the engine's."""


class NoEngine(Exception):
    """Nothing serves at the control socket's path."""


class RemoteEngine:
    """The engine of a ``gridtui serve`` process, reached at ``path``."""

    owns_bots = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lost = asyncio.Event()
        """Set when the engine went away."""
        self._state: EngineState | None = None
        self._state_at = 0.0
        self._config: AppConfig | None = None
        self._histories: dict[str, tuple[EquityPoint, ...]] = {}
        self._subscribers: tuple[Callable[[Event], None], ...] = ()
        self._waiting: dict[int, asyncio.Future[Answer]] = {}
        self._ids = itertools.count(1)
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self._closing = False

    async def connect(self) -> None:
        """Attach: the first state arrives before this returns. ``NoEngine`` if nothing
        listens at the path."""
        try:
            reader, self._writer = await asyncio.wait_for(
                asyncio.open_unix_connection(str(self.path)), CONNECT_TIMEOUT_S
            )
            first = await asyncio.wait_for(read_message(reader), CONNECT_TIMEOUT_S)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise NoEngine(
                f"no engine serves at {self.path}: start one with `gridtui serve` on this "
                "config first"
            ) from exc
        except (OSError, TimeoutError, PeerGone) as exc:
            self._close_writer()
            raise NoEngine(f"the engine at {self.path} did not answer ({exc})") from exc
        if not isinstance(first, EngineState) or first.config is None:
            self._close_writer()
            raise NoEngine(f"{self.path} is not a gridtui engine's control socket")
        self._take(first)
        self._reader_task = asyncio.create_task(self._read(reader), name="control-read")

    def _close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def _read(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                message = await read_message(reader)
                if isinstance(message, EngineState):
                    self._take(message)
                elif isinstance(message, Happened):
                    for event in message.events:
                        for callback in self._subscribers:
                            callback(event)
                elif isinstance(message, Answer):
                    waiting = self._waiting.pop(message.id, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(message)
        except PeerGone as exc:
            if not self._closing:
                log.warning("the engine at %s went away (%s)", self.path, exc)
        finally:
            self.lost.set()
            for waiting in self._waiting.values():
                if not waiting.done():
                    waiting.set_exception(EngineLost(f"the engine at {self.path} went away"))
            self._waiting.clear()

    def _take(self, state: EngineState) -> None:
        if state.config is not None:
            self._config = state.config
            # An edit's draft is read here as the engine read its file: with its ${NAME}s.
            os.environ.update(state.environment)
        self._histories.update(state.histories)
        self._state = state
        self._state_at = time.monotonic()

    @property
    def _now(self) -> EngineState:
        assert self._state is not None, "connect() first"
        return self._state

    # ---- reads -------------------------------------------------------------------------------

    @property
    def config(self) -> AppConfig:
        assert self._config is not None, "connect() first"
        return self._config

    @property
    def names(self) -> tuple[str, ...]:
        return self._now.names

    def views(self) -> Sequence[BotView]:
        return self._now.views

    def is_running(self, name: str) -> bool:
        return name in self._now.running and not self.lost.is_set()

    def history(self, name: str) -> Sequence[EquityPoint]:
        return self._histories.get(name, ())

    def account(self) -> AccountSummary | None:
        return self._now.account

    def now_ms(self) -> int:
        """The engine's clock at its last state, moved on by the time since it arrived."""
        return self._now.now_ms + int((time.monotonic() - self._state_at) * 1000)

    def subscribe(self, callback: Callable[[Event], None]) -> Unsubscribe:
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._subscribers = tuple(c for c in self._subscribers if c is not callback)

        return unsubscribe

    def meta_of(self, name: str) -> AssetMeta | None:
        return self._now.metas.get(name)

    def stop_progress(self) -> str:
        return self._now.stop_progress

    def tradable(self, coins: set[str]) -> set[str]:
        return tradable(self._now.streamed, coins)

    # ---- lifetime ----------------------------------------------------------------------------

    async def start(self, runner: Runner) -> None:
        """Attached already (``connect``): the bots run in the engine's process."""

    async def stop(self) -> ShutdownReport | None:
        """Let go of the engine; its bots go on. None: nothing was stopped."""
        self._closing = True
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            self._reader_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader_task
        return None

    # ---- commands ----------------------------------------------------------------------------

    async def _call(self, command: str, *args: Any, **kwargs: Any) -> Any:
        if self.lost.is_set() or self._writer is None:
            raise EngineLost(f"the engine at {self.path} went away")
        ask = Ask(next(self._ids), command, args, kwargs)
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._waiting[ask.id] = answer
        self._writer.write(frame(ask))
        reply = await answer
        if reply.error is None:
            return reply.value
        if reply.kind is ErrorKind.REFUSED:
            raise ReconfigureRefused(reply.error)
        if reply.kind is ErrorKind.VENUE:
            raise ExchangeError(reply.error)
        raise RemoteCommandFailed(reply.error)

    async def halt(self, name: str, reason: str) -> None:
        await self._call("halt", name, reason)

    async def resume(self, name: str, *, lift_daily_loss: bool = False) -> None:
        await self._call("resume", name, lift_daily_loss=lift_daily_loss)

    async def flatten(self, name: str) -> CloseResult:
        result: CloseResult = await self._call("flatten", name)
        return result

    async def reconcile(self, name: str) -> ReconcileReport:
        report: ReconcileReport = await self._call("reconcile", name)
        return report

    async def cancel_all(self, name: str) -> int:
        canceled: int = await self._call("cancel_all", name)
        return canceled

    async def mids(self) -> dict[str, Decimal]:
        mids: dict[str, Decimal] = await self._call("mids")
        return mids

    async def asset_meta(self, coin: str) -> AssetMeta:
        meta: AssetMeta = await self._call("asset_meta", coin)
        return meta

    async def apply_edit(
        self, config: AppConfig, text: str, *, based_on: AppConfig, file_was: str
    ) -> EditApplied:
        applied: EditApplied = await self._call(
            "apply_edit", config, text, based_on=based_on, file_was=file_was
        )
        return applied
