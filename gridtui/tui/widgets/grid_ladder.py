"""The selected bot's grid as a price ladder: what rests where, and where the market is."""

from __future__ import annotations

from typing import ClassVar

from textual.app import RenderResult
from textual.content import Content
from textual.reactive import reactive
from textual.widget import Widget

from gridtui.config.schema import Direction
from gridtui.core.types import Side
from gridtui.orchestrator.view import BotView, LevelStatus, LevelView

STATUS_CLASSES = {
    LevelStatus.RESTING: "grid-ladder--resting",
    LevelStatus.PENDING: "grid-ladder--pending",
    LevelStatus.FILLED: "grid-ladder--filled",
    LevelStatus.WOULD_CROSS: "grid-ladder--would-cross",
    LevelStatus.NOT_HELD: "grid-ladder--not-held",
    LevelStatus.MISSING: "grid-ladder--missing",
    LevelStatus.CANCELED: "grid-ladder--not-held",
}
GUTTER = "  "
"""Between two columns: one space read as "SELL0.0005" in some fonts."""
MIN_ROWS_FOR_MARKERS = 3
"""Below this many rows a "more above/below" marker would hide the only levels left."""


class GridLadder(Widget):
    """Highest price first, with a ``mid`` line where the mark falls between two levels.

    When the grid has more levels than the widget has rows, the rows around the mid stay
    visible: that is where orders fill next.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "grid-ladder--title",
        "grid-ladder--empty",
        "grid-ladder--buy",
        "grid-ladder--sell",
        "grid-ladder--gap",
        "grid-ladder--mid",
        "grid-ladder--recent",
        "grid-ladder--more",
        *STATUS_CLASSES.values(),
    }

    view: reactive[BotView | None] = reactive(None)
    """The bot shown (the app binds its selected bot's view here); a change repaints."""

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = "Grid"

    def show(self, view: BotView | None) -> None:
        """For a host that does not bind ``view``."""
        self.view = view

    def render(self) -> RenderResult:
        view = self.view
        if view is None:
            return Content.styled("no bot selected", ".grid-ladder--empty")
        title = self._title(view)
        if not view.levels:
            why = f"{view.status}: {view.error}" if view.error else view.status
            empty = Content.styled(f"no grid yet ({why})", ".grid-ladder--empty")
            return Content("\n").join([title, empty])
        lines = self._lines(view)
        rows = self.size.height - len(title.plain.splitlines())
        if rows > 0:
            lines = _fit(lines, rows, _focus(lines))
        return Content("\n").join([title, *(line for line, _ in lines)])

    def _title(self, view: BotView) -> Content:
        parts = [view.coin]
        if view.center is not None:
            parts.append(f"center {view.center:,f}")
        if view.spacing_pct is not None:
            parts.append(f"spacing {view.spacing_pct:.2f}%")
        if view.levels:
            parts.append(f"{len(view.levels) // 2}×2 levels")  # as check-config says it
        if view.direction is not Direction.NEUTRAL:
            parts.append(view.direction.value)
        title = "  ".join(parts)
        width = self.size.width
        if width and len(title) > width and len(parts) > 2:  # two lines, rather than cut
            title = "  ".join(parts[:2]) + "\n" + "  ".join(parts[2:])
        return Content.styled(title, ".grid-ladder--title")

    def _lines(self, view: BotView) -> list[tuple[Content, bool]]:
        """(line, is_level) pairs: the level rows with the mid line slotted in."""
        cells = [_cells(level) for level in view.levels]
        widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
        lines: list[tuple[Content, bool]] = []
        for level, row in zip(view.levels, cells, strict=True):
            lines.append((self._row(level, row, widths), True))
        if view.mark is not None:
            mark = view.mark
            above = sum(1 for level in view.levels if level.price > mark)
            width = sum(widths) + len(GUTTER) * (len(widths) - 1)
            label = f" mid {mark:,f} "
            dashes = max(width - len(label) - 2, 2)
            mid = Content.styled("──" + label + "─" * dashes, ".grid-ladder--mid")
            lines.insert(above, (mid, False))
        return lines

    def _row(self, level: LevelView, cells: tuple[str, ...], widths: list[int]) -> Content:
        price, side, size, status, distance = cells
        if level.side is None:
            side_class = "grid-ladder--gap"
        else:
            side_class = "grid-ladder--buy" if level.side is Side.BUY else "grid-ladder--sell"
        row = Content.assemble(
            (price.rjust(widths[0]), f".{side_class}"),
            GUTTER,
            (side.ljust(widths[1]), f".{side_class}"),
            GUTTER,
            size.rjust(widths[2]),
            GUTTER,
            (status.ljust(widths[3]), f".{STATUS_CLASSES[level.status]}"),
            GUTTER,
            distance.rjust(widths[4]),
        )
        if level.recently_filled:
            row = row.stylize_before(".grid-ladder--recent")
        return row


def _cells(level: LevelView) -> tuple[str, str, str, str, str]:
    """Price, side, size, status, distance as text. The gap holds no order by design, so it
    shows no status unless a fill just emptied it."""
    if level.side is None:
        side = "gap"
        status = level.status.value if level.status is LevelStatus.FILLED else ""
    else:
        side = level.side.name
        status = level.status.value if level.why is None else f"{level.status.value}: {level.why}"
    distance = f"{level.distance_pct:+.2f}%" if level.distance_pct is not None else ""
    return (f"{level.price:,f}", side, f"{level.size:f}", status, distance)


def _focus(lines: list[tuple[Content, bool]]) -> int:
    """The line to keep in view: the mid line, else the middle of the ladder."""
    for index, (_, is_level) in enumerate(lines):
        if not is_level:
            return index
    return len(lines) // 2


def _fit(lines: list[tuple[Content, bool]], rows: int, focus: int) -> list[tuple[Content, bool]]:
    """A window of ``rows`` lines centred on ``focus``; an edge that hides levels says how many."""
    if len(lines) <= rows:
        return lines
    start = min(max(focus - rows // 2, 0), len(lines) - rows)
    end = start + rows
    window = lines[start:end]
    if rows < MIN_ROWS_FOR_MARKERS:
        return window
    if start > 0:
        hidden = sum(1 for _, is_level in lines[: start + 1] if is_level)
        window[0] = (Content.styled(f"▲ {hidden} more", ".grid-ladder--more"), False)
    if end < len(lines):
        hidden = sum(1 for _, is_level in lines[end - 1 :] if is_level)
        window[-1] = (Content.styled(f"▼ {hidden} more", ".grid-ladder--more"), False)
    return window
