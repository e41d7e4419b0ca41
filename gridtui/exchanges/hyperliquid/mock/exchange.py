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
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal

import attrs

from gridtui.config.schema import PaperMarket, PaperSettings
from gridtui.core.clock import Clock
from gridtui.core.types import AssetMeta
from gridtui.exchanges.base import StreamEvent
from gridtui.exchanges.hyperliquid.mock.faults import Faults
from gridtui.exchanges.sim import SimExchange

log = logging.getLogger(__name__)

NONCES_KEPT = 100
NONCE_WINDOW_MS = 86_400_000
DEFAULT_MARKETS = (
    PaperMarket(coin="BTC", start_price=Decimal("64000"), sz_decimals=5),
    PaperMarket(coin="ETH", start_price=Decimal("3000"), sz_decimals=4),
)
MOCK_VENUE = "hyperliquid"
Listener = Callable[[Sequence[StreamEvent], int], None]
"""Receives one published batch of engine events and the mock time it was published at."""


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

    def _new_sim(self, settings: PaperSettings) -> SimExchange:
        return SimExchange.in_memory(settings, self.clock, venue=MOCK_VENUE, account="mock")

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
        self.publish()

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def publish(self) -> None:
        """Hand the engine's queued stream events (mids, fills, order changes) to every listener
        as one batch. Called right after each step and action, so the WebSocket sees changes in
        the order the engine made them."""
        events: list[StreamEvent] = []
        while not self._stream.empty():
            events.append(self._stream.get_nowait())
        if not events:
            return
        now = self.clock.now_ms()
        for listener in list(self._listeners):
            listener(events, now)

    async def close(self) -> None:
        await self.sim.close()
