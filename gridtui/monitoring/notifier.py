"""Alerts to the trader's phone: any Apprise URL (Telegram, Discord, ntfy, a JSON webhook, ...).

Apprise knows a hundred services and their quirks, so gridtui only decides *what* to send and
*when*: an alert at or above ``[alerts] min_severity`` at once (halts, breaker trips, position
corrections, dead-man failures, disk errors — all raised through the ``Alerter``), a bot crash at
once, the orders a stop left behind at once, and the fills as one digest every
``digest_minutes`` (fills, PnL and position per bot; never one message per fill).

Sending never holds the engine up: the bus handler only queues; each URL has its own worker
task that sends in a thread and retries with capped backoff, so a dead receiver delays only its
own messages, and after ``max_attempts`` tries a message is dropped with a log line. A URL is
named in logs by its position and service only (``#1 tgram://…``), and Apprise's own log lines
are scrubbed of every URL's parts: the rest of a URL is usually a token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

import attrs

from gridtui.config.fields import service_of
from gridtui.config.schema import AlertSettings
from gridtui.core.events import AlertRaised, BotCrashed, Event, OrderFilled, Severity

log = logging.getLogger(__name__)

RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
QUEUE_LIMIT = 200
"""Messages waiting per URL; beyond, the oldest is dropped (with a log line), never the engine."""
RETRY_BASE_S = 1.0
RETRY_CAP_S = 60.0
CENT = Decimal("0.01")


@attrs.frozen(slots=True)
class Notice:
    title: str
    body: str
    severity: Severity


Sender = Callable[[str, Notice], Awaitable[bool]]
"""Delivers one notice to one URL: True when the service took it."""


async def apprise_send(url: str, notice: Notice) -> bool:
    """One Apprise delivery, in a thread (Apprise's plugins block on their HTTP calls)."""
    import apprise  # ~0.2 s to import: only a process with alert URLs pays it

    kinds = {
        Severity.INFO: apprise.NotifyType.INFO,
        Severity.WARNING: apprise.NotifyType.WARNING,
        Severity.CRITICAL: apprise.NotifyType.FAILURE,
    }
    sender = apprise.Apprise()
    if not sender.add(url):
        return False
    return bool(
        await asyncio.to_thread(
            sender.notify, body=notice.body, title=notice.title, notify_type=kinds[notice.severity]
        )
    )


def url_label(index: int, url: str) -> str:
    """``#1 tgram://…``: which URL, without its token."""
    return f"#{index + 1} {service_of(url)}"


class Redactor(logging.Filter):
    """Scrubs the alert URLs, and every longer piece of them, from a log record's text."""

    def __init__(self, urls: Sequence[str]) -> None:
        super().__init__()
        pieces = {
            piece for url in urls for piece in re.split(r"[/:@?&=#,]+", url.split("://", 1)[-1])
        }
        secrets = sorted({*urls, *(p for p in pieces if len(p) >= 6)}, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, secrets))) if secrets else None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._pattern is not None:
            text = record.getMessage()
            scrubbed = self._pattern.sub("***", text)
            if scrubbed != text:
                record.msg, record.args = scrubbed, None
        return True


@attrs.define
class _Digest:
    coin: str
    fills: int = 0
    pnl: Decimal = Decimal(0)
    position: Decimal = Decimal(0)


