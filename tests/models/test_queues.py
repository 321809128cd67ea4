"""The officers' queue queries, on SQLite and PostgreSQL: filters, sorts, expedited first,
pagination bounds, counts and the candidates for "next case"."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session

from models.db import get_engine, normalize_url
from models.forms import FORMS
from models.queries import (
    FORM_TYPES,
    QUEUE_KINDS,
    QueueCount,
    QueueFilter,
    next_task_candidates,
    officer_names,
    queue_counts,
    queue_page,
)
from models.tables import Case, HumanTask, User

NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
_numbers = itertools.count(1)


class World:
    """A database with two officers and an applicant; ``task`` adds an open task and its case."""

    def __init__(self, db: Session) -> None:
        self.db = db
        self.me, self.other, self.applicant = (
            self._user("me", "officer"), self._user("other", "officer"), self._user("applicant", "applicant")
        )
        db.commit()

    def _user(self, name: str, role: str) -> int:
        user = User(email=f"{name}.{next(_numbers)}@example.com", full_name=f"{name.title()} Person", role=role,
                    password_hash="x")
        self.db.add(user)
        self.db.flush()
        assert user.id is not None
        return user.id

    def task(
        self, *, kind: str = "review", office: str = "IOE", form: str = "I-765", opened: float = 10, due: float = 30,
        expedited: bool = False, overdue: bool = False, assigned: int | None = None, status: str = "open",
    ) -> str:
        """``opened`` is days before NOW, ``due`` days after it (negative: in the past)."""
        n = next(_numbers)
        receipt = f"{office}{2700000000 + n}"
        opened_at, due_at = NOW - timedelta(days=opened), NOW + timedelta(days=due)
        self.db.add(Case(
            receipt_number=receipt, form_type=form, office=office, stage="review", status_code="case_received",
            status_changed_at=opened_at, stage_entered_at=opened_at, applicant_id=self.applicant, filed_at=opened_at,
            overdue=overdue, expedited=expedited, assigned_officer_id=assigned,
        ))
        self.db.flush()
        self.db.add(HumanTask(
            task_key=f"{receipt}:{kind}:1", receipt_number=receipt, kind=kind, expedited=expedited, overdue=overdue,
            form_type=form, office=office, status=status, assigned_officer_id=assigned, opened_at=opened_at,
            due_at=due_at, closed_at=NOW if status == "done" else None,
        ))
        self.db.commit()
        return receipt

    def page(self, queue_filter: QueueFilter | None = None, **kw) -> list[str]:
        result = queue_page(self.db, filter=queue_filter or QueueFilter(kind="review"), officer_id=self.me, now=NOW,
                            **kw)
        return [task.receipt_number for task, _ in result.rows]


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    with Session(get_engine(normalize_url(database_url)), expire_on_commit=False) as db:
        yield World(db)


REVIEW = QueueFilter(kind="review")


def test_by_age_expedited_come_first_then_the_oldest_then_the_id(world: World) -> None:
    young = world.task(opened=1)
    old = world.task(opened=50)
    same_age_first, same_age_second = world.task(opened=20), world.task(opened=20)
    expedited_young = world.task(opened=2, expedited=True)
    expedited_old = world.task(opened=9, expedited=True)
    assert world.page() == [expedited_old, expedited_young, old, same_age_first, same_age_second, young]


def test_by_due_date_expedited_come_first_then_the_earliest_due_then_the_id(world: World) -> None:
    later = world.task(opened=90, due=40)
    sooner = world.task(opened=1, due=5)
    past_due = world.task(opened=5, due=-3, overdue=True)
    tie_first, tie_second = world.task(due=10), world.task(due=10)
    expedited_late = world.task(due=60, expedited=True)
    expedited_soon = world.task(due=20, expedited=True)
    by_due = replace(REVIEW, sort="due")
    assert world.page(by_due) == [expedited_soon, expedited_late, past_due, sooner, tie_first, tie_second, later]
    by_age = world.page()
    assert by_age[:2] == [expedited_late, expedited_soon]  # by age: expedited still first (same age: by id)
    assert by_age[2] == later  # then the oldest


def test_only_open_tasks_of_the_queue_are_listed(world: World) -> None:
    mine = world.task()
    world.task(kind="biometrics")
    world.task(status="done")
    result = queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW)
    assert [t.receipt_number for t, _ in result.rows] == [mine]
    task, case = result.rows[0]
    assert isinstance(case, Case) and case.receipt_number == task.receipt_number == mine
    assert result.total == 1 and result.page == 1 and result.pages == 1


def test_office_and_form_filters(world: World) -> None:
    nyc_i765 = world.task(office="NYC")
    nyc_n400 = world.task(office="NYC", form="N-400")
    ioe_n400 = world.task(office="IOE", form="N-400")
    assert world.page(replace(REVIEW, office="NYC")) == [nyc_i765, nyc_n400]
    assert world.page(replace(REVIEW, form_type="N-400")) == [nyc_n400, ioe_n400]
    assert world.page(replace(REVIEW, office="NYC", form_type="N-400")) == [nyc_n400]
    assert world.page(replace(REVIEW, office="ATL")) == []


def test_assignment_filters(world: World) -> None:
    mine = world.task(assigned=world.me)
    theirs = world.task(assigned=world.other)
    nobodys = world.task()
    assert world.page(replace(REVIEW, assignment="all")) == [mine, theirs, nobodys]
    assert world.page(replace(REVIEW, assignment="mine")) == [mine]
    assert world.page(replace(REVIEW, assignment="unassigned")) == [nobodys]


def test_due_within_keeps_what_is_due_by_then_overdue_included(world: World) -> None:
    overdue = world.task(due=-2, overdue=True)
    in_three_days = world.task(due=3)
    in_seven_days = world.task(due=7)
    world.task(due=8)
    assert world.page(replace(REVIEW, due_within_days=7)) == [overdue, in_three_days, in_seven_days]
    assert world.page(replace(REVIEW, due_within_days=0)) == [overdue]


def test_overdue_and_expedited_only(world: World) -> None:
    overdue = world.task(overdue=True, due=-1)
    expedited = world.task(expedited=True)
    both = world.task(expedited=True, overdue=True, due=-5)
    world.task()
    assert world.page(replace(REVIEW, overdue_only=True)) == [both, overdue]  # expedited first
    assert world.page(replace(REVIEW, expedited_only=True)) == [expedited, both]
    assert world.page(replace(REVIEW, overdue_only=True, expedited_only=True)) == [both]


def test_pages_cross_from_the_expedited_to_the_others_in_order(world: World) -> None:
    expedited = [world.task(opened=30 - i, expedited=True) for i in range(3)]
    others = [world.task(opened=30 - i) for i in range(4)]
    pages = [
        queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW, page=n, page_size=2) for n in (1, 2, 3, 4)
    ]
    assert [[t.receipt_number for t, _ in p.rows] for p in pages] == [
        expedited[:2], [expedited[2], others[0]], others[1:3], others[3:],
    ]
    assert {(p.total, p.pages) for p in pages} == {(7, 4)}
    assert [p.page for p in pages] == [1, 2, 3, 4]


def test_page_numbers_out_of_bounds_are_clamped(world: World) -> None:
    receipts = [world.task(opened=10 - i) for i in range(5)]
    zero = queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW, page=0, page_size=2)
    negative = queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW, page=-3, page_size=2)
    beyond = queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW, page=99, page_size=2)
    assert zero.page == negative.page == 1 and [t.receipt_number for t, _ in zero.rows] == receipts[:2]
    assert beyond.page == beyond.pages == 3 and [t.receipt_number for t, _ in beyond.rows] == receipts[4:]
    assert beyond.total == 5


def test_an_empty_queue_has_one_empty_page(world: World) -> None:
    result = queue_page(world.db, filter=REVIEW, officer_id=world.me, now=NOW, page=7)
    assert (result.rows, result.total, result.page, result.pages) == ([], 0, 1, 1)


def test_counts_per_queue(world: World) -> None:
    world.task(assigned=world.me, overdue=True, due=-1)
    world.task(assigned=world.other, expedited=True)
    world.task(office="NYC")
    world.task(office="NYC", expedited=True, overdue=True, due=-4)
    world.task(kind="biometrics", assigned=world.me)
    world.task(status="done", assigned=world.me)
    world.task(kind="expedite")

    counts = queue_counts(world.db, officer_id=world.me)
    assert set(counts) == set(QUEUE_KINDS)
    assert counts["review"] == QueueCount(open=4, unassigned=2, mine=1, overdue=2, expedited=2)
    assert counts["biometrics"] == QueueCount(open=1, unassigned=0, mine=1, overdue=0, expedited=0)
    assert counts["expedite"] == QueueCount(open=1, unassigned=1)
    assert counts["interview"] == counts["oath"] == counts["blocked"] == QueueCount()

    nyc = queue_counts(world.db, office="NYC", officer_id=world.me)
    assert nyc["review"] == QueueCount(open=2, unassigned=2, mine=0, overdue=1, expedited=1)
    assert nyc["biometrics"] == QueueCount()

    anonymous = queue_counts(world.db)
    assert anonymous["review"] == QueueCount(open=4, unassigned=2, mine=0, overdue=2, expedited=2)
    assert queue_counts(world.db, officer_id=world.other)["review"].mine == 1

    one_kind = queue_counts(world.db, officer_id=world.me, kind="review")
    assert one_kind["review"] == counts["review"] and one_kind["biometrics"] == QueueCount()


def test_next_candidates_expedited_first_then_earliest_due_then_id(world: World) -> None:
    due_soon = world.task(due=2)
    tie_first, tie_second = world.task(due=5), world.task(due=5)
    expedited_late = world.task(due=40, expedited=True)
    expedited_mine = world.task(due=30, expedited=True, assigned=world.me)
    world.task(due=1, kind="biometrics")
    world.task(due=1, status="done")
    found = next_task_candidates(world.db, kind="review", officer_id=world.me)
    assert [t.receipt_number for t in found] == [expedited_mine, expedited_late, due_soon, tie_first, tie_second]
    assert [t.receipt_number for t in next_task_candidates(world.db, kind="review", officer_id=world.me, limit=3)] == [
        expedited_mine, expedited_late, due_soon,
    ]


def test_next_candidates_never_offer_another_officers_task(world: World) -> None:
    theirs_expedited = world.task(due=-10, expedited=True, overdue=True, assigned=world.other)
    theirs = world.task(due=-5, overdue=True, assigned=world.other)
    free = world.task(due=20)
    found = [t.receipt_number for t in next_task_candidates(world.db, kind="review", officer_id=world.me)]
    assert found == [free]
    assert theirs_expedited not in found and theirs not in found
    for_them = [t.receipt_number for t in next_task_candidates(world.db, kind="review", officer_id=world.other)]
    assert for_them == [theirs_expedited, theirs, free]


def test_next_candidates_by_office(world: World) -> None:
    world.task(office="IOE", due=1, expedited=True)
    nyc = world.task(office="NYC", due=9)
    found = next_task_candidates(world.db, kind="review", officer_id=world.me, office="NYC")
    assert [t.receipt_number for t in found] == [nyc]
    assert next_task_candidates(world.db, kind="interview", officer_id=world.me) == []


def test_officer_names(world: World) -> None:
    assert officer_names(world.db, ids={world.me, world.other}) == {world.me: "Me Person", world.other: "Other Person"}
    assert officer_names(world.db, ids=set()) == {}


def test_form_types_come_from_the_form_catalog() -> None:
    assert FORM_TYPES == tuple(FORMS)
    assert "I-765" in FORM_TYPES
