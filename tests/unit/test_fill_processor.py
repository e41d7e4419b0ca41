"""FillProcessor: exactly once, journal before position, never a silent failure."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from bot_kit import Env, EnvFactory, use_dedup

from gridtui.core.events import AlertRaised, OrderFilled, Severity
from gridtui.core.types import Fill, OrderRequest, OrderStatus, Side
from gridtui.execution.fill_deduplicator import FillDeduplicator
from gridtui.orchestrator.factory import BotComponents

D = Decimal
T0 = 1_700_000_000_000
CID = "0x" + "e" * 32


def fill(tid: int, side: Side = Side.BUY, size: str = "1", price: str = "100", **kw) -> Fill:  # type: ignore[no-untyped-def]
    base = Fill("paper", "BTC", tid, 555, CID, side, D(price), D(size), D("0.02"), T0 + tid)
    return attrs.evolve(base, **kw)


@pytest.fixture
def env(make_env: EnvFactory) -> Env:
    return make_env(start_ms=T0 + 1_000)


def test_fill_is_applied_once_and_duplicate_caught_in_memory(env: Env, bot: BotComponents) -> None:
    first = bot.processor.process_fill(fill(1, size="2", price="100"))
    assert (first.applied, first.duplicate) == (True, False)
    assert first.position == D("2")
    assert first.realized_delta == D("-0.02")
    again = bot.processor.process_fill(fill(1, size="2", price="100"))
    assert (again.applied, again.duplicate, again.realized_delta) == (False, True, 0)
    assert again.position == first.position == bot.state.get_snapshot().position
    assert bot.state.store.fill_count() == 1
    assert len(env.of_type(OrderFilled)) == 1


async def test_duplicate_caught_by_the_store_after_a_restart(env: Env) -> None:
    first = await env.build()
    first.processor.process_fill(fill(1))
    first.close()

    second = await env.build()  # the same journal
    result = second.processor.process_fill(fill(1))
    assert result.duplicate and not result.applied
    assert second.state.get_snapshot().position == D("1")


def test_duplicate_caught_by_the_store_when_memory_misses(bot: BotComponents) -> None:
    stale = FillDeduplicator(bot.store)  # seeded before the fill is journaled
    bot.processor.process_fill(fill(1))
    use_dedup(bot, stale)
    result = bot.processor.process_fill(fill(1))
    assert result.duplicate and not result.applied
    assert bot.state.get_snapshot().position == D("1")
    assert stale.seen(fill(1).key)  # learned from the store


def test_order_status_follows_the_fills(env: Env, bot: BotComponents) -> None:
    bot.ledger.add_pending(
        OrderRequest("BTC", Side.BUY, D("100"), D("3"), CID), level=-1, generation=0
    )
    bot.ledger.on_ack(CID, 555)
    r1 = bot.processor.process_fill(fill(1, size="1"))
    r2 = bot.processor.process_fill(fill(2, size="2", client_id=None))  # matched by exchange id
    assert r1.order_status is OrderStatus.PARTIALLY_FILLED
    assert r2.order_status is OrderStatus.FILLED
    assert bot.ledger.live_count() == 0
    event = env.events[-1]
    assert isinstance(event, OrderFilled)
    assert (event.bot, event.coin, event.trade_id, event.position) == ("b1", "BTC", 2, D("3"))
    assert event.timestamp_ms == env.clock.now_ms()


def test_fill_of_an_unknown_order_still_counts(bot: BotComponents) -> None:
    result = bot.processor.process_fill(fill(1, client_id="0x" + "9" * 32, exchange_order_id=1))
    assert result.applied and result.order_status is None
    assert bot.state.get_snapshot().position == D("1")


def test_fill_of_another_coin_alerts_and_raises(env: Env, bot: BotComponents) -> None:
    with pytest.raises(ValueError):
        bot.processor.process_fill(fill(1, coin="ETH"))
    (alert,) = env.events
    assert isinstance(alert, AlertRaised)
    assert (alert.severity, alert.kind, alert.bot) == (
        Severity.CRITICAL,
        "fill_processing_error",
        "b1",
    )
    assert bot.state.get_snapshot().fill_count == 0


def test_store_failure_alerts_reraises_and_allows_a_retry(
    env: Env, bot: BotComponents, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_fills: list[Fill]) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(bot.state, "apply_fills_sync", broken)
    with pytest.raises(OSError, match="disk gone"):
        bot.processor.process_fill(fill(1))
    assert [type(e) for e in env.events] == [AlertRaised]
    assert "disk gone" in env.events[0].message  # type: ignore[attr-defined]
    monkeypatch.undo()
    assert not bot.dedup.seen(fill(1).key)  # not marked seen: the retry applies it
    assert bot.processor.process_fill(fill(1)).applied


def test_process_fills_runs_in_execution_order(bot: BotComponents) -> None:
    late = fill(3, side=Side.SELL, price="110", timestamp_ms=T0 + 50)
    early = fill(7, side=Side.BUY, price="100", timestamp_ms=T0 + 10)
    same_ms = fill(5, side=Side.BUY, price="104", timestamp_ms=T0 + 10)
    results = bot.processor.process_fills([late, early, same_ms])
    assert [r.fill.trade_id for r in results] == [5, 7, 3]
    # long 2 @ 102 then sell 1 @ 110: +8 gross, three fees of 0.02
    assert bot.state.get_snapshot().all_time_realized == D("7.94")
