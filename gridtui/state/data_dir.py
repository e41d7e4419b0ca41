"""The data directory: one process at a time, and one set of books per venue identity.

Why (issue 8, failure 4): a second ``gridtui`` on the same config traded the same journals and,
on stopping, canceled the first one's orders; and a live run wrote into the paper books because
every venue shared ``data/<bot>.db``, so positions were "corrected" across venues and all-time PnL
mixed paper and real money. Two rules fix that at the root:

1. **One process per data directory.** ``DataDirLock`` holds an OS file lock (``flock``) on
   ``<data_dir>/gridtui.lock`` for the process's life. The kernel drops it when the process ends in
   any way, kill -9 included, so a stale file never blocks; the file only carries the holder's PID,
   so the refusal can name it.
2. **Books per venue identity.** A bot's journal is
   ``<data_dir>/<kind>/<network>/<account>/<bot>.db`` (``journal_path``, the single place that
   decides it). The paper venue is ``paper/local/paper/`` — the same depth as a live account, so
   every tool lists books the same way. Hyperliquid is ``hyperliquid/mainnet/<0x…>/`` or
   ``hyperliquid/testnet/<0x…>/``; a custom ``api_url`` (the mock, a proxy) gets its own network,
   ``url-<host>-<port>``, because its fills are not the real venue's. Each folder holds
   ``venue.json`` recording its identity, so a folder moved or renamed by hand is refused rather
   than reconciled against the wrong exchange.

Legacy journals (``<data_dir>/<bot>.db`` from before this layout) are adopted, never discarded:
one whose fills were all made on the paper venue — or that holds no fill, no adjustment and no
live order, so it has no books to lose — is moved into the paper folder (checkpointed and switched
out of WAL first, so the ``.db`` alone holds every committed row; any empty ``-wal``/``-shm`` go
with it). Anything else (hyperliquid fills, whose network and account cannot be told from the file,
or fills of both venues) stays where it is, and each start reports it in one line saying where to
move it by hand. gridtui does not read a journal left in the old place.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sqlite3
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlsplit

import attrs

from gridtui.config.schema import AppConfig, PaperPrices, VenueKind
from gridtui.core.types import OrderStatus
from gridtui.state.store import StoreCorrupted, check_journal_file, sync_dir

LOCK_FILE = "gridtui.lock"
MARKER_FILE = "venue.json"
JOURNAL_SUFFIX = ".db"
PAPER_NETWORK = "local"
PAPER_ACCOUNT = "paper"
# Custom api_urls that are the real venue all the same: their books are that network's books.
_OFFICIAL_HOSTS = {"api.hyperliquid.xyz": "mainnet", "api.hyperliquid-testnet.xyz": "testnet"}
_COMPONENT = re.compile(r"[a-z0-9][a-z0-9._-]*")
_JOURNAL_TABLES = frozenset({"fills", "orders", "intents", "state", "adjustments"})
_SIDECARS = ("-wal", "-shm", "-journal")
_LIVE = tuple(s.value for s in OrderStatus if s.is_live)


class DataDirError(Exception):
    """The data directory cannot be used as asked; the message is one line naming the place and
    the fix (the CLI prints it and exits non-zero)."""


class DataDirLocked(DataDirError):
    """Another process holds the data directory's lock."""


class JournalDirMismatch(DataDirError):
    """A journal folder records another venue identity than the one it was opened for."""


@attrs.frozen(slots=True)
class VenueIdentity:
    """Whose books a journal holds: venue kind, network, account. Two identities never share a
    journal folder; each part is a folder name, so each is checked to be a safe one."""

    kind: VenueKind
    network: str
    account: str

    def __attrs_post_init__(self) -> None:
        for part in (self.network, self.account):
            if not _COMPONENT.fullmatch(part):
                raise DataDirError(f"venue identity part {part!r} cannot name a journal folder")

    def __str__(self) -> str:
        return f"{self.kind.value}/{self.network}/{self.account}"

    def as_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "network": self.network, "account": self.account}


PAPER = VenueIdentity(VenueKind.PAPER, PAPER_NETWORK, PAPER_ACCOUNT)
"""The paper venue: one simulated account per data directory."""


