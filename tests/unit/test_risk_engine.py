"""RiskEngine: every limit at its boundary, the reduce exemption, the token bucket, equity halts."""

from __future__ import annotations

from decimal import Decimal as D

import attrs

from gridtui.config.schema import RiskLimits
from gridtui.core.account import AccountSummary
from gridtui.core.clock import UTC_DAY_MS, SimClock, utc_day
from gridtui.core.types import OrderRequest, Side
from gridtui.risk.risk_engine import RiskEngine, RiskKind
from gridtui.state.accounting import BotState, HaltKind

START_MS = 1_700_000_000_000
CID = "0x" + "0" * 32
ROOMY = RiskLimits(
    max_position=D(100),
    max_notional=D(10**9),
    max_open_orders=1000,
    max_orders_per_second=D(1000),
    order_burst=1000,
    max_drawdown=D(10**9),
    daily_loss_limit=D(10**9),
)


def engine(**limits) -> tuple[RiskEngine, SimClock]:
    clock = SimClock(start_ms=START_MS)
    return RiskEngine(attrs.evolve(ROOMY, **limits), clock, max_leverage=50), clock


def state(**fields) -> BotState:
    return attrs.evolve(BotState.fresh("bot", "ETH", START_MS), **fields)


def order(side: Side, size: str, price: str = "2000", **kw) -> OrderRequest:
    return OrderRequest("ETH", side, D(price), D(size), CID, **kw)


def allow(risk: RiskEngine, request: OrderRequest, st: BotState, resting=(), mark="2000"):
    return risk.allow_order(request, state=st, open_orders=list(resting), mark=D(mark))


def test_a_halted_bot_may_not_place_orders() -> None:
    risk, _ = engine()
    decision = allow(risk, order(Side.BUY, "0.1"), state(halted=True, halt_reason="drawdown: x"))
    assert not decision.allowed
    assert decision.kind is RiskKind.HALTED
    assert "drawdown: x" in decision.reason
    assert decision.halt is None


def test_open_order_count_refuses_at_the_limit() -> None:
    risk, _ = engine(max_open_orders=3)
    resting = [order(Side.SELL, "0.1", "2100")] * 2
    assert allow(risk, order(Side.BUY, "0.1"), state(), resting).allowed
    decision = allow(risk, order(Side.BUY, "0.1"), state(), [*resting, order(Side.SELL, "0.1")])
    assert decision.kind is RiskKind.OPEN_ORDERS
    assert decision.reason == "open orders: 3 already open, at max_open_orders 3"


def test_position_limit_allows_reaching_it_and_refuses_exceeding_it() -> None:
    risk, _ = engine(max_position=D("0.012"))
    assert allow(risk, order(Side.BUY, "0.001"), state(position=D("0.011"))).allowed
    decision = allow(risk, order(Side.BUY, "0.001"), state(position=D("0.012")))
    assert not decision.allowed
    assert decision.kind is RiskKind.POSITION
    assert decision.reason == "position 0.012 + 0.001 would exceed max_position 0.012"


def test_position_limit_counts_resting_orders_on_the_same_side_only() -> None:
    risk, _ = engine(max_position=D("0.012"))
    st = state(position=D("0.010"))
    buys = [order(Side.BUY, "0.001", "1990")]
    assert allow(risk, order(Side.BUY, "0.001"), st, buys).allowed
    decision = allow(risk, order(Side.BUY, "0.001"), st, buys * 2)
    assert decision.kind is RiskKind.POSITION
    assert "+ 0.002 resting" in decision.reason
    sells = [order(Side.SELL, "0.005", "2010")] * 3
    assert allow(risk, order(Side.BUY, "0.002"), st, sells).allowed


def test_short_position_limit() -> None:
    risk, _ = engine(max_position=D("0.012"))
    assert allow(risk, order(Side.SELL, "0.002"), state(position=D("-0.010"))).allowed
    decision = allow(risk, order(Side.SELL, "0.003"), state(position=D("-0.010")))
    assert decision.kind is RiskKind.POSITION
    assert decision.reason == "position -0.010 - 0.003 would exceed max_position 0.012"


