"""The validated configuration, as frozen value types.

Components receive only the part they need (``GridSettings`` to the calculator, ``RiskLimits`` to
the risk engine, ...). The loader builds these from TOML after the validator has accepted it, so
every value here is already known to be in range.
"""

from __future__ import annotations

import enum
from decimal import Decimal
from pathlib import Path

import attrs

from gridtui.core.events import Severity


class VenueKind(enum.Enum):
    PAPER = "paper"
    HYPERLIQUID = "hyperliquid"


class PaperPrices(enum.Enum):
    """Where the paper venue's prices come from."""

    GENERATED = "generated"
    """Each market's seeded path or candle replay ([[venue.paper.markets]])."""
    HYPERLIQUID = "hyperliquid"
    """Hyperliquid's real market, read from its public stream (no key)."""


class Spacing(enum.Enum):
    ARITHMETIC = "arithmetic"
    GEOMETRIC = "geometric"


class CandlePath(enum.Enum):
    """The order in which a replayed candle visits its high and low. A candle records only its
    four prices, not which extreme came first, and a grid order between the open and an extreme
    fills or not depending on that order."""

    ADAPTIVE = "adaptive"
    """Open, the extreme nearer to the open, the other extreme, close (the low first on a tie):
    the shortest walk through the four prices."""
    OHLC = "ohlc"
    """Always the high before the low."""
    OLHC = "olhc"
    """Always the low before the high."""


class Direction(enum.Enum):
    """Which inventory a grid may hold."""

    NEUTRAL = "neutral"
    """Buys below, sells above: long or short as the price goes."""
    LONG = "long"
    """Inventory ≥ 0: buys below; every sell is the take-profit of a filled buy."""
    SHORT = "short"
    """Inventory ≤ 0: sells above; every buy is the take-profit of a filled sell."""


class Margin(enum.Enum):
    CROSS = "cross"
    ISOLATED = "isolated"


class GridMode(enum.Enum):
    ROLLING = "rolling"
    """Centered on the mid; re-centered when the price leaves the grid."""
    BOUNDED = "bounded"
    """Fixed ``lower``..``upper`` range; levels never move."""


@attrs.frozen(slots=True)
class GridSettings:
    levels: int = 5
    """Levels per side."""
    spacing: Spacing = Spacing.ARITHMETIC
    spacing_pct: Decimal = Decimal("0.2")
    """Distance between neighbouring levels, in percent of the center price."""
    volatility_scaled: bool = False
    """When true, spacing = max(spacing_pct, volatility_multiplier × realized volatility per
    level horizon); the percent above becomes the floor."""
    volatility_multiplier: Decimal = Decimal("1.0")
    size: Decimal = Decimal("0.001")
    """Order size, in coin units, of the levels next to the center."""
    size_scaling_pct: Decimal = Decimal("0")
    """Extra size per level of distance from the center, in percent of ``size``."""
    mode: GridMode = GridMode.ROLLING
    lower: Decimal | None = None
    upper: Decimal | None = None
    recenter_threshold_pct: Decimal = Decimal("0.5")
    """Re-center (rolling mode) when the mid is this many percent beyond the outermost level."""
    trend_bias: Decimal = Decimal("0")
    """0 = no skew; 1 = shift the center by a full spacing in the direction of the EMA slope."""
    direction: Direction = Direction.NEUTRAL
    initial_position: Decimal = Decimal("0")
    """Coin units (short < 0) the bot holds before its grid trades: bought (sold) post-only at
    the touch at its first start, until held; a long grid then sells it up its levels."""


@attrs.frozen(slots=True)
class RiskLimits:
    max_position: Decimal = Decimal("1")
    """Absolute position, in coin units."""
    max_notional: Decimal = Decimal("10000")
    """Absolute position value, in USD, counting the order being placed."""
    max_open_orders: int = 40
    max_orders_per_second: Decimal = Decimal("5")
    order_burst: int = 20
    max_drawdown: Decimal = Decimal("500")
    """USD from peak equity (realized + unrealized) before the bot halts."""
    daily_loss_limit: Decimal = Decimal("300")
    """USD lost in one UTC day (realized + unrealized) before the bot halts until the next day."""
    stop_loss_price: Decimal | None = None
    """Exit (cancel the grid, close the position, halt) once the mark is at or below this."""
    take_profit_price: Decimal | None = None
    """Exit once the mark is at or above this."""
    stop_loss_pnl: Decimal | None = None
    """Exit once the session's result (realized since start + unrealized) loses this many USD."""
    max_slippage_pct: Decimal = Decimal("0.5")
    """An exit's orders take no price worse than this far from the mark."""
    leverage: int | None = None
    """Set on the venue (``updateLeverage``) before the bot's first order; None: leave the
    account's setting as it is."""
    margin: Margin = Margin.CROSS
    min_liquidation_distance_pct: Decimal | None = None
    """Refuse an order that, once it and the resting orders on its side filled, would leave
    the liquidation price closer than this (percent of the price then); None: no such check."""


