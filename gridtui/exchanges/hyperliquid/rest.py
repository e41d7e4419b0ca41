"""One JSON POST to the venue with the IP weight budget and the HTTP 429 backoff applied.

Split from client.py so the client reads as the list of venue operations; the failure policy
(documented there) lives here: 429 is retried after a bounded, jittered backoff honouring
Retry-After; a 5xx, a network error or a timeout of an idempotent request (every /info query) is
retried with the same backoff, because a venue on a bad day answers a third of its queries with 5xx
and a bot that gave up on each would never confirm its books; on /exchange they raise a retryable
``ExchangeError`` at once, and a timed-out /exchange call is never resent (it may have been
accepted).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx

from gridtui.core.clock import Clock
from gridtui.core.types import ExchangeError
from gridtui.exchanges.hyperliquid.rate_limit import Backoff, IpWeightBudget, weight_of
from gridtui.exchanges.hyperliquid.wire import WireError

log = logging.getLogger(__name__)


def backoff_factory(
    clock: Clock, *, base_s: float, cap_s: float, seed: int | None, max_attempts: int
) -> Callable[[], Backoff]:
    """A fresh ``Backoff`` per request, every request of a client under the same policy."""

    def new_backoff() -> Backoff:
        return Backoff(clock, base=base_s, cap=cap_s, seed=seed, max_attempts=max_attempts)

    return new_backoff


async def post_info(
    http: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    ip_budget: IpWeightBudget,
    new_backoff: Callable[[], Backoff],
    backoff_cap_s: float,
) -> Any:
    """``POST /info`` at its weight (idempotent: retried through 5xx and timeouts), then charge
    what a long answer adds (the venue weighs some queries per item returned)."""
    kind = body["type"]
    answer = await post_json(
        http,
        "/info",
        body,
        weight=weight_of(kind),
        idempotent=True,
        ip_budget=ip_budget,
        new_backoff=new_backoff,
        backoff_cap_s=backoff_cap_s,
    )
    if isinstance(answer, list):
        ip_budget.record(weight_of(kind, items=len(answer)) - weight_of(kind))
    return answer


async def post_json(
    http: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    *,
    weight: int,
    idempotent: bool,
    urgent: bool = False,
    ip_budget: IpWeightBudget,
    new_backoff: Callable[[], Backoff],
    backoff_cap_s: float,
) -> Any:
    """POST ``body`` and return the decoded JSON answer of an HTTP 200. An ``urgent`` request
    (a cancel, the dead-man switch) is counted against the IP budget but never waits for room:
    removing risk must not queue behind queries, least of all while stopping."""
    what = f"{path} {body.get('type') or body['action']['type']}"
    backoff = new_backoff()
    while True:
        if urgent:
            ip_budget.record(weight)
        else:
            await ip_budget.acquire(weight)
        try:
            response = await http.post(path, json=body)
        except httpx.TimeoutException as exc:
            if idempotent and await backoff.wait():
                log.warning("%s timed out; retrying (attempt %d)", what, backoff.attempts)
                continue
            hint = "" if idempotent else " (it may have been accepted: resolve by orderStatus)"
            log.error("%s timed out%s", what, hint)
            raise ExchangeError(f"{what} timed out{hint}", retryable=True) from exc
        except httpx.HTTPError as exc:
            if idempotent and await backoff.wait():
                log.warning(
                    "%s failed (%s); retrying (attempt %d)",
                    what,
                    type(exc).__name__,
                    backoff.attempts,
                )
                continue
            log.error("%s failed: %s", what, type(exc).__name__)
            raise ExchangeError(f"{what} failed: {type(exc).__name__}", retryable=True) from exc
        status = response.status_code
        if status == 429:
            if await backoff.wait(min(_retry_after(response), backoff_cap_s)):
                log.warning("%s: HTTP 429, backing off (attempt %d)", what, backoff.attempts)
                continue
            log.error("%s: HTTP 429 after %d retries", what, backoff.attempts)
            raise ExchangeError(f"{what}: rate limited (HTTP 429)", retryable=True, status=429)
        if status >= 500:
            if idempotent and await backoff.wait():
                log.warning("%s: HTTP %d, retrying (attempt %d)", what, status, backoff.attempts)
                continue
            log.error("%s: HTTP %d", what, status)
            raise ExchangeError(f"{what}: HTTP {status}", retryable=True, status=status)
        if status != 200:
            text = response.text[:200]
            log.error("%s: HTTP %d %s", what, status, text)
            raise ExchangeError(f"{what}: HTTP {status} {text}", retryable=False, status=status)
        try:
            return response.json()
        except ValueError as exc:
            raise WireError(f"{what}: answer is not JSON") from exc


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        seconds = float(value)
    except ValueError:
        return 0.0
    return seconds if 0.0 <= seconds < float("inf") else 0.0
