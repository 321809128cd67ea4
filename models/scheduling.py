"""Appointments at offices: choosing the office, taking a slot atomically, cancelling, and the
capacity admins set. Plain synchronous service functions on a SQLModel session; the caller's
transaction is the unit of work (activities wrap them in ``session_scope``).

A day's slots are counted in ``appointment_day.booked``. Taking one is safe under concurrent
callers on both databases: the row is created if missing with a conflict-free insert (on SQLite
that first write also takes the database's write lock for the rest of the transaction), then read
``FOR UPDATE`` on PostgreSQL and incremented only while it is below the day's capacity.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from i18n import N_
from models.tables import Appointment, AppointmentDay, Office

APPOINTMENT_KINDS = ("biometrics", "interview", "oath")
APPOINTMENT_OUTCOMES = ("attended", "missed", "cancelled")

OFFICE_KINDS: dict[str, str] = {
    "service_center": N_("Service center"),
    "field_office": N_("Field office"),
    "asc": N_("Application support center"),
    "asylum_office": N_("Asylum office"),
}

# How far ahead a booking looks for a free weekday.
SEARCH_WINDOW_DAYS = 120
# Appointments every 20 minutes from 08:00; the last one starts at 16:40, so a day holds 27.
FIRST_SLOT_MINUTES = 8 * 60
SLOT_MINUTES = 20
LAST_SLOT_MINUTES = 16 * 60 + 40
MAX_SLOTS_PER_DAY = (LAST_SLOT_MINUTES - FIRST_SLOT_MINUTES) // SLOT_MINUTES + 1

_ZONES: dict[str, str] = {
    **dict.fromkeys(("CA", "WA", "OR", "NV"), "America/Los_Angeles"),
    **dict.fromkeys(("IL", "TX", "MO", "MN"), "America/Chicago"),
    "CO": "America/Denver",
    # Arizona keeps standard time all year; Denver's clock would be an hour off each summer.
    "AZ": "America/Phoenix",
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "MP": "Pacific/Saipan",
}
DEFAULT_TIME_ZONE = "America/New_York"


class NoCapacity(Exception):
    """No office of the kind an appointment needs has a free slot within the search window."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind

    def __str__(self) -> str:
        return f"no free {self.kind} appointment within {SEARCH_WINDOW_DAYS} days at any active office"


class AppointmentNotFound(LookupError):
    pass


class OfficeNotFound(LookupError):
    pass


# --- pure helpers -----------------------------------------------------------------------------


def office_kind_for(*, kind: str, case_form_type: str) -> str:
    """Which kind of office holds an appointment of this kind for this form."""
    if kind == "biometrics":
        return "asc"
    if kind == "interview":
        return "asylum_office" if case_form_type == "I-589" else "field_office"
    if kind == "oath":
        return "field_office"
    raise ValueError(f"unknown appointment kind {kind!r}")


def office_time_zone(state: str) -> ZoneInfo:
    return ZoneInfo(_ZONES.get((state or "").strip().upper(), DEFAULT_TIME_ZONE))


def day_capacity(*, capacity: int | None, daily_slots: int) -> int:
    """Slots a day can hold: its own capacity when set, else the office's, never more than fit."""
    chosen = daily_slots if capacity is None else capacity
    return max(0, min(chosen, MAX_SLOTS_PER_DAY))


def slot_starts_at(*, day: date, slot: int, state: str) -> datetime:
    """The start of a slot (1-based) in the office's local time, as a UTC datetime."""
    if not 1 <= slot <= MAX_SLOTS_PER_DAY:
        raise ValueError(f"slot {slot} is outside 1..{MAX_SLOTS_PER_DAY}")
    minutes = FIRST_SLOT_MINUTES + SLOT_MINUTES * (slot - 1)
    local = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=office_time_zone(state))
    return local.astimezone(UTC)


def zip_digit(zip_code: str | None) -> str | None:
    first = (zip_code or "").strip()[:1]
    return first if first.isdigit() else None


def serves_zip(office: Office, zip_code: str | None) -> bool:
    digit = zip_digit(zip_code)
    return digit is not None and digit in office.zip_prefixes.split()


# --- offices -----------------------------------------------------------------------------------


def list_offices(session: Session, *, kind: str | None = None) -> list[Office]:
    """Every office (active or not), by code; only those of one kind when given."""
    query = select(Office).order_by(col(Office.code))
    if kind is not None:
        query = query.where(Office.kind == kind)
    return list(session.exec(query).all())


def office_address(session: Session, code: str) -> str:
    """The office's name and street address on one line, as notices print it."""
    office = session.get(Office, code)
    if office is None:
        raise OfficeNotFound(code)
    return ", ".join(part for part in (office.name, office.street, office.city, office.state) if part)


