"""The engine's grid over candles, compiled: the sweep evaluator's inner loop.

A step-for-step mirror of what the backtest replay does with the live engine (SimExchange in
candle mode, FillProcessor, GridBuilder, RiskEngine), for the settings ``fast_replay`` models,
in integers where the engine decides (prices in millionths, sizes in lots, order tokens in exact
units) and in floats only for the figures it reports (PnL, equity). Numba compiles it because the
loop is sequential (each fill changes what the next candle can fill): nothing to vectorise, and a
Python loop is the engine replay's speed again.

It never guesses. Where an engine decision turns on a figure the floats only approximate (an
equity a hair from a halt limit, a notional a hair from its cap, a margin check) or on a path it
does not follow (an order the venue would reject), it stops with ``BAILED``: the caller then runs
the engine replay for that trial. The differential test holds the two to identical fills.

Grids themselves come from the real ``calculate_grid``: the kernel returns ``NEED_GRID`` when the
engine would build one, and the caller writes its prices and sizes and calls again.
"""

from __future__ import annotations

import numba
import numpy as np

# Return codes.
DONE = 0
NEED_GRID = 1
"""Build a grid (``S_KEEP_CENTER``: around the journaled center if the mark is inside it)."""
FILLS_FULL = 2
"""The fill buffers may overflow during the next candle: grow them and call again."""
BAILED = 3
"""An engine decision the kernel cannot be sure of: ``S_BAIL`` says which (``BAIL_*``)."""

BAIL_HALT_LIMIT = 1
BAIL_NOTIONAL_LIMIT = 2
BAIL_MARGIN = 3
BAIL_ORDER_ROOM = 4

# Integer state (``state``), kept between calls.
S_CANDLE = 0
"""The candle to go on with."""
S_PHASE = 1
"""0: step the candle's points; 1: a grid was just written, place it and finish the cycle."""
S_POSITION = 2
S_GAP = 3
S_HAS_GRID = 4
S_NEXT_SEQ = 5
S_TOKENS = 6
S_TOKENS_AT = 7
S_MAINTAINED = 8
S_HALTED = 9
"""0 trading, 1 halted on drawdown (for good), 2 on the daily loss (until the next UTC day)."""
S_HALTED_AT = 10
S_HALTS = 11
S_DAILY_DAY = 12
S_FILLS = 13
S_MARK = 14
S_PEAK_SET = 15
S_KEEP_CENTER = 16
S_BAIL = 17
S_BEST_BUY = 18
"""The highest live buy's price (-1: none), valid while ``S_ORDERS_CHANGED`` is 0."""
S_BEST_SELL = 19
"""The lowest live sell's price (-1: none)."""
S_ORDERS_CHANGED = 20
S_LIVE = 21
"""How many orders rest: they are the first rows of ``orders``, in no particular order."""
STATE_SIZE = 22

# Float state (``money``).
M_REALIZED = 0
M_AVG_ENTRY = 1
M_FEES = 2
M_DAILY = 3
M_PEAK = 4
M_FUNDING = 5
MONEY_SIZE = 6

# Integer settings (``rules``).
R_LEVELS = 0
R_STRICT = 1
R_MAX_OPEN = 2
R_MAX_POSITION = 3
"""max_position in lots, rounded down (a position of whole lots exceeds it iff it exceeds this)."""
R_TOKEN_UNIT = 4
"""Units of one order token: tokens are kept as integers of 1 / (1000 × rate's denominator)."""
R_TOKEN_CAP = 5
R_RATE = 6
"""Units refilled per millisecond (the rate's numerator)."""
R_MIN_VALUE = 7
"""$10 in price units × lots (10 × 10^6 × 10^sz_decimals)."""
R_THRESHOLD_NUM = 8
R_THRESHOLD_DEN = 9
R_INTERVAL = 10
R_LEVERAGE = 11
R_ROLLING = 12
"""1: a rolling grid, rebuilt around the mark once it is outside; 0: bounded, never moves."""
R_REPAIR_EVERY = 13
"""``grid_builder.REPAIR_EVERY`` (passed in: a compiled function's cache would keep a global)."""
RULES_SIZE = 14

