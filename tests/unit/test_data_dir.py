"""The data directory: one process per data_dir (an OS lock that kill -9 cannot leave stale),
journals per venue identity (paper, testnet, mainnet, a mock URL never share books), and legacy
journals adopted without losing a committed row (issue 8, failure 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from decimal import Decimal as D
from pathlib import Path

import attrs
import pytest

from gridtui.config.schema import (
    AppConfig,
    BreakerSettings,
    DeadManSettings,
    EngineSettings,
    PaperPrices,
    PaperSettings,
    VenueKind,
    VenueSettings,
)
from gridtui.core.clock import SimClock
from gridtui.core.types import Fill, Side
from gridtui.state.data_dir import (
    LOCK_FILE,
    PAPER,
    DataDirError,
    DataDirLock,
    DataDirLocked,
    JournalDirMismatch,
    VenueIdentity,
    adopt_legacy_journals,
    existing_journal_dir,
    find_legacy_journals,
    journal_owner,
    journal_path,
    list_journals,
    prepare_journal_dir,
    venue_identity,
)
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store

ACCOUNT = "0xAbCdEf0123456789abcdef0123456789ABCDEF01"
REPO = Path(__file__).resolve().parents[2]


def _config(data_dir: Path, **venue: object) -> AppConfig:
    return AppConfig(
        data_dir=data_dir,
        venue=VenueSettings(**venue),  # type: ignore[arg-type]
        engine=EngineSettings(),
        breaker=BreakerSettings(),
        dead_man=DeadManSettings(),
        bots=(),
    )


# ---- the lock ------------------------------------------------------------------------------


def _hold_in_child(data_dir: Path) -> subprocess.Popen[str]:
    """A real second process that takes the lock and keeps it until killed."""
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from gridtui.state.data_dir import DataDirLock
        lock = DataDirLock(Path({str(data_dir)!r})).acquire()
        print("locked", flush=True)
        time.sleep(120)
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "locked"
    return child


def test_a_second_process_is_refused_naming_the_holder_and_kill_9_frees_the_lock(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    child = _hold_in_child(data)
    try:
        with pytest.raises(DataDirLocked) as refused:
            DataDirLock(data).acquire()
        message = str(refused.value)
        assert len(message.splitlines()) == 1
        assert f"pid {child.pid}" in message and str(data) in message
    finally:
        child.kill()  # SIGKILL: no cleanup runs in the holder
        child.wait()
    assert (data / LOCK_FILE).exists()  # the stale file is still there ...
    with DataDirLock(data) as lock:  # ... and does not block
        assert lock.held
        assert (data / LOCK_FILE).read_text().strip() == str(os.getpid())


def test_a_lock_file_left_by_a_dead_process_does_not_block(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("99999999\n")
    lock = DataDirLock(tmp_path).acquire()
    assert (tmp_path / LOCK_FILE).read_text() == f"{os.getpid()}\n"
    lock.release()


def test_the_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path).acquire()
    with pytest.raises(DataDirLocked, match=rf"pid {os.getpid()}\b"):
        DataDirLock(tmp_path).acquire()
    first.release()
    DataDirLock(tmp_path).acquire().release()


def test_an_unwritable_data_dir_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataDirError) as failed:
        DataDirLock(blocker / "data").acquire()
    assert "data_dir" in str(failed.value) and "\n" not in str(failed.value)


# ---- identities and paths ------------------------------------------------------------------


def test_paper_testnet_mainnet_and_mock_urls_never_share_a_journal(tmp_path: Path) -> None:
    live = {"kind": VenueKind.HYPERLIQUID}
    configs = {
        "paper": _config(tmp_path),
        "testnet": _config(tmp_path, **live, network="testnet"),
        "mainnet": _config(tmp_path, **live, network="mainnet"),
        "mock 3001": _config(tmp_path, **live, api_url="http://127.0.0.1:3001"),
        "mock 3002": _config(tmp_path, **live, api_url="http://127.0.0.1:3002/"),
        "paper, real prices": _config(
            tmp_path, paper=PaperSettings(prices=PaperPrices.HYPERLIQUID)
        ),
        "paper, mock prices": _config(
            tmp_path,
            paper=PaperSettings(prices=PaperPrices.HYPERLIQUID, api_url="http://127.0.0.1:3001"),
        ),
    }
    paths = {
        name: journal_path(tmp_path, venue_identity(c, ACCOUNT), "btc")
        for name, c in configs.items()
    }
    assert len(set(paths.values())) == len(paths)
    assert paths["paper"] == tmp_path / "paper" / "local" / "paper" / "btc.db"
    assert paths["testnet"] == tmp_path / "hyperliquid" / "testnet" / ACCOUNT.lower() / "btc.db"
    assert paths["mock 3001"].parent.parent.name == "url-127.0.0.1-3001"
    assert paths["paper, real prices"].parent.parent.name == "hyperliquid-mainnet"
    # Another account on the same network is other books, too.
    other = venue_identity(configs["testnet"], "0x" + "1" * 40)
    assert journal_path(tmp_path, other, "btc") != paths["testnet"]


def test_the_official_url_given_explicitly_is_that_network(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        kind=VenueKind.HYPERLIQUID,
        network="mainnet",
        api_url="https://api.hyperliquid.xyz",
    )
    assert venue_identity(config, ACCOUNT).network == "mainnet"


@pytest.mark.parametrize("account", [None, "", "alice", "0x12/../../etc"])
def test_a_live_venue_needs_a_real_account_address(tmp_path: Path, account: str | None) -> None:
    with pytest.raises(DataDirError, match="account_address"):
        venue_identity(_config(tmp_path, kind=VenueKind.HYPERLIQUID), account)


@pytest.mark.parametrize("bot", ["../escape", "a/b", "", ".."])
def test_a_bot_name_cannot_leave_the_journal_folder(tmp_path: Path, bot: str) -> None:
    with pytest.raises(DataDirError):
        journal_path(tmp_path, PAPER, bot)


def test_a_folder_opened_for_another_identity_is_refused(tmp_path: Path) -> None:
    testnet = VenueIdentity(VenueKind.HYPERLIQUID, "testnet", ACCOUNT.lower())
    mainnet = attrs.evolve(testnet, network="mainnet")
    folder = prepare_journal_dir(tmp_path, testnet)
    assert json.loads((folder / "venue.json").read_text())["network"] == "testnet"
    assert prepare_journal_dir(tmp_path, testnet) == folder  # reopening the same is fine
    # Someone renames testnet/ to mainnet/: those books must not be traded against mainnet.
    (tmp_path / "hyperliquid" / "testnet").rename(tmp_path / "hyperliquid" / "mainnet")
    for opener in (prepare_journal_dir, existing_journal_dir, list_journals):
        with pytest.raises(JournalDirMismatch) as refused:
            opener(tmp_path, mainnet)
        message = str(refused.value)
        assert "\n" not in message
        assert str(testnet) in message and str(mainnet) in message


def test_list_journals_names_every_bot_including_unconfigured_ones(tmp_path: Path) -> None:
    assert list_journals(tmp_path, PAPER) == {}
    folder = prepare_journal_dir(tmp_path, PAPER)
    for bot, coin in (("old", "ETH"), ("btc", "BTC")):
        Store(journal_path(tmp_path, PAPER, bot), venue="paper", bot=bot, coin=coin).close()
    (folder / "btc.db-wal").write_bytes(b"")
    assert list_journals(tmp_path, PAPER) == {"btc": folder / "btc.db", "old": folder / "old.db"}
    assert journal_owner(folder / "old.db") is None  # never saved a state row
    store = Store(folder / "old.db", venue="paper", bot="old", coin="ETH")
    StateManager(store, SimClock(), bot="old", coin="ETH")  # a first run saves the row
    store.close()
    assert journal_owner(folder / "old.db") == ("old", "ETH")


# ---- legacy journals -----------------------------------------------------------------------


def _legacy_journal(path: Path, bot: str, venue: str, trade_ids: list[int]) -> None:
    """Write fills into an old-layout journal in a child that dies without closing it, as
    kill -9 leaves it: the committed rows are in the -wal file, not yet in the .db."""
    code = textwrap.dedent(
        f"""
        import os
        from decimal import Decimal as D
        from pathlib import Path
        from gridtui.core.clock import SimClock
        from gridtui.core.types import Fill, Side
        from gridtui.state.state_manager import StateManager
        from gridtui.state.store import Store
        store = Store(Path({str(path)!r}), venue={venue!r}, bot={bot!r}, coin="BTC")
        state = StateManager(store, SimClock(), bot={bot!r}, coin="BTC")
        for tid in {trade_ids!r}:
            state.apply_fill_sync(Fill({venue!r}, "BTC", tid, 100 + tid, None, Side.BUY,
                                       D("64000"), D("0.001"), D("0.01"), 1_700_000_000_000 + tid))
        os._exit(0)
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _trade_ids(path: Path, bot: str, venue: str) -> list[int]:
    store = Store(path, venue=venue, bot=bot, coin="BTC")
    try:
        return [f.trade_id for f in store.fills()]
    finally:
        store.close()


