"""One engine, many cockpits: the control socket (gridtui.control) between a supervisor and the
cockpits attached to it, alone and under the real app."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import attrs
import pytest
from cockpit import COCKPIT_CONFIG, FIXED_MS, FrozenClock, cockpit_config, wait_for
from config_kit import write_paper_config

from gridtui.cli import main
from gridtui.config.loader import load_config
from gridtui.config.schema import AppConfig
from gridtui.control.engine import LocalEngine
from gridtui.control.remote import (
    EngineLost,
    NoEngine,
    RemoteCommandFailed,
    RemoteEngine,
)
from gridtui.control.server import PUSH_S, ControlServer
from gridtui.control.wire import Answer, Ask, SocketPathTooLong, frame, read_message, socket_path
from gridtui.core.events import BotHalted, Event
from gridtui.core.types import ExchangeError
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.orchestrator.bot_orchestrator import BotOrchestrator
from gridtui.orchestrator.settings_draft import running_drift
from gridtui.orchestrator.view import BotView
from gridtui.supervisor import Reconfigured, ReconfigureRefused, Supervisor
from gridtui.tui.app import GridApp
from gridtui.tui.page_driver import EXIT_GRACE_S as PAGE_EXIT_GRACE_S


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A data dir with a short path: AF_UNIX allows 107 bytes, pytest's tmp paths run long."""
    with tempfile.TemporaryDirectory(prefix="gt-", dir="/tmp") as folder:
        yield Path(folder)


@attrs.define
class Served:
    supervisor: Supervisor
    server: ControlServer
    path: Path


@pytest.fixture
async def served(short_dir: Path) -> AsyncIterator[Served]:
    """Two paper bots quoting a grid, their engine listening on its control socket."""
    config = cockpit_config(short_dir)
    clock = FrozenClock(FIXED_MS)
    supervisor = Supervisor(
        config, clock=clock, exchange=SimExchange.in_memory(config.venue.paper, clock)
    )
    await supervisor.start()
    names = list(supervisor.slots)
    await wait_for(lambda: len(supervisor.bots_running()) == len(names), "both bots up")
    supervisor.exchange.step()  # type: ignore[attr-defined]
    await wait_for(lambda: all(b.c.feed.mid is not None for b in supervisor.bots_running()), "mids")
    for bot in supervisor.bots_running():
        await bot.cycle()
    server = ControlServer(LocalEngine(supervisor))
    path = socket_path(config.data_dir)
    await server.start(path)
    yield Served(supervisor, server, path)
    await server.close()
    await supervisor.stop()


async def attached(path: Path) -> RemoteEngine:
    engine = RemoteEngine(path)
    await engine.connect()
    return engine


async def test_two_cockpits_see_one_engine_and_each_sees_what_the_other_did(
    served: Served,
) -> None:
    first, second = await attached(served.path), await attached(served.path)
    assert served.server.attached == 2
    assert first.names == second.names == ("btc", "eth")
    assert first.config.bots == served.supervisor.config.bots
    assert [v.open_orders for v in first.views()] == [
        v.open_orders for v in served.supervisor.views()
    ]
    assert all(v.open_orders > 0 for v in first.views())
    assert first.meta_of("btc") == served.supervisor.running("btc").c.strategy.meta  # type: ignore[union-attr]
    seen: list[Event] = []
    second.subscribe(seen.append)

    await first.halt("btc", "halted from the first cockpit")

    btc = served.supervisor.running("btc")
    assert btc is not None and btc.c.state.get_snapshot().halted
    assert btc.c.ledger.live_count() == 0
    halted = next(v for v in first.views() if v.name == "btc")  # fresh before the answer
    assert halted.risk is not None and halted.risk.halted and halted.open_orders == 0
    await wait_for(
        lambda: any(isinstance(e, BotHalted) and e.bot == "btc" for e in seen),
        "the halt's event at the second cockpit",
    )
    await wait_for(
        lambda: next(v for v in second.views() if v.name == "btc").open_orders == 0,
        "the second cockpit's view of the halted bot",
    )
    assert next(v for v in second.views() if v.name == "eth").open_orders > 0
    await first.stop()
    await second.stop()