# Float settings (``limits``).
L_MAKER_FEE = 0
L_MAX_NOTIONAL = 1
L_MAX_DRAWDOWN = 2
L_DAILY_LOSS = 3
L_BALANCE = 4
L_SIZE_SCALE = 5
LIMITS_SIZE = 6

PRICE_SCALE = 1_000_000
"""Prices in millionths: a perp price has at most 6 decimals."""
DAY_MS = 86_400_000
POINTS = 4
ORDER_SLOTS_PER_LEVEL = 4
_EPSILON = 1e-6
"""Below this (USD, or relative for notionals) a float comparison is not trusted."""


@numba.njit(cache=True)
def run(
    points: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
    budgets: np.ndarray,
    times: np.ndarray,
    closes: np.ndarray,
    funding: np.ndarray,
    grid_prices: np.ndarray,
    grid_sizes: np.ndarray,
    orders: np.ndarray,
    state: np.ndarray,
    money: np.ndarray,
    rules: np.ndarray,
    limits: np.ndarray,
    fills: np.ndarray,
    equity: np.ndarray,
    positions: np.ndarray,
    halted: np.ndarray,
    scratch: np.ndarray,
) -> int:
    """Walk the candles from ``state[S_CANDLE]`` until done or the caller is needed.

    ``points`` [candles, 4]: the rounded path (open, extremes, close) in millionths, ``lows`` and
    ``highs`` its extremes; ``budgets``
    [candles, 4] the lots that trade on each side at each point; ``closes`` the candles' closes
    (float, for equity); ``funding`` the summed hourly rates paid at each candle's close.
    ``orders`` [slots, 6]: level, side (+1 buy, -1 sell), price, size, remaining, seq of each
    resting order (the first ``state[S_LIVE]`` rows).
    ``fills`` [capacity, 7]: time, side, price, size of each fill, in the venue's order, and
    the level, the full size of its order and whether it completed the order. ``scratch``
    [levels, 5]: room for the orders one placement wants (level, side, price, size, flag).
    """
    count = points.shape[0]
    capacity = fills.shape[0]
    slots = orders.shape[0]
    k = state[S_CANDLE]
    while k < count:
        interval = rules[R_INTERVAL]
        close_ms = times[k] + 3 * interval // POINTS
        if state[S_PHASE] == 1:
            state[S_PHASE] = 0
            code = _build(
                orders,
                grid_prices,
                grid_sizes,
                state,
                money,
                rules,
                limits,
                scratch,
                close_ms,
                True,
            )
            if code != DONE:
                return code
        else:
            if capacity - state[S_FILLS] < POINTS * slots:
                state[S_CANDLE] = k
                return FILLS_FULL
            first = 1 if k == 0 else 0
            previous = state[S_MARK]
            if state[S_ORDERS_CHANGED] == 1:
                _find_best(orders, state)
            if not _reaches(state, rules, min(previous, lows[k]), max(previous, highs[k])):
                # A quiet candle: no point of it reaches an order (the venue's step_quietly).
                state[S_MARK] = points[k, POINTS - 1]
                first = POINTS
            for point in range(first, POINTS):
                at = times[k] + point * interval // POINTS
                previous = state[S_MARK]
                price = points[k, point]
                code = _step(
                    orders,
                    grid_prices,
                    state,
                    money,
                    rules,
                    limits,
                    fills,
                    scratch,
                    previous,
                    price,
                    budgets[k, point],
                    at,
                )
                if code != DONE:
                    state[S_CANDLE] = k
                    return code
            code = _cycle(
                orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, close_ms
            )
            if code == NEED_GRID:
                state[S_CANDLE] = k
                state[S_PHASE] = 1
                return code
            if code != DONE:
                state[S_CANDLE] = k
                return code
        # The books at the close: funding on the position held, then the equity point.
        position = state[S_POSITION] / limits[L_SIZE_SCALE]
        close = closes[k]
        if position != 0.0 and funding[k] != 0.0:
            money[M_FUNDING] -= position * close * funding[k]
        unrealized = 0.0
        if state[S_POSITION] != 0:
            unrealized = position * (close - money[M_AVG_ENTRY])
        equity[k] = money[M_REALIZED] + unrealized + money[M_FUNDING]
        positions[k] = state[S_POSITION]
        halted[k] = 1 if state[S_HALTED] != 0 else 0
        k += 1
    state[S_CANDLE] = k
    return DONE


