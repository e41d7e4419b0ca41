"""Which venue a config trades: the exchange client for it, and whose books it keeps.

Live, the account is ``venue.account_address``, else the agent key's own address; ``account_of``
is the one place that rule lives, so the client that trades and the journals' folder that books
the trades (``identity_of``: the supervisor's and ``status`` / ``fills`` / ``audit``'s) can never
name different accounts.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from gridtui.config.schema import AppConfig, PaperPrices, VenueKind, VenueSettings
from gridtui.core.clock import Clock
from gridtui.exchanges.base import Exchange, VenueUnavailable
from gridtui.exchanges.hyperliquid.client import HyperliquidExchange
from gridtui.exchanges.hyperliquid.keys import KeyLoadError, load_agent_key
from gridtui.exchanges.hyperliquid.live_prices import HyperliquidPrices
from gridtui.exchanges.hyperliquid.signing import Signer
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.exchanges.sim.vocabulary import FillModel
from gridtui.state.data_dir import VenueIdentity, venue_identity

MAINNET_URL = "https://api.hyperliquid.xyz"
TESTNET_URL = "https://api.hyperliquid-testnet.xyz"


def _agent_key(venue: VenueSettings) -> Signer:
    """The agent key from GRIDTUI_HL_KEY or a 0600 key file (never the config)."""
    try:
        return load_agent_key(key_file=venue.key_file)
    except KeyLoadError as exc:
        raise VenueUnavailable(str(exc)) from exc


def account_of(venue: VenueSettings, signer: Signer | None = None) -> str:
    """The live account: ``venue.account_address``, else the agent key's own address (``signer``
    when the caller holds the key already; else the key is loaded for its address alone)."""
    if venue.account_address:
        return venue.account_address
    return (signer or _agent_key(venue)).address


def identity_of(config: AppConfig, exchange: Exchange | None = None) -> VenueIdentity:
    """Whose books ``config`` trades: the paper venue's, or the live account's. Given the
    ``exchange`` that trades them (a test's injected client included), its account: none for
    anything but the live client. Else the account ``make_exchange`` would trade: ``account_of``."""
    account = None
    if isinstance(exchange, HyperliquidExchange):
        account = exchange.account_address
    elif exchange is None and config.venue.kind is VenueKind.HYPERLIQUID:
        account = account_of(config.venue)
    return venue_identity(config, account)


def badge_of(venue: VenueSettings) -> str:
    """What a trader must never mistake, for the cockpit's header: paper or which network the
    orders are signed for, and the URL they go to when it is not the network's own (a mock, a
    proxy: mainnet through a proxy is still MAINNET)."""
    if venue.kind is VenueKind.PAPER and venue.paper.prices is PaperPrices.HYPERLIQUID:
        return _via("PAPER·LIVE PRICES", venue.paper.api_url)
    if venue.kind is VenueKind.PAPER:
        return "PAPER"
    return _via(venue.network.upper(), venue.api_url)


def _via(badge: str, api_url: str | None) -> str:
    return badge if api_url is None else f"{badge} via {urlsplit(api_url).netloc}"


def _base_url(network: str, api_url: str | None) -> str:
    return api_url or (MAINNET_URL if network == "mainnet" else TESTNET_URL)


def streamed_coins(config: AppConfig) -> set[str] | None:
    """The coins a venue client made for ``config`` streams prices of, fixed when it is made:
    the real-price paper venue lists every bot's coin, the live client streams the enabled
    bots' ones; None for the simulated paper venue, which serves every market of the config.
    A bot on any other coin needs a restart to get prices."""
    venue = config.venue
    if venue.kind is VenueKind.PAPER and venue.paper.prices is PaperPrices.HYPERLIQUID:
        return {b.coin for b in config.bots}
    if venue.kind is VenueKind.PAPER:
        return None
    return {b.coin for b in config.bots if b.enabled}


def venue_flags(venue: VenueSettings) -> list[str]:
    """The command-line flags that choose ``venue`` over a config file (``gridtui --venue …
    --api-url … --mainnet``): a child command (the cockpit's backtest) trades on paper where
    its parent does, and a mainnet config needs --mainnet to run at all."""
    flags = ["--venue", venue.kind.value]
    api_url = venue.api_url or venue.paper.api_url
    if api_url:
        flags += ["--api-url", api_url]
    if venue.network == "mainnet":
        flags.append("--mainnet")
    return flags


def make_exchange(config: AppConfig, clock: Clock, *, stream: bool = True) -> Exchange:
    """The venue client for a config: the paper engine (on its simulated prices, or on
    Hyperliquid's real ones, where a resting order fills only when a trade prints through it:
    the strict fill model), or the live client signing with the agent key for ``account_of`` on
    the configured network (or ``venue.api_url``, e.g. a mock)."""
    venue = config.venue
    coins = streamed_coins(config) or set()
    paper = venue.paper
    if venue.kind is VenueKind.PAPER and paper.prices is PaperPrices.HYPERLIQUID:
        name = _via(f"Hyperliquid {paper.network}", paper.api_url)
        prices = HyperliquidPrices(_base_url(paper.network, paper.api_url), clock, name=name)
        return SimExchange(
            paper,
            clock,
            fill_model=FillModel.STRICT,
            source=prices,
            live_coins=coins,
            silence_s=config.engine.stream_stale_after_s,
            funding=prices.funding_rates,
        )
    if venue.kind is VenueKind.PAPER:
        rates = {m.coin: paper.funding_rate for m in paper.markets}
        return SimExchange(paper, clock, funding=lambda: rates)
    signer = _agent_key(venue)
    is_mainnet = venue.network == "mainnet"
    return HyperliquidExchange(
        _base_url(venue.network, venue.api_url),
        account_of(venue, signer),
        signer,
        clock,
        is_mainnet=is_mainnet,
        stream=stream,
        stream_coins=coins,
    )
