"""Turns a desired grid into resting orders, and keeps it whole as fills arrive.

The grid is a ladder of prices (index -n..n) with one empty slot, the *gap*: buys below it, sells
above it. A buy filled at i moves the gap to i and puts a sell at i+1; a sell filled at j moves the
gap to j and puts a buy at j-1. Because the desired orders are a pure function of (snapshot, gap),
a full rebuild is a diff against the shadow ledger, and repeating it is harmless.
"""

from __future__ import annotations

import logging
from decimal import Decimal

import attrs

from gridtui.config.schema import Direction, GridMode
from gridtui.core.clock import Clock
from gridtui.core.events import AlertKind, EventBus, GridBuilt, Severity
from gridtui.core.types import ZERO, Level, OrderRequest, OrderStatus, Side, Tif
from gridtui.execution.account_watch import AccountWatch
from gridtui.execution.execution_gateway import ENTRY_LEVEL, EXIT_LEVEL, ExecutionGateway
from gridtui.execution.fill_processor import FillResult
from gridtui.execution.reconciliation_service import ReconcileReport
from gridtui.monitoring.alerting import Alerter
from gridtui.monitoring.metrics import Metrics
from gridtui.risk.risk_engine import RiskEngine
from gridtui.state.state_manager import StateManager
from gridtui.strategy.grid_snapshot import GridSnapshot
from gridtui.strategy.strategy import Strategy

log = logging.getLogger(__name__)

DRIFT_ALERT_RATIO = Decimal("0.10")
REPAIR_EVERY = 10
"""A full diff against the ledger every this many ``maintain`` calls, even with nothing asked:
it places what an earlier pass could not (a level that would have crossed the mid, or that risk
or the venue refused then)."""

GRID_TIF = Tif.ALO
"""Grid orders only ever add liquidity: a grid that takes pays the taker fee and, worse, trades at
a price the grid did not choose (a sell below the mid after a stale center). The venue refuses a
post-only order that would match, and ``would_cross`` keeps such levels from being sent at all."""


def would_cross(side: Side, price: Decimal, mark: Decimal) -> bool:
    """A buy at or above the mid, or a sell at or below it, would take liquidity: the level waits
    until the price moves away (the ladder shows it as such)."""
    return price >= mark if side is Side.BUY else price <= mark


@attrs.frozen(slots=True)
class BuildResult:
    placed: int
    canceled: int
    refused: tuple[str, ...] = ()


