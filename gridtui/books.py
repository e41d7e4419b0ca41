"""Books a user can check, from the journals alone: ``status``, ``fills`` and ``audit``.

These read the journals of the config's venue identity (``state.data_dir``: paper, testnet,
mainnet and every mock URL keep separate books) — every journal there, including those of bots no
longer configured (removed, disabled, renamed), because their positions and fills still exist —
and, for the audit, the exchange. They take no lock: they work while the bots run in another
process and after they stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import attrs

from gridtui.config.schema import AppConfig, BotSettings, Direction, VenueKind
from gridtui.core.account import AccountSummary, distance_pct
from gridtui.core.clock import RealClock, utc_day
from gridtui.core.formatting import average_price, percent_away, usd
from gridtui.core.types import ZERO, BotStatus, ExchangeError, Fill, Order, Position
from gridtui.state.accounting import replay, replay_with_effects
from gridtui.state.data_dir import (
    VenueIdentity,
    find_legacy_journals,
    journal_dir,
    journal_owner,
    list_identities,
    list_journals,
)
from gridtui.state.live_status import LiveBot, read_live_account, read_live_status
from gridtui.state.records import Adjustment
from gridtui.state.round_trips import RoundTrips
from gridtui.state.store import Store
from gridtui.venues import badge_of, identity_of, make_exchange

# Our orders' fills happen after we journaled the order; the venue's clock may run a little
# behind ours, so the audit asks for fills from this much before the first journaled order.
CLOCK_SKEW_MS = 60_000


def _iso(ms: int) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@attrs.frozen(slots=True)
class Journal:
    """One journal in the identity's folder and whether a configured bot still owns it."""

    bot: str
    coin: str
    store: Store
    settings: BotSettings | None
    """None: no ``[[bots]]`` entry has this name any more (removed or renamed)."""

    @property
    def ownership(self) -> str:
        if self.settings is None:
            return "not in config"
        return "configured" if self.settings.enabled else "disabled"


def _legacy_notes(config: AppConfig, identity: VenueIdentity) -> None:
    """Journals still in the pre-identity place are not read here; say so, never silently."""
    for legacy in find_legacy_journals(config.data_dir, identity):
        print(f"gridtui: note: {legacy.note}", file=sys.stderr)


@contextmanager
def _journals(config: AppConfig, bot: str | None = None) -> Iterator[list[Journal]]:
    """Open every journal of the config's identity that has a state row (a bot that never ran
    has none and is skipped). Its coin is the one the journal recorded: the books are what was
    traded, whatever the config says now."""
    identity = identity_of(config)
    _legacy_notes(config, identity)
    configured = {b.name: b for b in config.bots}
    opened: list[Journal] = []
    try:
        for name, path in list_journals(config.data_dir, identity).items():
            if bot is not None and name != bot:
                continue
            owner = journal_owner(path)
            if owner is None:
                continue
            store = Store(path, venue=identity.kind.value, bot=name, coin=owner[1])
            opened.append(Journal(name, owner[1], store, configured.get(name)))
        yield opened
    finally:
        for journal in opened:
            journal.store.close()


def _money(value: Decimal) -> str:
    """For the table only (``--json`` keeps every digit): cents and a bit, not 40 digits."""
    return f"{value.quantize(Decimal('0.0001')):f}"