def venue_identity(config: AppConfig, account: str | None) -> VenueIdentity:
    """The identity whose books ``config`` trades. ``account`` is the live account address (the
    config's ``venue.account_address`` or, without one, the agent key's address — the supervisor
    knows which); it is ignored for the paper venue."""
    venue = config.venue
    if venue.kind is VenueKind.PAPER and venue.paper.prices is PaperPrices.HYPERLIQUID:
        # Another simulated account than the generated one's: never the same books.
        network = _network(venue.paper.network, venue.paper.api_url, "venue.paper.api_url")
        return VenueIdentity(VenueKind.PAPER, f"hyperliquid-{network}", PAPER_ACCOUNT)
    if venue.kind is VenueKind.PAPER:
        return PAPER
    if not account:
        raise DataDirError(
            "venue.account_address: unknown, so the journals' folder cannot be chosen "
            "(expected your public 0x address, or an agent key whose address it is)"
        )
    address = account.strip().lower()
    if not re.fullmatch(r"0x[0-9a-f]{40}", address):
        raise DataDirError(
            f"venue.account_address: {account!r} is not an address (expected 0x + 40 hex digits)"
        )
    return VenueIdentity(VenueKind.HYPERLIQUID, _network(venue.network, venue.api_url), address)


def _network(network: str, api_url: str | None, where: str = "venue.api_url") -> str:
    """The network part: ``mainnet``/``testnet``, or for a custom URL a slug of its host, port
    and path, so a mock (or one on another port) is never mistaken for the real venue."""
    if not api_url:
        return network
    try:
        parts = urlsplit(api_url.strip())
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        host, port = "", None
    if not host:
        raise DataDirError(
            f"{where}: {api_url!r} is not a URL (expected e.g. http://127.0.0.1:3001)"
        )
    path = parts.path.strip("/")
    if host in _OFFICIAL_HOSTS and port in (None, 443) and not path:
        return _OFFICIAL_HOSTS[host]
    slug = re.sub(r"[^a-z0-9.]+", "-", f"{host}-{port or ''}-{path.lower()}").strip("-.")
    return f"url-{slug}"


# ---- paths -------------------------------------------------------------------------------------


def journal_dir(data_dir: Path, identity: VenueIdentity) -> Path:
    """``<data_dir>/<kind>/<network>/<account>`` — pure path arithmetic, nothing is created."""
    return Path(data_dir) / identity.kind.value / identity.network / identity.account


def journal_path(data_dir: Path, identity: VenueIdentity, bot: str) -> Path:
    """The one place that decides where bot ``bot`` of ``identity`` keeps its journal."""
    if not bot or bot in (".", "..") or "/" in bot or "\\" in bot or "\x00" in bot:
        raise DataDirError(f"bot name {bot!r} cannot name a journal file (expected no '/')")
    return journal_dir(data_dir, identity) / f"{bot}{JOURNAL_SUFFIX}"


def prepare_journal_dir(data_dir: Path, identity: VenueIdentity) -> Path:
    """Create ``identity``'s folder and its ``venue.json`` marker, or check the marker when the
    folder exists. Call once at start, with the ``DataDirLock`` held. Raises
    ``JournalDirMismatch`` when the folder belongs to another identity."""
    folder = journal_dir(data_dir, identity)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataDirError(f"{folder}: cannot create the journal folder ({exc.strerror})") from None
    if _check_marker(folder, identity):
        return folder
    marker = folder / MARKER_FILE
    partial = folder / f".{MARKER_FILE}.tmp"
    try:
        partial.write_text(json.dumps(identity.as_json(), indent=2) + "\n")
        os.replace(partial, marker)
        sync_dir(folder)
    except OSError as exc:
        raise DataDirError(f"{marker}: cannot be written ({exc.strerror})") from None
    return folder


def existing_journal_dir(data_dir: Path, identity: VenueIdentity) -> Path | None:
    """``identity``'s folder for a reader (status, audit), or None if it was never created;
    checks the marker like ``prepare_journal_dir`` and creates nothing."""
    folder = journal_dir(data_dir, identity)
    if not folder.is_dir():
        return None
    _check_marker(folder, identity)
    return folder