class GridBuilder:
    """Owns "make the grid right for this mark": where the grid is centred, when it moves, when
    it is repaired, and which orders that takes."""

    def __init__(
        self,
        gateway: ExecutionGateway,
        strategy: Strategy,
        risk: RiskEngine,
        state: StateManager,
        alerter: Alerter,
        bus: EventBus,
        clock: Clock,
        metrics: Metrics,
        account: AccountWatch,
    ) -> None:
        self._gateway = gateway
        self._account = account
        self._strategy = strategy
        self._risk = risk
        self._state = state
        self._alerter = alerter
        self._bus = bus
        self._clock = clock
        self._metrics = metrics
        self.snapshot: GridSnapshot | None = None
        self.gap_index = 0
        self._expected_position: Decimal | None = None
        self.drift_ratio = ZERO
        self._drift_alerted = False
        self._maintained = 0
        self._recenter = False
        self._repair = False
        self._desired: tuple[GridSnapshot, int, Decimal, tuple[Level, ...]] | None = None
        self.refused: dict[tuple[int, Side], str] = {}
        """Why the last pass did not place a level it wanted (risk's limit, or the venue), by
        (level, side), for the ladder: "missing" alone reads as an order lost."""

    @property
    def bot(self) -> str:
        return self._gateway.bot

    @property
    def coin(self) -> str:
        return self._gateway.coin

    def desired_levels(self) -> tuple[Level, ...]:
        snapshot, gap = self.snapshot, self.gap_index
        if snapshot is None:
            return ()
        direction = self._strategy.settings.direction
        # A long or short grid's take-profit side follows the inventory; a neutral one does not.
        held = self._state.get_snapshot().position if direction is not Direction.NEUTRAL else ZERO
        known = self._desired
        if known is None or known[0] is not snapshot or known[1] != gap or known[2] != held:
            # A pure function of (snapshot, gap, inventory), asked for at every repair.
            levels = snapshot.initial_levels(gap, direction=direction, inventory=held)
            known = self._desired = (snapshot, gap, held, levels)
        return known[3]

    async def maintain(self, mark: Decimal, now_ms: int) -> BuildResult | None:
        """Make the grid right for ``mark``; called every engine cycle the bot may trade. A first
        grid (around the journaled center after a restart), a fresh one when the price left a
        rolling grid or the center went stale, a repair when one was asked for or every
        ``REPAIR_EVERY`` calls; otherwise nothing (None)."""
        self._maintained += 1
        settings = self._strategy.settings
        snapshot = self.snapshot
        # A bounded grid never moves: out of range, it simply waits for the price to return.
        left = (
            settings.mode is GridMode.ROLLING
            and snapshot is not None
            and snapshot.is_outside(mark, settings.recenter_threshold_pct)
        )
        if snapshot is None or left or self._recenter:
            keep_center = snapshot is None and not self._recenter
            self._recenter = False
            return await self._rebuild(mark, now_ms, keep_center=keep_center)
        if self._repair or self._maintained % REPAIR_EVERY == 0:
            self._repair = False
            return await self.build_and_place_grid(snapshot, mark)
        return None

    def recenter(self) -> None:
        """The next call builds a fresh grid around the mark, not around the journaled center
        (new settings were applied: the trader previewed them around the mid)."""
        self._recenter = True

    def discard(self) -> None:
        """The orders are gone (canceled, halted): the next call builds a grid afresh, around
        the journaled center if the mid is still inside it."""
        self.snapshot = None

    async def settle_unanswered(self) -> None:
        """Have the gateway look up the grid's orders whose call got no answer; when any is
        settled (on the book, or not there), check the levels on the next call, so one that
        never arrived is placed again."""
        if await self._gateway.look_up_unanswered():
            self._repair = True

    def on_reconciled(self, report: ReconcileReport) -> None:
        """What a reconciliation changed under the grid: a corrected position rebuilds it at the
        mid; orders adopted, canceled or settled, or a pass that failed part-way (orders may
        have gone unseen), leave levels to check: repair on the next call."""
        if report.position_corrected:
            # The exchange's position replaced ours: the drift baseline restarts there, and the
            # center the grid was built for is stale, so the next call rebuilds around the mid.
            self._expected_position = self._state.get_snapshot().position
            self._check_drift()
            self._recenter = True
        elif (
            report.error
            or report.adopted_orders
            or report.canceled_unknown
            or report.settled_orders
        ):
            self._repair = True

    async def _rebuild(self, mark: Decimal, now_ms: int, *, keep_center: bool) -> BuildResult:
        """A fresh grid around the mid; after a restart (``keep_center``), around the journaled
        center if the mid is still inside it, so the resting orders are adopted, not replaced."""
        threshold = self._strategy.settings.recenter_threshold_pct
        center = self._state.get_snapshot().grid_center
        snapshot = None
        if keep_center and center is not None:
            snapshot = self._strategy.desired_grid(center, now_ms)
        if snapshot is None or snapshot.is_outside(mark, threshold):
            snapshot = self._strategy.desired_grid(mark, now_ms)
        await self._state.set_grid_center(snapshot.center)
        return await self.build_and_place_grid(snapshot, mark)

    async def build_and_place_grid(self, snapshot: GridSnapshot, mark: Decimal) -> BuildResult:
        """Make the exchange hold exactly the desired grid: cancel what is stale, place what is
        missing (each through the risk gate). Safe to call again at any time."""
        fresh = self.snapshot is None or snapshot is not self.snapshot
        if fresh:
            self.snapshot = snapshot
            self.refused.clear()
            self.gap_index = snapshot.nearest_index(mark)
            self._expected_position = self._state.get_snapshot().position
        desired = {(lvl.index, lvl.side, lvl.price): lvl for lvl in self.desired_levels()}
        ledger = self._gateway.ledger
        stale: list[str] = []
        for tracked in ledger.live():
            if tracked.level == ENTRY_LEVEL:
                continue  # the opener's, building the initial position
            key = (tracked.level, tracked.request.side, tracked.request.price)
            if key in desired and tracked.status is not OrderStatus.PENDING_CANCEL:
                desired.pop(key)
            elif tracked.status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED):
                stale.append(tracked.request.client_id)
        canceled = 0
        if stale:
            results = await self._gateway.cancel_many(stale, reason="stale grid level")
            canceled = sum(r.success for r in results)
        placed, refused = await self._place(list(desired.values()), mark)
        self._bus.publish(
            GridBuilt(
                bot=self.bot,
                coin=self.coin,
                timestamp_ms=self._clock.now_ms(),
                center=snapshot.center,
                levels=len(self.desired_levels()),
                placed=placed,
                canceled=canceled,
                fresh=fresh,
            )
        )
        return BuildResult(placed, canceled, tuple(refused))

    async def _place(self, levels: list[Level], mark: Decimal) -> tuple[int, list[str]]:
        if not levels:
            return 0, []
        state = self._state.get_snapshot()
        open_requests: list[OrderRequest] = [t.request for t in self._gateway.ledger.live()]
        wanted = [(lvl.side, lvl.size) for lvl in levels]
        account = await self._account.for_risk(self._risk, wanted, state.position)
        allowed: list[Level] = []
        refused: list[str] = []
        # Nearest the mid first: if the limits cut the grid short, the useful levels survive.
        for level in sorted(levels, key=lambda lvl: abs(lvl.price - mark)):
            if would_cross(level.side, level.price, mark):
                continue
            request, _ = self._gateway.request_for(level, tif=GRID_TIF)
            decision = self._risk.allow_order(
                request, state=state, open_orders=open_requests, mark=mark, account=account
            )
            if decision.allowed:
                allowed.append(level)
                open_requests.append(request)
            else:
                refused.append(decision.reason or "refused")
                kind = decision.kind.value.replace("_", " ") if decision.kind else "risk"
                self.refused[(level.index, level.side)] = f"{kind} limit"
        results = await self._gateway.submit_levels(allowed, tif=GRID_TIF)
        for level, result in zip(allowed, results, strict=True):
            if result.success:
                self.refused.pop((level.index, level.side), None)
            else:
                self.refused[(level.index, level.side)] = "venue refused"
        return sum(r.success for r in results), refused

    async def on_fill(
        self, result: FillResult, mark: Decimal | None, *, place: bool = True
    ) -> BuildResult:
        """After a fill completes an order, move the gap and place its replacement one level
        away on the other side, and check the position still matches what the grid's own fills
        explain. ``place=False`` (books not confirmed) or no price yet moves the gap only and asks
        for a repair, which places what the grid then lacks once it can."""
        if not result.applied:
            return BuildResult(0, 0)
        if not place or mark is None:
            self._repair = True
        fill = result.fill
        tracked = self._gateway.ledger.get(fill.client_id) if fill.client_id else None
        if (
            tracked is not None
            and tracked.level is not None
            and self._expected_position is not None
        ):
            self._expected_position += fill.signed_size
        # The book right after *this* fill: in a batch the state already holds the later ones.
        self._check_drift(result.position)
        if tracked is not None and tracked.level == ENTRY_LEVEL:
            self._repair = True  # inventory arrived: a long (short) grid sells (buys) it
            return BuildResult(0, 0)
        if (
            self.snapshot is None
            or tracked is None
            or tracked.level is None
            or tracked.level == EXIT_LEVEL  # closing the position: nothing to replace
            or result.order_status is not OrderStatus.FILLED
        ):
            return BuildResult(0, 0)
        filled_index = tracked.level
        n = self.snapshot.levels_per_side
        target = filled_index + 1 if tracked.request.side is Side.BUY else filled_index - 1
        self.gap_index = filled_index
        if not place or mark is None or not -n <= target <= n:
            return BuildResult(0, 0)
        side = tracked.request.side.opposite
        price = self.snapshot.price_of(target)
        occupied = any(
            t.level == target and t.request.side is side and t.request.price == price
            for t in self._gateway.ledger.live()
        )
        if occupied:
            return BuildResult(0, 0)
        level = Level(target, price, side, tracked.request.size)
        if not self._held_covers(level):
            self._repair = True  # the repair places what the inventory does cover
            return BuildResult(0, 0)
        placed, refused = await self._place([level], mark)
        return BuildResult(placed, 0, tuple(refused))

    def _held_covers(self, level: Level) -> bool:
        """A long grid's sell (a short grid's buy) only for inventory no resting order of that
        side already sells (buys): a partial fill can leave more resting than held."""
        direction = self._strategy.settings.direction
        limited = {Direction.LONG: Side.SELL, Direction.SHORT: Side.BUY}.get(direction)
        if level.side is not limited:
            return True
        held = self._state.get_snapshot().position * (1 if limited is Side.SELL else -1)
        resting = sum(
            (t.request.size - t.filled for t in self._gateway.ledger.live()
             if t.request.side is limited),
            ZERO,
        )  # fmt: skip
        return level.size <= held - resting

    def _check_drift(self, actual: Decimal | None = None) -> None:
        """Drift = position not explained by grid fills since the grid was built (manual trades,
        corrections, missed fills). Above 10% of the expected position it raises an alert."""
        if self._expected_position is None or self.snapshot is None:
            return
        if actual is None:
            actual = self._state.get_snapshot().position
        scale = max(abs(self._expected_position), self.snapshot.size_of(0))
        self.drift_ratio = abs(actual - self._expected_position) / scale
        self._metrics.set_drift(self.bot, self.coin, float(self.drift_ratio))
        if self.drift_ratio > DRIFT_ALERT_RATIO and not self._drift_alerted:
            self._drift_alerted = True
            self._alerter.raise_alert(
                bot=self.bot,
                coin=self.coin,
                severity=Severity.WARNING,
                kind=AlertKind.POSITION_DRIFT,
                message=(
                    f"position {actual} differs from the grid's expected "
                    f"{self._expected_position} by {self.drift_ratio:.1%}"
                ),
            )
        elif self.drift_ratio <= DRIFT_ALERT_RATIO:
            self._drift_alerted = False

    def check_drift(self) -> Decimal:
        self._check_drift()
        return self.drift_ratio
