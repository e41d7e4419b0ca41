"""The state behind the mock exchange: the paper engine, the funded account, agents, nonces.

``MockExchange`` is what every request handler (info.py, actions.py, ws.py) reads and changes, and
what server.py serves; it knows nothing of HTTP. Every market step and executed action
``publish``-es the engine's stream events to listeners (the WebSocket hub), and ``faults``
(faults.py, settable at runtime) decides which requests fail, stall or lose their answer.

One funded account per mock: ``fund`` binds it (mock-only, also reachable as the info request
``{"type": "mockFund", "user": ADDR, "usd": "1000"}``); ``approve_agent`` lets an agent trade
for it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import Clock
from gridtui.core.rounding import Rounding, round_price, round_size
from gridtui.core.types import AssetMeta
from gridtui.exchanges.base import StreamEvent
from gridtui.exchanges.hyperliquid.mock.faults import Faults
from gridtui.exchanges.hyperliquid.wire import candle_open_ms, candle_shift_ms
from gridtui.exchanges.sim import SimExchange
from gridtui.exchanges.sim.price_path import SplitMix64, derive_seed

log = logging.getLogger(__name__)

NONCES_KEPT = 100
NONCE_WINDOW_MS = 86_400_000
DEFAULT_MARKETS = (
    PaperMarket(coin="BTC", start_price=Decimal("64000"), sz_decimals=5),
    PaperMarket(coin="ETH", start_price=Decimal("3000"), sz_decimals=4),
)
MOCK_VENUE = "hyperliquid"


@attrs.frozen(slots=True)
class MarketTraded:
    """The trades one market step printed, for the ``trades`` channel: half the step's volume
    at its low (a seller hitting the bids), half at its high (a buyer lifting the asks)."""

    coin: str
    prints: tuple[tuple[Decimal, Decimal, str], ...]
    """(price, size, side) per trade; side as the venue writes it: "A" sold, "B" bought."""


MockEvent = StreamEvent | MarketTraded
Listener = Callable[[Sequence[MockEvent], int], None]
"""Receives one published batch of engine events and the mock time it was published at."""


def market_traded(coin: str, low: Decimal, high: Decimal, volume: Decimal, sz: int) -> MarketTraded:
    """The trades of one step that moved between ``low`` and ``high`` trading ``volume``."""
    half = round_size(volume / 2, sz)
    prints = ((low, half, "A"), (high, half, "B")) if half > 0 else ()
    return MarketTraded(coin, prints)


class MockError(Exception):
    """A mock-only request (funding, approving) that cannot be honoured."""


class NonceBook:
    """Per signer, the highest ``NONCES_KEPT`` nonces: Hyperliquid's replay protection."""

    def __init__(self) -> None:
        self._kept: dict[str, list[int]] = {}

    def check_and_use(self, signer: str, nonce: int, now_ms: int) -> str | None:
        """The refusal message, or None after recording ``nonce`` as used."""
        kept = self._kept.setdefault(signer, [])
        if nonce in kept:
            return f"Invalid nonce: duplicate nonce {nonce}"
        if abs(nonce - now_ms) > NONCE_WINDOW_MS:
            return f"Invalid nonce: {nonce} is more than a day away from the exchange time {now_ms}"
        if len(kept) >= NONCES_KEPT and nonce < kept[0]:
            return f"Invalid nonce: {nonce} is lower than the lowest kept nonce {kept[0]}"
        kept.append(nonce)
        kept.sort()
        del kept[:-NONCES_KEPT]
        return None