def test_notional_limit_uses_the_higher_of_mark_and_price() -> None:
    risk, _ = engine(max_notional=D(100))
    st = state(position=D("0.049"))
    # 0.05 × max(2000, 1990) = 100: at the limit, allowed.
    assert allow(risk, order(Side.BUY, "0.001", "1990"), st, mark="2000").allowed
    over_mark = allow(risk, order(Side.BUY, "0.001", "1990"), st, mark="2000.02")
    assert over_mark.kind is RiskKind.NOTIONAL
    assert "100.00" in over_mark.reason and "max_notional 100" in over_mark.reason
    over_price = allow(risk, order(Side.BUY, "0.001", "2000.02"), st, mark="1990")
    assert over_price.kind is RiskKind.NOTIONAL


def test_reducing_orders_pass_even_beyond_the_limits() -> None:
    risk, _ = engine(max_position=D("0.01"), max_notional=D(10))
    long = state(position=D("0.05"), avg_entry=D(2000))
    many_sells = [order(Side.SELL, "0.05", "2100")] * 4
    assert allow(risk, order(Side.SELL, "0.05"), long, many_sells).allowed  # closes it all
    assert allow(risk, order(Side.SELL, "0.02"), long).allowed
    assert allow(risk, order(Side.SELL, "0.5", reduce_only=True), long).allowed
    flip = allow(risk, order(Side.SELL, "0.2"), long)  # to -0.15: |position| grows
    assert flip.kind is RiskKind.POSITION
    assert allow(risk, order(Side.BUY, "0.001", reduce_only=True), long).kind is RiskKind.POSITION


def test_token_bucket_limits_bursts_and_refills_with_the_clock() -> None:
    risk, clock = engine(max_orders_per_second=D(2), order_burst=3)
    buy = order(Side.BUY, "0.001")
    assert all(allow(risk, buy, state()).allowed for _ in range(3))
    decision = allow(risk, buy, state())
    assert decision.kind is RiskKind.VELOCITY
    assert "2 orders/s" in decision.reason
    clock.advance(0.499)
    assert allow(risk, buy, state()).kind is RiskKind.VELOCITY
    clock.advance(0.001)
    assert allow(risk, buy, state()).allowed
    assert not allow(risk, buy, state()).allowed
    clock.advance(60)
    assert risk.tokens_available == D(3)  # never more than the burst


def test_refused_orders_do_not_spend_tokens() -> None:
    risk, _ = engine(max_orders_per_second=D(1), order_burst=1, max_position=D("0.01"))
    for _ in range(5):
        assert allow(risk, order(Side.BUY, "1"), state()).kind is RiskKind.POSITION
    assert risk.tokens_available == D(1)
    assert allow(risk, order(Side.BUY, "0.001"), state()).allowed
    assert risk.tokens_available == D(0)


def test_drawdown_from_peak_halts_beyond_the_limit() -> None:
    risk, _ = engine(max_drawdown=D(500))
    st = state(position=D(1), avg_entry=D(2000))
    assert risk.check_equity(st, D(2000)).allowed
    assert risk.peak_equity == D(0)
    assert risk.check_equity(st, D(1500)).allowed  # exactly 500 down
    decision = risk.check_equity(st, D("1499.99"))
    assert not decision.allowed and decision.halt is HaltKind.DRAWDOWN
    assert decision.kind is RiskKind.DRAWDOWN
    assert decision.reason.startswith("drawdown")
    assert "500.01" in decision.reason


def test_peak_follows_realized_gains() -> None:
    risk, _ = engine(max_drawdown=D(99))
    assert risk.check_equity(state(all_time_realized=D(100)), D(2000)).allowed
    assert risk.peak_equity == D(100)
    flat = state(all_time_realized=D(0))
    assert risk.check_equity(flat, D(2000)).kind is RiskKind.DRAWDOWN
    assert flat.unrealized_at(D(5)) == 0


