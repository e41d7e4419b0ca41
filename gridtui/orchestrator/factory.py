"""The composition root for one bot: the only place components are constructed and wired.

Everything a bot needs is injected from here, so tests can build the same graph over a SimExchange
and a SimClock, and a restarted bot is simply a freshly built graph over the same journal.
"""

from __future__ import annotations

from pathlib import Path

import attrs

from gridtui.config.schema import AppConfig, BotSettings
from gridtui.core.clock import Clock
from gridtui.core.events import EventBus
from gridtui.core.types import AssetMeta
from gridtui.exchanges.base import Exchange
from gridtui.execution.execution_gateway import ExecutionGateway
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.execution.fill_processor import FillProcessor
from gridtui.execution.grid_builder import GridBuilder
from gridtui.execution.order_state_machine import OrderStateMachine
from gridtui.execution.reconciliation_service import ReconciliationService
from gridtui.execution.rest_poller import RestPoller
from gridtui.market_data.feed import MarketFeed
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.circuit_breaker import CircuitBreaker
from gridtui.risk.dead_man_switch import DeadManSwitch
from gridtui.risk.risk_engine import RiskEngine
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
    ledger: ShadowLedger
    processor: FillProcessor
    breaker: CircuitBreaker
    gateway: ExecutionGateway
    risk: RiskEngine
    strategy: Strategy
    feed: MarketFeed
    builder: GridBuilder
    reconciliation: ReconciliationService
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


def journal_path(data_dir: Path, bot_name: str) -> Path:
    return data_dir / f"{bot_name}.db"


async def build_bot(
    settings: BotSettings,
    *,
    config: AppConfig,
    exchange: Exchange,
    dead_man: DeadManSwitch,
    bus: EventBus,
    clock: Clock,
    metrics: Metrics,
) -> BotComponents:
    meta = await exchange.asset_meta(settings.coin)
    bot, coin = settings.name, settings.coin
    store = Store(journal_path(config.data_dir, bot), venue=exchange.venue, bot=bot, coin=coin)
    try:
        state = StateManager(store, clock, bot=bot, coin=coin)
    except Exception:
        store.close()
        raise
    alerter = Alerter(bus, clock)
    ledger = ShadowLedger(store, OrderStateMachine(), clock)
    processor = FillProcessor(state, FillDeduplicator(store), ledger, bus, clock)
    breaker = CircuitBreaker(config.breaker, clock)
    gateway = ExecutionGateway(exchange, ledger, breaker, bus, clock, metrics, bot=bot, coin=coin)
    risk = RiskEngine(settings.risk, clock)
    builder = GridBuilder(gateway, risk, state, alerter, bus, clock, metrics)
    reconciliation = ReconciliationService(
        exchange, processor, gateway, state, alerter, bus, clock, metrics
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
        ledger=ledger,
        processor=processor,
        breaker=breaker,
        gateway=gateway,
        risk=risk,
        strategy=Strategy(coin, settings.grid, meta),
        feed=MarketFeed(coin, clock, config.engine.stream_stale_after_s),
        builder=builder,
        reconciliation=reconciliation,
        poller=RestPoller(exchange, reconciliation, clock, metrics, bot=bot, coin=coin),
        dead_man=dead_man,
    )
