"""The geometry of the supervisor's server-drawn charts (web/charts.py): the longest bar takes the
whole room, every other bar and column is in proportion, zero draws nothing, and an empty chart
still has a size."""

from __future__ import annotations

import pytest

from web.charts import (
    AXIS_ROOM,
    BAR_GAP,
    BAR_HEIGHT,
    COLUMN_AREA_HEIGHT,
    LABEL_WIDTH,
    TOP_ROOM,
    VALUE_ROOM,
    WIDTH,
    bar_chart,
    column_chart,
)

ROOM = WIDTH - LABEL_WIDTH - VALUE_ROOM  # 394: the widest a bar can be
BASELINE = TOP_ROOM + COLUMN_AREA_HEIGHT  # 196


def test_the_constants_these_tests_assume():
    # The figures below are written out by hand; a change of layout should be a deliberate one.
    assert (WIDTH, LABEL_WIDTH, VALUE_ROOM, BAR_HEIGHT, BAR_GAP) == (640, 190, 56, 22, 10)
    assert (COLUMN_AREA_HEIGHT, AXIS_ROOM, TOP_ROOM) == (180, 40, 16)
    assert ROOM == 394 and BASELINE == 196


# --- bar_chart ------------------------------------------------------------------------------


def test_the_longest_bar_takes_the_whole_room_and_the_others_are_in_proportion():
    chart = bar_chart([("Intake", 1), ("Review", 4), ("Blocked", 2), ("Interview", 0)])
    assert [(b.label, b.value) for b in chart.bars] == [("Intake", 1), ("Review", 4), ("Blocked", 2), ("Interview", 0)]
    assert [b.width for b in chart.bars] == [pytest.approx(98.5), pytest.approx(394), pytest.approx(197), 0]
    assert max(b.width for b in chart.bars) == pytest.approx(ROOM)


def test_bars_start_after_the_labels_one_row_apart():
    chart = bar_chart([("a", 3), ("b", 1), ("c", 2)])
    assert [b.x for b in chart.bars] == [190, 190, 190]
    assert [b.y for b in chart.bars] == [0, 32, 64]
    assert [b.height for b in chart.bars] == [22, 22, 22]
    assert (chart.width, chart.height, chart.label_width) == (640, 96, 190)


def test_one_bar_is_as_wide_as_the_room_whatever_its_value():
    for value in (1, 7, 12345):
        (bar,) = bar_chart([("Review", value)]).bars
        assert bar.width == pytest.approx(ROOM), value


def test_all_zero_bars_draw_nothing_without_dividing_by_zero():
    chart = bar_chart([("Intake", 0), ("Review", 0)])
    assert [b.width for b in chart.bars] == [0, 0]
    assert chart.height == 64


def test_an_empty_bar_chart_still_has_a_size():
    chart = bar_chart([])
    assert chart.bars == []
    assert (chart.width, chart.height) == (640, 1)  # a zero-height SVG viewBox is invalid


# --- column_chart ---------------------------------------------------------------------------


def test_columns_are_in_proportion_to_the_highest_value():
    chart = column_chart([("Oct 1", 2, 1), ("Oct 2", 4, 0), ("Oct 3", 0, 3)])
    assert chart.top_value == 4
    heights = [[c.height for c in g.columns] for g in chart.groups]
    assert heights == [[pytest.approx(90), pytest.approx(45)], [pytest.approx(180), 0], [0, pytest.approx(135)]]
    # Columns stand on the baseline: top edge + height = baseline.
    for group in chart.groups:
        for column in group.columns:
            assert column.y + column.height == pytest.approx(BASELINE)
    assert (chart.width, chart.height, chart.baseline) == (640, 236, 196)


def test_the_two_series_keep_their_order_and_sit_side_by_side():
    chart = column_chart([("Mon", 5, 1), ("Tue", 1, 5)])
    first, second = chart.groups
    assert [(c.series, c.value) for c in first.columns] == [(0, 5), (1, 1)]  # filed, then decided
    assert [(c.series, c.value) for c in second.columns] == [(0, 1), (1, 5)]
    slot = 640 / 2
    column = slot * 0.36
    for i, group in enumerate(chart.groups):
        left = i * slot + slot * 0.14
        assert [c.x for c in group.columns] == [pytest.approx(left), pytest.approx(left + column)]
        assert [c.width for c in group.columns] == [pytest.approx(column)] * 2
        assert group.label_x == pytest.approx(i * slot + slot / 2)
    assert first.columns[0].height == pytest.approx(180) and first.columns[1].height == pytest.approx(36)
    assert second.columns[0].height == pytest.approx(36) and second.columns[1].height == pytest.approx(180)
    assert [g.label for g in chart.groups] == ["Mon", "Tue"]


def test_the_highest_value_is_reported_from_either_series():
    assert column_chart([("a", 1, 9), ("b", 3, 2)]).top_value == 9
    assert column_chart([("a", 7, 0)]).top_value == 7


def test_all_zero_periods_draw_flat_columns_and_say_zero():
    chart = column_chart([("a", 0, 0), ("b", 0, 0)])
    assert chart.top_value == 0  # "Highest: 0", not the scale's stand-in of 1
    for group in chart.groups:
        assert [c.height for c in group.columns] == [0, 0]
        assert [c.y for c in group.columns] == [BASELINE, BASELINE]


def test_an_empty_column_chart_still_has_a_size():
    chart = column_chart([])
    assert chart.groups == [] and chart.top_value == 0
    assert (chart.width, chart.height, chart.baseline) == (640, 236, 196)


def test_fourteen_days_fit_the_width():
    chart = column_chart([(f"d{i}", i, 14 - i) for i in range(14)])
    rightmost = chart.groups[-1].columns[-1]
    assert rightmost.x + rightmost.width <= chart.width
    assert chart.groups[0].columns[0].x > 0
    lefts = [g.columns[0].x for g in chart.groups]
    assert lefts == sorted(lefts)
