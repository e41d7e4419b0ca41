"""The composition root for one bot: the only place components are constructed and wired.

Everything a bot needs is injected from here, so tests can build the same graph over a SimExchange
and a SimClock, and a restarted bot is simply a freshly built graph over the same journal.
"""

from __future__ import annotations

import attrs

from gridtui.config.schema import AppConfig, BotSettings
from gridtui.core.clock import Clock
from gridtui.core.events import EventBus
from gridtui.core.types import AssetMeta
from gridtui.exchanges.base import Exchange
from gridtui.execution.account_watch import AccountWatch
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.grid_builder import GridBuilder
from gridtui.execution.position_closer import PositionCloser
from gridtui.execution.position_opener import PositionOpener
from gridtui.execution.reconciliation_service import ReconciliationService
from gridtui.execution.rest_poller import RestPoller
from gridtui.market_data.feed import MarketFeed
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import CircuitBreaker
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.risk.risk_engine import RiskEngine, RiskMemory
from gridtui.state.data_dir import VenueIdentity, journal_path, prepare_journal_dir
from gridtui.state.order_state_machine import OrderStateMachine
from gridtui.state.shadow_ledger import ShadowLedger
from gridtui.state.state_manager import StateManager
from gridtui.state.store import Store
from gridtui.strategy.strategy import Strategy


@attrs.define
class BotComponents:
    settings: BotSettings
    meta: AssetMeta
    exchange: Exchange
    clock: Clock
    bus: EventBus
    metrics: Metrics
    alerter: Alerter
    store: Store
    state: StateManager
    machine: OrderStateMachine
    ledger: ShadowLedger
    dedup: FillDeduplicator
    processor: FillProcessor
    breaker: CircuitBreaker
    gateway: ExecutionGateway
    risk: RiskEngine
    strategy: Strategy
    feed: MarketFeed
    builder: GridBuilder
    reconciliation: ReconciliationService
    closer: PositionCloser
    opener: PositionOpener
    poller: RestPoller
    dead_man: DeadManSwitch

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def coin(self) -> str:
        return self.settings.coin

    def close(self) -> None:
        self.store.close()

    def report_metrics(self) -> None:
        """The bot's figures as of now, for /metrics (once per cycle; its status is the
        supervisor's to publish, as it changes, whether the bot cycles or not)."""
        bot, coin = self.name, self.coin
        self.metrics.set_state(bot, coin, self.state.get_snapshot(), now_ms=self.clock.now_ms())
        self.metrics.set_open_orders(bot, coin, self.ledger.live_count())
        age = self.feed.age_s()
        if age is not None:
            self.metrics.set_stream_age(bot, coin, age)
        self.metrics.set_breaker_state(bot, coin, self.breaker.state)


async def build_bot(
    settings: BotSettings,
    *,
    config: AppConfig,
    exchange: Exchange,
    dead_man: DeadManSwitch,
    bus: EventBus,
    clock: Clock,
    metrics: Metrics,
    identity: VenueIdentity,
    continue_session: bool = False,
    account_watch: AccountWatch | None = None,
    risk_memory: RiskMemory | None = None,
) -> BotComponents:
    """The bot's graph over its journal, which lives in ``identity``'s folder (checked here, so
    no graph is ever built over another venue's or account's books)."""
    meta = await exchange.asset_meta(settings.coin)
    bot, coin = settings.name, settings.coin
    prepare_journal_dir(config.data_dir, identity)
    path = journal_path(config.data_dir, identity, bot)
    store = Store(path, venue=exchange.venue, bot=bot, coin=coin)
    try:
        state = StateManager(store, clock, bot=bot, coin=coin, continue_session=continue_session)
    except Exception:
        store.close()
        raise
    alerter = Alerter(bus, clock)
    machine = OrderStateMachine(on_refused=lambda: metrics.order_transition_refused(bot, coin))
    ledger = ShadowLedger(store, machine, clock)
    dedup = FillDeduplicator(store)
    processor = FillProcessor(state, dedup, ledger, bus, clock)
    breaker = CircuitBreaker(config.breaker, clock)
    gateway = ExecutionGateway(exchange, ledger, breaker, bus, clock, metrics, bot=bot, coin=coin)
    risk = RiskEngine(settings.risk, clock, max_leverage=meta.max_leverage, memory=risk_memory)
    strategy = Strategy(coin, settings.grid, meta)
    account = account_watch or AccountWatch(exchange, clock)
    builder = GridBuilder(gateway, strategy, risk, state, alerter, bus, clock, metrics, account)
    feed = MarketFeed(coin, clock, config.engine.stream_stale_after_s)
    reconciliation = ReconciliationService(
        exchange,
        processor,
        gateway,
        state,
        alerter,
        bus,
        clock,
        metrics,
        retry_base_s=config.engine.restart_backoff_s,
        retry_cap_s=config.engine.restart_backoff_max_s,
    )
    return BotComponents(
        settings=settings,
        meta=meta,
        exchange=exchange,
        clock=clock,
        bus=bus,
        metrics=metrics,
        alerter=alerter,
        store=store,
        state=state,
        machine=machine,
        ledger=ledger,
        dedup=dedup,
        processor=processor,
        breaker=breaker,
        gateway=gateway,
        risk=risk,
        strategy=strategy,
        feed=feed,
        builder=builder,
        reconciliation=reconciliation,
        opener=PositionOpener(
            gateway,
            state,
            risk,
            account,
            meta,
            clock,
            target=settings.grid.initial_position,
        ),
        closer=PositionCloser(
            gateway,
            state,
            reconciliation,
            meta,
            alerter,
            max_slippage_pct=settings.risk.max_slippage_pct,
        ),
        poller=RestPoller(exchange, reconciliation, feed, clock, metrics, bot=bot, coin=coin),
        dead_man=dead_man,
    )
