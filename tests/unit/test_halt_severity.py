"""A trader's own halt (h) is not an emergency; a halt the engine decides is."""

from __future__ import annotations

import pytest
from bot_kit import EnvFactory

from gridtui.core.events import AlertKind, AlertRaised, BotHalted, Severity
from gridtui.state.accounting import HaltKind


@pytest.mark.parametrize(
    ("kind", "severity"),
    [
        (HaltKind.MANUAL, Severity.INFO),
        (HaltKind.FLATTEN, Severity.INFO),  # the close's own alert reports what is left
        (HaltKind.VENUE, Severity.CRITICAL),
        (HaltKind.TAKE_PROFIT, Severity.CRITICAL),
        (HaltKind.DRAWDOWN, Severity.CRITICAL),
        (HaltKind.DAILY_LOSS, Severity.CRITICAL),
        (HaltKind.DISK, Severity.CRITICAL),
        (HaltKind.STOP_LOSS, Severity.CRITICAL),
    ],
)
async def test_the_halt_alert_is_info_only_for_a_traders_own_halt(
    make_env: EnvFactory, kind: HaltKind, severity: Severity
) -> None:
    env = make_env()
    bot = await env.orchestrator()
    await bot.halt("why", kind=kind)
    (alert,) = [a for a in env.of_type(AlertRaised) if a.kind is AlertKind.BOT_HALTED]
    assert alert.severity is severity
    assert alert.message == "halted: why"
    assert [e.reason for e in env.of_type(BotHalted)] == ["why"]  # the halt itself as before
    assert bot.c.state.get_snapshot().halt_kind is kind


async def test_a_halt_without_a_kind_is_manual_and_info(make_env: EnvFactory) -> None:
    """The cockpit's h calls ``halt(reason)`` with the default kind."""
    env = make_env()
    bot = await env.orchestrator()
    await bot.halt("manual halt")
    (alert,) = env.of_type(AlertRaised)
    assert alert.severity is Severity.INFO