@numba.njit(cache=True)
def _remove(orders, state, j):
    """Take row ``j`` off the book: the last live row moves into its place."""
    last = state[S_LIVE] - 1
    orders[j, :] = orders[last, :]
    state[S_LIVE] = last


@numba.njit(cache=True, inline="always")
def _find_best(orders, state):
    best_buy = -1
    best_sell = -1
    for j in range(state[S_LIVE]):
        price = orders[j, 2]
        if orders[j, 1] == 1:
            if price > best_buy:
                best_buy = price
        elif best_sell < 0 or price < best_sell:
            best_sell = price
    state[S_BEST_BUY] = best_buy
    state[S_BEST_SELL] = best_sell
    state[S_ORDERS_CHANGED] = 0


@numba.njit(cache=True, inline="always")
def _reaches(state, rules, low, high):
    """``MatchingEngine.reaches``: would trades between ``low`` and ``high`` fill any order?"""
    strict = rules[R_STRICT] == 1
    buy = state[S_BEST_BUY]
    if buy >= 0 and (buy > low or (not strict and buy == low)):
        return True
    sell = state[S_BEST_SELL]
    return sell >= 0 and (sell < high or (not strict and sell == high))


@numba.njit(cache=True)
def _step(
    orders, grid_prices, state, money, rules, limits, fills, scratch, previous, price, budget, at
):
    """One venue step from ``previous`` to ``price``: the mid first (the feed's mark), then the
    fills the move reached (buys best price first, then sells), booked as one burst, then the
    grid's reaction to each completed order, as ``GridBuilder.on_fill``."""
    state[S_MARK] = price
    low = min(previous, price)
    high = max(previous, price)
    strict = rules[R_STRICT] == 1
    start = state[S_FILLS]
    for side in (1, -1):
        limit = low if side == 1 else high
        left = budget
        while left > 0:
            best = -1
            for j in range(state[S_LIVE]):
                if orders[j, 1] != side:
                    continue
                if best < 0:
                    best = j
                    continue
                # Best price (highest buy, lowest sell), then the earliest order.
                if side * (orders[j, 2] - orders[best, 2]) > 0 or (
                    orders[j, 2] == orders[best, 2] and orders[j, 5] < orders[best, 5]
                ):
                    best = j
            if best < 0:
                break
            beyond = (orders[best, 2] - limit) * side
            if beyond < 0 or (strict and beyond == 0):
                break
            size = min(orders[best, 4], left)
            n = state[S_FILLS]
            fills[n, 0] = at
            fills[n, 1] = side
            fills[n, 2] = orders[best, 2]
            fills[n, 3] = size
            fills[n, 4] = orders[best, 0]
            fills[n, 5] = orders[best, 3]
            orders[best, 4] -= size
            fills[n, 6] = 1 if orders[best, 4] == 0 else 0
            if orders[best, 4] == 0:
                _remove(orders, state, best)
            state[S_ORDERS_CHANGED] = 1
            state[S_FILLS] = n + 1
            left -= size
    end = state[S_FILLS]
    if end == start:
        return DONE
    for n in range(start, end):
        _book(state, money, limits, fills[n, 1], fills[n, 2], fills[n, 3], at)
    for n in range(start, end):
        if fills[n, 6] == 0 or state[S_HAS_GRID] == 0:
            continue  # partly filled: no replacement until the order is complete
        code = _replace(
            orders,
            grid_prices,
            state,
            money,
            rules,
            limits,
            scratch,
            fills[n, 4],
            fills[n, 1],
            fills[n, 5],
            at,
        )
        if code != DONE:
            return code
    return DONE