def test_daily_loss_counts_todays_realized_plus_unrealized() -> None:
    risk, clock = engine(daily_loss_limit=D(300))
    today = utc_day(clock.now_ms())
    st = state(daily_realized=D(-250), daily_day=today, position=D(1), avg_entry=D(2000))
    assert risk.check_equity(st, D(1950)).allowed  # -250 - 50 = -300: at the limit
    decision = risk.check_equity(st, D("1949.99"))
    assert decision.kind is RiskKind.DAILY_LOSS and decision.halt is HaltKind.DAILY_LOSS
    assert decision.reason.startswith("daily_loss")
    yesterday = attrs.evolve(st, daily_day=today - 1)
    assert risk.check_equity(yesterday, D("1949.99")).allowed


def test_auto_resume_only_for_daily_loss_on_a_later_utc_day() -> None:
    risk, clock = engine(daily_loss_limit=D(300))
    st = state(daily_realized=D(-400), daily_day=utc_day(clock.now_ms()))
    decision = risk.check_equity(st, D(2000))
    halted_at = clock.now_ms()
    assert decision.halt is HaltKind.DAILY_LOSS
    halted = state(
        halted=True, halt_reason=decision.reason, halted_at_ms=halted_at, halt_kind=decision.halt
    )
    next_midnight = (utc_day(halted_at) + 1) * UTC_DAY_MS
    assert not risk.auto_resume_due(halted, halted_at + 1000)
    assert not risk.auto_resume_due(halted, next_midnight - 1)
    assert risk.auto_resume_due(halted, next_midnight)
    drawdown = attrs.evolve(halted, halt_kind=HaltKind.DRAWDOWN)
    assert not risk.auto_resume_due(drawdown, next_midnight + UTC_DAY_MS)
    manual = attrs.evolve(halted, halt_kind=HaltKind.MANUAL, halt_reason="daily_loss looked bad")
    assert not risk.auto_resume_due(manual, next_midnight)
    assert not risk.auto_resume_due(state(), next_midnight)


def test_a_lifted_daily_loss_is_not_judged_again_before_the_next_utc_day() -> None:
    risk, clock = engine(daily_loss_limit=D(300))
    today = utc_day(clock.now_ms())
    st = state(daily_realized=D(-400), daily_day=today)
    assert risk.check_equity(st, D(2000)).halt is HaltKind.DAILY_LOSS
    risk.on_resume(st, D(2000), lift_daily_loss=True)  # a trader confirmed: trade on today
    assert risk.check_equity(st, D(2000)).allowed
    clock.advance((UTC_DAY_MS - clock.now_ms() % UTC_DAY_MS) / 1000)  # the next UTC day
    tomorrow = attrs.evolve(st, daily_day=today + 1)
    assert risk.check_equity(tomorrow, D(2000)).halt is HaltKind.DAILY_LOSS


def test_exit_prices_close_the_position_at_the_mark() -> None:
    risk, _ = engine(stop_loss_price=D(1900), take_profit_price=D(2100))
    st = state(position=D(1), avg_entry=D(2000))
    assert risk.check_equity(st, D("1900.01")).allowed
    stop = risk.check_equity(st, D(1900))
    assert (stop.kind, stop.halt, stop.flatten) == (RiskKind.STOP_LOSS, HaltKind.STOP_LOSS, True)
    assert stop.reason == "stop_loss: mark 1900 at or below stop_loss_price 1900"
    assert risk.check_equity(st, D("2099.99")).allowed
    take = risk.check_equity(st, D(2100))
    assert (take.kind, take.halt, take.flatten) == (
        RiskKind.TAKE_PROFIT,
        HaltKind.TAKE_PROFIT,
        True,
    )


def test_stop_loss_pnl_counts_the_sessions_result_and_comes_before_the_drawdown() -> None:
    risk, _ = engine(stop_loss_pnl=D(100), max_drawdown=D(50))
    st = state(position=D(1), avg_entry=D(2000), session_realized=D(-40))
    assert risk.check_equity(st, D(2000)).allowed  # sets the peak
    drawdown = risk.check_equity(st, D(1945))  # -40 - 55: drawdown 55, session -95
    assert (drawdown.halt, drawdown.flatten) == (HaltKind.DRAWDOWN, False)
    exit_ = risk.check_equity(st, D(1940))  # session -100: the exit wins
    assert (exit_.halt, exit_.flatten) == (HaltKind.STOP_LOSS, True)
    assert exit_.reason.startswith("stop_loss: the session's result -100.00")