def test_a_paper_journal_moves_with_every_committed_fill_and_others_stay(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _legacy_journal(data / "btc.db", "btc", "paper", [1, 2, 3])
    assert (data / "btc.db-wal").stat().st_size > 0  # the fills live in the WAL so far
    _legacy_journal(data / "live.db", "live", "hyperliquid", [7])
    Store(data / "idle.db", venue="paper", bot="idle", coin="BTC").close()  # no books at all
    # The paper venue's own state file lives in data/ too and is no journal.
    from gridtui.exchanges.sim.persistence import SimStore

    SimStore(data / "paper.db").close()
    testnet = VenueIdentity(VenueKind.HYPERLIQUID, "testnet", ACCOUNT.lower())

    lines = adopt_legacy_journals(data, testnet)

    paper_btc = journal_path(data, PAPER, "btc")
    assert _trade_ids(paper_btc, "btc", "paper") == [1, 2, 3]
    assert not any(data.glob("btc.db*"))
    assert journal_path(data, PAPER, "idle").exists() and not (data / "idle.db").exists()
    assert (data / "live.db").exists() and _trade_ids(data / "live.db", "live", "hyperliquid") == [
        7
    ]
    assert (data / "paper.db").exists()
    assert len(lines) == 3 and all("\n" not in line for line in lines)
    (live_line,) = [line for line in lines if "live.db" in line]
    assert "left in place" in live_line
    assert str(journal_path(data, testnet, "live")) in live_line
    assert list_journals(data, PAPER) == {"btc": paper_btc, "idle": paper_btc.with_name("idle.db")}
    assert adopt_legacy_journals(data, testnet) == [live_line]  # nothing moves twice


def test_a_legacy_journal_whose_paper_twin_exists_is_left_alone(tmp_path: Path) -> None:
    _legacy_journal(tmp_path / "btc.db", "btc", "paper", [1])
    prepare_journal_dir(tmp_path, PAPER)
    _legacy_journal(journal_path(tmp_path, PAPER, "btc"), "btc", "paper", [2])
    (planned,) = find_legacy_journals(tmp_path, PAPER)
    assert planned.target is None
    (line,) = adopt_legacy_journals(tmp_path, PAPER)
    assert "left in place" in line
    assert _trade_ids(tmp_path / "btc.db", "btc", "paper") == [1]
    assert _trade_ids(journal_path(tmp_path, PAPER, "btc"), "btc", "paper") == [2]


def test_a_journal_still_open_elsewhere_is_not_moved(tmp_path: Path) -> None:
    store = Store(tmp_path / "btc.db", venue="paper", bot="btc", coin="BTC")
    StateManager(store, SimClock(), bot="btc", coin="BTC").apply_fill_sync(
        Fill("paper", "BTC", 1, 101, None, Side.BUY, D("1"), D("1"), D("0"), 1)
    )
    try:
        # An old gridtui still has it open (no lock protects against an old version).
        (line,) = adopt_legacy_journals(tmp_path, PAPER)
    finally:
        store.close()
    assert "left in place" in line and (tmp_path / "btc.db").exists()