def status_rows(config: AppConfig) -> list[dict[str, Any]]:
    rows = []
    today = utc_day(RealClock().now_ms())
    folder = journal_dir(config.data_dir, identity_of(config))
    live = read_live_status(folder) or {}
    account = read_live_account(folder)
    with _journals(config) as journals:
        for journal in journals:
            state = journal.store.load_state()
            if state is None:
                continue
            trips = RoundTrips().add_all(journal.store.applied_fills()).figures()
            rows.append(
                {
                    "bot": journal.bot,
                    "coin": journal.coin,
                    "position": state.position,
                    "avg_entry": state.avg_entry,
                    "session_realized_pnl": state.session_realized,
                    "all_time_realized_pnl": state.all_time_realized,
                    "daily_realized_pnl": state.daily_realized_for(today),
                    "fees_paid": state.fees_paid,
                    "fills": state.fill_count,
                    "round_trips": trips.round_trips,
                    "grid_profit": trips.grid_profit,
                    "profit_per_round_trip": trips.profit_per_round_trip,
                    "open_orders": len(journal.store.orders(live_only=True)),
                    "last_fill": _iso(state.last_fill_ms),
                    "halted": state.halted,
                    "halt_kind": state.halt_kind.value if state.halt_kind else None,
                    "halt_reason": state.halt_reason,
                    "in_config": journal.settings is not None,
                    "enabled": journal.settings is not None and journal.settings.enabled,
                    "direction": (
                        journal.settings.grid.direction.value if journal.settings else None
                    ),
                    **_run_state(live.get(journal.bot), state.halted, state.halt_reason),
                    **_position_risk(account, journal.coin),
                }
            )
    coins = {b.name: b.coin for b in config.bots}
    for name, bot in live.items():  # run, but nothing journaled yet (the venue never answered)
        if name not in {r["bot"] for r in rows}:
            rows.append(_unjournaled_row(name, coins.get(name, "?"), bot))
    return rows


def _position_risk(account: AccountSummary | None, coin: str) -> dict[str, Any]:
    """The coin's position as the venue's account last showed it (the running process read
    it); None everywhere when no process runs or the coin holds no position."""
    risk = account.position(coin) if account is not None else None
    return {
        "leverage": None if risk is None else risk.leverage,
        "margin": None if risk is None else ("cross" if risk.cross else "isolated"),
        "margin_used": None if risk is None else risk.margin_used,
        "liquidation_price": None if risk is None else risk.liquidation_price,
        "funding_since_open": None if risk is None else risk.funding_since_open,
    }


def _unjournaled_row(bot: str, coin: str, live: LiveBot) -> dict[str, Any]:
    return {
        "bot": bot, "coin": coin, "position": ZERO, "avg_entry": ZERO,
        "session_realized_pnl": ZERO, "all_time_realized_pnl": ZERO, "daily_realized_pnl": ZERO,
        "fees_paid": ZERO, "fills": 0, "round_trips": 0, "grid_profit": ZERO,
        "profit_per_round_trip": None, "open_orders": 0, "last_fill": None, "halted": False,
        "halt_kind": None, "halt_reason": None, "in_config": True, "enabled": True,
        "direction": None,
        **_run_state(live, False, None),
        **_position_risk(None, coin),
    }  # fmt: skip


def _run_state(live: LiveBot | None, halted: bool, halt_reason: str | None) -> dict[str, Any]:
    """What the bot is doing now: as the process running it says (running, waiting for
    exchange and why, …), else, with no process running it, halted (the journal keeps that) or
    stopped."""
    if live is not None:
        return {"running": True, "status": live.status, "status_detail": live.detail}
    if halted:
        return {"running": False, "status": BotStatus.HALTED.value, "status_detail": halt_reason}
    return {"running": False, "status": BotStatus.STOPPED.value, "status_detail": None}