@numba.njit(cache=True)
def _book(state, money, limits, side, price_units, size_lots, at):
    """``accounting.apply_fills`` for one fill, in floats for the money (average cost)."""
    scale = limits[L_SIZE_SCALE]
    price = price_units / PRICE_SCALE
    position = state[S_POSITION]
    qty = side * size_lots
    avg = money[M_AVG_ENTRY]
    gross = 0.0
    new = position + qty
    if position == 0:
        avg = price
    elif (position > 0) == (qty > 0):
        avg = (abs(position) * avg + abs(qty) * price) / abs(new)
    else:
        closed = min(abs(qty), abs(position)) / scale
        gross = (price - avg) * closed if position > 0 else (avg - price) * closed
        if new == 0:
            avg = 0.0
        elif (new > 0) != (position > 0):
            avg = price
    state[S_POSITION] = new
    money[M_AVG_ENTRY] = avg
    fee = price * (size_lots / scale) * limits[L_MAKER_FEE]
    delta = gross - fee
    day = at // DAY_MS
    if day > state[S_DAILY_DAY]:
        state[S_DAILY_DAY] = day
        money[M_DAILY] = delta
    else:
        money[M_DAILY] += delta
    money[M_REALIZED] += delta
    money[M_FEES] += fee


@numba.njit(cache=True)
def _replace(orders, grid_prices, state, money, rules, limits, scratch, level, side, size, at):
    """``GridBuilder.on_fill`` for a completed order: move the gap there and place the other
    side one level away, with the filled order's size, unless something already rests there."""
    n = rules[R_LEVELS]
    target = level + 1 if side == 1 else level - 1
    state[S_GAP] = level
    if target < -n or target > n:
        return DONE
    price = grid_prices[target + n]
    for other in range(state[S_LIVE]):
        if orders[other, 0] == target and orders[other, 1] == -side and orders[other, 2] == price:
            return DONE
    scratch[0, 0] = target
    scratch[0, 1] = -side
    scratch[0, 2] = price
    scratch[0, 3] = size
    return _place(orders, state, money, rules, limits, scratch, 1, at)


@numba.njit(cache=True, inline="always")
def _cycle(orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, now):
    """``BotOrchestrator.cycle`` at a candle's close: resume a daily halt on a new day, else
    judge the equity (``RiskEngine.check_equity``), else ``GridBuilder.maintain``."""
    mark = state[S_MARK]
    if state[S_HALTED] != 0:
        if state[S_HALTED] == 2 and now // DAY_MS > state[S_HALTED_AT] // DAY_MS:
            state[S_HALTED] = 0
            state[S_HAS_GRID] = 0
        return DONE
    unrealized = 0.0
    if state[S_POSITION] != 0:
        unrealized = (state[S_POSITION] / limits[L_SIZE_SCALE]) * (
            mark / PRICE_SCALE - money[M_AVG_ENTRY]
        )
    equity = money[M_REALIZED] + unrealized
    if state[S_PEAK_SET] == 0 or equity > money[M_PEAK]:
        money[M_PEAK] = equity
        state[S_PEAK_SET] = 1
    drawdown = money[M_PEAK] - equity
    if abs(drawdown - limits[L_MAX_DRAWDOWN]) <= _EPSILON:
        state[S_BAIL] = BAIL_HALT_LIMIT
        return BAILED
    if drawdown > limits[L_MAX_DRAWDOWN]:
        _halt(orders, state, 1, now)
        return DONE
    today = now // DAY_MS
    realized_today = money[M_DAILY] if state[S_DAILY_DAY] == today else 0.0
    result = realized_today + unrealized
    if abs(result + limits[L_DAILY_LOSS]) <= _EPSILON:
        state[S_BAIL] = BAIL_HALT_LIMIT
        return BAILED
    if result < -limits[L_DAILY_LOSS]:
        _halt(orders, state, 2, now)
        return DONE
    state[S_MAINTAINED] += 1
    if state[S_HAS_GRID] == 0:
        state[S_KEEP_CENTER] = 1
        return NEED_GRID
    n = rules[R_LEVELS]
    if rules[R_ROLLING] == 1 and _is_outside(mark, grid_prices[0], grid_prices[2 * n], rules):
        state[S_KEEP_CENTER] = 0
        return NEED_GRID
    if state[S_MAINTAINED] % rules[R_REPAIR_EVERY] == 0:
        return _build(
            orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, now, False
        )
    return DONE