class Notifier:
    """Subscribe ``on_event`` to the bus, ``start()`` inside the event loop, ``close()`` at the
    end (it sends the last digest and what is queued, within a deadline)."""

    def __init__(
        self,
        settings: AlertSettings,
        *,
        send: Sender = apprise_send,
        retry_base_s: float = RETRY_BASE_S,
        retry_cap_s: float = RETRY_CAP_S,
    ) -> None:
        self.settings = settings
        self._send = send
        self._retry_base_s = retry_base_s
        self._retry_cap_s = retry_cap_s
        self._queues: list[asyncio.Queue[Notice]] = [
            asyncio.Queue(QUEUE_LIMIT) for _ in settings.urls
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._digest: dict[str, _Digest] = {}
        self._redactor = Redactor(settings.urls)
        self._scrubbed = _scrub(self._redactor)

    def on_event(self, event: Event) -> None:
        """Bus handler: only queues (the bus is synchronous and the engine is waiting)."""
        if isinstance(event, AlertRaised):
            if RANK[event.severity] >= RANK[self.settings.min_severity]:
                self.notify(
                    Notice(
                        f"gridtui {event.bot}: {event.kind}",
                        f"{event.bot} ({event.coin}): {event.message}",
                        event.severity,
                    )
                )
        elif isinstance(event, BotCrashed):
            then = (
                "stopped for good"
                if event.restart_in_s is None
                else f"restarting in {event.restart_in_s:g} s"
            )
            self.notify(
                Notice(
                    f"gridtui {event.bot}: crashed",
                    f"{event.bot} ({event.coin}) crashed: {event.error}; {then}",
                    Severity.CRITICAL,
                )
            )
        elif isinstance(event, OrderFilled):
            line = self._digest.setdefault(event.bot, _Digest(event.coin))
            line.fills += 1
            line.pnl += event.realized_pnl
            line.position = event.position

    def notify(self, notice: Notice) -> None:
        """Queue ``notice`` for every URL; a full queue drops its oldest message."""
        for index, queue in enumerate(self._queues):
            if queue.full():
                dropped = queue.get_nowait()
                queue.task_done()  # or a stop's join() would wait for it for ever
                log.warning(
                    "alerts to %s: queue full, dropped %r",
                    url_label(index, self.settings.urls[index]),
                    dropped.title,
                )
            queue.put_nowait(notice)

    def digest(self) -> Notice | None:
        """The fills since the last digest, one line per bot (None: no fill); starts anew."""
        if not self._digest:
            return None
        lines = [
            f"{bot} ({d.coin}): {d.fills} fills, PnL {d.pnl.quantize(CENT):+} USD, "
            f"position {d.position.normalize():f}"
            for bot, d in sorted(self._digest.items())
        ]
        self._digest = {}
        minutes = f"{self.settings.digest_minutes:g}"
        return Notice(f"gridtui: fills, last {minutes} min", "\n".join(lines), Severity.INFO)

    def start(self) -> None:
        for index, queue in enumerate(self._queues):
            self._tasks.append(
                asyncio.create_task(self._deliver(index, queue), name=f"alerts-{index + 1}")
            )
        if self.settings.digest_minutes > 0 and self._queues:
            self._tasks.append(asyncio.create_task(self._digests(), name="alerts-digest"))

    async def close(self, timeout_s: float) -> None:
        """The last digest and everything queued, sent within ``timeout_s``; then stop."""
        last = self.digest()
        if last is not None:
            self.notify(last)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*(queue.join() for queue in self._queues)), timeout_s
            )
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for index, queue in enumerate(self._queues):
            if not queue.empty():
                log.warning(
                    "alerts to %s: %d messages not sent before the stop",
                    url_label(index, self.settings.urls[index]),
                    queue.qsize(),
                )
        for target in self._scrubbed:
            target.removeFilter(self._redactor)

    async def _digests(self) -> None:
        while True:
            await asyncio.sleep(self.settings.digest_minutes * 60)
            notice = self.digest()
            if notice is not None:
                self.notify(notice)

    async def _deliver(self, index: int, queue: asyncio.Queue[Notice]) -> None:
        url = self.settings.urls[index]
        label = url_label(index, url)
        while True:
            notice = await queue.get()
            try:
                await self._deliver_one(url, label, notice)
            finally:
                queue.task_done()

    async def _deliver_one(self, url: str, label: str, notice: Notice) -> None:
        delay = self._retry_base_s
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                if await self._send(url, notice):
                    return
                why = "the service refused it or did not answer"
            except Exception as exc:  # a plugin's bug must not end the worker
                why = f"{type(exc).__name__}"
            if attempt < attempts:
                log.info("alert to %s not sent (%s); retry %d in %g s", label, why, attempt, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_cap_s)
        log.warning("alert to %s dropped after %d tries: %s", label, attempts, notice.title)


async def send_test(urls: Sequence[str], send: Sender = apprise_send) -> list[tuple[str, bool]]:
    """``gridtui alerts test``: one message to every URL, once each; (label, delivered)."""
    notice = Notice(
        "gridtui: test alert", "If you read this, gridtui's alerts reach you.", Severity.INFO
    )
    redactor = Redactor(urls)
    scrubbed = _scrub(redactor)
    try:
        results = []
        for index, url in enumerate(urls):
            try:
                delivered = await send(url, notice)
            except Exception:
                delivered = False
            results.append((url_label(index, url), delivered))
        return results
    finally:
        for target in scrubbed:
            target.removeFilter(redactor)


def _scrub(redactor: Redactor) -> list[logging.Filterer]:
    """Put ``redactor`` where every line passes: the root logger's handlers (an HTTP library's
    debug line names the URL's path, token included) and the loggers whose own records would
    otherwise reach a handler added later."""
    targets: list[logging.Filterer] = [
        *logging.getLogger().handlers,
        logging.getLogger("apprise"),
        logging.getLogger(__name__),
    ]
    for target in targets:
        target.addFilter(redactor)
    return targets