def list_journals(data_dir: Path, identity: VenueIdentity) -> dict[str, Path]:
    """Every journal in ``identity``'s folder, bot name → path, sorted by name: the configured
    bots' and those of bots no longer configured (removed, disabled, renamed), whose orders and
    books must still be found."""
    folder = existing_journal_dir(data_dir, identity)
    if folder is None:
        return {}
    return {p.stem: p for p in _journal_files(folder)}


def list_identities(data_dir: Path) -> list[VenueIdentity]:
    """Every venue identity with a journal folder in ``data_dir`` — so a reader that finds no
    books for its identity can say whose books are there instead."""
    found = []
    for marker in sorted(Path(data_dir).glob(f"*/*/*/{MARKER_FILE}")):
        try:
            recorded = json.loads(marker.read_text())
            found.append(
                VenueIdentity(VenueKind(recorded["kind"]), recorded["network"], recorded["account"])
            )
        except (OSError, ValueError, KeyError, TypeError, DataDirError):
            continue  # reported when that folder is opened; not this reader's business
    return found


def _journal_files(folder: Path) -> list[Path]:
    """``*.db`` files, sorted; hidden ones are a journal being created (``.<bot>.db.new``) or
    not ours."""
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.suffix == JOURNAL_SUFFIX and not p.name.startswith(".") and p.is_file()
    )


def journal_owner(path: Path) -> tuple[str, str] | None:
    """(bot, coin) from a journal's state row, read-only, or None before the first save — how a
    journal no configured bot owns tells which coin it traded. Raises ``StoreCorrupted`` for a
    file that is not a readable journal."""
    check_journal_file(path)
    try:
        with contextlib.closing(_connect(path, readonly=True)) as conn:
            row = conn.execute("SELECT bot, coin FROM state WHERE id = 1").fetchone()
    except sqlite3.Error as exc:
        raise StoreCorrupted(f"{path}: not a readable journal ({exc})") from None
    return None if row is None else (str(row[0]), str(row[1]))


def _check_marker(folder: Path, identity: VenueIdentity) -> bool:
    """True if the marker exists and names ``identity``; raises if it names another."""
    marker = folder / MARKER_FILE
    try:
        recorded = json.loads(marker.read_text())
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        raise DataDirError(
            f"{marker}: unreadable ({exc}); it records whose books this folder holds — "
            "restore it or move the folder out of the data_dir"
        ) from None
    wanted = identity.as_json()
    if not isinstance(recorded, dict) or {k: recorded.get(k) for k in wanted} != wanted:
        shown = (
            "/".join(str(recorded.get(k)) for k in wanted)
            if isinstance(recorded, dict)
            else recorded
        )
        raise JournalDirMismatch(
            f"{folder}: holds the books of {shown}, not {identity}; "
            "move the folder back where it came from or use another data_dir"
        )
    return True


# ---- the lock ----------------------------------------------------------------------------------


class DataDirLock:
    """The data directory's process lock (see module docstring). ``acquire`` raises
    ``DataDirLocked`` naming the holder's PID; ``release`` (or process death) frees it."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> DataDirLock:
        if self._fd is not None:
            return self
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise DataDirError(
                f"{self.data_dir}: cannot create the lock file {LOCK_FILE} ({exc.strerror}); "
                "use a writable data_dir"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder_pid(fd)
            os.close(fd)
            who = f"gridtui (pid {holder})" if holder else "another gridtui process"
            raise DataDirLocked(
                f"{self.data_dir}: in use by {who}; stop it first or use another data_dir"
            ) from None
        # Only the holder writes, and only after it holds the lock: the PID is never a stale one.
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            # The file stays: deleting it would let a third process lock a fresh inode while a
            # second one still waits on the old, and two would then hold "the" lock.
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder_pid(fd: int) -> int | None:
    """The PID the holder wrote; it writes just after locking, so give it a moment."""
    for _ in range(20):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


# ---- legacy journals ---------------------------------------------------------------------------


@attrs.frozen(slots=True)
class LegacyJournal:
    """A journal found at ``<data_dir>/<bot>.db`` and what adoption does with it."""

    path: Path
    target: Path | None
    """Where it is moved (the paper folder), or None when it stays for the user to move."""
    note: str
    """One line for the user: what will happen, or where to move it by hand."""


def find_legacy_journals(data_dir: Path, identity: VenueIdentity) -> list[LegacyJournal]:
    """The old-layout journals in ``data_dir`` (read-only). Other SQLite files there, such as
    the paper venue's own state file, are not journals and are not listed."""
    found = (_classify(path, data_dir, identity) for path in _journal_files(Path(data_dir)))
    return [legacy for legacy in found if legacy is not None]


