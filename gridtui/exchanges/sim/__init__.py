"""The paper venue: a seeded, persistent matching engine behind the Exchange protocol."""

from gridtui.exchanges.sim.candles import (
    Candle,
    CandleFileError,
    CandleReplay,
    CandleSeries,
    Gaps,
    load_candles,
)
from gridtui.exchanges.sim.exchange import SimExchange
from gridtui.exchanges.sim.funding import FundingFileError, FundingRate, load_funding
from gridtui.exchanges.sim.matching import MatchingEngine
from gridtui.exchanges.sim.persistence import StateFileError, StoredState, read_state
from gridtui.exchanges.sim.price_path import GeneratedPath, PathParams, Tick

__all__ = [
    "Candle",
    "CandleFileError",
    "CandleReplay",
    "CandleSeries",
    "FundingFileError",
    "FundingRate",
    "Gaps",
    "GeneratedPath",
    "MatchingEngine",
    "PathParams",
    "SimExchange",
    "StateFileError",
    "StoredState",
    "Tick",
    "load_candles",
    "load_funding",
    "read_state",
]
