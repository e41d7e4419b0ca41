"""The engine's side of the control socket: one supervisor, any number of cockpits.

Every cockpit gets the engine's state a few times a second (``PUSH_S``) and every event, and calls
the engine's commands (``wire.COMMANDS``) by name. A command, once started, runs to its end even
if its cockpit goes (a halt cut between marking the bot halted and canceling its orders would
leave the grid resting); ``close`` waits for commands under way. A cockpit that stops reading is
dropped once what waits for it passes ``MAX_BUFFERED``, so a stuck browser tab never slows the
bots. Only processes of the engine's own user reach the socket (``wire.socket_dir`` is private
to it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import attrs

from gridtui.config.fields import environment_references
from gridtui.config.schema import AppConfig
from gridtui.control.engine import LocalEngine
from gridtui.control.wire import (
    COMMANDS,
    Answer,
    Ask,
    EngineState,
    ErrorKind,
    Happened,
    PeerGone,
    frame,
    read_message,
)
from gridtui.core.events import Event
from gridtui.core.types import ExchangeError
from gridtui.orchestrator.view import EquityPoint
from gridtui.supervisor import ReconfigureRefused

log = logging.getLogger(__name__)

PUSH_S = 0.25
"""How often every cockpit gets the engine's state: the cockpit samples at 4 Hz."""
CLOSE_TIMEOUT_S = 5.0
"""A close waits this long at most for the cockpits' connections to end."""
HISTORY_MAX_AGE_S = 60.0
"""A bot's journal history sent to a new cockpit is at most this old (the chart goes on live)."""
MAX_BUFFERED = 16 * 1024 * 1024
"""Bytes waiting for a cockpit that does not read, past which it is dropped."""


class EngineStopping(Exception):
    """A command asked while the engine closes its socket to stop the bots."""


@attrs.define(slots=True, eq=False)
class Cockpit:
    """One attached cockpit, as the server tracks it."""

    writer: asyncio.StreamWriter
    events: list[Event] = attrs.Factory(list)
    config: AppConfig | None = None
    """The config it was last sent."""
    histories: set[str] = attrs.Factory(set)
    """The bots whose history it was sent."""
    gone: bool = False

    def send(self, message: object) -> bool:
        """Queued for the socket; False when the cockpit is gone or too far behind."""
        if self.gone or self.writer.is_closing():
            return False
        self.writer.write(frame(message))
        transport = self.writer.transport
        return transport.get_write_buffer_size() <= MAX_BUFFERED

    def let_go(self) -> None:
        """Closed at once, whatever it has not read (a suspended cockpit must not hold the
        engine's close)."""
        self.gone = True
        self.writer.transport.abort()