def adopt_legacy_journals(data_dir: Path, identity: VenueIdentity) -> list[str]:
    """Move the old-layout journals that are provably paper books into the paper folder; return
    one line per legacy journal (moved, or left and how to move it). Call with the
    ``DataDirLock`` held, before any bot opens its journal."""
    lines = []
    for legacy in find_legacy_journals(data_dir, identity):
        if legacy.target is None:
            lines.append(legacy.note)
            continue
        prepare_journal_dir(data_dir, PAPER)
        lines.append(_move(legacy.path, legacy.target))
    return lines


def _classify(path: Path, data_dir: Path, identity: VenueIdentity) -> LegacyJournal | None:
    try:
        with contextlib.closing(_connect(path, readonly=True)) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
            if not _JOURNAL_TABLES <= tables:
                return None
            venues = sorted(r[0] for r in conn.execute("SELECT DISTINCT venue FROM fills"))
            fills = conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
            adjustments = conn.execute("SELECT COUNT(*) FROM adjustments").fetchone()[0]
            marks = ",".join("?" * len(_LIVE))
            live = conn.execute(
                f"SELECT COUNT(*) FROM orders WHERE status IN ({marks})", _LIVE
            ).fetchone()[0]
    except sqlite3.Error as exc:
        return LegacyJournal(
            path, None, f"{path}: not a readable journal ({exc}); left in place, gridtui ignores it"
        )
    bot = path.stem
    paper_target = journal_path(data_dir, PAPER, bot)
    paper_only = venues == [PAPER.kind.value]
    nothing_to_lose = fills == 0 and adjustments == 0 and live == 0
    if (paper_only or nothing_to_lose) and not paper_target.exists():
        why = "its fills are all paper" if paper_only else "it holds no fills and no open orders"
        return LegacyJournal(
            path,
            paper_target,
            f"{path}: paper books in the old place ({why}); the next gridtui start moves it to "
            f"{paper_target}",
        )
    if paper_only or nothing_to_lose:
        return LegacyJournal(
            path,
            None,
            f"{path}: left in place, {paper_target} exists too; compare them (gridtui status) "
            "and delete the one you do not want",
        )
    mine = identity.kind is VenueKind.HYPERLIQUID
    where = (
        f"{journal_path(data_dir, identity, bot)} if this config's account made them"
        if mine
        else f"{Path(data_dir) / VenueKind.HYPERLIQUID.value}/<network>/<account>/{path.name}"
    )
    return LegacyJournal(
        path,
        None,
        f"{path}: left in place, journal from before books were kept per venue with {fills} "
        f"fills on {'+'.join(venues) or 'an unknown venue'} (gridtui cannot tell which network "
        f"and account); stop gridtui and move it with its -wal/-shm files to {where}",
    )


def _move(path: Path, target: Path) -> str:
    """Fold the WAL into the file, leave WAL mode (that needs every other connection gone, so it
    proves nobody has it open), then rename: the ``.db`` alone carries every committed row and a
    crash at any point leaves the journal whole in one of the two places."""
    try:
        with contextlib.closing(_connect(path, readonly=False)) as conn:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            mode = conn.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    except sqlite3.Error as exc:
        return f"{path}: left in place, could not be prepared for the move ({exc})"
    if busy or str(mode).lower() != "delete":
        return f"{path}: left in place, another process has it open; stop it and start again"
    try:
        os.rename(path, target)
        for suffix in _SIDECARS:
            side = path.with_name(path.name + suffix)
            if side.exists():
                os.rename(side, target.with_name(target.name + suffix))
        sync_dir(target.parent)
        sync_dir(path.parent)
    except OSError as exc:
        return f"{path}: left in place, could not be moved to {target} ({exc.strerror})"
    return f"{path}: moved to {target} (journals are now kept per venue; these are paper books)"


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    """A connection that never creates the file (a typo must not leave an empty journal)."""
    mode = "ro" if readonly else "rw"
    uri = f"{Path(path).resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=1.0)