@attrs.frozen(slots=True)
class BreakerSettings:
    error_threshold: int = 5
    cooldown_s: float = 5.0
    max_cooldown_s: float = 120.0


@attrs.frozen(slots=True)
class DeadManSettings:
    enabled: bool = True
    timeout_s: float = 60.0
    """The exchange cancels every order this long after the last refresh (Hyperliquid: ≥ 5 s)."""


@attrs.frozen(slots=True)
class PaperMarket:
    """The simulated market of one coin on the paper venue."""

    coin: str
    start_price: Decimal
    sz_decimals: int
    volatility: float = 0.8
    """Annualised volatility of the price path."""
    candles_file: Path | None = None
    """Replay these candles (CSV: time_ms,open,high,low,close,volume) instead of a generated
    path."""
    candle_path: CandlePath = CandlePath.ADAPTIVE
    """How the replay walks each candle: this is what it reads, since it sees only its market.
    The loader fills it from ``[venue.paper] candle_path`` unless the market sets its own."""


@attrs.frozen(slots=True)
class PaperSettings:
    seed: int = 7
    state_file: Path = Path("data/paper.db")
    starting_balance: Decimal = Decimal("100000")
    maker_fee: Decimal = Decimal("0.00015")
    taker_fee: Decimal = Decimal("0.00045")
    tick_interval_s: float = 0.25
    speed: float = 60.0
    """Simulated seconds of price movement per real second."""
    candle_path: CandlePath = CandlePath.ADAPTIVE
    """How every market's candles are replayed, unless the market sets its own. Read by the
    loader only, which copies it into each ``PaperMarket.candle_path``: changing it on a built
    value does not change its markets."""
    markets: tuple[PaperMarket, ...] = ()
    prices: PaperPrices = PaperPrices.GENERATED
    """On ``HYPERLIQUID`` the markets are the bots' coins at the venue's real prices and size
    rules, and ``markets`` is not read."""
    network: str = "mainnet"
    """Whose real prices (``prices = "hyperliquid"``)."""
    funding_rate: Decimal = Decimal("0.0000125")
    """Hourly funding of the simulated markets (positive: longs pay), charged on the open
    positions every hour; Hyperliquid's interest part, 0.01% per 8 hours. Real prices pay the
    venue's own rate."""
    api_url: str | None = None
    """Where to read them instead of the network's own address (a mock)."""


@attrs.frozen(slots=True)
class VenueSettings:
    kind: VenueKind = VenueKind.PAPER
    paper: PaperSettings = PaperSettings()
    network: str = "testnet"
    api_url: str | None = None
    account_address: str | None = None
    key_file: Path | None = None


@attrs.frozen(slots=True)
class BotSettings:
    name: str
    coin: str
    grid: GridSettings
    risk: RiskLimits
    enabled: bool = True


@attrs.frozen(slots=True)
class EngineSettings:
    cycle_interval_s: float = 1.0
    reconcile_interval_s: float = 30.0
    stream_stale_after_s: float = 10.0
    stuck_order_after_s: float = 30.0
    restart_backoff_s: float = 1.0
    restart_backoff_max_s: float = 60.0
    shutdown_deadline_s: float = 30.0
    """How long a stop keeps retrying cancels until the exchange confirms no order rests."""


@attrs.frozen(slots=True)
class AlertSettings:
    """Where alerts go besides the log (Apprise URLs) and which of them."""

    urls: tuple[str, ...] = attrs.field(default=(), repr=False)
    """Apprise URLs with every ``${VAR}`` replaced from the environment. They hold tokens:
    never printed (not even in a repr); logs name a URL by its service and position."""
    min_severity: Severity = Severity.WARNING
    digest_minutes: float = 60.0
    """One message with every bot's fills, PnL and position this often; 0: none."""
    max_attempts: int = 5
    """Tries per message and URL (with backoff) before it is dropped with a log line."""


@attrs.frozen(slots=True)
class AppConfig:
    data_dir: Path
    venue: VenueSettings
    engine: EngineSettings
    breaker: BreakerSettings
    dead_man: DeadManSettings
    bots: tuple[BotSettings, ...]
    alerts: AlertSettings = AlertSettings()
    log_level: str = "info"
    theme: str = "gridtui-dark"
    source: Path | None = None