class ControlServer:
    """Serves ``engine`` on a Unix socket until ``close``."""

    def __init__(self, engine: LocalEngine) -> None:
        self._engine = engine
        self._cockpits: list[Cockpit] = []
        self._connections: set[asyncio.Task[None]] = set()
        """Each cockpit's reading task: a close waits for them to end."""
        self._commands: set[asyncio.Task[None]] = set()
        """Commands under way, whichever cockpit sent them: never canceled, a close waits."""
        self._closing = False
        """Set by ``close``: a command asked from then on is refused, not run beside the stop."""
        self._histories: dict[str, tuple[float, tuple[EquityPoint, ...]]] = {}
        """Each bot's history as last read from its journal, and when (monotonic seconds)."""
        self._server: asyncio.Server | None = None
        self._pusher: asyncio.Task[None] | None = None
        self._unsubscribe = engine.subscribe(self._on_event)
        self.path: Path | None = None
        self._environment: dict[str, str] = {}

    @property
    def attached(self) -> int:
        """How many cockpits are attached now."""
        return len(self._cockpits)

    async def start(self, path: Path) -> None:
        """Listen at ``path`` (in a folder only this user may enter). A socket file left there
        is a stale one: the data dir's lock says no other engine runs on it."""
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.chmod(0o700)
        path.unlink(missing_ok=True)
        self._environment = dict(os.environ)  # what the engine read its config with
        self._server = await asyncio.start_unix_server(self._serve, path=str(path))
        self.path = path
        self._pusher = asyncio.create_task(self._push_forever(), name="control-push")

    async def close(self) -> None:
        """Stop listening and let every cockpit go (each sees the engine gone)."""
        self._closing = True
        self._unsubscribe()
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        if self._server is not None:
            self._server.close()
        if self._commands:  # a halt under way ends as a halt, not half of one
            await asyncio.wait(set(self._commands), timeout=CLOSE_TIMEOUT_S)
        for cockpit in list(self._cockpits):
            self._drop(cockpit)
        if self._connections:  # each ends on its aborted socket
            await asyncio.wait(self._connections, timeout=CLOSE_TIMEOUT_S)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT_S)
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _on_event(self, event: Event) -> None:
        for cockpit in self._cockpits:
            cockpit.events.append(event)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        cockpit = Cockpit(writer)
        self._cockpits.append(cockpit)
        connection = asyncio.current_task()
        if connection is not None:
            self._connections.add(connection)
            connection.add_done_callback(self._connections.discard)
        log.info("a cockpit attached (%d now)", len(self._cockpits))
        try:
            self._push(cockpit, self._base_state())
            while True:
                message = await read_message(reader)
                if not isinstance(message, Ask):
                    raise PeerGone(f"not a command: {type(message).__name__}")
                task = asyncio.create_task(self._answer(cockpit, message))
                self._commands.add(task)
                task.add_done_callback(self._commands.discard)
        except PeerGone as exc:
            log.info("a cockpit detached (%s)", exc)
        finally:
            self._drop(cockpit)

    def _drop(self, cockpit: Cockpit) -> None:
        if cockpit in self._cockpits:
            self._cockpits.remove(cockpit)
        cockpit.let_go()

    async def _answer(self, cockpit: Cockpit, ask: Ask) -> None:
        """Run the command to its end; the cockpit, if still there, gets the state it left,
        then the answer (an error's kind tells the cockpit what it was)."""
        try:
            if self._closing:
                raise EngineStopping("the engine is stopping: no command runs now")
            if ask.command not in COMMANDS:
                raise ValueError(f"no such command: {ask.command}")
            method = getattr(self._engine, ask.command)
            answer = Answer(ask.id, value=await method(*ask.args, **ask.kwargs))
        except ReconfigureRefused as exc:
            answer = Answer(ask.id, error=str(exc), kind=ErrorKind.REFUSED)
        except ExchangeError as exc:
            answer = Answer(ask.id, error=str(exc), kind=ErrorKind.VENUE)
        except Exception as exc:
            answer = Answer(ask.id, error=str(exc) or type(exc).__name__, kind=ErrorKind.FAILED)
        if cockpit.gone:
            if answer.error is not None:  # nobody is left to show it: the log must
                log.error("%s %s, asked by a cockpit since gone, failed: %s",
                          ask.command, ask.args[:1], answer.error)  # fmt: skip
            return
        try:
            self._push(cockpit, self._base_state())
        except Exception:
            log.exception("the engine's state could not be sent to a cockpit")
        if not cockpit.send(answer):
            self._drop(cockpit)

    async def _push_forever(self) -> None:
        """Never ends on an error: a cockpit without news would show a stale engine as live."""
        while True:
            await asyncio.sleep(PUSH_S)
            if not self._cockpits:
                continue
            try:
                state = self._base_state()
                for cockpit in list(self._cockpits):
                    self._push(cockpit, state)
            except Exception:
                log.exception("the engine's state could not be sent to the cockpits")

    def _base_state(self) -> EngineState:
        engine = self._engine
        names = engine.names
        running = frozenset(name for name in names if engine.is_running(name))
        metas = {name: meta for name in running if (meta := engine.meta_of(name)) is not None}
        return EngineState(
            now_ms=engine.now_ms(),
            names=names,
            running=running,
            views=tuple(engine.views()),
            account=engine.account(),
            metas=metas,
            stop_progress=engine.stop_progress(),
            streamed=None if (coins := engine.supervisor.streamed) is None else frozenset(coins),
        )

    def _push(self, cockpit: Cockpit, state: EngineState) -> None:
        """The events since the last push, then the state (with what this cockpit lacks)."""
        config = self._engine.config
        new = state.running - cockpit.histories
        changed = config is not cockpit.config
        state = attrs.evolve(
            state,
            config=config if changed else None,
            environment=_environment_of(config, self._environment) if changed else {},
            histories={name: self._history(name) for name in new},
        )
        cockpit.config = config
        cockpit.histories |= new
        sent = True
        if cockpit.events:
            sent = cockpit.send(Happened(tuple(cockpit.events)))
            cockpit.events.clear()
        if not (sent and cockpit.send(state)):
            log.warning("a cockpit fell behind by over %d bytes: dropped", MAX_BUFFERED)
            self._drop(cockpit)

    def _history(self, name: str) -> tuple[EquityPoint, ...]:
        """The bot's journal history, read at most once per ``HISTORY_MAX_AGE_S`` however many
        cockpits attach (a page reloaded in a loop must not replay journals on the bots' loop)."""
        now = time.monotonic()
        cached = self._histories.get(name)
        if cached is None or now - cached[0] > HISTORY_MAX_AGE_S:
            cached = self._histories[name] = (now, tuple(self._engine.history(name)))
        return cached[1]


def _environment_of(config: AppConfig, environment: Mapping[str, str]) -> dict[str, str]:
    """The engine's values of the variables its config file names (none if it cannot be read:
    an edit then says what is missing, as check-config would)."""
    if config.source is None:
        return {}
    try:
        text = config.source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    names = environment_references(text)
    return {name: value for name, value in environment.items() if name in names}
