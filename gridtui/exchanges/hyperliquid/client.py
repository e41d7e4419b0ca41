"""The Exchange protocol over Hyperliquid's REST API (``POST /info`` and ``POST /exchange``).

Every info query names the MASTER account; every action is signed by the agent wallet
(``signer``) with a fresh nonce, for the network named explicitly by ``is_mainnet``. Weight is
taken from the IP budget before each request so the exchange never has to refuse us.

Failure policy (the gateway and breaker above depend on it):
- HTTP 429 and the per-address "too many requests" refusal are retried after a jittered, bounded
  backoff, then raised as a retryable ``ExchangeError``.
- 5xx, network errors and timeouts raise a retryable ``ExchangeError`` at once. A timed-out
  /exchange call is never resent: the order may have been accepted, and only an orderStatus by
  cloid can tell, which is the gateway's job.
- The per-address action budget (userRateLimit, read at start and every N actions) gates
  every action but cancels before it is signed (address_guard.py).
- An action-level ``{"status":"err"}`` raises with the venue's message; a per-order rejection is
  a ``PlaceAck(ERROR)`` with the message kept.

Streams: ``start`` opens the account's WebSocket stream (ws.py) and ``subscribe`` hands out a
queue fed by it; after an interruption the stream pushes ``StreamReset`` and the bots catch up here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from decimal import Decimal
from typing import Any, TypeVar

import httpx

from gridtui.core.account import AccountSummary
from gridtui.core.clock import Clock
from gridtui.core.types import (
    AssetMeta,
    CancelAck,
    ExchangeError,
    Fill,
    Order,
    OrderRequest,
    PlaceAck,
    Position,
)
from gridtui.exchanges.base import StreamEvent
from gridtui.exchanges.hyperliquid import address_guard, info_parse, wire
from gridtui.exchanges.hyperliquid.nonce import NonceManager
from gridtui.exchanges.hyperliquid.order_rules import prepare_batch
from gridtui.exchanges.hyperliquid.rate_limit import (
    EXCHANGE,
    AddressBudget,
    IpWeightBudget,
    weight_of,
)
from gridtui.exchanges.hyperliquid.rest import backoff_factory, post_info, post_json
from gridtui.exchanges.hyperliquid.signing import Signer, address_bytes, sign_l1_action
from gridtui.exchanges.hyperliquid.ws import StreamFanout, UserStream

T = TypeVar("T")
log = logging.getLogger(__name__)

URGENT_ACTIONS = address_guard.CANCEL_ACTIONS | {"scheduleCancel"}
"""Actions that remove risk: they never wait for room in the IP weight budget."""
FILLS_PAGE = 2000
"""userFillsByTime returns at most this many fills per call; a full page means "ask again"."""
DEFAULT_TIMEOUT_S = 10.0


class HyperliquidExchange:
    """Hyperliquid perpetuals for one master account, traded by one agent wallet."""

    def __init__(
        self,
        base_url: str,
        account_address: str,
        signer: Signer,
        clock: Clock,
        *,
        is_mainnet: bool,
        venue: str = "hyperliquid",
        http: httpx.AsyncClient | None = None,
        ip_budget: IpWeightBudget | None = None,
        max_attempts: int = 5,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
        backoff_seed: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        stream: bool = True,
        stream_coins: Collection[str] | None = None,
        stream_live_timeout_s: float = 5.0,
        budget_refresh_every: int = address_guard.REFRESH_EVERY,
    ) -> None:
        address_bytes(account_address)  # refuses anything but 0x + 40 hex digits
        self.venue = venue
        self.account_address = account_address.lower()
        self.is_mainnet = is_mainnet
        self._base_url = base_url.rstrip("/")
        self._signer = signer
        self._clock = clock
        self._http = http
        self._owns_http = http is None
        self._timeout_s = timeout_s
        self._ip_budget = ip_budget or IpWeightBudget(clock)
        self._address_budget = AddressBudget(clock)
        self._budget_refresh_every = budget_refresh_every
        self._actions_since_refresh = 0
        self._books: dict[str, info_parse.L2Book] = {}
        self._nonces = NonceManager(clock)
        self._backoff_cap_s = backoff_cap_s
        self._backoff = backoff_factory(
            clock,
            base_s=backoff_base_s,
            cap_s=backoff_cap_s,
            seed=backoff_seed,
            max_attempts=max_attempts,
        )
        self._metas: dict[str, AssetMeta] = {}
        self._fanout = StreamFanout()
        self._stream_live_timeout_s = stream_live_timeout_s
        self.stream = (
            UserStream(
                self._base_url,
                self.account_address,
                clock,
                coins=stream_coins,
                on_event=self._fanout.publish,
                on_book=self._on_book,
                venue=venue,
                backoff_seed=backoff_seed,
            )
            if stream
            else None
        )

    def __repr__(self) -> str:
        return (
            f"HyperliquidExchange({self._base_url}, account={self.account_address}, "
            f"agent={self._signer.address}, mainnet={self.is_mainnet})"
        )

    @property
    def address_budget(self) -> AddressBudget:
        """The per-address action budget as last read from userRateLimit, counted down since."""
        return self._address_budget

    @property
    def nonces(self) -> NonceManager:
        """Exposed so the caller can persist ``last`` and seed it back after a restart."""
        return self._nonces

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP client (unless one was injected), load the asset table, and start the
        stream, waiting (bounded) until it is live so the bots' start-up catch-up comes after."""
        if self._http is None:
            self._http = httpx.AsyncClient(base_url=self._base_url, timeout=self._timeout_s)
            self._owns_http = True
        if not self._metas:
            await self._load_meta()
        await self.user_rate_limit()
        if self.stream is not None and not self.stream.running:
            self.stream.start()
            await self.stream.wait_live(self._stream_live_timeout_s)

    def serve_stop(self) -> None:
        self._ip_budget.serve_stop()

    async def close(self) -> None:
        if self.stream is not None:
            await self.stream.close()
        if self._http is not None and self._owns_http:
            await self._http.aclose()
            self._http = None

    def subscribe(self) -> asyncio.Queue[StreamEvent]:
        return self._fanout.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[StreamEvent]) -> None:
        self._fanout.unsubscribe(queue)

    # -- market ------------------------------------------------------------------------------

    async def asset_meta(self, coin: str) -> AssetMeta:
        meta = await self._meta_or_none(coin)
        if meta is None:
            raise ExchangeError(f"unknown coin {coin!r} on {self.venue}", retryable=False)
        return meta

    async def all_mids(self) -> dict[str, Decimal]:
        return info_parse.parse_all_mids(await self._info({"type": "allMids"}))

    async def l2_book(self, coin: str) -> info_parse.L2Book:
        return info_parse.parse_l2_book(await self._info({"type": "l2Book", "coin": coin}))

    def book(self, coin: str) -> info_parse.L2Book | None:
        """The latest l2Book the stream delivered for ``coin`` (None before the first)."""
        return self._books.get(coin)

    def _on_book(self, book: info_parse.L2Book) -> None:
        self._books[book.coin] = book

    async def user_rate_limit(self) -> info_parse.UserRateLimit:
        """Read the per-address action budget and adopt it for pacing actions."""
        answer = await self._info({"type": "userRateLimit", "user": self.account_address})
        limit = info_parse.parse_user_rate_limit(answer)
        self._address_budget.update(answer)
        self._actions_since_refresh = 0
        return limit

    # -- orders ------------------------------------------------------------------------------

    async def place_orders(self, requests: Sequence[OrderRequest]) -> list[PlaceAck]:
        """Round each order by the venue's rules, refuse locally what the venue would refuse
        (unknown coin, bad cloid, under $10), and send the rest as one batch."""
        return await self._send_orders([(None, request) for request in requests])

    async def batch_modify(
        self, modifies: Sequence[tuple[int | str, OrderRequest]]
    ) -> list[PlaceAck]:
        """Replace resting orders (named by oid or cloid) in one batchModify action. Each new
        order is rounded and checked like ``place_orders``; one ack per entry, in order."""
        return await self._send_orders(list(modifies))

    async def update_leverage(self, coin: str, leverage: int, *, cross: bool = True) -> None:
        """Set the coin's leverage (cross or isolated); a refusal raises with the venue's text."""
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise ValueError(f"leverage must be a positive integer, not {leverage!r}")
        asset = (await self.asset_meta(coin)).asset_id
        answer = await self._action(wire.update_leverage_action(asset, cross, leverage), batch=1)
        wire.check_default_response(answer)

    async def noop(self) -> None:
        """A signed no-op: it consumes a nonce, which invalidates any in-flight request signed
        with a lower one."""
        wire.check_default_response(await self._action(wire.noop_action(), batch=1))

    async def _send_orders(
        self, entries: Sequence[tuple[int | str | None, OrderRequest]]
    ) -> list[PlaceAck]:
        """Prepare each (target, order): ``None`` targets are new orders (one order action),
        others replace the named order (one batchModify action)."""
        metas = {coin: await self._meta_or_none(coin) for coin in {r.coin for _, r in entries}}
        acks, wires, sent_at = prepare_batch(entries, metas)
        if wires:
            if entries[0][0] is None:
                action = wire.order_action(w for _, w in wires)
            else:
                action = wire.modify_action((t, w) for t, w in wires if t is not None)
            answer = await self._action(action, batch=len(wires))
            client_ids = [entries[i][1].client_id or None for i in sent_at]
            for i, ack in zip(sent_at, wire.parse_order_statuses(answer, client_ids), strict=True):
                acks[i] = ack
        return [ack for ack in acks if ack is not None]

    async def cancel_orders(self, coin: str, exchange_ids: Sequence[int]) -> list[CancelAck]:
        if not exchange_ids:
            return []
        asset = (await self.asset_meta(coin)).asset_id
        action = wire.cancel_action((asset, oid) for oid in exchange_ids)
        answer = await self._action(action, batch=len(exchange_ids))
        return wire.parse_cancel_statuses(answer, list(exchange_ids))

    async def cancel_by_client_ids(self, coin: str, client_ids: Sequence[str]) -> list[CancelAck]:
        if not client_ids:
            return []
        asset = (await self.asset_meta(coin)).asset_id
        try:
            action = wire.cancel_by_cloid_action((asset, cloid) for cloid in client_ids)
        except ValueError as exc:
            raise ExchangeError(str(exc), retryable=False) from exc
        answer = await self._action(action, batch=len(client_ids))
        return wire.parse_cancel_statuses(answer, list(client_ids))

    async def open_orders(self, coin: str | None = None) -> list[Order]:
        """frontendOpenOrders: unlike openOrders it carries cloid, origSz, tif and reduceOnly."""
        answer = await self._info({"type": "frontendOpenOrders", "user": self.account_address})
        if not isinstance(answer, list):
            raise wire.WireError("frontendOpenOrders: expected a list")
        orders = [wire.parse_open_order(entry) for entry in answer]
        return [o for o in orders if coin is None or o.coin == coin]

    async def order_status(
        self, *, exchange_id: int | None = None, client_id: str | None = None
    ) -> Order | None:
        if (exchange_id is None) == (client_id is None):
            raise ValueError("give exactly one of exchange_id and client_id")
        target: int | str = (
            exchange_id if exchange_id is not None else wire.check_cloid(str(client_id))
        )
        answer = await self._info(
            {"type": "orderStatus", "user": self.account_address, "oid": target}
        )
        return wire.parse_order_status(answer)

    async def schedule_cancel(self, at_ms: int | None) -> None:
        """Arm (or with ``None`` disarm) the dead-man switch. The live venue refuses it before
        enough volume has traded; that refusal is raised so the caller knows it is unarmed."""
        answer = await self._action(wire.schedule_cancel_action(at_ms), batch=1)
        wire.check_default_response(answer)

    # -- account -----------------------------------------------------------------------------

    async def fills_since(self, start_ms: int, coin: str | None = None) -> list[Fill]:
        """userFillsByTime from ``start_ms`` (inclusive), paged by the last time seen until a
        page comes back short. Pages overlap on their boundary millisecond (that is what makes
        them inclusive), so fills are deduplicated on (coin, tid)."""
        seen: dict[tuple[str, int], Fill] = {}
        cursor = start_ms
        while True:
            body = {"type": "userFillsByTime", "user": self.account_address, "startTime": cursor}
            page = await self._info(body)
            if not isinstance(page, list):
                raise wire.WireError("userFillsByTime: expected a list")
            fills = [wire.parse_fill(entry, self.venue) for entry in page]
            for fill in fills:
                seen[(fill.coin, fill.trade_id)] = fill
            if len(page) < FILLS_PAGE:
                break
            last = max(fill.timestamp_ms for fill in fills)
            if last <= cursor:
                log.error("a full page of fills at %d ms; skipping past that millisecond", cursor)
                last = cursor + 1
            cursor = last
        wanted = [f for f in seen.values() if coin is None or f.coin == coin]
        return sorted(wanted, key=lambda f: (f.timestamp_ms, f.trade_id))

    async def positions(self) -> dict[str, Position]:
        """Every non-zero position; any failure raises (an error must never read as flat)."""
        answer = await self._info({"type": "clearinghouseState", "user": self.account_address})
        return info_parse.parse_clearinghouse_positions(answer)

    async def account(self) -> AccountSummary:
        answer = await self._info({"type": "clearinghouseState", "user": self.account_address})
        return info_parse.parse_account(answer, self._clock.now_ms())

    # -- transport ---------------------------------------------------------------------------

    async def _load_meta(self) -> None:
        self._metas = info_parse.parse_meta(await self._info({"type": "meta"}))

    async def _meta_or_none(self, coin: str) -> AssetMeta | None:
        """From the cached table; an unknown coin reloads it once (a new listing)."""
        if coin not in self._metas:
            await self._load_meta()
        return self._metas.get(coin)

    async def _info(self, body: dict[str, Any]) -> Any:
        if self._http is None:
            raise ExchangeError(f"{self.venue} client is not started", retryable=False)
        return await post_info(
            self._http,
            body,
            ip_budget=self._ip_budget,
            new_backoff=self._backoff,
            backoff_cap_s=self._backoff_cap_s,
        )

    async def _action(self, action: dict[str, Any], *, batch: int) -> Any:
        """Sign and send one action under the address budget; retried (freshly signed) only
        when the venue refused it for rate before looking at it."""
        kind = action["type"]
        # a cancel never waits on (nor fails with) a budget read: it always goes
        refresh_due = self._actions_since_refresh >= self._budget_refresh_every
        if refresh_due and kind not in address_guard.CANCEL_ACTIONS:
            await self.user_rate_limit()
        address_guard.check_may_send(self._address_budget, kind)
        backoff = self._backoff()
        while True:
            nonce = self._nonces.next()
            signature = sign_l1_action(
                self._signer, action, None, nonce, None, is_mainnet=self.is_mainnet
            )
            body = wire.exchange_request(action, nonce, signature)
            answer = await self._post(
                "/exchange",
                body,
                weight_of(EXCHANGE, batch=batch),
                idempotent=False,
                urgent=kind in URGENT_ACTIONS,
            )
            self._address_budget.record_sent()
            self._actions_since_refresh += 1
            try:
                wire.action_payload(answer)
            except ExchangeError as exc:
                throttled = address_guard.adopt_refusal(self._address_budget, str(exc))
                wait_s = self._address_budget.seconds_until_allowed() if throttled else 0.0
                if exc.retryable and await backoff.wait(wait_s):
                    log.warning("action %s refused for rate (%s); retrying", kind, exc)
                    continue
                log.error("action %s failed: %s", kind, exc)
                raise
            return answer

    async def _post(
        self,
        path: str,
        body: dict[str, Any],
        weight: int,
        *,
        idempotent: bool,
        urgent: bool = False,
    ) -> Any:
        if self._http is None:
            raise ExchangeError(f"{self.venue} client is not started", retryable=False)
        return await post_json(
            self._http,
            path,
            body,
            weight=weight,
            idempotent=idempotent,
            urgent=urgent,
            ip_budget=self._ip_budget,
            new_backoff=self._backoff,
            backoff_cap_s=self._backoff_cap_s,
        )