@numba.njit(cache=True, inline="always")
def _is_outside(mark, lowest, highest, rules):
    """``GridSnapshot.is_outside``: beyond the outermost level by more than the threshold."""
    num = rules[R_THRESHOLD_NUM]
    den = rules[R_THRESHOLD_DEN]
    margin = mark * num  # × 100 × den on the other side
    return (mark - highest) * 100 * den > margin or (lowest - mark) * 100 * den > margin


@numba.njit(cache=True)
def _halt(orders, state, kind, now):
    """The orchestrator's halt: the books say halted, every order is canceled."""
    state[S_HALTED] = kind
    state[S_HALTED_AT] = now
    state[S_HALTS] += 1
    state[S_ORDERS_CHANGED] = 1
    state[S_LIVE] = 0


@numba.njit(cache=True)
def _build(orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, now, fresh):
    """``GridBuilder.build_and_place_grid``: on a fresh grid the gap goes to the level nearest
    the mark; the desired levels (buys below the gap, sells above) are diffed against the live
    orders, the rest canceled, the missing placed nearest the mark first."""
    n = rules[R_LEVELS]
    mark = state[S_MARK]
    if fresh:
        state[S_HAS_GRID] = 1
        state[S_GAP] = _nearest_index(grid_prices, mark, n)
    gap = state[S_GAP]
    count = 0
    kept = scratch[:, 4]  # by level here; the rows' flags in ``_place``
    kept[:] = 0
    for j in range(state[S_LIVE] - 1, -1, -1):  # backwards: a removal moves a seen row here
        level = orders[j, 0]
        matches = False
        if -n <= level <= n and level != gap and kept[level + n] == 0:
            side = 1 if level < gap else -1
            matches = orders[j, 1] == side and orders[j, 2] == grid_prices[level + n]
        if matches:
            kept[level + n] = 1
        else:
            _remove(orders, state, j)  # stale: canceled
            state[S_ORDERS_CHANGED] = 1
    for index in range(-n, n + 1):
        if index == gap or kept[index + n] == 1:
            continue
        # Row ``count`` ≤ index + n: the flags still to be read are not overwritten.
        scratch[count, 0] = index
        scratch[count, 1] = 1 if index < gap else -1
        scratch[count, 2] = grid_prices[index + n]
        scratch[count, 3] = grid_sizes[index + n]
        count += 1
    if count == 0:
        return DONE
    # Nearest the mark first; stable (insertion), so equal distances keep the index order.
    for i in range(1, count):
        j = i
        while j > 0 and abs(scratch[j, 2] - mark) < abs(scratch[j - 1, 2] - mark):
            for c in range(4):
                scratch[j, c], scratch[j - 1, c] = scratch[j - 1, c], scratch[j, c]
            j -= 1
    return _place(orders, state, money, rules, limits, scratch, count, now)


@numba.njit(cache=True)
def _nearest_index(prices, mark, n):
    """``GridSnapshot.nearest_index``: the closest level, the lower one on a tie."""
    above = np.searchsorted(prices, mark, side="left")
    if above == 0:
        return -n
    if above == prices.shape[0]:
        return n
    below = above - 1
    if mark - prices[below] <= prices[above] - mark:
        return below - n
    return above - n