async def test_commands_answer_with_the_engines_results_and_errors(served: Served) -> None:
    remote = await attached(served.path)
    assert await remote.cancel_all("eth") > 0
    report = await remote.reconcile("eth")
    assert report.error is None
    mids = await remote.mids()
    assert set(mids) >= {"BTC", "ETH"}
    assert (await remote.asset_meta("BTC")).coin == "BTC"
    with pytest.raises(RemoteCommandFailed, match="nobody is not running"):
        await remote.halt("nobody", "no such bot")
    other_venue = attrs.evolve(
        served.supervisor.config,
        venue=attrs.evolve(served.supervisor.config.venue, network="mainnet"),
    )
    with pytest.raises(ReconfigureRefused):
        await remote.apply_edit(other_venue, "", based_on=remote.config, file_was="")
    with pytest.raises(ExchangeError, match="unknown coin 'NOPE' on the paper venue"):
        await remote.asset_meta("NOPE")  # the venue's error, as it would be in-process
    await remote.stop()


async def test_an_edit_applies_once_and_a_stale_one_from_another_cockpit_is_refused(
    served: Served,
) -> None:
    first, second = await attached(served.path), await attached(served.path)
    base = first.config
    source = base.source
    assert source is not None
    fewer = attrs.evolve(base.bots[1], enabled=False)
    edited = attrs.evolve(base, bots=(base.bots[0], fewer))
    was = source.read_text(encoding="utf-8")
    text = was + "\n# edited\n"
    applied = await first.apply_edit(edited, text, based_on=base, file_was=was)
    assert applied.done.retired == ("eth",) and applied.unwritten is None
    assert source.read_text(encoding="utf-8") == text
    await wait_for(lambda: second.config == edited, "the edit reaching the other cockpit")
    # The second cockpit's edit began before the first one was applied: it would undo it.
    with pytest.raises(ReconfigureRefused, match="another cockpit applied an edit"):
        await second.apply_edit(base, "stale", based_on=base, file_was=was)
    assert served.supervisor.running("eth") is None
    assert source.read_text(encoding="utf-8") == text
    await first.stop()
    await second.stop()


