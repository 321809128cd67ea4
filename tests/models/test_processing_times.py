"""Processing times from the cases' own timelines, on SQLite and PostgreSQL: medians and 80th
percentiles (linear interpolation) for odd and even counts, stages in progress left out, the window,
holds, the "not enough data" threshold, a form without data, and the whole case (filing to decision)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from models.db import get_engine, normalize_url
from models.domain import Stage, StatusCode
from models.forms import FORMS
from models.processing_times import (
    MIN_COUNT,
    WINDOW,
    ProcessingTimes,
    StageTimes,
    percentile,
    processing_times,
    shown_stages,
)
from models.tables import Case, CaseEvent, User

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)

# A public status that a case can have in each stage (the figures only read the stage).
STATUS = {
    "intake": StatusCode.CASE_RECEIVED,
    "biometrics": StatusCode.BIOMETRICS_SCHEDULED,
    "interview": StatusCode.INTERVIEW_SCHEDULED,
    "review": StatusCode.ACTIVELY_REVIEWED,
    "evidence_requested": StatusCode.RFE_SENT,
    "decision": StatusCode.APPROVED,
    "post_decision": StatusCode.OATH_NOTICE_MAILED,
    "closed": StatusCode.WITHDRAWAL_ACKNOWLEDGED,
    "on_hold": StatusCode.ON_HOLD,
    "blocked": StatusCode.ON_HOLD,
}


class Seeder:
    def __init__(self, db: Session) -> None:
        self.db = db
        user = User(email=f"applicant.{next(_numbers)}@example.com", full_name="Ana Rivera", password_hash="x")
        db.add(user)
        db.flush()
        assert user.id is not None
        self.applicant_id = user.id

    def case(
        self, form: str, *, start: datetime, steps: Sequence[tuple[str, float]],
        case_stage: str | None = None, case_stage_after: float | None = None, filed_before: float = 0,
    ) -> str:
        """A case filed ``filed_before`` days before ``start`` whose timeline has one event per step:
        (stage, days after ``start``). The case row is in the last step's stage unless
        ``case_stage`` says otherwise (entered ``case_stage_after`` days after ``start``): a stage
        entered without a public status, as the workflow does."""
        receipt = f"IOE{2790000000 + next(_numbers)}"
        times = [(stage, start + timedelta(days=after)) for stage, after in steps]
        last_stage, last_at = times[-1]
        stage = case_stage or last_stage
        entered = start + timedelta(days=case_stage_after) if case_stage_after is not None else last_at
        self.db.add(Case(
            receipt_number=receipt, form_type=form, office="IOE", stage=stage, status_code=STATUS[last_stage],
            status_changed_at=last_at, stage_entered_at=entered, applicant_id=self.applicant_id,
            filed_at=start - timedelta(days=filed_before),
        ))
        self.db.flush()
        for seq, (stage_name, at) in enumerate(times, start=1):
            self.db.add(CaseEvent(receipt_number=receipt, seq=seq, stage=stage_name, status_code=STATUS[stage_name],
                                  occurred_at=at))
        self.db.commit()
        return receipt

    def biometrics_stays(self, form: str, days: Sequence[float], *, ended_days_ago: float = 10) -> None:
        """One case per duration: biometrics lasting that many days, then an interview entered
        ``ended_days_ago`` days before NOW."""
        for duration in days:
            start = NOW - timedelta(days=ended_days_ago + duration + 1)
            self.case(form, start=start, steps=[("intake", 0), ("biometrics", 1), ("interview", 1 + duration)])


@pytest.fixture
def seed(database_url: str) -> Iterator[Seeder]:
    with Session(get_engine(normalize_url(database_url)), expire_on_commit=False) as db:
        yield Seeder(db)


def times(seed: Seeder, **kw) -> ProcessingTimes:
    return processing_times(seed.db, now=NOW, **kw)


def stage_of(result: ProcessingTimes, form: str, stage: Stage) -> StageTimes:
    return next(s for s in result.form(form).stages if s.stage == stage)


# --- the percentile definition ---------------------------------------------------------------


def test_percentiles_interpolate_linearly_between_the_closest_ranks() -> None:
    assert percentile([10, 20, 30, 40, 50], 0.5) == 30
    assert percentile([10, 20, 30, 40, 50], 0.8) == pytest.approx(42)  # rank 3.2: 40 + 0.2 * 10
    assert percentile([10, 20, 30, 40, 50, 60], 0.5) == 35  # the mean of the two middle values
    assert percentile([10, 20, 30, 40, 50, 60], 0.8) == 50  # rank 4.0
    assert percentile([7], 0.8) == 7
    assert percentile([1, 9], 0.0) == 1 and percentile([1, 9], 1.0) == 9
    with pytest.raises(ValueError):
        percentile([], 0.5)


# --- stages ----------------------------------------------------------------------------------


def test_median_and_80th_percentile_for_an_odd_count(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [30, 10, 50, 20, 40])
    figure = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert figure.count == 5
    assert figure.median_days == pytest.approx(30)
    assert figure.p80_days == pytest.approx(42)
    intake = stage_of(times(seed), "N-400", Stage.INTAKE)
    assert (intake.count, intake.median_days, intake.p80_days) == (5, pytest.approx(1), pytest.approx(1))


def test_median_and_80th_percentile_for_an_even_count(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [60, 10, 50, 20, 40, 30])
    figure = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert figure.count == 6
    assert figure.median_days == pytest.approx(35)
    assert figure.p80_days == pytest.approx(50)


def test_durations_keep_their_fraction_of_a_day(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [1.5, 2.5, 3.5, 4.5, 5.5])
    figure = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert figure.median_days == pytest.approx(3.5)
    assert figure.p80_days == pytest.approx(4.7)


def test_stages_still_in_progress_are_not_counted(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [10, 20, 30, 40, 50])
    for _ in range(3):  # in biometrics for 300 days and still there
        seed.case("N-400", start=NOW - timedelta(days=301), steps=[("intake", 0), ("biometrics", 1)])
    result = times(seed)
    biometrics = stage_of(result, "N-400", Stage.BIOMETRICS)
    assert (biometrics.count, biometrics.median_days) == (5, pytest.approx(30))
    assert stage_of(result, "N-400", Stage.INTAKE).count == 8  # their intake is over
    assert stage_of(result, "N-400", Stage.INTERVIEW).count == 0  # every interview is in progress


def test_only_stages_completed_in_the_window_count(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [10, 20, 30, 40, 50])
    # Begun long before the window, completed inside it: counted, all 300 days of it.
    seed.case("N-400", start=NOW - timedelta(days=WINDOW.days + 100),
              steps=[("intake", 0), ("biometrics", 1), ("interview", 301)])
    # Completed before the window: left out (its intake too).
    seed.case("N-400", start=NOW - timedelta(days=WINDOW.days + 100), steps=[("intake", 0), ("biometrics", 1),
                                                                                  ("interview", 3)])
    # Completed after "now" (figures as of a past date): left out.
    seed.case("N-400", start=NOW - timedelta(days=5), steps=[("intake", 0), ("biometrics", 1), ("interview", 9)])
    biometrics = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert biometrics.count == 6
    assert biometrics.median_days == pytest.approx(35)
    assert biometrics.p80_days == pytest.approx(50)
    assert stage_of(times(seed), "N-400", Stage.INTAKE).count == 6  # the two long-ago intakes are out

    shorter = stage_of(times(seed, window=timedelta(days=30)), "N-400", Stage.BIOMETRICS)
    assert shorter.count == 5  # the 300-day stay ended 164 days ago


def test_fewer_than_the_threshold_is_not_enough_data(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [10, 20, 30, 40][: MIN_COUNT - 1])
    figure = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert figure.count == MIN_COUNT - 1
    assert figure.median_days is None and figure.p80_days is None
    assert not figure.enough_data

    seed.biometrics_stays("N-400", [50])
    figure = stage_of(times(seed), "N-400", Stage.BIOMETRICS)
    assert figure.count == MIN_COUNT and figure.enough_data
    lower = stage_of(times(seed, min_count=2), "N-400", Stage.INTAKE)
    assert lower.enough_data and lower.count == MIN_COUNT


def test_a_form_without_data_has_no_figures(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [10, 20, 30, 40, 50])
    asylum = times(seed).form("I-589")
    assert [s.stage for s in asylum.stages] == list(shown_stages(FORMS["I-589"]))
    assert all(s.count == 0 and s.median_days is None and s.p80_days is None for s in asylum.stages)
    assert asylum.total.count == 0 and not asylum.total.enough_data


def test_an_empty_database_lists_every_form_and_its_stages(seed: Seeder) -> None:
    result = times(seed)
    assert [f.form_type for f in result.forms] == list(FORMS)
    assert result.computed_at == NOW and result.window_start == NOW - WINDOW
    n400 = [s.stage for s in result.form("N-400").stages]
    assert n400 == [Stage.INTAKE, Stage.BIOMETRICS, Stage.INTERVIEW, Stage.REVIEW, Stage.EVIDENCE_REQUESTED,
                    Stage.DECISION, Stage.POST_DECISION]
    assert Stage.INTERVIEW not in [s.stage for s in result.form("I-765").stages]  # I-765 has no interviews
    assert Stage.INTERVIEW in [s.stage for s in result.form("I-130").stages]  # on request


def test_forms_are_counted_apart(seed: Seeder) -> None:
    seed.biometrics_stays("N-400", [10, 20, 30, 40, 50])
    for duration in (1, 2, 3, 4, 5):
        seed.case("I-765", start=NOW - timedelta(days=40), steps=[("intake", 0), ("biometrics", 2),
                                                                  ("review", 2 + duration)])
    result = times(seed)
    assert stage_of(result, "I-765", Stage.BIOMETRICS).median_days == pytest.approx(3)
    assert stage_of(result, "N-400", Stage.BIOMETRICS).median_days == pytest.approx(30)
    assert stage_of(result, "I-765", Stage.INTAKE).median_days == pytest.approx(2)


def test_time_on_hold_is_not_counted_and_a_held_stay_is_one_stay(seed: Seeder) -> None:
    for _ in range(5):  # review 10 days, on hold 30, review 5 more, then the decision
        seed.case("I-130", start=NOW - timedelta(days=100), steps=[
            ("intake", 0), ("review", 1), ("on_hold", 11), ("review", 41), ("decision", 46),
        ])
    review = stage_of(times(seed), "I-130", Stage.REVIEW)
    assert (review.count, review.median_days, review.p80_days) == (5, pytest.approx(15), pytest.approx(15))


def test_a_stage_gone_through_twice_counts_twice(seed: Seeder) -> None:
    for _ in range(3):  # review 10 days, a request for evidence answered in 20, review 4 more
        seed.case("I-765", start=NOW - timedelta(days=100), steps=[
            ("intake", 0), ("review", 1), ("evidence_requested", 11), ("review", 31), ("decision", 35),
        ])
    result = times(seed)
    review = stage_of(result, "I-765", Stage.REVIEW)
    assert review.count == 6
    assert review.median_days == pytest.approx(7)  # 4, 4, 4, 10, 10, 10
    assert review.p80_days == pytest.approx(10)
    assert stage_of(result, "I-765", Stage.EVIDENCE_REQUESTED).count == 3


def test_the_case_row_shows_a_last_stage_entered_without_a_public_status(seed: Seeder) -> None:
    for after in (1, 2, 3, 4, 5):  # approved, card produced, card mailed, then closed without a status
        seed.case("I-765", start=NOW - timedelta(days=60), steps=[
            ("intake", 0), ("review", 1), ("decision", 20), ("post_decision", 20.5), ("post_decision", 21),
        ], case_stage="closed", case_stage_after=20.5 + after)
    result = times(seed)
    post = stage_of(result, "I-765", Stage.POST_DECISION)
    assert (post.count, post.median_days, post.p80_days) == (5, pytest.approx(3), pytest.approx(4.2))
    assert stage_of(result, "I-765", Stage.DECISION).median_days == pytest.approx(0.5)


# --- the whole case --------------------------------------------------------------------------


def test_the_whole_case_runs_from_filing_to_the_decision(seed: Seeder) -> None:
    for decided_after in (30, 60, 90, 120, 150, 180):  # filed 2 days before the first event
        seed.case("I-130", start=NOW - timedelta(days=200), filed_before=2, steps=[
            ("intake", 0), ("review", 5), ("decision", decided_after),
        ], case_stage="closed", case_stage_after=decided_after)
    # Holds count in the whole case.
    seed.case("I-130", start=NOW - timedelta(days=200), filed_before=2, steps=[
        ("intake", 0), ("review", 5), ("on_hold", 10), ("review", 100), ("decision", 208),
    ])
    # Withdrawn: no decision; still waiting: no decision; decided before the window: left out.
    seed.case("I-130", start=NOW - timedelta(days=200), steps=[("intake", 0), ("closed", 3)])
    seed.case("I-130", start=NOW - timedelta(days=200), steps=[("intake", 0), ("review", 3)])
    seed.case("I-130", start=NOW - timedelta(days=WINDOW.days + 200), steps=[("intake", 0), ("decision", 100)])
    total = times(seed).form("I-130").total
    assert total.count == 6  # the case decided on day 208 after the start is in the future of NOW
    assert total.median_days == pytest.approx(107)  # (92 + 122) / 2
    assert total.p80_days == pytest.approx(152)

    seed.case("I-130", start=NOW - timedelta(days=250), filed_before=2, steps=[
        ("intake", 0), ("review", 5), ("on_hold", 10), ("review", 100), ("decision", 208),
    ])
    total = times(seed).form("I-130").total
    assert total.count == 7
    assert total.median_days == pytest.approx(122)
    assert total.p80_days == pytest.approx(176)  # 32 62 92 122 152 182 210: rank 4.8, 152 + 0.8 * 30