def booked_by_office(session: Session, *, start: date, days: int) -> dict[str, int]:
    """Slots booked per office on the days start .. start + days - 1."""
    rows = session.exec(
        select(AppointmentDay.office, func.sum(AppointmentDay.booked))
        .where(AppointmentDay.day >= start, AppointmentDay.day < start + timedelta(days=days))
        .group_by(AppointmentDay.office)
    ).all()
    return {office: int(total or 0) for office, total in rows}


def day_overrides(session: Session, *, office: str, start: date, limit: int = 30) -> list[AppointmentDay]:
    """The days from ``start`` on whose capacity differs from the office's default, soonest first."""
    return list(
        session.exec(
            select(AppointmentDay)
            .where(AppointmentDay.office == office, AppointmentDay.day >= start, col(AppointmentDay.capacity).is_not(None))
            .order_by(col(AppointmentDay.day))
            .limit(limit)
        ).all()
    )


def set_day_capacity(session: Session, *, office: str, day: date, capacity: int | None) -> None:
    """Set one day's capacity (0 closes the day), or ``None`` to go back to the office's default.

    Appointments booked already are kept; the new capacity only limits further bookings."""
    if capacity is not None and capacity < 0:
        raise ValueError("capacity cannot be negative")
    if session.get(Office, office) is None:
        raise OfficeNotFound(office)
    table = AppointmentDay.__table__
    if capacity is not None:
        _ensure_day(session, office=office, day=day)
    session.execute(
        sa.update(table).where(table.c.office == office, table.c.day == day).values(capacity=capacity)
    )


# --- booking -----------------------------------------------------------------------------------


def _insert(session: Session):
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _ensure_day(session: Session, *, office: str, day: date) -> None:
    """Create the day's counter row if it is missing; a row made meanwhile by another caller wins."""
    table = AppointmentDay.__table__
    insert = _insert(session)
    session.execute(insert(table).values(office=office, day=day, capacity=None, booked=0).on_conflict_do_nothing())


def _weekdays(start: date, *, days: int = SEARCH_WINDOW_DAYS) -> list[date]:
    every = (start + timedelta(days=offset) for offset in range(days + 1))
    return [day for day in every if day.weekday() < 5]


def _ordered_candidates(
    session: Session, *, office_kind: str, zip_code: str | None, start: date, end: date
) -> list[Office]:
    """Active offices of the kind: those serving the ZIP code first, then the least booked."""
    offices = session.exec(select(Office).where(Office.kind == office_kind, col(Office.active).is_(True))).all()
    booked = booked_by_office(session, start=start, days=(end - start).days + 1)
    return sorted(offices, key=lambda o: (not serves_zip(o, zip_code), booked.get(o.code, 0), o.code))


def _free_slot(session: Session, *, office: str, day: date, capacity: int, booked: int) -> int | None:
    """The slot after the last one booked, or the first one a cancellation left free.

    Called with the day's row locked, so the appointments read here are all there are."""
    slot = booked + 1
    taken = set(
        session.exec(
            select(Appointment.slot).where(
                Appointment.office == office, Appointment.day == day, Appointment.status != "cancelled"
            )
        ).all()
    )
    if slot not in taken and slot <= capacity:
        return slot
    return next((n for n in range(1, capacity + 1) if n not in taken), None)


def _try_book(
    session: Session, *, office: Office, day: date, idempotency_key: str, receipt_number: str, kind: str
) -> Appointment | None:
    """Take the next slot of one office day and record the appointment, or None when it is full."""
    table = AppointmentDay.__table__
    # The first write of the transaction: on SQLite it takes the write lock until commit.
    _ensure_day(session, office=office.code, day=day)
    savepoint = session.begin_nested()
    try:
        row = session.execute(
            sa.select(table.c.capacity, table.c.booked)
            .where(table.c.office == office.code, table.c.day == day)
            .with_for_update()
        ).one()
        capacity = day_capacity(capacity=row.capacity, daily_slots=office.daily_slots)
        if row.booked >= capacity:
            # Rolling back to the savepoint lets go of the row lock (PostgreSQL), so two bookers
            # that walk the offices in a different order never wait for each other.
            savepoint.rollback()
            return None
        slot = _free_slot(session, office=office.code, day=day, capacity=capacity, booked=row.booked)
        if slot is None:
            savepoint.rollback()
            return None
        session.execute(
            sa.update(table)
            .where(table.c.office == office.code, table.c.day == day)
            .values(booked=table.c.booked + 1)
        )
        appointment = Appointment(
            idempotency_key=idempotency_key,
            receipt_number=receipt_number,
            kind=kind,
            office=office.code,
            day=day,
            slot=slot,
            starts_at=slot_starts_at(day=day, slot=slot, state=office.state),
            status="scheduled",
        )
        session.add(appointment)
        session.flush()
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
    return appointment