async def test_a_hand_edit_made_while_an_edit_applies_is_never_written_over(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = await attached(served.path)
    base = remote.config
    source = base.source
    assert source is not None
    was = source.read_text(encoding="utf-8")
    reconfigure = served.supervisor.reconfigure

    async def edited_by_hand_meanwhile(config: AppConfig) -> Reconfigured:
        source.write_text(was + "# by hand\n", encoding="utf-8")
        return await reconfigure(config)

    monkeypatch.setattr(served.supervisor, "reconfigure", edited_by_hand_meanwhile)
    fewer = attrs.evolve(base, bots=(base.bots[0], attrs.evolve(base.bots[1], enabled=False)))
    applied = await remote.apply_edit(fewer, "the edit", based_on=base, file_was=was)
    assert applied.done.retired == ("eth",)
    assert applied.unwritten == f"{source} was changed by hand meanwhile"
    assert source.read_text(encoding="utf-8") == was + "# by hand\n"
    await remote.stop()


def slow_cancels(
    bot: BotOrchestrator, monkeypatch: pytest.MonkeyPatch, *, seconds: float
) -> asyncio.Event:
    """The bot's cancels start ``seconds`` late; the event says one has begun."""
    cancel_all = bot.c.gateway.cancel_all
    started = asyncio.Event()

    async def slow_cancel_all(*args: object, **kwargs: object) -> object:
        started.set()
        await asyncio.sleep(seconds)
        return await cancel_all(*args, **kwargs)

    monkeypatch.setattr(bot.c.gateway, "cancel_all", slow_cancel_all)
    return started


async def test_a_command_asked_while_the_engine_closes_is_refused_not_run(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    btc = served.supervisor.running("btc")
    assert btc is not None
    started = slow_cancels(btc, monkeypatch, seconds=0.5)
    remote = await attached(served.path)
    halting = asyncio.create_task(remote.halt("btc", "asked before the close"))
    await asyncio.wait_for(started.wait(), 5)
    closing = asyncio.create_task(served.server.close())
    await asyncio.sleep(0.05)
    with pytest.raises(RemoteCommandFailed, match="the engine is stopping"):
        await remote.halt("eth", "asked during the close")
    await closing
    await asyncio.gather(halting, return_exceptions=True)  # answered, or the socket went first
    assert btc.c.state.get_snapshot().halted and btc.c.ledger.live_count() == 0
    eth = served.supervisor.running("eth")
    assert eth is not None and not eth.c.state.get_snapshot().halted


async def test_a_command_runs_to_its_end_when_its_cockpit_goes_mid_way(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    btc = served.supervisor.running("btc")
    assert btc is not None and btc.c.ledger.live_count() > 0
    started = slow_cancels(btc, monkeypatch, seconds=0.3)
    remote = await attached(served.path)
    halting = asyncio.create_task(remote.halt("btc", "halted, then the page closed"))
    await asyncio.wait_for(started.wait(), 5)
    await remote.stop()  # the page closes while the orders are being canceled
    with pytest.raises(EngineLost):
        await halting
    await wait_for(lambda: btc.c.ledger.live_count() == 0, "the halt's cancels to finish")
    assert btc.c.state.get_snapshot().halted


async def test_a_command_that_fails_after_its_cockpit_left_is_logged(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    btc = served.supervisor.running("btc")
    assert btc is not None
    started = asyncio.Event()

    async def failing_cancel_all(*args: object, **kwargs: object) -> object:
        started.set()
        await asyncio.sleep(0.2)
        raise ExchangeError("venue down")

    monkeypatch.setattr(btc.c.gateway, "cancel_all", failing_cancel_all)
    remote = await attached(served.path)
    halting = asyncio.create_task(remote.halt("btc", "then the page closed"))
    await asyncio.wait_for(started.wait(), 5)
    await remote.stop()
    with pytest.raises(EngineLost):
        await halting
    await wait_for(
        lambda: any("asked by a cockpit since gone, failed" in r.message for r in caplog.records),
        "the failure in the log",
    )
    assert any("venue down" in r.message and "halt" in r.message for r in caplog.records)


async def test_state_keeps_coming_after_a_push_fails(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = await attached(served.path)
    views = served.supervisor.views
    failures = iter([RuntimeError("a bug in a view")])

    def views_once_broken() -> list[BotView]:
        for failure in failures:
            raise failure
        return views()

    monkeypatch.setattr(served.supervisor, "views", views_once_broken)
    first_at = remote.now_ms()
    await asyncio.sleep(PUSH_S * 3)
    before = remote._now  # the state as the cockpit holds it
    await wait_for(lambda: remote._now is not before, "a state pushed after the failure")
    assert remote.now_ms() >= first_at
    await remote.halt("btc", "still answered")
    await remote.stop()


async def test_a_frame_that_is_not_a_known_command_runs_nothing(served: Served) -> None:
    reader, writer = await asyncio.open_unix_connection(str(served.path))
    writer.write(frame(Ask(1, "stop")))  # the engine's stop is no cockpit's command
    message = await read_message(reader)
    while not isinstance(message, Answer):
        message = await read_message(reader)
    assert message == Answer(1, error="no such command: stop")
    writer.write(frame("not an Ask"))
    await wait_for(lambda: served.server.attached == 0, "the stranger dropped")
    assert len(served.supervisor.bots_running()) == 2
    writer.close()


async def test_when_the_engine_goes_away_commands_fail_and_lost_is_set(served: Served) -> None:
    remote = await attached(served.path)
    await served.server.close()
    await asyncio.wait_for(remote.lost.wait(), 5)
    assert not remote.is_running("btc")
    with pytest.raises(EngineLost):
        await remote.halt("btc", "too late")


async def test_nothing_listening_is_one_clear_error(short_dir: Path) -> None:
    with pytest.raises(NoEngine, match="start one with `gridtui serve`"):
        await RemoteEngine(short_dir / "control" / "engine.sock").connect()


def test_a_data_dir_too_deep_for_a_socket_is_refused_with_the_fix(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    with pytest.raises(SocketPathTooLong, match="set data_dir in the config to a shorter"):
        socket_path(deep)


async def test_the_cockpit_steers_the_served_engine_and_q_leaves_its_bots_running(
    served: Served,
) -> None:
    remote = await attached(served.path)
    app = GridApp(remote, refresh_hz=0)
    async with app.run_test(size=(160, 48)) as pilot:
        app.refresh_views()
        await pilot.pause()
        assert [v.name for v in app.views] == ["btc", "eth"]
        await pilot.press("tab", "h")  # eth selected, then halted: in the engine
        eth = served.supervisor.running("eth")
        assert eth is not None
        await wait_for(lambda: eth.c.state.get_snapshot().halted, "eth halted in the engine")
        btc = served.supervisor.running("btc")
        assert btc is not None and not btc.c.state.get_snapshot().halted
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0
    await remote.stop()
    assert len(served.supervisor.bots_running()) == 2  # q closed the view, not the bots
    assert served.server.attached in (0, 1)
    await wait_for(lambda: served.server.attached == 0, "the cockpit detached")


def test_attach_without_an_engine_is_one_line_and_exit_1(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_paper_config(short_dir / "config.toml")
    assert main(["--config", str(config), "attach"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"gridtui: no engine serves at {short_dir}/data/control/engine.sock: start one with "
        "`gridtui serve` on this config first"
    ]


def test_serve_on_a_port_in_use_is_one_line_and_no_bot_starts(
    short_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_paper_config(short_dir / "config.toml")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["--config", str(config), "serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == (
        f"gridtui: serve --host 127.0.0.1 --port {port}: is already in use (choose another "
        "--port or --host, or stop the process using it)"
    )
    assert "bot_started" not in err
    assert "shutdown_complete" not in err  # nothing had started: nothing to stop, no venue call


def test_serve_on_a_data_dir_too_deep_for_its_socket_refuses_before_starting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_paper_config(tmp_path / ("d" * 110) / "config.toml")
    assert main(["--config", str(config), "serve", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert "set data_dir in the config to a shorter folder" in err.strip().splitlines()[-1]
    assert "bot_started" not in err
    assert not (config.parent / "data" / "control").exists()


def meta(message: dict[str, object]) -> bytes:
    """A textual-serve meta packet, as the server writes it to a page's cockpit."""
    body = json.dumps(message).encode()
    return b"M" + len(body).to_bytes(4, "big") + body


async def test_a_pages_cockpit_ends_even_when_its_page_closes_as_it_starts(
    served: Served,
) -> None:
    """textual-serve's quit, sent as the app starts (a browser that closed the page at once),
    is missed by Textual; the page's driver ends the process anyway."""
    env = {
        **os.environ,
        "TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver",
        "COLUMNS": "144",
        "ROWS": "45",
    }
    cockpit = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gridtui",
        "attach",
        "--socket",
        str(served.path),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
    )
    assert cockpit.stdin is not None and cockpit.stdout is not None
    assert await asyncio.wait_for(cockpit.stdout.readline(), 30) == b"__GANGLION__\n"
    for height in (45, 50):
        cockpit.stdin.write(meta({"type": "resize", "width": 144, "height": height}))
    cockpit.stdin.write(meta({"type": "quit"}))
    await cockpit.stdin.drain()

    async def drain() -> None:
        while await cockpit.stdout.read(65536):  # type: ignore[union-attr]
            pass

    reader = asyncio.create_task(drain())
    try:
        code = await asyncio.wait_for(cockpit.wait(), PAGE_EXIT_GRACE_S + 10)
    finally:
        if cockpit.returncode is None:
            cockpit.kill()
            await cockpit.wait()
        reader.cancel()
    assert code == 0
    assert len(served.supervisor.bots_running()) == 2


async def test_a_cockpit_reads_the_config_with_the_engines_variables(
    short_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A config naming ${GT_HOOK} (an alert token): a cockpit attached from a shell without it
    still reads an edited file as the engine does."""
    path = short_dir / "config.toml"
    path.write_text(
        COCKPIT_CONFIG
        + '\n[alerts]\nurls = ["json://localhost:9/${GT_HOOK}"]\nmin_severity = "critical"\n'
        + "digest_minutes = 0\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("GT_HOOK", "engine-token")
    config = load_config(path)
    clock = FrozenClock(FIXED_MS)
    exchange = SimExchange.in_memory(config.venue.paper, clock)
    supervisor = Supervisor(config, clock=clock, exchange=exchange)
    server = ControlServer(LocalEngine(supervisor))
    await server.start(socket_path(config.data_dir))
    monkeypatch.delenv("GT_HOOK")  # the cockpit's own shell does not have it
    remote = await attached(socket_path(config.data_dir))
    try:
        assert os.environ.get("GT_HOOK") == "engine-token"
        assert running_drift(path.read_text(encoding="utf-8"), path, remote.config) is None
    finally:
        await remote.stop()
        await server.close()
        await supervisor.stop()
