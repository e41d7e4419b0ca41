"""A local Hyperliquid exchange over the paper engine, for testing the live client offline.

exchange.py holds the mock's state, info.py and actions.py answer ``POST /info`` and
``POST /exchange``, ws.py serves ``GET /ws``, body.py reads request bodies safely, faults.py
decides what goes wrong, and server.py puts them on a port. Callers need only the names below.
"""

from gridtui.exchanges.hyperliquid.mock.exchange import DEFAULT_MARKETS, MockExchange
from gridtui.exchanges.hyperliquid.mock.faults import Faults
from gridtui.exchanges.hyperliquid.mock.server import run_mock_exchange, serve, start_site

__all__ = ["DEFAULT_MARKETS", "Faults", "MockExchange", "run_mock_exchange", "serve", "start_site"]