class MockExchange:
    """The state behind the mock: the engine, the funded account, agents, nonces, leverage."""

    def __init__(
        self,
        settings: PaperSettings,
        clock: Clock,
        *,
        is_mainnet: bool = False,
        seed: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        if not settings.markets:
            raise ValueError("the mock exchange needs at least one market")
        self.settings = settings if seed is None else attrs.evolve(settings, seed=seed)
        self.clock = clock
        self.is_mainnet = is_mainnet
        self.account: str | None = None
        self.agents: dict[str, str] = {}
        """Approved agent address → the master it trades for."""
        self.nonces = NonceBook()
        self.leverage: dict[str, tuple[bool, int]] = {}
        """Coin → (is_cross, leverage) as set by updateLeverage."""
        self.actions_used = 0
        self.faults = Faults() if faults is None else faults
        """What goes wrong; tests replace it at runtime (start a 429 storm, stop it)."""
        self.release_held = asyncio.Event()
        """Set on shutdown: requests held by a timeout-after-accept fault give up at once."""
        self._listeners: list[Listener] = []
        self.sim = self._new_sim(self.settings)
        self._stream = self.sim.subscribe()
        self.history = MarketHistory(self.settings.markets, self.settings.seed)
        """The markets before now: candleSnapshot and fundingHistory (fixed at construction,
        so funding the account, which restarts the engine at the current mids, changes no
        candle already served)."""

    def _new_sim(self, settings: PaperSettings) -> SimExchange:
        return SimExchange.in_memory(settings, self.clock, venue=MOCK_VENUE)

    @property
    def metas(self) -> dict[str, AssetMeta]:
        return {
            m.coin: AssetMeta(m.coin, i, m.sz_decimals) for i, m in enumerate(self.settings.markets)
        }

    @property
    def coins_by_asset(self) -> dict[int, str]:
        return {i: m.coin for i, m in enumerate(self.settings.markets)}

    async def fund(self, address: str, usd: Decimal) -> None:
        """Bind the mock's one account and give it ``usd``. The engine is rebuilt with that
        balance, its markets starting from the current mids so prices do not jump."""
        address = address.lower()
        if not usd.is_finite() or usd <= 0:
            raise MockError(f"mockFund: usd must be positive, got {usd}")
        if self.account is not None:
            raise MockError(f"mockFund: this mock already serves account {self.account}")
        mids = await self.sim.all_mids()
        markets = tuple(attrs.evolve(m, start_price=mids[m.coin]) for m in self.settings.markets)
        self.settings = attrs.evolve(self.settings, starting_balance=usd, markets=markets)
        self.publish()
        old, self.sim = self.sim, self._new_sim(self.settings)
        self._stream = self.sim.subscribe()
        await old.close()
        self.account = address
        log.info("mock exchange: funded %s with %s USD", address, usd)

    def approve_agent(self, master: str, agent: str) -> None:
        """Let ``agent`` sign L1 actions for the funded ``master``."""
        master, agent = master.lower(), agent.lower()
        if master != self.account:
            raise MockError(f"Must deposit before performing actions. User: {master}")
        if agent == master:
            raise MockError("an account cannot be its own agent")
        self.agents[agent] = master
        log.info("mock exchange: %s approved agent %s", master, agent)

    def master_of(self, signer: str) -> str | None:
        """The account a signer may act for: itself when funded, or the master that approved it."""
        if signer == self.account:
            return signer
        return self.agents.get(signer)

    def step(self, dt_s: float | None = None) -> None:
        """One market tick (and a due scheduleCancel); tests drive it with a SimClock."""
        self.sim.step(dt_s)
        metas = self.metas
        self.publish(
            [
                market_traded(coin, t.low, t.high, t.volume, metas[coin].sz_decimals)
                for coin, t in self.sim.last_ticks.items()
            ]
        )

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self, trades: Sequence[MarketTraded] = ()) -> None:
        """Hand the engine's queued stream events (mids, fills, order changes) and a step's
        ``trades`` to every listener as one batch. Called right after each step and action, so
        the WebSocket sees changes in the order the engine made them."""
        events: list[MockEvent] = [t for t in trades if t.prints]
        while not self._stream.empty():
            events.append(self._stream.get_nowait())
        if not events:
            return
        now = self.clock.now_ms()
        for listener in list(self._listeners):
            listener(events, now)

    async def close(self) -> None:
        await self.sim.close()


# -- market history: the candles and funding rates the info requests serve ----------------------

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_YEAR_MS = 365 * 86_400_000
HISTORY_SCALES_MS = (60_000, 3_600_000, 86_400_000, 604_800_000, 30 * 86_400_000)
"""The time scales of the history's price wiggles: a minute, an hour, a day, a week, a month."""
FUNDING_INTERVAL_MS = 3_600_000
FUNDING_START_MS = 1_683_849_600_000
"""2023-05-12T00:00:00Z, where the venue's funding history starts."""
BASE_FUNDING_RATE = Decimal("0.0000125")
"""Hyperliquid's interest component per hour (0.01% per 8 hours)."""
MAX_PREMIUM = Decimal("0.0004")
_EIGHT = Decimal("1E-8")
NOTIONAL_PER_MINUTE = Decimal(100_000)
"""USD traded per minute of a candle, on average."""


@attrs.frozen(slots=True)
class HistoryCandle:
    open_ms: int
    close_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    trades: int


@attrs.frozen(slots=True)
class HistoryFunding:
    time_ms: int
    rate: Decimal
    premium: Decimal


@functools.lru_cache(maxsize=1 << 16)
def _unit(base: int, k: int) -> float:
    """Uniform in [-1, 1): the ``k``-th value of the stream ``base`` (a pure function)."""
    return SplitMix64((base + k * _GOLDEN) & _MASK64).uniform() * 2.0 - 1.0


def _draws(base: int, key: int) -> SplitMix64:
    """A generator for everything random about the thing at ``key`` (a candle's open time)."""
    return SplitMix64((base + key * _GOLDEN) & _MASK64)


