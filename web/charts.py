"""Charts drawn on the server as SVG: geometry here, drawing in ``templates/supervisor/_charts.html``.

Each chart is an image with a title and a description that says every figure in words (screen
readers read those), and its page also shows the same figures in a table. No JavaScript."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 640
BAR_HEIGHT = 22
BAR_GAP = 10
LABEL_WIDTH = 190
VALUE_ROOM = 56
COLUMN_AREA_HEIGHT = 180
AXIS_ROOM = 40
TOP_ROOM = 16


@dataclass(frozen=True)
class Shape:
    """One bar or column: its figure and the rectangle it is drawn as."""

    value: int
    x: float
    y: float
    width: float
    height: float
    label: str = ""
    series: int = 0  # for columns: which of the two series, drawn in its own colour


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one per row, the longest as wide as the drawing allows."""

    bars: list[Shape]
    width: int
    height: int
    label_width: int


def bar_chart(rows: list[tuple[str, int]]) -> BarChart:
    top = max((value for _, value in rows), default=0) or 1
    room = WIDTH - LABEL_WIDTH - VALUE_ROOM
    bars = [
        Shape(value, LABEL_WIDTH, i * (BAR_HEIGHT + BAR_GAP), room * value / top, BAR_HEIGHT, label=label)
        for i, (label, value) in enumerate(rows)
    ]
    return BarChart(bars, WIDTH, max(1, len(rows) * (BAR_HEIGHT + BAR_GAP)), LABEL_WIDTH)


@dataclass(frozen=True)
class ColumnGroup:
    label: str
    label_x: float
    columns: list[Shape]


@dataclass(frozen=True)
class ColumnChart:
    """Pairs of columns per period (for example cases filed and cases decided per day)."""

    groups: list[ColumnGroup]
    width: int
    height: int
    baseline: float
    top_value: int


def column_chart(periods: list[tuple[str, int, int]]) -> ColumnChart:
    """``periods`` are (label, first series, second series)."""
    highest = max((max(a, b) for _, a, b in periods), default=0)
    top = highest or 1  # the scale; all-zero periods draw no columns
    slot = WIDTH / max(1, len(periods))
    column = slot * 0.36
    baseline = TOP_ROOM + COLUMN_AREA_HEIGHT
    groups = []
    for i, (label, first, second) in enumerate(periods):
        left = i * slot + slot * 0.14
        columns = []
        for series, value in enumerate((first, second)):
            height = COLUMN_AREA_HEIGHT * value / top
            columns.append(Shape(value, left + series * column, baseline - height, column, height, series=series))
        groups.append(ColumnGroup(label, i * slot + slot / 2, columns))
    return ColumnChart(groups, WIDTH, int(baseline + AXIS_ROOM), baseline, highest)
