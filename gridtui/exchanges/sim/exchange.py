"""SimExchange: the paper venue behind the ``Exchange`` protocol.

It wires a seeded price path (or a candle replay) per market to the matching engine and persists
every operation in one SQLite transaction *before* it acknowledges or streams anything, so a
restarted process finds the venue exactly as it was left. It is the default venue, the backtest
venue (tests and backtests drive ``step()`` themselves) and, later, the engine behind the
Hyperliquid-protocol mock server. ``fail_next`` injects whole-call failures for breaker tests.
History (finished orders beyond the engine's recent window, every fill) is read from the state
file on demand, so memory stays flat however long the venue runs; a failed read is an
``ExchangeError`` like a failed write.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.account import AccountSummary
from gridtui.core.clock import Clock
from gridtui.core.types import (
    AssetMeta,
    CancelAck,
    ExchangeError,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceAck,
    Position,
)
from gridtui.exchanges.base import FillsReceived, MidUpdated, OrderUpdated, StreamEvent
from gridtui.exchanges.sim.candles import Candle, CandleReplay, load_candles
from gridtui.exchanges.sim.live_market import (
    LIVE_KIND,
    Listing,
    LiveMarket,
    PriceSource,
    TradePrint,
)
from gridtui.exchanges.sim.matching import MatchingEngine
from gridtui.exchanges.sim.persistence import (
    MEMORY,
    SimStore,
    StateFileError,
    StoredState,
    read_state,
)
from gridtui.exchanges.sim.price_path import (
    GeneratedPath,
    MarketState,
    PricePath,
    Tick,
    tick_volume,
)
from gridtui.exchanges.sim.vocabulary import ERR_LEVERAGE, EngineConfig, EngineRecords, FillModel

log = logging.getLogger(__name__)

DEFAULT_HALF_SPREAD = Decimal("0.0001")
DEFAULT_NOTIONAL_PER_TICK = Decimal("50000")
MIN_SCHEDULE_AHEAD_MS = 5_000
HOUR_MS = 3_600_000
MAX_FUNDING_CATCHUP_H = 7 * 24
DEFAULT_SILENCE_S = 10.0
"""A real market silent this long has no price (the engine's default stream_stale_after_s)."""
ERR_SCHEDULE_TOO_EARLY = "Scheduled cancel time too early, must be at least 5 seconds from now."


class SimExchange:
    """The paper venue: one account, one state file, every market of ``settings.markets``."""

    def __init__(
        self,
        settings: PaperSettings,
        clock: Clock,
        *,
        venue: str = "paper",
        half_spread: Decimal = DEFAULT_HALF_SPREAD,
        notional_per_tick: Decimal = DEFAULT_NOTIONAL_PER_TICK,
        fill_model: FillModel = FillModel.TOUCH,
        candles: Mapping[str, Sequence[Candle]] | None = None,
        source: PriceSource | None = None,
        live_coins: Collection[str] = (),
        silence_s: float = DEFAULT_SILENCE_S,
        funding: Callable[[], Mapping[str, Decimal]] | None = None,
    ) -> None:
        coins = [m.coin for m in settings.markets]
        if len(set(coins)) != len(coins):
            raise ValueError(f"paper markets list a coin twice: {coins}")
        self.venue = venue
        self._settings = settings
        self._clock = clock
        self._config = EngineConfig(
            venue, settings.maker_fee, settings.taker_fee, half_spread, fill_model
        )
        self._notional = notional_per_tick
        self._candles = dict(candles or {})
        """Series to replay instead of reading a market's ``candles_file`` (a backtest hands over
        the candles it already loaded and cut to its time range)."""
        self._source = source
        """Real prices: then the markets are ``live_coins`` and every coin the account holds
        a position or an order in, as the source lists them at ``start`` (with the venue's own
        size precision); ``settings.markets`` is not read."""
        self._live_coins = frozenset(live_coins)
        self._silence_s = silence_s
        self._funding = funding
        """Each coin's funding rate of the hour, charged on the open positions at every hour
        (as Hyperliquid does); None: none charged (the backtest counts funding itself)."""
        self._live: dict[str, LiveMarket] = {}
        self.last_ticks: dict[str, Tick] = {}
        """What each simulated market did in the last ``step`` (the mock prints it as trades)."""
        self._metas = (
            {}
            if source is not None
            else {
                m.coin: AssetMeta(m.coin, index, m.sz_decimals)
                for index, m in enumerate(settings.markets)
            }
        )
        self._subscribers: list[asyncio.Queue[StreamEvent]] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._broken = False
        self._faults_left = 0
        self._fault_message = ""
        self._fault_calls: frozenset[str] | None = None
        self._store = SimStore(settings.state_file)
        self._written: tuple[object, ...] | None = None
        """The account scalars last written (see ``_worth_writing``)."""
        try:
            self._engine, self._paths = self._load()
        except BaseException:
            self._store.close()
            raise

    @classmethod
    def in_memory(cls, settings: PaperSettings, clock: Clock, **kwargs: Any) -> SimExchange:
        """A venue whose state lives only as long as the object (tests)."""
        return cls(attrs.evolve(settings, state_file=Path(MEMORY)), clock, **kwargs)

    @staticmethod
    def open_readonly(path: Path | str) -> StoredState:
        """What a state file holds (positions, open orders, fills), without opening a venue."""
        return read_state(path)

    # ----------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        """Start the market. On real prices, first list the source's coins (a venue that does
        not answer raises a retryable ``ExchangeError``: the caller tries again)."""
        self._ensure_open()
        if self._source is not None and not self._live:
            held = {p.coin for p in self._engine.positions().values()}
            held |= {o.coin for o in self._engine.open_orders()}
            wanted = sorted(self._live_coins | held)
            listings = await self._source.start(wanted, self._on_mids, self._on_trades)
            for coin in wanted:
                if coin not in listings:
                    log.error(
                        "%s is not listed (or has no price) on %s: nothing trades it",
                        coin,
                        self._source.name,
                    )
            self._list(listings)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"{self.venue}-market")

    def serve_stop(self) -> None:
        """The paper venue has no rate limits to skip."""

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
            if not task.cancelled():
                task.exception()  # retrieved here; ``_run`` logged it when it happened
        if self._source is not None:
            await self._source.close()
        if not self._closed:
            self._closed = True
            self._store.close()

    async def _run(self) -> None:
        while True:
            await self._clock.sleep(self._settings.tick_interval_s)
            try:
                self.step()
            except ExchangeError as exc:
                if not exc.retryable:
                    log.exception("paper market loop stopped")
                    raise
                log.warning("paper market step failed, trying again next tick: %s", exc)
            except Exception:
                log.exception("paper market loop stopped")
                raise

    def step(self, dt_s: float | None = None) -> None:
        """One market tick: fire a due dead-man switch, move every market ``dt_s`` real seconds
        (× speed), match, commit, then stream. Tests and backtests call it directly."""
        self._ensure_open()
        dt = self._settings.tick_interval_s if dt_s is None else dt_s
        if dt < 0:
            raise ValueError("a market step cannot go back in time")
        now = self._clock.now_ms()
        self._engine.fire_schedule(now)
        for coin, path in self._paths.items():
            tick = path.next_tick(dt * self._settings.speed)
            self._engine.apply_tick(coin, tick, now)
            self.last_ticks[coin] = tick
        silent = []
        for coin, market in self._live.items():
            ticks = market.drain()
            if not ticks:
                silent.append(coin)
                if market.silent(now, self._silence_s):  # no taker fills at a stale price
                    self._engine.dry_up(coin)
            for tick in ticks:
                self._engine.apply_tick(coin, tick, now)
        mids = self._engine.mids()
        for coin in silent:  # no mid streamed: the bots' feed goes stale, as it would live
            del mids[coin]
        self._charge_funding(now)
        self._commit(self._path_states(), mids=[(now, mids)])

    def _charge_funding(self, now_ms: int) -> None:
        """At each new hour, the hour's funding on every open position; hours the venue was
        not running are charged too (at most a week of them, at today's rates): the positions
        were held."""
        if self._funding is None:
            return
        hour = now_ms // HOUR_MS
        last = self._engine.funding_hour
        if last is None:
            self._engine.funding_hour = hour  # the first hour is counted from now on
        elif hour > last:
            rates = self._funding()
            for paid in range(max(last + 1, hour - MAX_FUNDING_CATCHUP_H + 1), hour + 1):
                self._engine.charge_funding(rates, paid)

    def step_quietly(self, times_ms: Sequence[int]) -> bool:
        """Walk every market one point per time in ``times_ms`` in one go, when no point can
        reach a resting order and no dead-man switch comes due: one commit, each point's mids
        streamed with its time -- the events one ``step`` per point would stream, at a fraction
        of the cost (the backtest's quiet candles). False, with nothing moved, otherwise: then
        the caller steps point by point, so the bot can react to a fill before the next point.
        Only candle replays can look ahead; a generated market always answers False."""
        self._ensure_open()
        schedule = self._engine.schedule_cancel_ms
        if not times_ms or (schedule is not None and schedule <= times_ms[-1]):
            return False
        for coin, path in self._paths.items():
            ahead = path.peek(len(times_ms)) if isinstance(path, CandleReplay) else None
            if ahead is None:
                return False
            low, high = min(path.mid, *ahead), max(path.mid, *ahead)
            if self._engine.reaches(coin, low, high):
                return False
        mids: list[tuple[int, dict[str, Decimal]]] = []
        for at in times_ms:
            for coin, path in self._paths.items():
                self._engine.move_market(coin, path.next_tick(0))
            mids.append((at, self._engine.mids()))
        self._commit(self._path_states(), mids=mids)
        return True

    def _path_states(self) -> dict[str, dict[str, Any]]:
        """Where each market's path stands, for a durable store (a restart resumes there)."""
        if not self._store.durable:
            return {}
        states = {coin: path.state() for coin, path in self._paths.items()}
        states.update((coin, market.state()) for coin, market in self._live.items())
        return states

    # ----------------------------------------------------------------- Exchange protocol
    async def asset_meta(self, coin: str) -> AssetMeta:
        self._enter("asset_meta")
        return self._meta(coin)

    async def update_leverage(self, coin: str, leverage: int, *, cross: bool = True) -> None:
        """As Hyperliquid's ``updateLeverage``: 1 up to the coin's maximum, else refused."""
        self._enter("update_leverage")
        meta = self._meta(coin)
        if not self._engine.set_leverage(coin, leverage):
            raise ExchangeError(
                f"{ERR_LEVERAGE} ({leverage}x; {coin} allows 1 to {meta.max_leverage})",
                retryable=False,
            )

    async def all_mids(self) -> dict[str, Decimal]:
        """Every market's mid, but a real market's the venue has not spoken of for
        ``silence_s``: its last price is not a market a bot should quote around."""
        self._enter("all_mids")
        mids = self._engine.mids()
        now = self._clock.now_ms()
        for coin, market in self._live.items():
            if market.silent(now, self._silence_s):
                mids.pop(coin, None)
        return mids

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        self._enter("place_orders")
        for request in requests:
            self._meta(request.coin)
        now = self._clock.now_ms()
        with self._history(changing=True):  # a cloid check reads the archive
            acks = self._engine.place_many(requests, now)
        self._commit({})
        return acks

    async def cancel_orders(self, coin: str, exchange_ids: Sequence[int]) -> list[CancelAck]:
        self._enter("cancel_orders")
        self._meta(coin)
        acks = [self._engine.cancel(coin, exchange_id) for exchange_id in exchange_ids]
        self._commit({})
        return acks

    async def cancel_by_client_ids(self, coin: str, client_ids: Sequence[str]) -> list[CancelAck]:
        self._enter("cancel_by_client_ids")
        self._meta(coin)
        with self._history(changing=True):  # an unknown cloid is looked up in the archive
            acks = [self._engine.cancel_by_client_id(coin, cid) for cid in client_ids]
        self._commit({})
        return acks

    async def cancel_all(self, coin: str | None = None) -> int:
        """Cancel every open order (of one coin, or all); returns how many were canceled."""
        self._enter("cancel_all")
        if coin is not None:
            self._meta(coin)
        canceled = self._engine.cancel_all(coin)
        self._commit({})
        return canceled

    async def open_orders(self, coin: str | None = None) -> list[Order]:
        self._enter("open_orders")
        return self._engine.open_orders(coin)

    async def order_status(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> Order | None:
        self._enter("order_status")
        with self._history(changing=False):
            return self._find(exchange_id, client_id)

    async def fills_since(self, start_ms: int, coin: str | None = None) -> list[Fill]:
        self._enter("fills_since")
        with self._history(changing=False):
            return self._store.fills_since(start_ms, coin)

    async def positions(self) -> dict[str, Position]:
        self._enter("positions")
        return self._engine.positions()

    async def account(self) -> AccountSummary:
        self._enter("account")
        return self._engine.account(self._clock.now_ms(), charges_funding=self._funding is not None)

    async def schedule_cancel(self, at_ms: int | None) -> None:
        self._enter("schedule_cancel")
        if at_ms is not None and at_ms < self._clock.now_ms() + MIN_SCHEDULE_AHEAD_MS:
            raise ExchangeError(ERR_SCHEDULE_TOO_EARLY, retryable=False)
        self._engine.schedule_cancel_ms = at_ms
        self._commit({})

    def subscribe(self) -> asyncio.Queue[StreamEvent]:
        queue: asyncio.Queue[StreamEvent] = asyncio.Queue()
        self._subscribers.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None:
        if queue in self._subscribers:
            self._subscribers.remove(queue)

    # ----------------------------------------------------------------- venue extras
    def fail_next(
        self, count: int, message: str = "injected fault", *, calls: Iterable[str] | None = None
    ) -> None:
        """Make the next ``count`` API calls (optionally only those named in ``calls``, e.g.
        ``{"place_orders"}``) raise a retryable ``ExchangeError(message)``."""
        self._faults_left = count
        self._fault_message = message
        self._fault_calls = None if calls is None else frozenset(calls)

    def move_market(self, coin: str, price: Decimal) -> None:
        """Put a generated market at ``price`` from its next tick on (the mock's ``mockMove``:
        a test makes resting orders fill when it needs them to, not when the walk happens to).
        A replayed or real market follows its source and cannot be moved."""
        self._ensure_open()
        path = self._paths.get(coin)
        if coin in self._live:
            raise ValueError(f"{coin} follows real prices and cannot be moved")
        if path is None:
            raise ValueError(f"no market {coin!r} on this venue")
        if not isinstance(path, GeneratedPath):
            raise ValueError(f"{coin} replays candles and cannot be moved")
        path.move_to(price)

    @property
    def last_cancel_reason(self) -> str | None:
        """Why the latest cancel happened this session: canceled, scheduledCancel, ..."""
        return self._engine.last_cancel_reason

    def status_word(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> str | None:
        """Hyperliquid's orderStatus word for an order (open, filled, canceled, scheduledCancel,
        reduceOnlyCanceled, tickRejected, ...), or None if never seen."""
        with self._history(changing=False):
            order = self._find(exchange_id, client_id)
            if order is None:
                return None
            if order.status.is_live:
                return "open"
            if order.status is OrderStatus.FILLED:
                return "filled"
            return self._engine.reason(order.exchange_id) or order.status.value

    @property
    def balance(self) -> Decimal:
        """Cash: starting balance + realized PnL − fees."""
        return self._engine.balance

    def account_value(self) -> Decimal:
        """Cash plus unrealized PnL at the current mids."""
        return self._engine.equity()

    def bbo(self, coin: str) -> tuple[Decimal, Decimal]:
        """The synthetic best bid and ask."""
        self._meta(coin)
        return self._engine.bbo(coin)

    @property
    def replay_finished(self) -> bool:
        """True when every market is a candle replay that has reached its last close."""
        return self._source is None and all(path.finished for path in self._paths.values())

    # ----------------------------------------------------------------- internals
    def _on_mids(self, mids: Mapping[str, Decimal]) -> None:
        now = self._clock.now_ms()
        for coin, price in mids.items():
            market = self._live.get(coin)
            if market is not None:
                market.on_mid(price, now)

    def _on_trades(self, prints: Sequence[TradePrint]) -> None:
        now = self._clock.now_ms()
        for trade in prints:
            market = self._live.get(trade.coin)
            if market is not None:
                market.on_trade(trade.price, trade.size, now)

    def _list(self, listings: Mapping[str, Listing]) -> None:
        """Take the real markets on: the venue's size precision and leverage, the engine moved
        to the current mids (a restarted venue's stored ones are history). Nothing changes if
        that cannot be written (``start`` is tried again)."""
        assert self._source is not None
        now, name = self._clock.now_ms(), self._source.name
        before = self._metas, self._live
        self._metas = {coin: listing.meta for coin, listing in listings.items()}
        self._live = {
            coin: LiveMarket(listing, self._notional, name, now)
            for coin, listing in listings.items()
        }
        try:
            self._engine, self._paths = self._load()
        except BaseException:
            self._metas, self._live = before
            raise

    def _load(self) -> tuple[MatchingEngine, dict[str, PricePath]]:
        """Build the engine and paths from the store; a new file gets the starting state."""
        stored = self._store.load()
        if stored is None:
            records = EngineRecords(self._settings.starting_balance, 1, 1, None)
            path_states: Mapping[str, Mapping[str, Any]] = {}
        else:
            records, path_states = stored.records, stored.path_states
        self._check_price_kind(path_states)
        paths = (
            {}
            if self._source is not None
            else {
                m.coin: self._make_path(m, path_states.get(m.coin)) for m in self._settings.markets
            }
        )
        engine = MatchingEngine(self._config, self._metas, records, archive=self._store)
        known = {m.coin for m in records.markets}
        new_coins = [coin for coin in paths if coin not in known]
        for coin in new_coins:
            mid = paths[coin].mid
            depth = tick_volume(self._notional, mid, self._metas[coin].sz_decimals)
            engine.set_market(MarketState(coin, mid, depth, depth))
        for coin, market in self._live.items():
            engine.set_market(MarketState(coin, market.mid, market.depth, market.depth))
        written = {c: paths[c].state() for c in new_coins}
        written.update((coin, market.state()) for coin, market in self._live.items())
        if stored is None or written:
            try:
                self._store.commit(engine.take_changes(), written)
            except sqlite3.Error as exc:
                raise StateFileError(f"{self._store.path}: cannot write ({exc})") from exc
        return engine, paths

    def _check_price_kind(self, path_states: Mapping[str, Mapping[str, Any]]) -> None:
        """One state file holds one paper account: positions opened at simulated prices must
        not be marked at real ones (or back), nor at another venue's or network's, which would
        book a made-up profit or loss."""
        now = "simulated" if self._source is None else self._source.name
        for coin, state in path_states.items():
            was = state.get("source") if state.get("kind") == LIVE_KIND else "simulated"
            if was != now:
                raise StateFileError(
                    f"{self._store.path}: this paper account traded {coin} at {was} prices; "
                    f"trading at {now} prices needs its own state file (set [venue.paper] "
                    "state_file to a new file, e.g. data/paper-live.db)"
                )

    def _make_path(self, market: PaperMarket, state: Mapping[str, Any] | None) -> PricePath:
        kind = "generated" if market.candles_file is None else "candles"
        if state is not None and state.get("kind") != kind:
            log.warning(
                "%s: the stored price path is %s but the market is now %s; starting anew",
                market.coin,
                state.get("kind"),
                kind,
            )
            state = None
        if market.candles_file is not None:
            candles = self._candles.get(market.coin) or load_candles(market.candles_file)
            return CandleReplay(market, candles, self._notional, state)
        return GeneratedPath(market, self._settings.seed, self._notional, state=state)

    def _commit(
        self,
        path_states: Mapping[str, Mapping[str, Any]],
        *,
        mids: Sequence[tuple[int, Mapping[str, Decimal]]] = (),
    ) -> None:
        """Persist what changed, then (only then) stream it. A failed write rolls the venue back
        to the last committed state and fails the call."""
        changes = self._engine.take_changes()
        try:
            if self._worth_writing(changes, path_states):
                self._store.commit(changes, path_states)
        except sqlite3.Error as exc:
            log.exception(
                "paper venue: writing %s failed; reloading its last state", self._store.path
            )
            self._recover()
            raise ExchangeError(f"paper venue could not save its state: {exc}") from exc
        events: list[StreamEvent] = []
        for at, prices in mids:
            events.extend(MidUpdated(c, mid, at) for c, mid in prices.items())
        if changes.fills:
            events.append(FillsReceived(changes.fills))
        events.extend(OrderUpdated(order) for order in changes.orders)
        for queue in self._subscribers:
            for event in events:
                queue.put_nowait(event)

    def _worth_writing(
        self, changes: EngineRecords, path_states: Mapping[str, Mapping[str, Any]]
    ) -> bool:
        """An in-memory venue (the backtest's) keeps prices in memory only: a step that moved
        nothing but the markets is not written (it was a third of a replay's time). Orders,
        fills, positions and the account's scalars are always written: the store is also the
        archive the venue answers history from."""
        scalars = (
            changes.balance,
            changes.next_order_id,
            changes.next_trade_id,
            changes.schedule_cancel_ms,
        )
        if self._store.durable or path_states or changes.orders or changes.fills:
            self._written = scalars
            return True
        if changes.positions or scalars != self._written:
            self._written = scalars
            return True
        return False

    @contextmanager
    def _history(self, *, changing: bool) -> Iterator[None]:
        """A call that reads the state file fails as a whole, like a failed write; one that was
        ``changing`` the engine when the read failed rolls it back to the last stored state."""
        try:
            yield
        except StateFileError as exc:
            log.error("paper venue: reading %s failed: %s", self._store.path, exc)
            if changing:
                self._recover()
            raise ExchangeError(f"paper venue could not read its history: {exc}") from exc

    def _recover(self) -> None:
        try:
            self._engine, self._paths = self._load()
        except Exception as exc:
            log.exception("paper venue: cannot reload %s; refusing further calls", self._store.path)
            self._broken = True
            raise ExchangeError(f"paper venue state is unusable: {exc}", retryable=False) from exc

    def _enter(self, call: str) -> None:
        """Common entry of API calls: open check, injected faults, a due dead-man switch."""
        self._ensure_open()
        if self._faults_left > 0 and (self._fault_calls is None or call in self._fault_calls):
            self._faults_left -= 1
            raise ExchangeError(self._fault_message, retryable=True)
        if self._engine.fire_schedule(self._clock.now_ms()):
            self._commit({})

    def _ensure_open(self) -> None:
        if self._closed or self._broken:
            state = "closed" if self._closed else "unusable after a failed state write"
            raise ExchangeError(f"the {self.venue} venue is {state}", retryable=False)

    def _meta(self, coin: str) -> AssetMeta:
        meta = self._metas.get(coin)
        if meta is None and self._source is not None:
            raise ExchangeError(f"{coin} is not listed on {self._source.name}", retryable=False)
        if meta is None:
            raise ExchangeError(f"unknown coin {coin!r} on the {self.venue} venue", retryable=False)
        return meta

    def _find(self, exchange_id: int | None, client_id: str | None) -> Order | None:
        if (exchange_id is None) == (client_id is None):
            raise ValueError("give exactly one of exchange_id and client_id")
        if exchange_id is not None:
            return self._engine.order(exchange_id)
        return self._engine.order_by_client_id(client_id or "")
