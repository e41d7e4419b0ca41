"""Books a user can check, from the journals alone: ``status``, ``fills`` and ``audit``.

These read each bot's SQLite journal (and, for the audit, the exchange), so they work while the
bots run in another process and after they stopped.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from gridtui.config.schema import AppConfig, BotSettings, VenueKind
from gridtui.core.clock import RealClock, utc_day
from gridtui.core.types import ExchangeError, Fill
from gridtui.orchestrator.factory import journal_path
from gridtui.state.accounting import PositionCorrection, replay
from gridtui.state.store import Store
from gridtui.supervisor import make_exchange


def _iso(ms: int) -> str | None:
    if not ms:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


@contextmanager
def _journals(
    config: AppConfig, bot: str | None = None
) -> Iterator[list[tuple[BotSettings, Store]]]:
    """Open the journals that exist; a bot that never ran has none and is skipped."""
    opened: list[tuple[BotSettings, Store]] = []
    try:
        for settings in config.bots:
            if bot is not None and settings.name != bot:
                continue
            path = journal_path(config.data_dir, settings.name)
            if path.exists():
                venue = config.venue.kind.value
                opened.append(
                    (settings, Store(path, venue=venue, bot=settings.name, coin=settings.coin))
                )
        yield opened
    finally:
        for _, store in opened:
            store.close()


def _money(value: Decimal) -> str:
    """For the table only (``--json`` keeps every digit): cents and a bit, not 40 digits."""
    return f"{value.quantize(Decimal('0.0001')):f}"


def status_rows(config: AppConfig) -> list[dict[str, Any]]:
    rows = []
    today = utc_day(RealClock().now_ms())
    with _journals(config) as journals:
        for settings, store in journals:
            state = store.load_state()
            if state is None:
                continue
            rows.append(
                {
                    "bot": settings.name,
                    "coin": settings.coin,
                    "position": state.position,
                    "avg_entry": state.avg_entry,
                    "session_realized_pnl": state.session_realized,
                    "all_time_realized_pnl": state.all_time_realized,
                    "daily_realized_pnl": state.daily_realized_for(today),
                    "fees_paid": state.fees_paid,
                    "fills": state.fill_count,
                    "open_orders": len(store.orders(live_only=True)),
                    "last_fill": _iso(state.last_fill_ms),
                    "halted": state.halted,
                    "halt_reason": state.halt_reason,
                }
            )
    return rows


def print_status(config: AppConfig, *, as_json: bool) -> int:
    rows = status_rows(config)
    if as_json:
        print(json.dumps(rows, default=str, indent=2))
        return 0
    if not rows:
        print(f"no journals yet in {config.data_dir} (run: gridtui --headless)")
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
        "open",
        "last fill",
        "state",
    )
    table = [header]
    for r in rows:
        state = f"halted: {r['halt_reason']}" if r["halted"] else "running"
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
                str(r["open_orders"]),
                r["last_fill"] or "-",
                state,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _fill_row(bot: str, fill: Fill) -> dict[str, Any]:
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
    }


def print_fills(config: AppConfig, *, as_json: bool, bot: str | None) -> int:
    if bot is not None and bot not in {b.name for b in config.bots}:
        names = ", ".join(b.name for b in config.bots)
        print(
            f"gridtui fills: no bot named {bot!r} in {config.source} (bots: {names})",
            file=sys.stderr,
        )
        return 2
    with _journals(config, bot) as journals:
        rows = [_fill_row(s.name, f) for s, store in journals for f in store.fills()]
    rows.sort(key=lambda r: (r["timestamp_ms"], r["trade_id"]))
    if as_json:
        for row in rows:
            print(json.dumps(row))
        return 0
    columns = ("time", "bot", "coin", "side", "price", "size", "fee", "trade_id", "order_id")
    print(",".join(columns))
    for row in rows:
        print(",".join(str(row[c]) for c in columns))
    return 0


def _corrections(store: Store) -> list[PositionCorrection]:
    out = []
    for adj in store.adjustments():
        if adj.field == "position":
            position, avg = adj.new_value.split("@")
            out.append(PositionCorrection(adj.fills_before, Decimal(position), Decimal(avg)))
    return out


def journal_mismatches(settings: BotSettings, store: Store) -> list[str]:
    """Recompute the book from the journal and compare it with the state row."""
    state = store.load_state()
    if state is None:
        return []
    fills = store.applied_fills()
    again = replay(settings.name, settings.coin, fills, state.session_start_ms, _corrections(store))
    problems = []
    for field in ("position", "avg_entry", "all_time_realized", "fees_paid", "fill_count"):
        journal, row = getattr(again, field), getattr(state, field)
        if journal != row:
            problems.append(
                f"{settings.name}: {field} is {row} in the state row but {journal} from the journal"
            )
    if len(fills) != store.fill_count():
        problems.append(f"{settings.name}: fill count differs between tables")
    return problems


async def audit(config: AppConfig) -> int:
    """Exit 0 when journal, state row and exchange agree; else 1, naming every mismatch."""
    problems: list[str] = []
    checked = 0
    with _journals(config) as journals:
        for settings, store in journals:
            checked += 1
            problems += journal_mismatches(settings, store)
        exchange = make_exchange(config, RealClock(), stream=False)
        try:
            if config.venue.kind is VenueKind.HYPERLIQUID:
                # A live client must connect; the paper venue is read as it lies, its market not
                # run (starting it would move prices).
                await exchange.start()
            positions = await exchange.positions()
            resting = await exchange.open_orders()
        except ExchangeError as exc:
            problems.append(f"exchange: could not be read ({exc})")
            positions, resting = {}, []
        finally:
            await exchange.close()
        for settings, store in journals:
            state = store.load_state()
            if state is None:
                continue
            reported = positions.get(settings.coin)
            size = reported.size if reported is not None else Decimal(0)
            if size != state.position:
                problems.append(
                    f"{settings.name}: position is {state.position} in the journal but "
                    f"{size} on the exchange"
                )
            for order in resting:
                if order.coin == settings.coin and (
                    order.client_id is None or store.order(order.client_id) is None
                ):
                    problems.append(
                        f"{settings.name}: exchange order {order.exchange_id} on {order.coin} "
                        "is not in the journal"
                    )
    for line in problems:
        print(f"MISMATCH {line}")
    if problems:
        return 1
    print(f"audit OK: {checked} journals agree with their state rows and the exchange")
    return 0
