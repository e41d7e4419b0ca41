"""One edit of the config's bots, from the file as it is now to the engine applying it.

The edit screen (screens/edit_bot.py) drafts and checks the trader's change; this flow reads the
file, refuses to open over one that no longer says what runs, gathers what the screen shows (the
mids, each coin's size rules, the coins free to add), and hands the request to the engine, which
applies it and writes the file. It decides nothing about trading; what it has to say is a
notification in the cockpit, which starts it (one edit at a time).
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

import attrs

from gridtui.control.engine import Engine
from gridtui.core.types import AssetMeta, ExchangeError
from gridtui.orchestrator.settings_draft import maker_fee, running_drift
from gridtui.supervisor import Reconfigured, ReconfigureRefused
from gridtui.tui.screens.edit_bot import EditBotScreen, EditContext
from gridtui.venues import venue_flags

if TYPE_CHECKING:
    from gridtui.tui.app import GridApp

EDIT_MARKETS_TIMEOUT_S = 5.0
"""The edit screen asks the venue for its markets (to add a bot) this long at most."""


async def edit_once(app: GridApp, selected: str) -> str | None:
    """One edit screen over ``app``'s engine, opened on bot ``selected``; returns the bot to
    edit next (one just added, to review it), if any."""
    engine = app.engine
    source = app.config.source
    assert source is not None
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        app.notify(f"{source}: cannot read it ({exc})", severity="error")
        return None
    drift = running_drift(text, source, engine.config)
    if drift is not None:
        app.notify(drift, title="Cannot edit", severity="error", timeout=15)
        return None
    try:
        mids = await asyncio.wait_for(engine.mids(), EDIT_MARKETS_TIMEOUT_S)
    except (ExchangeError, TimeoutError):
        mids = {}  # no preview for a bot not running, and no coin to add, until it answers
    config = engine.config
    taken = {b.coin for b in config.bots if b.enabled}
    tradable = engine.tradable(set(mids))
    contexts = {}
    for settings in config.bots:
        meta = engine.meta_of(settings.name)
        if meta is None:  # a venue that did not list its markets will not answer this either
            meta = await _size_rules(engine, settings.coin) if mids else None
        contexts[settings.name] = EditContext(
            bot=settings,
            text=text,
            source=source,
            view=partial(app.running_view, settings.name),
            meta=meta,
            mid=mids.get(settings.coin),
            maker_fee=maker_fee(config),
            coins=tuple(sorted(tradable - taken)),
            bot_names=tuple(b.name for b in config.bots),
            flags=tuple(venue_flags(config.venue)),
        )
    if not contexts:
        app.notify("the config has no bot to edit")
        return None
    first = selected if selected in contexts else next(iter(contexts))
    request = await app.push_screen_wait(EditBotScreen(contexts, first))
    if request is None or request.draft.config is None:
        return None
    # The command line may have overridden the venue (--api-url, --mainnet): it stays.
    new_config = attrs.evolve(request.draft.config, venue=config.venue)
    app.notify(f"{request.what}…", timeout=3)
    try:
        applied = await engine.apply_edit(
            new_config, request.draft.text, based_on=config, file_was=text
        )
    except ReconfigureRefused as exc:
        app.notify(str(exc), title=f"Cannot {request.what}", severity="error", timeout=15)
        return None
    done = applied.done
    if done.refused:
        app.notify("; ".join(done.refused), title=f"Cannot {request.what}", severity="error")
        return None
    if app.selected not in engine.names:
        app.selected = next(iter(engine.names), None)
    app.refresh_views()
    if applied.unwritten is not None:
        app.notify(
            f"{request.what}: done, but {applied.unwritten}; the next start reads the old "
            "file (and editing waits until the file says what runs)",
            severity="error",
            timeout=15,
        )
        return None
    app.notify(f"{request.what}: done; {source.name} written ({_summary(done)})")
    return request.reopen


async def _size_rules(engine: Engine, coin: str) -> AssetMeta | None:
    """A coin's size rules, for the preview of a bot not running (None: no answer)."""
    try:
        return await asyncio.wait_for(engine.asset_meta(coin), EDIT_MARKETS_TIMEOUT_S)
    except (ExchangeError, TimeoutError):
        return None


def _summary(done: Reconfigured) -> str:
    parts = [
        f"{verb} {', '.join(names)}"
        for verb, names in (
            ("rebuilt", done.rebuilt),
            ("started", done.started),
            ("stopped", done.retired),
        )
        if names
    ]
    return "; ".join(parts) or "no bot changed"