def print_status(config: AppConfig, *, as_json: bool) -> int:
    rows = status_rows(config)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        identity = identity_of(config)
        print(
            f"no journals yet in {journal_dir(config.data_dir, identity)} (run: gridtui --headless)"
        )
        others = [str(i) for i in list_identities(config.data_dir) if i != identity]
        if others:
            print(
                f"books of other venues in {config.data_dir}: {', '.join(others)} "
                "(status reads the venue, network and account this config trades)"
            )
        return 0
    header = (
        "bot",
        "coin",
        "position",
        "avg entry",
        "session PnL",
        "all-time PnL",
        "fees",
        "fills",
        "round trips",
        "grid profit",
        "open",
        "last fill",
        "state",
    )
    table = [header]
    for r in rows:
        state = f"{r['status']}: {r['status_detail']}" if r["status_detail"] else r["status"]
        if r["direction"] not in (None, Direction.NEUTRAL.value):
            state += f" ({r['direction']} only)"
        if not r["in_config"]:
            state += " (not in config)"
        elif not r["enabled"]:
            state += " (disabled)"
        table.append(
            (
                r["bot"],
                r["coin"],
                str(r["position"]),
                _money(r["avg_entry"]),
                _money(r["session_realized_pnl"]),
                _money(r["all_time_realized_pnl"]),
                _money(r["fees_paid"]),
                str(r["fills"]),
                _trips(r["round_trips"], r["profit_per_round_trip"]),
                _money(r["grid_profit"]),
                str(r["open_orders"]),
                r["last_fill"] or "-",
                state,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    account = read_live_account(journal_dir(config.data_dir, identity_of(config)))
    print()
    for line in account_lines(account, badge_of(config.venue)):
        print(line)
    return 0


def account_lines(account: AccountSummary | None, badge: str) -> list[str]:
    """The account block under the status table: whose (the venue's badge), value, margin,
    withdrawable, then each position's leverage, liquidation price (and how far) and funding
    since it opened."""
    if account is None:
        return [f"{badge} account: not read (no gridtui process is trading these books)"]
    when = _iso(account.read_at_ms)
    lines = [
        f"{badge} account (read {when}): value {usd(account.account_value)}, margin used "
        f"{usd(account.margin_used)}, withdrawable {usd(account.withdrawable)}"
    ]
    for p in account.positions:
        mode = "cross" if p.cross else "isolated"
        if p.liquidation_price is None:
            liquidation = "no liquidation price"
        else:
            away = distance_pct(p.mark, p.liquidation_price)
            liquidation = f"liquidation {average_price(p.liquidation_price)}"
            liquidation += f" ({percent_away(away)} from the mark)" if away else ""
        funding = (
            "funding paid n/a"
            if p.funding_since_open is None
            else f"funding paid since open {usd(p.funding_since_open)}"
        )
        lines.append(
            f"  {p.coin} {p.size:+f} entry {average_price(p.entry_price)} mark "
            f"{average_price(p.mark)}, {p.leverage}x {mode}, margin {usd(p.margin_used)}, "
            f"{liquidation}, {funding}"
        )
    return lines


def _trips(count: int, each: Decimal | None) -> str:
    return f"{count} ({_money(each)} each)" if each is not None else str(count)


def _fill_row(bot: str, fill: Fill, realized: Decimal, grid_profit: Decimal) -> dict[str, Any]:
    return {
        "bot": bot,
        "venue": fill.venue,
        "coin": fill.coin,
        "time": _iso(fill.timestamp_ms),
        "timestamp_ms": fill.timestamp_ms,
        "trade_id": fill.trade_id,
        "order_id": fill.exchange_order_id,
        "client_id": fill.client_id,
        "side": "buy" if fill.side.sign > 0 else "sell",
        "price": str(fill.price),
        "size": str(fill.size),
        "fee": str(fill.fee),
        "taker": fill.is_taker,
        "realized_pnl": str(realized),
        "grid_profit": str(grid_profit),
    }


def print_fills(config: AppConfig, *, as_json: bool, bot: str | None) -> int:
    if bot is not None:
        known = {b.name for b in config.bots} | set(
            list_journals(config.data_dir, identity_of(config))
        )
        if bot not in known:
            names = ", ".join(sorted(known))
            print(
                f"gridtui fills: no bot named {bot!r} in {config.source} or its journals "
                f"(bots: {names})",
                file=sys.stderr,
            )
            return 2
    with _journals(config, bot) as journals:
        rows = [row for journal in journals for row in _fill_rows(journal)]
    rows.sort(key=lambda r: (r["timestamp_ms"], r["trade_id"]))
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return 0
    columns = (
        "time", "bot", "coin", "side", "price", "size", "fee", "realized_pnl", "grid_profit",
        "trade_id", "order_id",
    )  # fmt: skip
    print(",".join(columns))
    for row in rows:
        print(",".join(str(row[c]) for c in columns))
    return 0


def _fill_rows(journal: Journal) -> list[dict[str, Any]]:
    """Each fill with the realized PnL it booked (average cost, net of its fee, as the state row
    counts it) and the grid profit of the round trips it completed."""
    store = journal.store
    state = store.load_state()
    fills = store.applied_fills()
    start = state.session_start_ms if state is not None else 0
    corrections = store.position_corrections()
    _, effects = replay_with_effects(journal.bot, journal.coin, fills, start, corrections)
    trips = RoundTrips()
    return [
        _fill_row(journal.bot, fill, effect.realized_pnl, trips.add(fill))
        for fill, effect in zip(fills, effects, strict=True)
    ]


def journal_mismatches(settings: BotSettings, store: Store) -> list[str]:
    """Recompute the book from the journal and compare it with the state row."""
    return _state_mismatches(settings.name, settings.coin, store)


def _state_mismatches(bot: str, coin: str, store: Store) -> list[str]:
    state = store.load_state()
    if state is None:
        return []
    fills = store.applied_fills()
    again = replay(bot, coin, fills, state.session_start_ms, store.position_corrections())
    problems = []
    for field in ("position", "avg_entry", "all_time_realized", "fees_paid", "fill_count"):
        journal, row = getattr(again, field), getattr(state, field)
        if journal != row:
            problems.append(
                f"{bot}: {field} is {row} in the state row but {journal} from the journal"
            )
    if len(fills) != store.fill_count():
        problems.append(f"{bot}: fill count differs between tables")
    return problems


def _describe(fill: Fill) -> str:
    side = "buy" if fill.side.sign > 0 else "sell"
    return (
        f"{fill.trade_id} ({side} {fill.size} {fill.coin} @ {fill.price}, "
        f"{_iso(fill.timestamp_ms)}, order {fill.exchange_order_id})"
    )


@attrs.frozen(slots=True)
class _CoinBooks:
    """Every journal that traded one coin on this account (a renamed bot leaves two), their
    orders indexed by client id and exchange id, and their fills by trade id."""

    coin: str
    journals: tuple[Journal, ...]
    owner_by_client_id: dict[str, str]
    owner_by_exchange_id: dict[int, str]
    fills: dict[int, tuple[str, Fill]]
    since_ms: int | None
    """Where the venue's fills must be read from to cover all of ours; None: we never ordered."""

    @classmethod
    def of(cls, coin: str, journals: list[Journal]) -> _CoinBooks:
        by_cid: dict[str, str] = {}
        by_oid: dict[int, str] = {}
        fills: dict[int, tuple[str, Fill]] = {}
        times: list[int] = []
        for journal in journals:
            for order in journal.store.orders():
                by_cid[order.client_id] = journal.bot
                if order.exchange_id is not None:
                    by_oid[order.exchange_id] = journal.bot
                times.append(order.created_ms)
            for fill in journal.store.fills():
                fills[fill.trade_id] = (journal.bot, fill)
                times.append(fill.timestamp_ms)
        since = min(times) - CLOCK_SKEW_MS if times else None
        return cls(coin, tuple(journals), by_cid, by_oid, fills, since)

    def owner_of(self, fill: Fill) -> str | None:
        """The bot whose order ``fill`` filled, or None when no journal knows the order."""
        if fill.client_id is not None and fill.client_id in self.owner_by_client_id:
            return self.owner_by_client_id[fill.client_id]
        return self.owner_by_exchange_id.get(fill.exchange_order_id)

    def position_journal(self) -> Journal:
        """The journal whose position must equal the venue's: the enabled bot's (one per coin);
        when no bot trades the coin any more (removed, disabled, renamed), the one that was
        active last — older ones are history."""

        def rank(journal: Journal) -> tuple[bool, int]:
            state = journal.store.load_state()
            recent = 0 if state is None else max(state.last_fill_ms, state.session_start_ms)
            return (journal.settings is not None and journal.settings.enabled, recent)

        return max(self.journals, key=rank)


def _fill_set_mismatches(books: _CoinBooks, venue_fills: list[Fill]) -> tuple[list[str], int]:
    """Journal fills vs the venue's, by trade id, both ways. Returns the problems and how many
    venue fills belong to no journaled order (not ours: trades made by hand show up as
    position adjustments instead)."""
    problems = []
    on_venue = {fill.trade_id for fill in venue_fills}
    not_ours = 0
    for fill in venue_fills:
        owner = books.owner_of(fill)
        if owner is None:
            not_ours += 1
        elif fill.trade_id not in books.fills:
            problems.append(
                f"{owner}: exchange fill {_describe(fill)} of our order is not in the journal"
            )
    for trade_id, (bot, fill) in sorted(books.fills.items()):
        if trade_id not in on_venue:
            problems.append(f"{bot}: journal fill {_describe(fill)} is not on the exchange")
    return problems, not_ours


def _venue_mismatches(
    books: _CoinBooks, positions: dict[str, Position], resting: list[Order]
) -> list[str]:
    problems = []
    journal = books.position_journal()
    state = journal.store.load_state()
    if state is not None:
        reported = positions.get(books.coin)
        size = reported.size if reported is not None else Decimal(0)
        if size != state.position:
            problems.append(
                f"{journal.bot}: position is {state.position} in the journal but "
                f"{size} on the exchange"
            )
    for order in resting:
        if order.coin != books.coin:
            continue
        known = order.client_id is not None and order.client_id in books.owner_by_client_id
        if not (known or order.exchange_id in books.owner_by_exchange_id):
            problems.append(
                f"{journal.bot}: exchange order {order.exchange_id} on {order.coin} "
                "is not in the journal"
            )
    return problems


def _adjustment_line(bot: str, adj: Adjustment) -> str:
    return (
        f"ADJUSTMENT {bot}: {_iso(adj.timestamp_ms) or adj.timestamp_ms} {adj.field} "
        f"{adj.old_value} -> {adj.new_value} after {adj.fills_before} fills: {adj.reason}"
    )


async def audit(config: AppConfig) -> int:
    """Exit 0 when each journal agrees with its state row and with the exchange — the same fills
    (trade ids, both ways), the same position, no resting order we do not know — else 1, naming
    every mismatch. Adjustments (corrections reconciliation made) are listed either way: they
    are where the books were changed without a fill."""
    problems: list[str] = []
    notes: list[str] = []
    with _journals(config) as journals:
        for journal in journals:
            problems += _state_mismatches(journal.bot, journal.coin, journal.store)
        coins: dict[str, list[Journal]] = {}
        for journal in journals:
            coins.setdefault(journal.coin, []).append(journal)
        books = [_CoinBooks.of(coin, group) for coin, group in sorted(coins.items())]
        positions: dict[str, Position] = {}
        resting: list[Order] = []
        venue_fills: dict[str, list[Fill]] = {}
        exchange = make_exchange(config, RealClock(), stream=False)
        try:
            if config.venue.kind is VenueKind.HYPERLIQUID:
                # A live client must connect; the paper venue is read as it lies, its market not
                # run (starting it would move prices).
                await exchange.start()
            positions = await exchange.positions()
            resting = await exchange.open_orders()
            venue_fills = {
                b.coin: await exchange.fills_since(b.since_ms, b.coin)
                for b in books
                if b.since_ms is not None
            }
        except ExchangeError as exc:
            problems.append(f"exchange: could not be read ({exc})")
            books = []  # nothing to compare with: comparing with "nothing" would mislead
        finally:
            await exchange.close()
        for coin_books in books:
            problems += _venue_mismatches(coin_books, positions, resting)
            found, not_ours = _fill_set_mismatches(coin_books, venue_fills.get(coin_books.coin, []))
            problems += found
            if not_ours:
                notes.append(
                    f"NOTE {coin_books.coin}: {not_ours} exchange fills of orders no journal "
                    "knows (not ours; they show as position adjustments)"
                )
        adjustments = [
            _adjustment_line(j.bot, adj) for j in journals for adj in j.store.adjustments()
        ]
    for line in problems:
        print(f"MISMATCH {line}")
    if problems:
        print(f"audit FAILED: {len(problems)} mismatches in {len(journals)} journals")
    else:
        print(
            f"audit OK: {len(journals)} journals agree with their state rows and the exchange "
            "(fills, positions, orders)"
        )
    for line in adjustments + notes:
        print(line)
    return 1 if problems else 0
