"""Processing times: how long each form's stages, and whole cases, took, from the system's own data.

For every form and every stage of its plan the figures are the median and the 80th percentile, in
days, of the stages that cases **completed** in the window (the last 12 months by default), with how
many completed stages back them; plus, per form, the whole case, from filing to the decision.

Where the stage history comes from
    The timeline of public status changes, ``case_event``. Each row carries the stage the case was in
    at that status change. For one case, ordered by ``seq``, a run of consecutive events in the same
    stage is one stay in that stage: the stay begins at the first event of the run and ends at the
    first later event in another stage (the entry into the next stage). A stay that has not ended is
    not completed and counts nowhere. A stage that a case goes through twice (review before and after
    a request for evidence) counts twice.

    One more entry comes from the case row: its current stage and ``stage_entered_at`` when that stage
    differs from the stage of the last event. That is how the end of the last public stage is known
    for a case that closed without a public status (after a denial, after the last step that follows
    an approval).

Limitations (stated on the page too)
    The workflow changes stage without a public status in several places (``status_code=None``:
    no ``case_event`` row): entering review or an interview straight after intake, entering
    ``blocked``, the move after a decision, a request for evidence that expires. Such an entry is only
    seen at the next public status change in that stage (for example review begins, for these figures,
    when an officer starts reviewing and "Case Is Being Actively Reviewed" is posted), so the time
    before it counts in the stage before. Nothing is invented to fill these gaps.

On hold and blocked
    Time on hold (``on_hold``) or blocked (``blocked``) is not counted in any stage. A stay that is
    interrupted by a hold and goes on in the same stage afterwards is one stay, whose duration is the
    time in the stage without the pause. The whole-case figure (filing to decision) is calendar time,
    holds included: it is how long people waited.

Percentiles
    Linear interpolation between the closest ranks (Hyndman and Fan's type 7: the default of numpy,
    R and spreadsheets' PERCENTILE.INC): for ``n`` sorted durations ``x`` and a fraction ``p``, the
    rank ``h = (n - 1) * p`` gives ``x[floor(h)] + (h - floor(h)) * (x[floor(h) + 1] - x[floor(h)])``.
    The median is ``p = 0.5`` (the mean of the two middle values for an even count). Durations are in
    days with their fraction (hours count). A figure backed by fewer than ``MIN_COUNT`` completed stages
    is not given ("not enough data"); its count still is.

The window
    A stage counts when it was completed (the next stage entered) in ``[now - window, now]``; a whole
    case when its decision was. The stage may have begun before the window.

One query reads only the needed columns of the events of the cases that changed in the window,
joined with their case row, in order, with times as numbers (days since the Unix epoch, computed by
the database: ``julianday`` on SQLite, ``extract(epoch ...)`` on PostgreSQL); the rows are streamed
and each case is handled in one pass. Percentiles are computed here, in Python, from the durations.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from models.domain import Stage
from models.forms import FORMS, FormSpec
from models.tables import Case, CaseEvent

WINDOW = timedelta(days=365)
MIN_COUNT = 5  # fewer completed stages than this: "not enough data"
MEDIAN, P80 = 0.5, 0.8
PAUSES = frozenset({Stage.ON_HOLD.value, Stage.BLOCKED.value})
_DAY = 86_400.0  # seconds
_UNIX_EPOCH_JULIAN_DAY = 2_440_587.5
_FETCH = 10_000  # rows per round trip


@dataclass(frozen=True, kw_only=True)
class Figure:
    """A median and an 80th percentile in days, or None when fewer than ``MIN_COUNT`` back them."""

    count: int
    median_days: float | None
    p80_days: float | None

    @property
    def enough_data(self) -> bool:
        return self.median_days is not None


@dataclass(frozen=True, kw_only=True)
class StageTimes(Figure):
    stage: Stage


@dataclass(frozen=True)
class FormTimes:
    form_type: str  # I-765
    title: str  # msgid of the form's title
    stages: tuple[StageTimes, ...]
    total: Figure  # filing to decision


@dataclass(frozen=True)
class ProcessingTimes:
    computed_at: datetime
    window_start: datetime
    window: timedelta
    min_count: int
    forms: tuple[FormTimes, ...]

    def form(self, form_type: str) -> FormTimes:
        return next(f for f in self.forms if f.form_type == form_type)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Linear interpolation between closest ranks (type 7) of values sorted ascending."""
    if not sorted_values:
        raise ValueError("no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError("fraction must be between 0 and 1")
    rank = (len(sorted_values) - 1) * fraction
    low = math.floor(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (rank - low) * (sorted_values[high] - sorted_values[low])


def figure(durations_days: Iterable[float], *, min_count: int = MIN_COUNT) -> Figure:
    values = sorted(durations_days)
    if len(values) < min_count or not values:
        return Figure(count=len(values), median_days=None, p80_days=None)
    return Figure(count=len(values), median_days=percentile(values, MEDIAN), p80_days=percentile(values, P80))


def shown_stages(form: FormSpec) -> tuple[Stage, ...]:
    """The stages a form's table lists, in order: its plan, with a request for evidence after review
    (possible on every form) and an interview after that when an officer may ask for one."""
    stages = [Stage(s) for s in form.stages]
    if Stage.REVIEW in stages and Stage.EVIDENCE_REQUESTED not in stages:
        stages.insert(stages.index(Stage.REVIEW) + 1, Stage.EVIDENCE_REQUESTED)
    if form.interview != "never" and Stage.INTERVIEW not in stages:
        anchor = stages.index(Stage.EVIDENCE_REQUESTED) if Stage.EVIDENCE_REQUESTED in stages else len(stages) - 1
        stages.insert(anchor + 1, Stage.INTERVIEW)
    return tuple(stages)


def stage_entries(
    events: Iterable[tuple[str, float]], *, case_stage: str, case_stage_entered_at: float
) -> list[tuple[str, float]]:
    """(stage, entered at) for each stay of one case: the first event of each run of events in one
    stage, then the case row's current stage when it is a later stage the timeline does not show.
    Times are days since the Unix epoch (any number that orders time works)."""
    entries: list[tuple[str, float]] = []
    last_at: float | None = None
    for stage, occurred_at in events:
        if not entries or entries[-1][0] != stage:
            entries.append((stage, occurred_at))
        last_at = occurred_at
    if entries and case_stage != entries[-1][0] and last_at is not None and case_stage_entered_at >= last_at:
        entries.append((case_stage, case_stage_entered_at))
    return entries


def completed_stays(entries: Sequence[tuple[str, float]]) -> Iterator[tuple[str, float, float]]:
    """(stage, time in it without holds, completed at) for every stay that ended; see the module's doc."""
    current: str | None = None
    entered_at = 0.0
    paused_at: float | None = None
    paused = 0.0
    for stage, at in entries:
        if stage in PAUSES:
            if current is not None and paused_at is None:
                paused_at = at
            continue
        if current is None:
            current, entered_at = stage, at
            continue
        if paused_at is not None and stage == current:  # back from a hold to the same stage: one stay
            paused += at - paused_at
            paused_at = None
            continue
        if stage == current:
            continue
        left_at = paused_at if paused_at is not None else at
        yield current, (left_at - entered_at) - paused, at
        current, entered_at, paused_at, paused = stage, at, None, 0.0


def _stage_times(stage: Stage, values: Figure) -> StageTimes:
    return StageTimes(stage=stage, count=values.count, median_days=values.median_days, p80_days=values.p80_days)


def _epoch_days(column, dialect: str):
    """A timestamp column as days since the Unix epoch, a float: converting numbers is much cheaper
    than building a million datetimes. SQLite stores UTC text (``julianday`` reads it); PostgreSQL
    a ``timestamptz``."""
    if dialect == "sqlite":
        return sa.func.julianday(column) - _UNIX_EPOCH_JULIAN_DAY
    return sa.cast(sa.extract("epoch", column), sa.Float) / _DAY


def _epoch(moment: datetime) -> float:
    return moment.timestamp() / _DAY


def _rows(session: Session, since: datetime):
    """The needed columns of the events of every case that may have completed something since
    ``since`` (an event since then, or its current stage entered since then), ordered by case and
    seq, streamed: (receipt, stage, at, form, filed at, case stage, case stage entered at)."""
    connection = session.connection()
    dialect = connection.dialect.name
    event, case = CaseEvent.__table__, Case.__table__
    changed = sa.select(event.c.receipt_number).where(event.c.occurred_at >= since)
    statement = (
        sa.select(
            event.c.receipt_number, event.c.stage, _epoch_days(event.c.occurred_at, dialect),
            case.c.form_type, _epoch_days(case.c.filed_at, dialect), case.c.stage,
            _epoch_days(case.c.stage_entered_at, dialect),
        )
        .select_from(event.join(case, case.c.receipt_number == event.c.receipt_number))
        .where(case.c.form_type.in_(list(FORMS)))
        .where(sa.or_(event.c.receipt_number.in_(changed), case.c.stage_entered_at >= since))
        .order_by(event.c.receipt_number, event.c.seq)
        .execution_options(yield_per=_FETCH)
    )
    return connection.execute(statement)


def processing_times(
    session: Session, *, now: datetime, window: timedelta = WINDOW, min_count: int = MIN_COUNT
) -> ProcessingTimes:
    since = now - window
    now_day, since_day = _epoch(now), _epoch(since)
    stays: dict[tuple[str, str], list[float]] = {}
    totals: dict[str, list[float]] = {}
    for _receipt, case_rows in itertools.groupby(_rows(session, since), key=lambda row: row[0]):
        rows = list(case_rows)
        _, _, _, form_type, filed_at, case_stage, case_entered_at = rows[0]
        entries = [
            (stage, at)
            for stage, at in stage_entries(
                ((row[1], row[2]) for row in rows), case_stage=case_stage, case_stage_entered_at=case_entered_at
            )
            if at <= now_day  # as of now: later entries have not happened yet
        ]
        for stage, duration, completed_at in completed_stays(entries):
            if since_day <= completed_at <= now_day and duration >= 0:
                stays.setdefault((form_type, stage), []).append(duration)
        decided_at = next((at for stage, at in entries if stage == Stage.DECISION.value), None)
        if decided_at is not None and since_day <= decided_at <= now_day and decided_at >= filed_at:
            totals.setdefault(form_type, []).append(decided_at - filed_at)
    forms = tuple(
        FormTimes(
            form_type=form.code,
            title=form.title,
            stages=tuple(
                _stage_times(stage, figure(stays.get((form.code, stage.value), ()), min_count=min_count))
                for stage in shown_stages(form)
            ),
            total=figure(totals.get(form.code, ()), min_count=min_count),
        )
        for form in FORMS.values()
    )
    return ProcessingTimes(computed_at=now, window_start=since, window=window, min_count=min_count, forms=forms)