def _by_key(session: Session, idempotency_key: str) -> Appointment | None:
    return session.exec(select(Appointment).where(Appointment.idempotency_key == idempotency_key)).first()


def book_appointment(
    session: Session,
    *,
    idempotency_key: str,
    receipt_number: str,
    kind: str,
    case_form_type: str,
    zip_code: str | None,
    earliest: date,
    exclude_office_day: tuple[str, date] | None = None,
) -> Appointment:
    """Book the first free weekday slot from ``earliest`` on, at the office serving the ZIP code
    or else at the least booked other office of the right kind.

    The same ``idempotency_key`` always gives the same appointment and books one slot only.
    ``exclude_office_day`` (office code, day) is never chosen: a rescheduled appointment moves.
    Raises ``NoCapacity`` when no active office has a slot within ``SEARCH_WINDOW_DAYS``."""
    existing = _by_key(session, idempotency_key)
    if existing is not None:
        return existing
    office_kind = office_kind_for(kind=kind, case_form_type=case_form_type)
    excluded = None
    if exclude_office_day is not None:
        code, day = exclude_office_day  # a payload may carry the day as an ISO string
        excluded = (code, date.fromisoformat(day) if isinstance(day, str) else day)
    end = earliest + timedelta(days=SEARCH_WINDOW_DAYS)
    days = _weekdays(earliest)
    table = AppointmentDay.__table__
    for office in _ordered_candidates(session, office_kind=office_kind, zip_code=zip_code, start=earliest, end=end):
        seen = {
            row.day: row
            for row in session.execute(
                sa.select(table.c.day, table.c.capacity, table.c.booked).where(
                    table.c.office == office.code, table.c.day >= earliest, table.c.day <= end
                )
            )
        }
        for day in days:
            if (office.code, day) == excluded:
                continue
            row = seen.get(day)
            capacity = day_capacity(capacity=row.capacity if row else None, daily_slots=office.daily_slots)
            if (row.booked if row else 0) >= capacity:
                continue
            try:
                appointment = _try_book(
                    session, office=office, day=day, idempotency_key=idempotency_key,
                    receipt_number=receipt_number, kind=kind,
                )
            except IntegrityError:
                # Another caller booked with the same key meanwhile: theirs is the appointment.
                existing = _by_key(session, idempotency_key)
                if existing is not None:
                    return existing
                raise
            if appointment is not None:
                return appointment
    raise NoCapacity(kind)


def moved_from(session: Session, *, receipt_number: str, kind: str) -> tuple[str, date] | None:
    """The office and day of the case's last cancelled or missed appointment of this kind, for
    ``exclude_office_day``: a new appointment never lands on the day the case moved away from."""
    previous = session.exec(
        select(Appointment)
        .where(
            Appointment.receipt_number == receipt_number,
            Appointment.kind == kind,
            col(Appointment.status).in_(["cancelled", "missed"]),
        )
        .order_by(col(Appointment.id).desc())
    ).first()
    return (previous.office, previous.day) if previous else None


def cancel_appointment(session: Session, *, appointment_id: int, status: str) -> Appointment:
    """Record what became of an appointment: attended, missed or cancelled.

    Cancelling frees its slot. Repeating a call changes nothing. A cancelled appointment stays
    cancelled: its slot may be someone else's already, so a later outcome for it is ignored."""
    if status not in APPOINTMENT_OUTCOMES:
        raise ValueError(f"unknown appointment status {status!r}")
    appointment = session.get(Appointment, appointment_id, populate_existing=True)
    if appointment is None:
        raise AppointmentNotFound(appointment_id)
    if appointment.status in (status, "cancelled"):
        return appointment
    table = Appointment.__table__
    # A conditional update, so that two callers cancelling at once free the slot once.
    changed = session.execute(
        sa.update(table)
        .where(table.c.id == appointment_id, table.c.status != "cancelled", table.c.status != status)
        .values(status=status)
    ).rowcount
    if changed and status == "cancelled":
        days = AppointmentDay.__table__
        session.execute(
            sa.update(days)
            .where(days.c.office == appointment.office, days.c.day == appointment.day, days.c.booked > 0)
            .values(booked=days.c.booked - 1)
        )
    session.refresh(appointment)
    return appointment


__all__ = [
    "APPOINTMENT_KINDS", "APPOINTMENT_OUTCOMES", "MAX_SLOTS_PER_DAY", "OFFICE_KINDS", "SEARCH_WINDOW_DAYS",
    "AppointmentNotFound", "NoCapacity", "OfficeNotFound", "book_appointment", "booked_by_office",
    "cancel_appointment", "day_capacity", "day_overrides", "list_offices", "office_address", "office_kind_for",
    "office_time_zone", "serves_zip", "set_day_capacity", "slot_starts_at",
]
