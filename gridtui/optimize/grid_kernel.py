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

Rolling arithmetic grids it builds itself, in exact integers (``arithmetic_grid``, held to
``calculate_grid`` by its own differential test); every other grid comes from the real
``calculate_grid``: the kernel returns ``NEED_GRID`` when the engine would build one, and the
caller writes its prices and sizes and calls again.

Most candles reach no order: ``_glide`` walks those with the books in registers, and ``run``
takes the full steps only for a candle that fills, halts, moves the grid or repairs it.
"""

from __future__ import annotations

import numba
import numpy as np

from gridtui.core.clock import UTC_DAY_MS

compiled = numba.njit(cache=True, _nrt=False)
"""How every kernel function is compiled. Without numba's runtime (``_nrt=False``, the flag
numba's own maintainers use for this): the kernel allocates nothing, and with the runtime every
call would count references on each array it passes, atomically, about 40 % of the kernel's
time on a busy grid (measured with perf on the bench's candles)."""
inlined = numba.njit(cache=True, _nrt=False, inline="always")
"""Small helpers, inlined where they are called (the hot loops)."""

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

# ``_judge``'s verdicts (a halt's kind is its verdict: ``S_HALTED``).
JUDGED_FINE = 0
JUDGED_DRAWDOWN = 1
JUDGED_DAILY_LOSS = 2
JUDGED_NEAR_LIMIT = 3

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
S_REPAIR_IN = 8
"""Cycles until the next repair (``GridBuilder`` repairs every ``R_REPAIR_EVERY``-th)."""
S_HALTED = 9
"""0 trading, 1 halted on drawdown (for good), 2 on the daily loss (until the next UTC day)."""
S_RESUME_AT = 10
"""A daily-loss halt lifts at this time (the next UTC day's start)."""
S_HALTS = 11
S_DAILY_END = 12
"""The end of the UTC day the daily PnL (``M_DAILY``) is for (days by comparison: no division
per candle)."""
S_FILLS = 13
S_MARK = 14
S_PEAK_SET = 15
S_KEEP_CENTER = 16
S_BAIL = 17
S_BEST_BUY = 18
"""The highest live buy's price (-1: none), valid while ``S_ORDERS_CHANGED`` is 0: fills and
placements keep it; a cancel sets ``S_ORDERS_CHANGED`` and the next step looks again."""
S_BEST_SELL = 19
"""The lowest live sell's price (-1: none)."""
S_ORDERS_CHANGED = 20
S_LIVE = 21
"""How many orders rest: they are the first rows of ``orders``, in no particular order."""
S_CENTER = 22
"""The grid's center in millionths (0: none yet): a grid rebuilt after a halt keeps it."""
S_SETTLED = 23
"""1: every level of the grid rests as the last build left it, so a repair would change
nothing and is skipped (any order change clears it)."""
S_RESTING_BUY = 24
"""The lots of every resting buy (their full sizes), kept as orders come and go."""
S_RESTING_SELL = 25
"""Minus the lots of every resting sell."""
STATE_SIZE = 26

# Float state (``money``).
M_REALIZED = 0
M_AVG_ENTRY = 1
M_FEES = 2
M_DAILY = 3
M_PEAK = 4
M_FUNDING = 5
M_ORDER_VALUE = 6
"""Σ price (millionths) × remaining lots of the resting orders: the venue's margin on them."""
M_CLOSE_PEAK = 7
"""The highest equity at a close so far (the start, 0, counts): the report's drawdown."""
M_CLOSE_DRAWDOWN = 8
"""The largest fall from ``M_CLOSE_PEAK``: ``report._max_drawdown`` of the equity points."""
MONEY_SIZE = 9

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
R_OWN_GRIDS = 14
"""1: the kernel builds the grids itself (``arithmetic_grid``); 0: it asks with ``NEED_GRID``."""
R_STEP_NUM = 15
R_STEP_DEN = 16
"""spacing_pct / 100 = R_STEP_NUM / R_STEP_DEN, the denominator a power of ten."""
R_MAX_DECIMALS = 17
"""A price's most decimals on this coin (6 − sz_decimals)."""
RULES_SIZE = 18

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
POINTS = 4
ALLOWED = 1
PLACED = 2
"""A wanted order's flag in ``_place``: the risk gate allowed it; the venue took it."""
ORDER_SLOTS_PER_LEVEL = 4
_PRODUCT_LIMIT = 10**18
"""The kernel's grids keep center × (denominator + levels × numerator) below this: exact in
int64, and at most 19 digits, so ``calculate_grid``'s trim to 20 digits changes nothing."""
_EPSILON = 1e-6
"""Below this (USD, or relative for notionals) a float comparison is not trusted."""


@compiled
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
    level_lots: np.ndarray,
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
    ``level_lots`` [levels]: each level's configured size in lots (``configured_size``).
    ``orders`` [slots, 6]: level, side (+1 buy, -1 sell), price, size, remaining, seq of each
    resting order (the first ``state[S_LIVE]`` rows).
    ``fills`` [capacity, 7]: time, side, price, size of each fill, in the venue's order, and
    the level, the full size of its order and whether it completed the order. ``scratch``
    [slots, 5]: room for the orders one placement wants (level, side, price, size, flag), or
    the rows one step fills, best first (column 0).
    """
    count = points.shape[0]
    capacity = fills.shape[0]
    slots = orders.shape[0]
    strict = rules[R_STRICT] == 1
    k = state[S_CANDLE]
    while k < count:
        if state[S_PHASE] == 0 and k > 0:
            if state[S_ORDERS_CHANGED] == 1:
                _find_best(orders, state)
            mark = state[S_MARK]
            if not _reaches(
                state[S_BEST_BUY],
                state[S_BEST_SELL],
                strict,
                min(mark, lows[k]),
                max(mark, highs[k]),
            ):
                k = _glide(
                    points,
                    lows,
                    highs,
                    times,
                    closes,
                    funding,
                    grid_prices,
                    state,
                    money,
                    rules,
                    limits,
                    equity,
                    positions,
                    halted,
                    k,
                )
                if k == count:
                    break
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
            if not _reaches(
                state[S_BEST_BUY],
                state[S_BEST_SELL],
                strict,
                min(previous, lows[k]),
                max(previous, highs[k]),
            ):
                # A quiet candle: no point of it reaches an order (the venue's step_quietly).
                state[S_MARK] = points[k, POINTS - 1]
                first = POINTS
            for point in range(first, POINTS):
                at = times[k] + point * interval // POINTS
                previous = state[S_MARK]
                price = points[k, point]
                if state[S_ORDERS_CHANGED] == 1:
                    _find_best(orders, state)
                if not _reaches(
                    state[S_BEST_BUY],
                    state[S_BEST_SELL],
                    strict,
                    min(previous, price),
                    max(previous, price),
                ):
                    state[S_MARK] = price  # the venue's step: the mark moves, nothing fills
                    continue
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
                orders,
                grid_prices,
                grid_sizes,
                level_lots,
                state,
                money,
                rules,
                limits,
                scratch,
                close_ms,
            )
            if code == NEED_GRID:
                state[S_CANDLE] = k
                state[S_PHASE] = 1
                return code
            if code != DONE:
                state[S_CANDLE] = k
                return code
        money[M_FUNDING], equity[k] = _close_books(
            state[S_POSITION],
            limits[L_SIZE_SCALE],
            closes[k],
            funding[k],
            money[M_AVG_ENTRY],
            money[M_REALIZED],
            money[M_FUNDING],
        )
        money[M_CLOSE_PEAK] = max(money[M_CLOSE_PEAK], equity[k])
        money[M_CLOSE_DRAWDOWN] = max(money[M_CLOSE_DRAWDOWN], money[M_CLOSE_PEAK] - equity[k])
        positions[k] = state[S_POSITION]
        halted[k] = 1 if state[S_HALTED] != 0 else 0
        k += 1
    state[S_CANDLE] = k
    return DONE


@compiled
def _glide(
    points,
    lows,
    highs,
    times,
    closes,
    funding,
    grid_prices,
    state,
    money,
    rules,
    limits,
    equity,
    positions,
    halted,
    k,
):
    """The candles from ``k`` on that only move the mark and the books: none reaches an order,
    the equity is clear of every halt limit, the grid stays where it is and a repair would
    change nothing. Returns the first candle that needs ``run``'s full steps, with the state
    as that candle's start left it. Its figures are the full steps' own (``_judge``,
    ``_close_books``), kept in registers: most candles are quiet ones."""
    count = points.shape[0]
    interval = rules[R_INTERVAL]
    strict = rules[R_STRICT] == 1
    best_buy = state[S_BEST_BUY]
    best_sell = state[S_BEST_SELL]
    mark = state[S_MARK]
    lots = state[S_POSITION]
    halted_kind = state[S_HALTED]
    resume_at = state[S_RESUME_AT]
    daily_end = state[S_DAILY_END]
    peak_set = state[S_PEAK_SET]
    repair_in = state[S_REPAIR_IN]
    repair_every = rules[R_REPAIR_EVERY]
    settled = state[S_SETTLED] == 1
    steady = state[S_HAS_GRID] == 1
    rolling = rules[R_ROLLING] == 1
    n = rules[R_LEVELS]
    lowest = grid_prices[0]
    highest = grid_prices[2 * n]
    avg = money[M_AVG_ENTRY]
    realized = money[M_REALIZED]
    daily = money[M_DAILY]
    peak = money[M_PEAK]
    paid = money[M_FUNDING]
    close_peak = money[M_CLOSE_PEAK]
    close_drawdown = money[M_CLOSE_DRAWDOWN]
    scale = limits[L_SIZE_SCALE]
    max_dd = limits[L_MAX_DRAWDOWN]
    loss = limits[L_DAILY_LOSS]
    while k < count:
        low = min(mark, lows[k])
        high = max(mark, highs[k])
        if _reaches(best_buy, best_sell, strict, low, high):
            break
        close_ms = times[k] + 3 * interval // POINTS
        after = points[k, POINTS - 1]
        if halted_kind != 0:
            if halted_kind == 2 and close_ms >= resume_at:
                break
        else:
            verdict, judged_peak = _judge(
                lots, avg, realized, daily, daily_end, peak, peak_set, after, close_ms,
                scale, max_dd, loss,
            )  # fmt: skip
            if verdict != JUDGED_FINE or not steady:
                break
            if rolling and _is_outside(after, lowest, highest, rules):
                break
            repairs, repair_next = _count_to_repair(repair_in, repair_every)
            if repairs and not settled:
                break
            peak = judged_peak
            peak_set = 1
            repair_in = repair_next
        mark = after
        paid, point = _close_books(lots, scale, closes[k], funding[k], avg, realized, paid)
        equity[k] = point
        close_peak = max(close_peak, point)
        close_drawdown = max(close_drawdown, close_peak - point)
        positions[k] = lots
        halted[k] = 1 if halted_kind != 0 else 0
        k += 1
    state[S_MARK] = mark
    state[S_PEAK_SET] = peak_set
    state[S_REPAIR_IN] = repair_in
    money[M_PEAK] = peak
    money[M_FUNDING] = paid
    money[M_CLOSE_PEAK] = close_peak
    money[M_CLOSE_DRAWDOWN] = close_drawdown
    return k


@compiled
def _remove(orders, state, money, j):
    """Take row ``j`` off the book: the last live row moves into its place."""
    if orders[j, 1] == 1:
        state[S_RESTING_BUY] -= orders[j, 3]
    else:
        state[S_RESTING_SELL] += orders[j, 3]
    money[M_ORDER_VALUE] -= float(orders[j, 2]) * float(orders[j, 4])
    last = state[S_LIVE] - 1
    for column in range(orders.shape[1]):
        orders[j, column] = orders[last, column]
    state[S_LIVE] = last


@inlined
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


@inlined
def _reaches(best_buy, best_sell, strict, low, high):
    """``MatchingEngine.reaches``: would trades between ``low`` and ``high`` fill any order,
    given the best buy and sell (-1: none)?"""
    return (best_buy >= 0 and _beyond(best_buy, low, 1, strict)) or (
        best_sell >= 0 and _beyond(best_sell, high, -1, strict)
    )


@compiled
def _step(
    orders, grid_prices, state, money, rules, limits, fills, scratch, previous, price, budget, at
):
    """One venue step from ``previous`` to ``price``: the mid first (the feed's mark), then the
    fills the move reached (buys best price first, then sells), booked as one burst, then the
    grid's reaction to each completed order, as ``GridBuilder.on_fill``. The caller has seen
    that the move reaches an order."""
    state[S_MARK] = price
    low = min(previous, price)
    high = max(previous, price)
    strict = rules[R_STRICT] == 1
    start = state[S_FILLS]
    for side in (1, -1):
        limit = low if side == 1 else high
        best = state[S_BEST_BUY] if side == 1 else state[S_BEST_SELL]  # valid: see the caller
        if best < 0 or not _beyond(best, limit, side, strict):
            continue
        # The orders the move reaches, best first (best price, then the earliest order), and
        # the best of the others: the side's best price once the reached ones are gone.
        reached = 0
        rest = -1
        for j in range(state[S_LIVE]):
            if orders[j, 1] != side:
                continue
            if not _beyond(orders[j, 2], limit, side, strict):
                if rest < 0 or side * (orders[j, 2] - rest) > 0:
                    rest = orders[j, 2]
                continue
            i = reached
            while i > 0 and _ahead(orders, j, scratch[i - 1, 0], side):
                scratch[i, 0] = scratch[i - 1, 0]
                i -= 1
            scratch[i, 0] = j
            reached += 1
        left = budget
        kept = -1  # the best reached order left resting (partly filled, or no volume left)
        for c in range(reached):
            if left <= 0:
                if kept < 0:
                    kept = orders[scratch[c, 0], 2]
                break
            j = scratch[c, 0]
            size = min(orders[j, 4], left)
            n = state[S_FILLS]
            fills[n, 0] = at
            fills[n, 1] = side
            fills[n, 2] = orders[j, 2]
            fills[n, 3] = size
            fills[n, 4] = orders[j, 0]
            fills[n, 5] = orders[j, 3]
            orders[j, 4] -= size
            money[M_ORDER_VALUE] -= float(orders[j, 2]) * float(size)
            fills[n, 6] = 1 if orders[j, 4] == 0 else 0
            if orders[j, 4] == 0:
                last = state[S_LIVE] - 1
                _remove(orders, state, money, j)
                for d in range(c + 1, reached):  # the last row moved into row j
                    if scratch[d, 0] == last:
                        scratch[d, 0] = j
            elif kept < 0:
                kept = orders[j, 2]
            state[S_SETTLED] = 0
            state[S_FILLS] = n + 1
            left -= size
        if side == 1:  # kept as the fills go: no scan of the book for the next step
            state[S_BEST_BUY] = kept if kept >= 0 else rest
        else:
            state[S_BEST_SELL] = kept if kept >= 0 else rest
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


@inlined
def _count_to_repair(repair_in, every):
    """``GridBuilder`` repairs every ``every``-th cycle: whether this cycle repairs, and the
    count of cycles to the next repair after it."""
    if repair_in == 1:
        return True, every
    return False, repair_in - 1


@inlined
def _beyond(price, limit, side, strict):
    """Trades down to (buys) or up to (sells) ``limit`` fill an order at ``price``."""
    beyond = (price - limit) * side
    return beyond > 0 or (not strict and beyond == 0)


@inlined
def _ahead(orders, j, other, side):
    """Order row ``j`` fills before row ``other``: a better price, or the same and earlier."""
    gain = side * (orders[j, 2] - orders[other, 2])
    return gain > 0 or (gain == 0 and orders[j, 5] < orders[other, 5])


@compiled
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
    if at >= state[S_DAILY_END]:
        state[S_DAILY_END] = day_end(at)
        money[M_DAILY] = delta
    else:
        money[M_DAILY] += delta
    money[M_REALIZED] += delta
    money[M_FEES] += fee


@compiled
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


@inlined
def _cycle(orders, grid_prices, grid_sizes, level_lots, state, money, rules, limits, scratch, now):
    """``BotOrchestrator.cycle`` at a candle's close: resume a daily halt on a new day, else
    judge the equity (``RiskEngine.check_equity``), else ``GridBuilder.maintain``."""
    mark = state[S_MARK]
    if state[S_HALTED] != 0:
        if state[S_HALTED] == 2 and now >= state[S_RESUME_AT]:
            state[S_HALTED] = 0
            state[S_HAS_GRID] = 0
        return DONE
    verdict, peak = _judge(
        state[S_POSITION],
        money[M_AVG_ENTRY],
        money[M_REALIZED],
        money[M_DAILY],
        state[S_DAILY_END],
        money[M_PEAK],
        state[S_PEAK_SET],
        mark,
        now,
        limits[L_SIZE_SCALE],
        limits[L_MAX_DRAWDOWN],
        limits[L_DAILY_LOSS],
    )
    money[M_PEAK] = peak
    state[S_PEAK_SET] = 1
    if verdict == JUDGED_NEAR_LIMIT:
        state[S_BAIL] = BAIL_HALT_LIMIT
        return BAILED
    if verdict != JUDGED_FINE:
        _halt(orders, state, money, verdict, now)
        return DONE
    repair, state[S_REPAIR_IN] = _count_to_repair(state[S_REPAIR_IN], rules[R_REPAIR_EVERY])
    n = rules[R_LEVELS]
    if state[S_HAS_GRID] == 0 or (
        rules[R_ROLLING] == 1 and _is_outside(mark, grid_prices[0], grid_prices[2 * n], rules)
    ):
        state[S_KEEP_CENTER] = 1 - state[S_HAS_GRID]
        own = rules[R_OWN_GRIDS] == 1
        if not (own and _own_grid(state, rules, level_lots, grid_prices, grid_sizes)):
            return NEED_GRID
        return _build(
            orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, now, True
        )
    if repair and state[S_SETTLED] == 0:
        return _build(
            orders, grid_prices, grid_sizes, state, money, rules, limits, scratch, now, False
        )
    return DONE


@inlined
def _judge(lots, avg, realized, daily, daily_end, peak, peak_set, mark, now, scale, max_dd, loss):
    """``RiskEngine.check_equity`` on the books at ``mark``: the verdict (``JUDGED_*``) and the
    equity's peak so far. Scalars only, so the quiet candles' loop keeps them in registers."""
    unrealized = 0.0
    if lots != 0:
        unrealized = (lots / scale) * (mark / PRICE_SCALE - avg)
    equity = realized + unrealized
    if peak_set == 0 or equity > peak:
        peak = equity
    drawdown = peak - equity
    if abs(drawdown - max_dd) <= _EPSILON:
        return JUDGED_NEAR_LIMIT, peak
    if drawdown > max_dd:
        return JUDGED_DRAWDOWN, peak
    realized_today = daily if now < daily_end else 0.0
    result = realized_today + unrealized
    if abs(result + loss) <= _EPSILON:
        return JUDGED_NEAR_LIMIT, peak
    if result < -loss:
        return JUDGED_DAILY_LOSS, peak
    return JUDGED_FINE, peak


@inlined
def _close_books(lots, scale, close, rate, avg, realized, funding):
    """The books at a candle's close: funding paid on the position held, and the equity
    (realized + unrealized + funding). Returns (funding, equity)."""
    position = lots / scale
    if position != 0.0 and rate != 0.0:
        funding -= position * close * rate
    unrealized = 0.0
    if lots != 0:
        unrealized = position * (close - avg)
    return funding, realized + unrealized + funding


@inlined
def _is_outside(mark, lowest, highest, rules):
    """``GridSnapshot.is_outside``: beyond the outermost level by more than the threshold."""
    num = rules[R_THRESHOLD_NUM]
    den = rules[R_THRESHOLD_DEN]
    margin = mark * num  # × 100 × den on the other side
    return (mark - highest) * 100 * den > margin or (lowest - mark) * 100 * den > margin


@compiled
def _own_grid(state, rules, level_lots, grid_prices, grid_sizes):
    """``fast_replay._grid`` (``GridBuilder._rebuild``) with ``arithmetic_grid``: around the
    kept center if the mark is inside that grid, else around the mark. False: the caller's."""
    mark = state[S_MARK]
    n = rules[R_LEVELS]
    if state[S_KEEP_CENTER] == 1 and state[S_CENTER] > 0:
        if not arithmetic_grid(state[S_CENTER], rules, level_lots, grid_prices, grid_sizes):
            return False
        if not _is_outside(mark, grid_prices[0], grid_prices[2 * n], rules):
            return True
    if not arithmetic_grid(mark, rules, level_lots, grid_prices, grid_sizes):
        return False
    state[S_CENTER] = mark
    return True


@compiled
def arithmetic_grid(center, rules, level_lots, grid_prices, grid_sizes):
    """``calculate_grid`` for a rolling arithmetic grid around ``center`` (a valid price, in
    millionths), exactly, in integers: level i's raw price is center × (1 + i × step), rounded
    down to the tick below the center and up above it; each size is the configured one or,
    below $10, the smallest lot count worth $10. False, with nothing promised, where the
    Python calculator must answer (an overflow, a price that rounds oddly, collapsed levels,
    levels at or below zero): it is the authority."""
    n = rules[R_LEVELS]
    num = rules[R_STEP_NUM]
    den = rules[R_STEP_DEN]
    if den - n * num <= 0 or center > _PRODUCT_LIMIT // (den + n * num):
        return False
    for i in range(-n, n + 1):
        price = center
        if i != 0:
            raw = center * (den + i * num)  # the price × 10^6 × den
            floor_units = raw // den
            if floor_units < 1:
                return False
            digits = -5  # of the price's integer part: its millionths' digits − 6
            scaled = floor_units
            while scaled >= 10:
                scaled //= 10
                digits += 1
            decimals = max(min(5 - digits, rules[R_MAX_DECIMALS]), 0)
            tick = 10 ** (6 - decimals)
            unit = den * tick
            ticks = raw // unit if i < 0 else (raw + unit - 1) // unit
            price = max(ticks, 1) * tick
            if not _valid_price(price):
                return False
        grid_prices[i + n] = price
        lots = level_lots[i + n]
        if not _worth_ten(price, lots, rules):
            lots = (rules[R_MIN_VALUE] + price - 1) // price
        grid_sizes[i + n] = lots
    for i in range(2 * n):
        if grid_prices[i] >= grid_prices[i + 1]:
            return False
    return True


@inlined
def _valid_price(price):
    """``is_valid_price`` for a price in millionths that has at most the coin's decimals: an
    integer, or at most 5 significant figures."""
    if price % PRICE_SCALE == 0:
        return True
    while price % 10 == 0:
        price //= 10
    return price < 100_000


@inlined
def _worth_ten(price, lots, rules):
    """price × size ≥ $10, exactly (floats where they are sure, integers near the line)."""
    minimum = rules[R_MIN_VALUE]
    value = float(price) * float(lots)
    if value > minimum * (1 + 1e-12):
        return True
    if value < minimum * (1 - 1e-12):
        return False
    return price * lots >= minimum


@compiled
def day_end(ms):
    """The start of the UTC day after the one ``ms`` is in."""
    return (ms // UTC_DAY_MS + 1) * UTC_DAY_MS


@compiled
def _halt(orders, state, money, kind, now):
    """The orchestrator's halt: the books say halted, every order is canceled."""
    state[S_HALTED] = kind
    state[S_RESUME_AT] = day_end(now)
    state[S_HALTS] += 1
    state[S_ORDERS_CHANGED] = 1
    state[S_SETTLED] = 0
    state[S_LIVE] = 0
    state[S_RESTING_BUY] = 0
    state[S_RESTING_SELL] = 0
    money[M_ORDER_VALUE] = 0.0


@compiled
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
    kept = 4  # scratch's column of flags: by level here, by wanted row in ``_place``
    for index in range(2 * n + 1):
        scratch[index, kept] = 0
    for j in range(state[S_LIVE] - 1, -1, -1):  # backwards: a removal moves a seen row here
        level = orders[j, 0]
        matches = False
        if -n <= level <= n and level != gap and scratch[level + n, kept] == 0:
            side = 1 if level < gap else -1
            matches = orders[j, 1] == side and orders[j, 2] == grid_prices[level + n]
        if matches:
            scratch[level + n, kept] = 1
        else:
            _remove(orders, state, money, j)  # stale: canceled
            state[S_ORDERS_CHANGED] = 1
            state[S_SETTLED] = 0
    for index in range(-n, n + 1):
        if index == gap or scratch[index + n, kept] == 1:
            continue
        # Row ``count`` ≤ index + n: the flags still to be read are not overwritten.
        scratch[count, 0] = index
        scratch[count, 1] = 1 if index < gap else -1
        scratch[count, 2] = grid_prices[index + n]
        scratch[count, 3] = grid_sizes[index + n]
        count += 1
    if count == 0:
        state[S_SETTLED] = 1
        return DONE
    # Nearest the mark first; stable (insertion), so equal distances keep the index order.
    for i in range(1, count):
        j = i
        while j > 0 and abs(scratch[j, 2] - mark) < abs(scratch[j - 1, 2] - mark):
            for c in range(4):
                scratch[j, c], scratch[j - 1, c] = scratch[j - 1, c], scratch[j, c]
            j -= 1
    code = _place(orders, state, money, rules, limits, scratch, count, now)
    if code == DONE:
        state[S_SETTLED] = 1
        for w in range(count):
            if scratch[w, 4] != PLACED:
                state[S_SETTLED] = 0
    return code


@compiled
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


@compiled
def _place(orders, state, money, rules, limits, wanted, count, now):
    """``GridBuilder._place``: skip a level that would cross the mark, pass each through
    ``RiskEngine.allow_order`` (open orders, exposure, order tokens), then the venue's own
    checks for what was allowed, in that order: one below $10 is rejected (the level stays
    empty, its token spent), one near the margin limit is the engine's to judge."""
    mark = state[S_MARK]
    position = state[S_POSITION]
    scale = limits[L_SIZE_SCALE]
    open_count = state[S_LIVE]
    resting_buy = state[S_RESTING_BUY]
    resting_sell = state[S_RESTING_SELL]
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
        wanted[w, 4] = ALLOWED
        open_count += 1
        if side == 1:
            resting_buy += size
        else:
            resting_sell -= size
    for w in range(count):
        if wanted[w, 4] != ALLOWED:
            continue
        price = wanted[w, 2]
        size = wanted[w, 3]
        if not _worth_ten(price, size, rules):
            continue  # the venue rejects it (below $10): the level stays empty
        if not _margin_certain(state, money, rules, limits, price, size):
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
        if wanted[w, 1] == 1:
            state[S_RESTING_BUY] += size
            if price > state[S_BEST_BUY]:
                state[S_BEST_BUY] = price
        else:
            state[S_RESTING_SELL] -= size
            if state[S_BEST_SELL] < 0 or price < state[S_BEST_SELL]:
                state[S_BEST_SELL] = price
        money[M_ORDER_VALUE] += float(price) * float(size)
        state[S_SETTLED] = 0
        wanted[w, 4] = PLACED
    return DONE


@compiled
def _margin_certain(state, money, rules, limits, price, size):
    """The venue's margin check (orders and position over the leverage within equity), with
    room to spare: a check this close to the line is the engine's to make."""
    scale = limits[L_SIZE_SCALE]
    leverage = rules[R_LEVERAGE]
    mark = state[S_MARK] / PRICE_SCALE
    value = money[M_ORDER_VALUE] + float(price) * float(size)
    used = value / (PRICE_SCALE * scale * leverage)
    position = state[S_POSITION] / scale
    used += abs(position) * mark / leverage
    equity = limits[L_BALANCE] + money[M_REALIZED]
    if state[S_POSITION] != 0:
        equity += position * (mark - money[M_AVG_ENTRY])
    return used < equity * 0.999