class MarketHistory:
    """The mock's market before now: candles and hourly funding as a pure function of the seed,
    the coin and the time, so the same request always gets the same answer, a candle reads the
    same on every page and neighbouring candles join (one's close is the next one's open).

    A price is the market's start price times exp(the sum of one wiggle per time scale: values
    drawn at every multiple of the scale, joined by straight lines, sized by the market's
    volatility over that scale). A candle opens and closes on that curve; its high and low reach
    past them by a draw sized by the volatility over the candle. The newest candle (the one now
    falls in) is served as it will close: nothing here changes as the mock's clock moves.
    """

    def __init__(self, markets: Sequence[PaperMarket], seed: int) -> None:
        self._seed = seed
        self._markets = {m.coin: m for m in markets}
        self._layers = {
            m.coin: tuple(
                (
                    derive_seed(seed, f"{m.coin}:history:{scale}"),
                    scale,
                    m.volatility * math.sqrt(scale / _YEAR_MS),
                )
                for scale in HISTORY_SCALES_MS
            )
            for m in markets
        }

    def price(self, coin: str, time_ms: int) -> Decimal:
        """The mid at ``time_ms`` on the price grid (``coin`` must be one of the markets)."""
        market = self._markets[coin]
        offset = 0.0
        for base, scale, amplitude in self._layers[coin]:
            k, into = divmod(time_ms, scale)
            a, b = _unit(base, k), _unit(base, k + 1)
            offset += amplitude * (a + (b - a) * into / scale)
        raw = float(market.start_price) * math.exp(offset)
        return round_price(Decimal(repr(raw)), market.sz_decimals)

    def candles(
        self,
        coin: str,
        interval: str,
        start_ms: int,
        end_ms: int,
        *,
        now_ms: int,
        kept: int,
        limit: int,
    ) -> list[HistoryCandle]:
        """The candles opening from ``start_ms`` to ``end_ms`` among the newest ``kept`` ones
        (the newest is the one ``now_ms`` falls in), oldest first, at most ``limit``; none for
        a coin the mock does not list."""
        market = self._markets.get(coin)
        if market is None:
            return []
        newest = candle_open_ms(interval, now_ms)
        oldest = max(candle_shift_ms(interval, newest, 1 - kept), 0)
        first = max(start_ms, oldest)
        at = candle_open_ms(interval, first)
        if at < first:
            at = candle_shift_ms(interval, at, 1)
        last = min(end_ms, newest)
        wick_base = derive_seed(self._seed, f"{coin}:wick:{interval}")
        out: list[HistoryCandle] = []
        opened = self.price(coin, at) if at <= last else None
        while opened is not None and at <= last and len(out) < limit:
            following = candle_shift_ms(interval, at, 1)
            closed = self.price(coin, following)
            out.append(self._candle(market, wick_base, at, following, opened, closed))
            at, opened = following, closed
        return out

    def _candle(
        self,
        market: PaperMarket,
        wick_base: int,
        open_ms: int,
        next_ms: int,
        opened: Decimal,
        closed: Decimal,
    ) -> HistoryCandle:
        draws = _draws(wick_base, open_ms)
        length = next_ms - open_ms
        wick = 0.5 * market.volatility * math.sqrt(length / _YEAR_MS)
        top, bottom = max(opened, closed), min(opened, closed)
        high_raw = float(top) * math.exp(wick * draws.uniform())
        low_raw = float(bottom) * math.exp(-wick * draws.uniform())
        high = max(top, round_price(Decimal(repr(high_raw)), market.sz_decimals, Rounding.UP))
        low = min(bottom, round_price(Decimal(repr(low_raw)), market.sz_decimals, Rounding.DOWN))
        minutes = Decimal(length) / 60_000
        notional = NOTIONAL_PER_MINUTE * minutes * Decimal(repr(0.25 + 1.5 * draws.uniform()))
        volume = round_size(notional / closed, market.sz_decimals)
        trades = max(1, int(float(minutes) * 30 * draws.uniform()))
        return HistoryCandle(open_ms, next_ms - 1, opened, high, low, closed, volume, trades)

    def funding(self, coin: str, start_ms: int, end_ms: int, *, limit: int) -> list[HistoryFunding]:
        """Hourly funding (on the hour, from ``FUNDING_START_MS``) from ``start_ms`` to
        ``end_ms``, oldest first, at most ``limit``; none for a coin the mock does not list.
        The rate is the hourly interest plus an eighth of the premium, drawn in ±0.04%."""
        if coin not in self._markets:
            return []
        base = derive_seed(self._seed, f"{coin}:funding")
        hour = FUNDING_INTERVAL_MS
        first = max(start_ms, FUNDING_START_MS)
        at = -(-first // hour) * hour
        out: list[HistoryFunding] = []
        while at <= end_ms and len(out) < limit:
            premium = (MAX_PREMIUM * Decimal(repr(_unit(base, at // hour)))).quantize(_EIGHT)
            rate = (BASE_FUNDING_RATE + premium / 8).quantize(_EIGHT)
            out.append(HistoryFunding(at, rate, premium))
            at += hour
        return out