@numba.njit(cache=True)
def _place(orders, state, money, rules, limits, wanted, count, now):
    """``GridBuilder._place``: skip a level that would cross the mark, pass each through
    ``RiskEngine.allow_order`` (open orders, exposure, order tokens), then the venue's own
    checks for what was allowed, in that order: one below $10 is rejected (the level stays
    empty, its token spent), one near the margin limit is the engine's to judge."""
    mark = state[S_MARK]
    position = state[S_POSITION]
    scale = limits[L_SIZE_SCALE]
    open_count = 0
    resting_buy = 0
    resting_sell = 0
    for j in range(state[S_LIVE]):
        open_count += 1
        if orders[j, 1] == 1:
            resting_buy += orders[j, 3]
        else:
            resting_sell -= orders[j, 3]
    for w in range(count):
        wanted[w, 4] = 0
        side = wanted[w, 1]
        price = wanted[w, 2]
        size = wanted[w, 3]
        if (side == 1 and price >= mark) or (side == -1 and price <= mark):
            continue  # would cross: waits until the price moves away
        if open_count >= rules[R_MAX_OPEN]:
            continue
        order = side * size
        reduces = position != 0 and side * position < 0 and abs(position + order) < abs(position)
        if not reduces:
            resting = resting_buy if side == 1 else resting_sell
            worst = abs(position + order + resting)
            if worst > rules[R_MAX_POSITION]:
                continue
            notional = (worst / scale) * (max(mark, price) / PRICE_SCALE)
            cap = limits[L_MAX_NOTIONAL]
            if abs(notional - cap) <= _EPSILON * max(cap, 1.0):
                state[S_BAIL] = BAIL_NOTIONAL_LIMIT
                return BAILED
            if notional > cap:
                continue
        elapsed = max(now - state[S_TOKENS_AT], 0)
        cap_units = rules[R_TOKEN_CAP]
        refill = min(elapsed, cap_units) * rules[R_RATE]
        tokens = min(cap_units, state[S_TOKENS] + refill)
        if tokens < rules[R_TOKEN_UNIT]:
            continue
        state[S_TOKENS] = tokens - rules[R_TOKEN_UNIT]
        state[S_TOKENS_AT] = now
        wanted[w, 4] = 1
        open_count += 1
        if side == 1:
            resting_buy += size
        else:
            resting_sell -= size
    for w in range(count):
        if wanted[w, 4] == 0:
            continue
        price = wanted[w, 2]
        size = wanted[w, 3]
        value = float(price) * float(size)
        minimum = float(rules[R_MIN_VALUE])
        if value < minimum * (1 + 1e-12) and (
            value < minimum * (1 - 1e-12) or price * size < rules[R_MIN_VALUE]
        ):
            continue  # the venue rejects it (below $10): the level stays empty
        if not _margin_certain(orders, state, money, rules, limits, price, size):
            state[S_BAIL] = BAIL_MARGIN
            return BAILED
        slot = state[S_LIVE]
        if slot == orders.shape[0]:
            state[S_BAIL] = BAIL_ORDER_ROOM
            return BAILED
        state[S_LIVE] = slot + 1
        orders[slot, 0] = wanted[w, 0]
        orders[slot, 1] = wanted[w, 1]
        orders[slot, 2] = price
        orders[slot, 3] = size
        orders[slot, 4] = size
        orders[slot, 5] = state[S_NEXT_SEQ]
        state[S_NEXT_SEQ] += 1
        state[S_ORDERS_CHANGED] = 1
    return DONE


@numba.njit(cache=True)
def _margin_certain(orders, state, money, rules, limits, price, size):
    """The venue's margin check (orders and position over the leverage within equity), with
    room to spare: a check this close to the line is the engine's to make."""
    scale = limits[L_SIZE_SCALE]
    leverage = rules[R_LEVERAGE]
    mark = state[S_MARK] / PRICE_SCALE
    used = (price / PRICE_SCALE) * (size / scale) / leverage
    for j in range(state[S_LIVE]):
        used += (orders[j, 2] / PRICE_SCALE) * (orders[j, 4] / scale) / leverage
    position = state[S_POSITION] / scale
    used += abs(position) * mark / leverage
    equity = limits[L_BALANCE] + money[M_REALIZED]
    if state[S_POSITION] != 0:
        equity += position * (mark - money[M_AVG_ENTRY])
    return used < equity * 0.999
