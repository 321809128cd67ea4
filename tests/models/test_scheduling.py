"""Booking appointments: office choice, capacity, time zones, idempotency and concurrency,
on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.db import session_scope
from models.domain import Stage, StatusCode
from models.scheduling import (
    MAX_SLOTS_PER_DAY,
    NoCapacity,
    book_appointment,
    cancel_appointment,
    day_overrides,
    list_offices,
    office_address,
    set_day_capacity,
    slot_starts_at,
)
from models.tables import Appointment, AppointmentDay, Case, Office
from tests.helpers import FILED_AT, make_user

MONDAY = date(2027, 1, 4)
TUESDAY = MONDAY + timedelta(days=1)
SATURDAY = date(2027, 1, 2)
SUMMER_MONDAY = date(2027, 7, 12)
ASCS = ("AAT", "ACH", "ALA", "ANY")

_receipts = iter(range(1, 10**6))
_applicants: dict[str, int] = {}  # one applicant per database (hashing a password is slow on purpose)


def new_case(url: str, *, form_type: str = "I-765") -> str:
    receipt_number = f"IOE27003{next(_receipts):05d}"
    with session_scope(url) as session:
        if url not in _applicants:
            _applicants[url] = make_user(session, "applicant").id or 0
        session.add(
            Case(
                receipt_number=receipt_number, applicant_id=_applicants[url], form_type=form_type, office="IOE",
                stage=Stage.BIOMETRICS, status_code=StatusCode.CASE_RECEIVED, status_changed_at=FILED_AT,
                stage_entered_at=FILED_AT, filed_at=FILED_AT,
            )
        )
    return receipt_number


def book(url: str, receipt_number: str, *, key: str | None = None, kind: str = "biometrics",
         form_type: str = "I-765", zip_code: str | None = "10001", earliest: date = MONDAY,
         exclude: tuple[str, date] | None = None) -> Appointment:
    with session_scope(url) as session:
        return book_appointment(
            session, idempotency_key=key or f"{receipt_number}:{kind}:{earliest}:{zip_code}", receipt_number=receipt_number,
            kind=kind, case_form_type=form_type, zip_code=zip_code, earliest=earliest, exclude_office_day=exclude,
        )


def set_offices(url: str, **changes: dict) -> None:
    with session_scope(url) as session:
        for code, values in changes.items():
            office = session.get(Office, code)
            assert office is not None
            for name, value in values.items():
                setattr(office, name, value)
            session.add(office)


def capacity(url: str, office: str, day: date, value: int | None) -> None:
    with session_scope(url) as session:
        set_day_capacity(session, office=office, day=day, capacity=value)


def booked(url: str, office: str, day: date) -> int:
    with session_scope(url) as session:
        row = session.get(AppointmentDay, (office, day))
        return row.booked if row else 0


def appointments(url: str) -> list[Appointment]:
    with session_scope(url) as session:
        return list(session.exec(select(Appointment).order_by(Appointment.id)).all())


# --- choosing the office -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "form_type", "zip_code", "office"),
    [
        ("biometrics", "I-765", "10001", "ANY"),
        ("biometrics", "N-400", "60601", "ACH"),
        ("biometrics", "I-589", "90012", "ALA"),
        ("interview", "N-400", "30301", "ATL"),
        ("interview", "I-130", "94105", "LOS"),
        ("interview", "I-589", "90012", "ZLA"),
        ("interview", "I-589", "02134", "ZNY"),
        ("oath", "N-400", "60601", "CHI"),
    ],
)
def test_the_office_of_the_right_kind_serving_the_zip_code_is_chosen(
    database_url: str, kind: str, form_type: str, zip_code: str, office: str
) -> None:
    receipt = new_case(database_url, form_type=form_type)
    appointment = book(database_url, receipt, kind=kind, form_type=form_type, zip_code=zip_code)
    assert appointment.office == office
    assert (appointment.kind, appointment.day, appointment.slot, appointment.status) == (kind, MONDAY, 1, "scheduled")
    assert booked(database_url, office, MONDAY) == 1


def test_an_office_without_free_slots_sends_people_to_the_least_booked_other_office(database_url: str) -> None:
    # Chicago and Atlanta have bookings already; New York takes no appointments at all.
    for zip_code in ("60601", "60602", "30301"):
        book(database_url, new_case(database_url), zip_code=zip_code)
    set_offices(database_url, ANY={"daily_slots": 0})

    moved = book(database_url, new_case(database_url), zip_code="10001")
    assert moved.office == "ALA"
    # Los Angeles now has one too; Atlanta has one and comes before Chicago's two.
    assert book(database_url, new_case(database_url), zip_code="10001").office == "AAT"


def test_an_inactive_office_is_never_chosen(database_url: str) -> None:
    set_offices(database_url, ANY={"active": False})
    assert book(database_url, new_case(database_url), zip_code="10001").office != "ANY"


def test_without_a_zip_code_the_least_booked_office_is_chosen(database_url: str) -> None:
    book(database_url, new_case(database_url), zip_code="30301")
    appointment = book(database_url, new_case(database_url), zip_code=None)
    assert appointment.office == "ACH"  # AAT has one booking; ACH is the first of the empty ones


def test_a_full_day_moves_the_next_booking_to_the_next_weekday(database_url: str) -> None:
    capacity(database_url, "ANY", MONDAY, 2)
    days = [book(database_url, new_case(database_url)).day for _ in range(3)]
    assert days == [MONDAY, MONDAY, TUESDAY]
    assert booked(database_url, "ANY", MONDAY) == 2


def test_capacity_zero_closes_a_day_and_clearing_it_opens_it_again(database_url: str) -> None:
    capacity(database_url, "ANY", MONDAY, 0)
    assert book(database_url, new_case(database_url)).day == TUESDAY
    with session_scope(database_url) as session:
        assert [(row.day, row.capacity) for row in day_overrides(session, office="ANY", start=MONDAY)] == [(MONDAY, 0)]

    capacity(database_url, "ANY", MONDAY, None)
    assert book(database_url, new_case(database_url)).day == MONDAY
    with session_scope(database_url) as session:
        assert day_overrides(session, office="ANY", start=MONDAY) == []


def test_a_capacity_override_can_open_a_day_at_an_office_with_no_default_slots(database_url: str) -> None:
    set_offices(database_url, ANY={"daily_slots": 0}, AAT={"active": False}, ACH={"active": False}, ALA={"active": False})
    capacity(database_url, "ANY", MONDAY + timedelta(days=14), 3)
    appointment = book(database_url, new_case(database_url))
    assert (appointment.office, appointment.day) == ("ANY", MONDAY + timedelta(days=14))


def test_weekends_are_skipped(database_url: str) -> None:
    appointment = book(database_url, new_case(database_url), earliest=SATURDAY)
    assert appointment.day == MONDAY
    assert appointment.day.weekday() == 0


def test_the_excluded_office_day_is_not_chosen_again(database_url: str) -> None:
    receipt = new_case(database_url)
    first = book(database_url, receipt, key="first")
    again = book(database_url, receipt, key="rescheduled", exclude=(first.office, first.day))
    assert (again.office, again.day) == ("ANY", TUESDAY)
    # As a workflow payload gives it back: a list with the day as an ISO string.
    from_payload = book(database_url, receipt, key="from-payload", exclude=["ANY", MONDAY.isoformat()])  # type: ignore[arg-type]
    assert (from_payload.office, from_payload.day) == ("ANY", TUESDAY)


# --- slots and times ---------------------------------------------------------------------------


def test_slots_start_every_twenty_minutes_at_eight_local_time_stored_as_utc(database_url: str) -> None:
    new_york = [book(database_url, new_case(database_url)) for _ in range(4)]
    assert [a.slot for a in new_york] == [1, 2, 3, 4]
    assert [a.starts_at for a in new_york] == [
        datetime(2027, 1, 4, 13, 0, tzinfo=UTC),
        datetime(2027, 1, 4, 13, 20, tzinfo=UTC),
        datetime(2027, 1, 4, 13, 40, tzinfo=UTC),
        datetime(2027, 1, 4, 14, 0, tzinfo=UTC),  # 09:00 in New York: the next hour block
    ]
    assert all(a.starts_at.tzinfo is not None and a.starts_at.utcoffset() == timedelta(0) for a in new_york)

    # Los Angeles in summer (PDT, UTC-7) and Chicago in winter (CST, UTC-6).
    los_angeles = book(database_url, new_case(database_url), zip_code="90012", earliest=SUMMER_MONDAY)
    assert los_angeles.starts_at == datetime(2027, 7, 12, 15, 0, tzinfo=UTC)
    assert los_angeles.starts_at.astimezone(ZoneInfo("America/Los_Angeles")).hour == 8
    chicago = book(database_url, new_case(database_url), zip_code="60601")
    assert chicago.starts_at == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)


def test_a_day_holds_at_most_27_slots_the_last_at_16_40(database_url: str) -> None:
    capacity(database_url, "ANY", MONDAY, 60)
    made = [book(database_url, new_case(database_url)) for _ in range(MAX_SLOTS_PER_DAY + 1)]
    monday = [a for a in made if a.day == MONDAY]
    assert MAX_SLOTS_PER_DAY == 27
    assert [a.slot for a in monday] == list(range(1, 28))
    last = monday[-1].starts_at.astimezone(ZoneInfo("America/New_York"))
    assert (last.hour, last.minute) == (16, 40)
    assert (made[-1].day, made[-1].slot) == (TUESDAY, 1)


def test_slot_start_time_zone_follows_the_office_state() -> None:
    assert slot_starts_at(day=MONDAY, slot=1, state="NY") == datetime(2027, 1, 4, 13, 0, tzinfo=UTC)
    assert slot_starts_at(day=MONDAY, slot=1, state="TX") == datetime(2027, 1, 4, 14, 0, tzinfo=UTC)
    assert slot_starts_at(day=MONDAY, slot=1, state="CO") == datetime(2027, 1, 4, 15, 0, tzinfo=UTC)
    assert slot_starts_at(day=MONDAY, slot=1, state="WA") == datetime(2027, 1, 4, 16, 0, tzinfo=UTC)
    assert slot_starts_at(day=SUMMER_MONDAY, slot=1, state="GA") == datetime(2027, 7, 12, 12, 0, tzinfo=UTC)
    assert slot_starts_at(day=SUMMER_MONDAY, slot=27, state="MN") == datetime(2027, 7, 12, 21, 40, tzinfo=UTC)
    with pytest.raises(ValueError):
        slot_starts_at(day=MONDAY, slot=28, state="NY")


# --- idempotency, concurrency, running out ------------------------------------------------------


def test_booking_again_with_the_same_key_returns_the_same_appointment(database_url: str) -> None:
    receipt = new_case(database_url)
    first = book(database_url, receipt, key="case:biometrics:1")
    again = book(database_url, receipt, key="case:biometrics:1", zip_code="90012", earliest=TUESDAY)
    assert again.id == first.id
    assert (again.office, again.day, again.slot) == ("ANY", MONDAY, 1)
    assert booked(database_url, "ANY", MONDAY) == 1
    assert len(appointments(database_url)) == 1


def test_concurrent_bookers_never_overbook_a_day(database_url: str) -> None:
    # Only one office with one open day of 5 slots: 5 people get one, the other 3 get NoCapacity.
    set_offices(database_url, ANY={"daily_slots": 0}, AAT={"active": False}, ACH={"active": False}, ALA={"active": False})
    capacity(database_url, "ANY", MONDAY, 5)
    receipts = [new_case(database_url) for _ in range(8)]
    barrier = threading.Barrier(len(receipts))

    def attempt(receipt: str) -> int | str:
        barrier.wait(timeout=30)
        try:
            return book(database_url, receipt).slot
        except NoCapacity as exc:
            return exc.kind

    with ThreadPoolExecutor(max_workers=len(receipts)) as pool:
        results = list(pool.map(attempt, receipts))

    assert sorted(r for r in results if isinstance(r, int)) == [1, 2, 3, 4, 5]
    assert [r for r in results if isinstance(r, str)] == ["biometrics"] * 3
    assert booked(database_url, "ANY", MONDAY) == 5
    assert len(appointments(database_url)) == 5


def test_concurrent_bookers_fill_a_day_then_the_next(database_url: str) -> None:
    capacity(database_url, "ANY", MONDAY, 5)
    receipts = [new_case(database_url) for _ in range(8)]
    barrier = threading.Barrier(len(receipts))

    def attempt(receipt: str) -> tuple[date, int]:
        barrier.wait(timeout=30)
        appointment = book(database_url, receipt)
        return appointment.day, appointment.slot

    with ThreadPoolExecutor(max_workers=len(receipts)) as pool:
        results = sorted(pool.map(attempt, receipts))

    assert results == [(MONDAY, n) for n in range(1, 6)] + [(TUESDAY, n) for n in range(1, 4)]
    assert (booked(database_url, "ANY", MONDAY), booked(database_url, "ANY", TUESDAY)) == (5, 3)


def test_concurrent_retries_with_one_key_book_one_slot(database_url: str) -> None:
    receipt = new_case(database_url)
    barrier = threading.Barrier(4)

    def attempt(_: int) -> int:
        barrier.wait(timeout=30)
        return book(database_url, receipt, key="same-key").id or 0

    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = set(pool.map(attempt, range(4)))

    assert len(ids) == 1
    assert len(appointments(database_url)) == 1
    assert booked(database_url, "ANY", MONDAY) == 1


def test_no_free_slot_anywhere_raises_no_capacity(database_url: str) -> None:
    set_offices(database_url, ZNY={"active": False}, ZLA={"daily_slots": 0})
    receipt = new_case(database_url, form_type="I-589")
    with pytest.raises(NoCapacity) as raised:
        book(database_url, receipt, kind="interview", form_type="I-589")
    assert raised.value.kind == "interview"
    assert appointments(database_url) == []


def test_a_closed_window_raises_no_capacity(database_url: str) -> None:
    set_offices(database_url, ANY={"daily_slots": 1}, AAT={"active": False}, ACH={"active": False}, ALA={"active": False})
    # Every weekday of the 120-day window is closed but the last one: it is still found.
    day = MONDAY
    while day <= MONDAY + timedelta(days=119):
        if day.weekday() < 5:
            capacity(database_url, "ANY", day, 0)
        day += timedelta(days=1)
    last = MONDAY + timedelta(days=120)
    assert last.weekday() < 5
    assert book(database_url, new_case(database_url)).day == last
    with pytest.raises(NoCapacity):
        book(database_url, new_case(database_url))


def test_an_unknown_kind_is_refused(database_url: str) -> None:
    with pytest.raises(ValueError):
        book(database_url, new_case(database_url), kind="party")


# --- outcomes ----------------------------------------------------------------------------------


def test_cancelling_frees_the_slot_once(database_url: str) -> None:
    first = book(database_url, new_case(database_url))
    second = book(database_url, new_case(database_url))
    assert booked(database_url, "ANY", MONDAY) == 2
    for _ in range(2):
        with session_scope(database_url) as session:
            cancelled = cancel_appointment(session, appointment_id=first.id or 0, status="cancelled")
        assert cancelled.status == "cancelled"
        assert booked(database_url, "ANY", MONDAY) == 1

    # The freed slot is given out again; the second appointment keeps its own.
    third = book(database_url, new_case(database_url))
    assert (third.day, third.slot, third.starts_at) == (MONDAY, 1, first.starts_at)
    assert second.slot == 2
    assert booked(database_url, "ANY", MONDAY) == 2


def test_attended_and_missed_keep_the_slot(database_url: str) -> None:
    one = book(database_url, new_case(database_url))
    two = book(database_url, new_case(database_url))
    with session_scope(database_url) as session:
        assert cancel_appointment(session, appointment_id=one.id or 0, status="attended").status == "attended"
        assert cancel_appointment(session, appointment_id=two.id or 0, status="missed").status == "missed"
        assert cancel_appointment(session, appointment_id=two.id or 0, status="missed").status == "missed"
    assert booked(database_url, "ANY", MONDAY) == 2
    with session_scope(database_url) as session, pytest.raises(ValueError):
        cancel_appointment(session, appointment_id=one.id or 0, status="postponed")


def test_a_cancelled_appointment_stays_cancelled(database_url: str) -> None:
    appointment = book(database_url, new_case(database_url))
    with session_scope(database_url) as session:
        cancel_appointment(session, appointment_id=appointment.id or 0, status="cancelled")
    # Its slot went to someone else; a late outcome for it changes nothing.
    taker = book(database_url, new_case(database_url))
    assert (taker.day, taker.slot) == (MONDAY, 1)
    with session_scope(database_url) as session:
        assert cancel_appointment(session, appointment_id=appointment.id or 0, status="attended").status == "cancelled"
    assert booked(database_url, "ANY", MONDAY) == 1


def test_cancelling_an_unknown_appointment_is_a_lookup_error(database_url: str) -> None:
    with session_scope(database_url) as session, pytest.raises(LookupError):
        cancel_appointment(session, appointment_id=999, status="cancelled")


# --- offices -------------------------------------------------------------------------------------


def test_list_offices_and_address(database_url: str) -> None:
    with session_scope(database_url) as session:
        assert len(list_offices(session)) == 12
        assert [o.code for o in list_offices(session, kind="asc")] == list(ASCS)
        assert office_address(session, "NYC") == "New York City Field Office, 26 Federal Plaza, New York, NY"
        with pytest.raises(LookupError):
            office_address(session, "QQQ")  # no office has this code