def test_after_a_resume_the_stop_loss_pnl_counts_from_there() -> None:
    risk, _ = engine(stop_loss_pnl=D(100))
    st = state(position=D(1), avg_entry=D(2000), session_realized=D(-40))
    assert risk.check_equity(st, D(1940)).halt is HaltKind.STOP_LOSS  # -100
    risk.on_resume(attrs.evolve(st, halt_kind=HaltKind.STOP_LOSS), D(1940))  # resumed
    assert risk.check_equity(st, D(1900)).allowed  # -40 since the resume
    assert risk.check_equity(st, D(1840)).halt is HaltKind.STOP_LOSS  # -100 since it


# ---- liquidation distance ----------------------------------------------------------------


def summary(value: str) -> AccountSummary:
    return AccountSummary(D(value), D(0), D(value), D(0), (), START_MS)


def test_an_order_that_would_bring_liquidation_too_close_is_refused() -> None:
    risk, _ = engine(max_position=D(10**6), min_liquidation_distance_pct=D(20))
    account = summary("100000")

    def ask(request: OrderRequest, resting=()):
        return risk.allow_order(
            request, state=state(), open_orders=list(resting), mark=D(100), account=account
        )

    first, second = order(Side.BUY, "2000", "99"), order(Side.BUY, "2000", "98")
    assert ask(first).allowed  # liquidated near 49.5: 50% away
    assert ask(second, [first]).allowed  # 4000 at 98: near 74.2, 24% away
    third = ask(order(Side.BUY, "2000", "97"), [first, second])
    assert not third.allowed and third.kind is RiskKind.LIQUIDATION
    assert third.reason.startswith("liquidation distance: position 6000 at 97 would be ")
    assert "15.3" in third.reason and "min_liquidation_distance_pct 20" in third.reason
    # Without the limit, the same order passes: the check is the limit's alone.
    roomy, _ = engine(max_position=D(10**6))
    assert roomy.allow_order(
        order(Side.BUY, "2000", "97"), state=state(), open_orders=[first, second], mark=D(100)
    ).allowed


def test_an_unread_account_refuses_what_would_grow_the_position_but_never_an_unwind() -> None:
    risk, _ = engine(min_liquidation_distance_pct=D(20))
    grow = risk.allow_order(order(Side.BUY, "1"), state=state(), open_orders=[], mark=D(2000))
    assert grow.kind is RiskKind.LIQUIDATION and "could not be read" in grow.reason
    long = state(position=D(5), avg_entry=D(2000))
    unwind = risk.allow_order(order(Side.SELL, "1"), state=long, open_orders=[], mark=D(2000))
    assert unwind.allowed


def test_orders_whose_projection_is_past_liquidation_are_refused_not_waved_through() -> None:
    risk, _ = engine(max_position=D(10**6), min_liquidation_distance_pct=D(20))
    resting = [order(Side.BUY, "2000", str(p)) for p in range(99, 56, -3)]
    deep = risk.allow_order(
        order(Side.BUY, "2000", "54"), state=state(), open_orders=resting, mark=D(100),
        account=summary("100000"),
    )  # fmt: skip
    assert deep.kind is RiskKind.LIQUIDATION and "0.00% away" in deep.reason


def test_only_orders_that_grow_the_position_need_the_account() -> None:
    risk, _ = engine(min_liquidation_distance_pct=D(20))
    assert risk.needs_account([(Side.BUY, D(1))], D(0))
    assert not risk.needs_account([(Side.SELL, D(1))], D(5))  # a take-profit of a long
    assert risk.needs_account([(Side.SELL, D(1)), (Side.SELL, D(10))], D(5))  # one flips it
    roomy, _ = engine()
    assert not roomy.needs_account([(Side.BUY, D(1))], D(0))  # no limit: never read
