"""The paper venue's matching engine: no I/O of its own, no clock, no randomness.

Our orders rest in a price-time-priority book per coin against a synthetic market at mid × (1 ∓ half
spread). A crossing order takes the synthetic touch (depth limited per tick); a tick fills resting
orders the market traded through as maker at their limit, best price then earliest, up to the
tick's volume. Rejections use Hyperliquid's exact messages (the mock server reuses this engine).
Changes are tracked so the venue persists exactly what changed (``take_changes``) before acking.
Order and trade ids come from ``ids.allocate_id`` (a counter with a clock floor), so they never
repeat even when the state file loses its newest transactions.

Memory holds what matching needs (the resting book and its cloid index) and a window of the
``RECENT_ORDERS`` most recently finished orders; it keeps no fills. Everything else is history
the venue answers from its state file through an ``OrderArchive`` (order lookups, cloid
uniqueness): keeping every order and fill made a long-running venue grow ~1.2 KB per fill.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from decimal import Decimal

import attrs

from gridtui.core import rounding
from gridtui.core.account import (
    AccountSummary,
    PositionRisk,
    liquidation_price,
    maintenance_margin,
)
from gridtui.core.types import (
    ZERO,
    AssetMeta,
    CancelAck,
    Fill,
    Order,
    OrderRequest,
    OrderStatus,
    PlaceAck,
    PlaceStatus,
    Position,
    Side,
    Tif,
)
from gridtui.exchanges.sim.ids import allocate_id
from gridtui.exchanges.sim.price_path import MarketState, Tick
from gridtui.exchanges.sim.vocabulary import (
    CANCELED,
    ERR_CANCEL,
    ERR_DUPLICATE_CLOID,
    ERR_INVALID_PRICE,
    ERR_INVALID_SIZE,
    ERR_IOC,
    ERR_MARGIN,
    ERR_MIN_VALUE,
    ERR_POST_ONLY,
    ERR_REDUCE_ONLY,
    ERR_TICK_SIZE,
    REDUCE_ONLY_CANCELED,
    SCHEDULED_CANCEL,
    EngineConfig,
    EngineRecords,
    FillModel,
    OrderArchive,
)

RECENT_ORDERS = 1_000
"""Finished orders kept in memory (oldest dropped first): the statuses a bot asks about right
after a fill or cancel are answered without a read, and memory stays bounded."""


class MatchingEngine:
    """Book, account (cash, average-cost positions) and synthetic market of one paper account.

    ``records.fills`` are not kept. Without an ``archive`` (unit tests), orders finished before
    the recent window are simply unknown."""

    def __init__(
        self,
        config: EngineConfig,
        metas: Mapping[str, AssetMeta],
        records: EngineRecords,
        archive: OrderArchive | None = None,
    ) -> None:
        self._cfg = config
        self._metas = dict(metas)
        self._chosen_leverage: dict[str, int] = {}
        """Coins whose leverage was set below the maximum (``set_leverage``); in memory: a bot
        sets it again at every start."""
        self.balance = records.balance
        self.schedule_cancel_ms = records.schedule_cancel_ms
        self.last_cancel_reason: str | None = None
        self._next_oid = records.next_order_id
        self._next_tid = records.next_trade_id
        self._archive = archive
        self._orders = {o.exchange_id: o for o in records.orders}
        self._reasons = {i: r for i, r in records.reasons.items() if i in self._orders}
        self._cloids = {o.client_id: o.exchange_id for o in records.orders if o.client_id}
        self._finished = deque(sorted(i for i, o in self._orders.items() if o.status.is_terminal))
        """Finished orders still in memory, in the order they finished (ids)."""
        self._resting: dict[str, dict[int, None]] = {}
        self._best: dict[tuple[str, Side], Decimal | None] = {}
        """The best resting price per (coin, side), computed when first asked after a change to
        the resting set."""
        self._order_margin: Decimal | None = None
        """Inside ``place_many``: the margin resting orders use, kept up to date per order."""
        self._archived_cloids: set[str] | None = None
        """Inside ``place_many``: which of the batch's cloids the archive already holds."""
        for order in sorted(records.orders, key=lambda o: o.exchange_id):
            if order.status.is_live:
                self._rest(order.coin, order.exchange_id)
        self._positions = {p.coin: p for p in records.positions if p.size}
        self._markets = {m.coin: m for m in records.markets}
        self._funding = {c: paid for c, paid in records.funding.items() if c in self._positions}
        self.funding_hour = records.funding_hour
        self._reset_changes()
        self._forget_old()

    def _reset_changes(self) -> None:
        self._dirty_orders: set[int] = set()
        self._dirty_positions: set[str] = set()
        self._dirty_markets: set[str] = set()
        self._dirty_funding: set[str] = set()
        self._new_fills: list[Fill] = []

    def take_changes(self) -> EngineRecords:
        """What changed since the last call (scalars always included), and forget it; finished
        orders beyond the recent window are dropped now that their last change is handed over
        (the caller stores it before anyone asks again)."""
        changes = EngineRecords(
            self.balance,
            self._next_oid,
            self._next_tid,
            self.schedule_cancel_ms,
            orders=tuple(self._orders[i] for i in sorted(self._dirty_orders)),
            reasons={i: self._reasons[i] for i in self._dirty_orders if i in self._reasons},
            fills=tuple(self._new_fills),
            positions=tuple(
                self._positions.get(c, Position(c, ZERO, ZERO))
                for c in sorted(self._dirty_positions)
            ),
            markets=tuple(self._markets[c] for c in sorted(self._dirty_markets)),
            funding={c: self._funding.get(c, ZERO) for c in sorted(self._dirty_funding)},
            funding_hour=self.funding_hour,
        )
        self._reset_changes()
        self._forget_old()
        return changes

    def _forget_old(self) -> None:
        """Drop the oldest finished orders beyond ``RECENT_ORDERS``. Only ever called with no
        change pending, so each one dropped is already in (or on its way to) the archive."""
        while len(self._finished) > RECENT_ORDERS:
            exchange_id = self._finished.popleft()
            order = self._orders.pop(exchange_id)
            self._reasons.pop(exchange_id, None)
            if order.client_id is not None and self._cloids.get(order.client_id) == exchange_id:
                del self._cloids[order.client_id]

    def set_market(self, market: MarketState) -> None:
        self._markets[market.coin] = market
        self._dirty_markets.add(market.coin)

    def order(self, exchange_id: int) -> Order | None:
        order = self._orders.get(exchange_id)
        if order is None and self._archive is not None:
            found = self._archive.archived_order(exchange_id=exchange_id)
            order = None if found is None else found[0]
        return order

    def order_by_client_id(self, client_id: str) -> Order | None:
        exchange_id = self._cloids.get(client_id)
        if exchange_id is not None:
            return self._orders[exchange_id]
        found = None if self._archive is None else self._archive.archived_order(client_id=client_id)
        return None if found is None else found[0]

    def reason(self, exchange_id: int) -> str | None:
        """Hyperliquid's status word of a canceled or rejected order (scheduledCancel, ...)."""
        if exchange_id in self._orders or self._archive is None:
            return self._reasons.get(exchange_id)
        found = self._archive.archived_order(exchange_id=exchange_id)
        return None if found is None else found[1]

    def open_orders(self, coin: str | None = None) -> list[Order]:
        coins = [coin] if coin is not None else list(self._resting)
        ids = sorted(i for c in coins for i in self._resting.get(c, {}))
        return [self._orders[i] for i in ids]

    def positions(self) -> dict[str, Position]:
        return dict(self._positions)

    def mids(self) -> dict[str, Decimal]:
        return {coin: self._markets[coin].mid for coin in self._metas}

    def bbo(self, coin: str) -> tuple[Decimal, Decimal]:
        mid = self._markets[coin].mid
        return self._bid_at(coin, mid), self._ask_at(coin, mid)

    def equity(self) -> Decimal:
        """Cash plus unrealized PnL at the mids."""
        equity = self.balance
        for p in self._positions.values():
            equity += p.size * (self._markets[p.coin].mid - p.entry_price)
        return equity

    def charge_funding(self, rates: Mapping[str, Decimal], hour: int) -> None:
        """Hyperliquid's hourly funding on every open position: size × mid × the coin's rate
        (a positive rate: longs pay, shorts receive), from the cash; ``hour`` is the one paid
        for."""
        for coin, position in self._positions.items():
            rate = rates.get(coin)
            if rate is None:
                continue
            paid = position.size * self._markets[coin].mid * rate
            self.balance -= paid
            self._funding[coin] = self._funding.get(coin, ZERO) + paid
            self._dirty_funding.add(coin)
        self.funding_hour = hour

    def account(self, now_ms: int, *, charges_funding: bool) -> AccountSummary:
        """The account page: value, margin, and each position's liquidation price and, when the
        venue ``charges_funding``, the funding it paid since it opened. One cross-margin model
        (isolated is margined as cross)."""
        value = self.equity()
        positions = sorted(self._positions.values(), key=lambda p: p.coin)
        mids = {p.coin: self._markets[p.coin].mid for p in positions}
        maintenance = sum(
            (
                maintenance_margin(p.size, mids[p.coin], self._max_leverage(p.coin))
                for p in positions
            ),
            ZERO,
        )
        risks = []
        for p in positions:
            mid, leverage = mids[p.coin], self._leverage(p.coin)
            liquidation = liquidation_price(
                mid, p.size, value - maintenance, self._max_leverage(p.coin)
            )
            if liquidation is not None:  # on the price grid, on the side nearer the mark
                toward = rounding.Rounding.UP if p.size > 0 else rounding.Rounding.DOWN
                sz_decimals = self._metas[p.coin].sz_decimals if p.coin in self._metas else 0
                liquidation = rounding.round_price(liquidation, sz_decimals, toward)
            margin = abs(p.size) * mid / leverage
            risks.append(
                PositionRisk(
                    p.coin,
                    p.size,
                    p.entry_price,
                    mid,
                    leverage,
                    True,
                    margin,
                    liquidation,
                    self._funding.get(p.coin, ZERO) if charges_funding else None,
                )
            )
        used = sum((r.margin_used for r in risks), ZERO)
        return AccountSummary(
            account_value=value,
            margin_used=used,
            withdrawable=max(ZERO, value - used),
            maintenance_margin=maintenance,
            positions=tuple(risks),
            read_at_ms=now_ms,
        )

    def place(self, req: OrderRequest, now_ms: int) -> PlaceAck:
        if req.client_id and self._client_id_used(req.client_id):
            return PlaceAck(PlaceStatus.ERROR, client_id=req.client_id, error=ERR_DUPLICATE_CLOID)
        rejection = self._rejection(req)
        if rejection is not None:
            return self._reject(req, now_ms, *rejection)
        size = req.size
        if req.reduce_only:
            size = min(size, abs(self._position_size(req.coin)))
        bid, ask = self.bbo(req.coin)
        buy = req.side is Side.BUY
        crosses = req.price >= ask if buy else req.price <= bid
        if crosses and req.tif is Tif.ALO:
            message = ERR_POST_ONLY.format(bid=f"{bid:f}", ask=f"{ask:f}")
            return self._reject(req, now_ms, message, "badAloPxRejected")
        market = self._markets[req.coin]
        depth = market.ask_depth if buy else market.bid_depth
        taker_size = min(size, depth) if crosses else ZERO
        if req.tif is Tif.IOC and taker_size == 0:
            return self._reject(req, now_ms, ERR_IOC, "iocCancelRejected")
        if not req.reduce_only and not self._margin_allows(req.coin, req.price * size):
            return self._reject(req, now_ms, ERR_MARGIN, "perpMarginRejected")
        order = self._new_order(req, size, OrderStatus.OPEN, now_ms)
        oid = order.exchange_id
        if taker_size:
            left = {"ask_depth" if buy else "bid_depth": depth - taker_size}
            self.set_market(attrs.evolve(market, **left))
            self._fill(oid, taker_size, ask if buy else bid, now_ms, taker=True)
        if self._orders[oid].remaining:
            if req.tif is Tif.IOC:
                self._cancel(oid, CANCELED)
            else:
                self._rest(req.coin, oid)
        if self._order_margin is not None:
            if taker_size:
                self._order_margin = self._resting_order_margin()  # a fill moved things: recount
            elif not req.reduce_only and self._orders[oid].remaining:
                self._order_margin += (
                    req.price * self._orders[oid].remaining / self._leverage(req.coin)
                )
        final = self._orders[oid]
        status = PlaceStatus.RESTING if final.status.is_live else PlaceStatus.FILLED
        return PlaceAck(
            status,
            exchange_id=oid,
            client_id=req.client_id or None,
            filled_size=final.filled,
            avg_price=(ask if buy else bid) if final.filled else None,
        )

    def cancel(self, coin: str, exchange_id: int, reason: str = CANCELED) -> CancelAck:
        if exchange_id not in self._resting.get(coin, {}):
            return CancelAck(False, exchange_id=exchange_id, error=ERR_CANCEL)
        self._cancel(exchange_id, reason)
        client_id = self._orders[exchange_id].client_id
        return CancelAck(True, exchange_id=exchange_id, client_id=client_id)

    def cancel_by_client_id(self, coin: str, client_id: str) -> CancelAck:
        exchange_id = self._cloids.get(client_id)
        if exchange_id is None:  # not live nor recent: the error still names the order, if any
            old = self.order_by_client_id(client_id)
            exchange_id = None if old is None else old.exchange_id
        ack = self.cancel(coin, -1 if exchange_id is None else exchange_id)
        return attrs.evolve(ack, exchange_id=exchange_id, client_id=client_id)

    def cancel_all(self, coin: str | None = None, reason: str = CANCELED) -> int:
        targets = [o.exchange_id for o in self.open_orders(coin)]
        for exchange_id in targets:
            self._cancel(exchange_id, reason)
        return len(targets)

    def fire_schedule(self, now_ms: int) -> bool:
        """The dead-man switch: once its time has come, cancel everything and disarm.
        True when it fired (state changed, even with nothing left to cancel)."""
        if self.schedule_cancel_ms is None or now_ms < self.schedule_cancel_ms:
            return False
        self.schedule_cancel_ms = None
        self.cancel_all(reason=SCHEDULED_CANCEL)
        return True

    def move_market(self, coin: str, tick: Tick) -> None:
        """Move the market to ``tick.close`` without matching: for a tick known to reach no
        order (see ``reaches``)."""
        depth = tick.volume if tick.depth is None else tick.depth
        self.set_market(MarketState(coin, tick.close, depth, depth))

    def apply_tick(self, coin: str, tick: Tick, now_ms: int) -> None:
        """Move the market to ``tick.close`` and fill what the tick's trades reached."""
        self.move_market(coin, tick)
        low = tick.low if tick.prints else self._bid_at(coin, tick.low)
        high = tick.high if tick.prints else self._ask_at(coin, tick.high)
        self._match(coin, Side.BUY, low, tick.volume, now_ms, tick.heard_ms)
        self._match(coin, Side.SELL, high, tick.volume, now_ms, tick.heard_ms)

    def dry_up(self, coin: str) -> None:
        """No taker finds liquidity until the next tick (a market nobody hears from)."""
        market = self._markets[coin]
        self.set_market(attrs.evolve(market, bid_depth=ZERO, ask_depth=ZERO))

    def _match(
        self,
        coin: str,
        side: Side,
        limit: Decimal,
        budget: Decimal,
        now_ms: int,
        heard_ms: int | None,
    ) -> None:
        """Fill resting ``side`` orders the tick reached (buys priced ≥ its lowest trade
        ``limit``, sells ≤ its highest; strictly beyond it under ``FillModel.STRICT``), best
        price then earliest, within ``budget``; of a real trade (``heard_ms``), only orders
        placed before it was heard."""
        if not self._reached(coin, side, limit):
            return
        strict = self._cfg.fill_model is FillModel.STRICT
        resting = (self._orders[i] for i in self._resting.get(coin, {}))
        queue = sorted(
            (o for o in resting if o.side is side),
            key=lambda o: (-side.sign * o.price, o.exchange_id),
        )
        for order in queue:
            beyond = (order.price - limit) * side.sign
            if budget <= 0 or beyond < 0 or (strict and beyond == 0):
                return
            if heard_ms is not None and order.timestamp_ms >= heard_ms:
                continue  # placed after the trade: it was not there to be hit
            size = min(order.remaining, budget)
            if order.reduce_only:
                size = self._reduce_only_size(order, size)
                if size == 0:
                    continue
            self._fill(order.exchange_id, size, order.price, now_ms, taker=False)
            budget -= size

    def reaches(self, coin: str, low: Decimal, high: Decimal) -> bool:
        """Would a tick trading between ``low`` and ``high`` fill any resting order? The same
        test ``apply_tick`` makes, without moving anything."""
        return self._reached(coin, Side.BUY, self._bid_at(coin, low)) or self._reached(
            coin, Side.SELL, self._ask_at(coin, high)
        )

    def _reached(self, coin: str, side: Side, limit: Decimal) -> bool:
        """Is the best resting ``side`` order at or beyond ``limit`` (strictly beyond under
        ``FillModel.STRICT``)? Most ticks reach none, and this answers in O(1)."""
        best = self._best_price(coin, side)
        if best is None:
            return False
        beyond = (best - limit) * side.sign
        return beyond > 0 or (beyond == 0 and self._cfg.fill_model is not FillModel.STRICT)

    def _best_price(self, coin: str, side: Side) -> Decimal | None:
        key = (coin, side)
        if key not in self._best:
            prices = [
                o.price
                for o in (self._orders[i] for i in self._resting.get(coin, {}))
                if o.side is side
            ]
            self._best[key] = (max if side is Side.BUY else min)(prices, default=None)
        return self._best[key]

    def _rest(self, coin: str, exchange_id: int) -> None:
        self._resting.setdefault(coin, {})[exchange_id] = None
        self._forget_best(coin)

    def _unrest(self, coin: str, exchange_id: int) -> None:
        self._resting.get(coin, {}).pop(exchange_id, None)
        self._forget_best(coin)

    def _forget_best(self, coin: str) -> None:
        self._best.pop((coin, Side.BUY), None)
        self._best.pop((coin, Side.SELL), None)

    def _client_id_used(self, client_id: str) -> bool:
        """Cloids are unique across every order ever placed: memory first (live, recent and
        not yet stored orders), then the archive's unique index (read once per batch)."""
        if client_id in self._cloids:
            return True
        if self._archived_cloids is not None:
            return client_id in self._archived_cloids
        return self._archive is not None and bool(self._archive.client_ids_used([client_id]))

    def _rejection(self, req: OrderRequest) -> tuple[str, str] | None:
        sz_decimals = self._metas[req.coin].sz_decimals
        if not req.price.is_finite() or req.price <= 0:
            return ERR_INVALID_PRICE, "rejected"
        if not rounding.is_valid_price(req.price, sz_decimals):
            return ERR_TICK_SIZE, "tickRejected"
        if not rounding.is_valid_size(req.size, sz_decimals):
            return ERR_INVALID_SIZE, "rejected"
        if not rounding.meets_min_value(req.price, req.size):
            return ERR_MIN_VALUE, "minTradeNtlRejected"
        if req.reduce_only and self._would_increase(req.coin, req.side):
            return ERR_REDUCE_ONLY, "reduceOnlyRejected"
        return None

    def _reject(self, req: OrderRequest, now_ms: int, message: str, reason: str) -> PlaceAck:
        """Record the rejection when it has a client id, so ``order_status`` can explain it."""
        if req.client_id:
            order = self._new_order(req, req.size, OrderStatus.REJECTED, now_ms)
            self._reasons[order.exchange_id] = reason
        return PlaceAck(PlaceStatus.ERROR, client_id=req.client_id or None, error=message)

    def _new_order(self, req: OrderRequest, size: Decimal, status: OrderStatus, now: int) -> Order:
        exchange_id = allocate_id(self._next_oid, now)
        order = Order(
            coin=req.coin,
            side=req.side,
            price=req.price,
            size=size,
            remaining=size,
            exchange_id=exchange_id,
            client_id=req.client_id or None,
            status=status,
            timestamp_ms=now,
            tif=req.tif,
            reduce_only=req.reduce_only,
        )
        self._next_oid = exchange_id + 1
        self._orders[order.exchange_id] = order
        if order.client_id:
            self._cloids[order.client_id] = order.exchange_id
        if status.is_terminal:
            self._finished.append(order.exchange_id)
        self._dirty_orders.add(order.exchange_id)
        return order

    def _cancel(self, exchange_id: int, reason: str) -> None:
        order = self._orders[exchange_id]
        self._orders[exchange_id] = attrs.evolve(order, status=OrderStatus.CANCELED)
        self._reasons[exchange_id] = reason
        self._unrest(order.coin, exchange_id)
        self._finished.append(exchange_id)
        self._dirty_orders.add(exchange_id)
        self.last_cancel_reason = reason

    def _fill(self, oid: int, size: Decimal, price: Decimal, now_ms: int, *, taker: bool) -> None:
        order = self._orders[oid]
        fee = price * size * (self._cfg.taker_fee if taker else self._cfg.maker_fee)
        trade_id = allocate_id(self._next_tid, now_ms)
        fill = Fill(
            venue=self._cfg.venue,
            coin=order.coin,
            trade_id=trade_id,
            exchange_order_id=oid,
            client_id=order.client_id,
            side=order.side,
            price=price,
            size=size,
            fee=fee,
            timestamp_ms=now_ms,
            is_taker=taker,
        )
        self._next_tid = trade_id + 1
        self._new_fills.append(fill)
        self.balance += self._apply_to_position(order.coin, size * order.side.sign, price) - fee
        remaining = order.remaining - size
        status = OrderStatus.FILLED if remaining == 0 else OrderStatus.PARTIALLY_FILLED
        self._orders[oid] = attrs.evolve(order, remaining=remaining, status=status)
        if remaining == 0:
            self._unrest(order.coin, oid)
            self._finished.append(oid)
        self._dirty_orders.add(oid)

    def _apply_to_position(self, coin: str, delta: Decimal, price: Decimal) -> Decimal:
        """Average-cost accounting; returns the realized PnL of the part that closed."""
        current = self._positions.get(coin)
        size = current.size if current else ZERO
        entry = current.entry_price if current else ZERO
        new_size = size + delta
        realized = ZERO
        if size == 0 or (size > 0) == (delta > 0):
            entry = (abs(size) * entry + abs(delta) * price) / abs(new_size)
        else:
            closed = min(abs(delta), abs(size))
            realized = closed * (price - entry) * (1 if size > 0 else -1)
            if new_size != 0 and (new_size > 0) != (size > 0):
                entry = price
        closed = new_size == 0 or (size != 0 and (new_size > 0) != (size > 0))
        if closed and self._funding.pop(coin, None) is not None:
            self._dirty_funding.add(coin)  # the next position pays its own funding
        if new_size == 0:
            self._positions.pop(coin, None)
        else:
            self._positions[coin] = Position(coin, new_size, entry)
        self._dirty_positions.add(coin)
        return realized

    def _reduce_only_size(self, order: Order, size: Decimal) -> Decimal:
        """A resting reduce-only order may only shrink the position; one that no longer can is
        canceled, as Hyperliquid does."""
        if self._would_increase(order.coin, order.side):
            self._cancel(order.exchange_id, REDUCE_ONLY_CANCELED)
            return ZERO
        return min(size, abs(self._position_size(order.coin)))

    def _position_size(self, coin: str) -> Decimal:
        position = self._positions.get(coin)
        return position.size if position else ZERO

    def _would_increase(self, coin: str, side: Side) -> bool:
        position = self._position_size(coin)
        return position == 0 or (position > 0) == (side is Side.BUY)

    def place_many(self, requests: Sequence[OrderRequest], now_ms: int) -> list[PlaceAck]:
        """A batch keeps one running total of the margin its resting orders use, so placing a
        grid of n orders costs O(n) instead of recounting every resting order each time, and
        asks the archive about all its cloids at once (the archive cannot change meanwhile:
        nothing is stored until the batch is taken)."""
        self._order_margin = self._resting_order_margin()
        if self._archive is not None:
            cloids = [r.client_id for r in requests if r.client_id]
            self._archived_cloids = self._archive.client_ids_used(cloids) if cloids else set()
        try:
            return [self.place(request, now_ms) for request in requests]
        finally:
            self._order_margin = None
            self._archived_cloids = None

    def _resting_order_margin(self) -> Decimal:
        used = ZERO
        for resting_coin, ids in self._resting.items():
            for exchange_id in ids:
                order = self._orders[exchange_id]
                if not order.reduce_only:
                    used += order.price * order.remaining / self._leverage(resting_coin)
        return used

    def _margin_allows(self, coin: str, notional: Decimal) -> bool:
        """Simple cross margin: Σ (open order + position notional) / max leverage ≤ equity."""
        resting = self._order_margin
        used = notional / self._leverage(coin)
        used += resting if resting is not None else self._resting_order_margin()
        for position in self._positions.values():
            mid = self._markets[position.coin].mid
            used += abs(position.size) * mid / self._leverage(position.coin)
        return used <= self.equity()

    def set_leverage(self, coin: str, leverage: int) -> bool:
        """Margin at ``leverage`` from now on (False, nothing changed: out of 1..max). The
        paper venue keeps one simple cross-margin model, so isolated is margined the same."""
        meta = self._metas.get(coin)
        if meta is None or not 1 <= leverage <= meta.max_leverage:
            return False
        self._chosen_leverage[coin] = leverage
        self._order_margin = None  # resting orders are margined anew at the next check
        return True

    def _leverage(self, coin: str) -> int:
        chosen = self._chosen_leverage.get(coin)
        return chosen if chosen is not None else self._max_leverage(coin)

    def _max_leverage(self, coin: str) -> int:
        meta = self._metas.get(coin)
        return meta.max_leverage if meta is not None else 1

    def _bid_at(self, coin: str, mid: Decimal) -> Decimal:
        spread, sz_decimals = self._cfg.half_spread, self._metas[coin].sz_decimals
        if not spread:  # the backtest's venue: paths hand out valid (rounded) prices
            return mid
        return rounding.round_price(mid * (1 - spread), sz_decimals, rounding.Rounding.DOWN)

    def _ask_at(self, coin: str, mid: Decimal) -> Decimal:
        spread, sz_decimals = self._cfg.half_spread, self._metas[coin].sz_decimals
        if not spread:
            return mid
        return rounding.round_price(mid * (1 + spread), sz_decimals, rounding.Rounding.UP)
