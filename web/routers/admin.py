"""Administration: offices and their appointment capacity.

Admins only, signed in with two-step verification. Every change is written to the append-only
audit log in the same transaction as the change itself."""

from __future__ import annotations

import json
import re
import uuid
from datetime import date, datetime, timedelta

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.exc import IntegrityError

from i18n import N_
from models.account_security import audit
from models.receipts import AGENCY_TIME_ZONE
from models.scheduling import (
    MAX_SLOTS_PER_DAY,
    OFFICE_KINDS,
    booked_by_office,
    day_capacity,
    day_overrides,
    list_offices,
    set_day_capacity,
)
from models.tables import AppointmentDay, Office
from web.deps import AdminUser, SessionDep
from web.templating import render

router = APIRouter(prefix="/admin")

CODE_RE = re.compile(r"^[A-Z]{3}$")
MAX_DAILY_SLOTS = 200
BOOKED_WINDOW_DAYS = 14
OVERRIDE_HORIZON_DAYS = 2 * 366

# Postal codes of the states, the District of Columbia and the territories.
STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI".split()
)

OFFICE_LABELS: dict[str, str] = {
    "code": N_("Office code"),
    "name": N_("Name"),
    "kind": N_("Kind of office"),
    "street": N_("Street address"),
    "city": N_("City"),
    "state": N_("State"),
    "zip_prefixes": N_("ZIP codes served"),
    "daily_slots": N_("Appointments each weekday"),
    "active": N_("Open"),
}
DAY_LABELS: dict[str, str] = {
    "day": N_("Date"),
    "capacity": N_("Appointments that day"),
}
TEXT_LIMITS = {"name": 120, "street": 120, "city": 80}
LENGTH_MESSAGES = {80: N_("Use 80 characters or fewer"), 120: N_("Use 120 characters or fewer")}
FIELDS = ("code", "name", "kind", "street", "city", "state", "zip_prefixes", "daily_slots", "active")


def _today() -> date:
    return datetime.now(AGENCY_TIME_ZONE).date()


async def _form(request: Request) -> dict[str, str]:
    """The submitted text fields (a file or a missing field reads as empty)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _office_or_404(db, code: str) -> Office:
    office = db.get(Office, code) if CODE_RE.match(code) else None
    if office is None:
        raise HTTPException(status_code=404)
    return office


def _office_values(office: Office) -> dict[str, str]:
    return {
        "code": office.code, "name": office.name, "kind": office.kind, "street": office.street, "city": office.city,
        "state": office.state, "zip_prefixes": office.zip_prefixes, "daily_slots": str(office.daily_slots),
        "active": "yes" if office.active else "",
    }


def _validate_office(db, submitted: dict[str, str], *, creating: bool) -> tuple[dict[str, str], dict, dict[str, str]]:
    """(values to show again, cleaned values, errors by field)."""
    values = {name: submitted.get(name, "").strip() for name in FIELDS}
    errors: dict[str, str] = {}
    clean: dict[str, object] = {}

    if creating:
        code = values["code"].upper()
        values["code"] = code
        if not CODE_RE.match(code):
            errors["code"] = N_("Enter a code of 3 capital letters, like NYC")
        elif db.get(Office, code) is not None:
            errors["code"] = N_("An office with this code exists already")
        clean["code"] = code

    if not values["name"]:
        errors["name"] = N_("Enter the name of the office")
    if values["kind"] not in OFFICE_KINDS:
        errors["kind"] = N_("Choose the kind of office")
    if not values["street"]:
        errors["street"] = N_("Enter the street address")
    if not values["city"]:
        errors["city"] = N_("Enter the city")
    for name, limit in TEXT_LIMITS.items():
        if len(values[name]) > limit:
            errors[name] = LENGTH_MESSAGES[limit]
        elif any(not character.isprintable() for character in values[name]):
            errors[name] = N_("Use letters, numbers, spaces and punctuation only")
    state = values["state"].upper()
    values["state"] = state
    if state not in STATES:
        errors["state"] = N_("Enter the 2-letter postal code of a state, like NY")

    digits = values["zip_prefixes"].replace(",", " ").split()
    if all(len(d) == 1 and d in "0123456789" for d in digits):
        values["zip_prefixes"] = " ".join(sorted(set(digits)))
    else:
        errors["zip_prefixes"] = N_("Enter single digits from 0 to 9 separated by spaces, like 0 1 2")

    slots = _whole_number(values["daily_slots"])
    if slots is None or not 0 <= slots <= MAX_DAILY_SLOTS:
        errors["daily_slots"] = N_("Enter a whole number from 0 to 200")

    values["active"] = "yes" if values["active"] else ""
    clean.update(
        name=values["name"], kind=values["kind"], street=values["street"], city=values["city"], state=state,
        zip_prefixes=values["zip_prefixes"], daily_slots=slots, active=bool(values["active"]),
    )
    return values, clean, errors


def _whole_number(text: str) -> int | None:
    text = text.strip()
    if not text or len(text) > 6 or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _parse_day(text: str) -> date | None:
    """A date typed as 12/24/2026 (the USWDS date picker) or 2026-12-24."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
        match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
        if match:
            month, day, year = (int(part) for part in match.groups())
            return date(year, month, day)
    except ValueError:
        return None
    return None


def _audit(db, admin, *, action: str, detail: dict) -> None:
    audit(db, key=f"admin:{uuid.uuid4().hex}", actor_id=admin.id, action=action,
          detail=json.dumps(detail, ensure_ascii=False, default=str)[:2000])


# --- pages ---------------------------------------------------------------------------------------


@router.get("")
def admin_home(admin: AdminUser) -> Response:
    return RedirectResponse("/admin/offices", status_code=303)


@router.get("/offices")
def offices_page(request: Request, admin: AdminUser, db: SessionDep) -> Response:
    today = _today()
    return render(request, "admin/offices.html", {
        "offices": list_offices(db),
        "booked": booked_by_office(db, start=today, days=BOOKED_WINDOW_DAYS),
        "kinds": OFFICE_KINDS,
        "window_days": BOOKED_WINDOW_DAYS,
    })


def _new_office_page(request: Request, *, values: dict[str, str], errors: dict[str, str], status_code: int = 200) -> Response:
    return render(request, "admin/office_new.html", {
        "values": values, "errors": errors, "labels": OFFICE_LABELS, "kinds": OFFICE_KINDS,
        "max_slots_per_day": MAX_SLOTS_PER_DAY,
    }, status_code=status_code)


@router.get("/offices/new")
def new_office_page(request: Request, admin: AdminUser) -> Response:
    return _new_office_page(request, values={"active": "yes", "daily_slots": "0"}, errors={})


@router.post("/offices/new")
async def create_office(request: Request, admin: AdminUser, db: SessionDep) -> Response:
    values, clean, errors = _validate_office(db, await _form(request), creating=True)
    if errors:
        return _new_office_page(request, values=values, errors=errors, status_code=422)
    office = Office(**clean)
    db.add(office)
    _audit(db, admin, action="office_created", detail={"office": office.code, **{k: v for k, v in clean.items() if k != "code"}})
    try:
        db.commit()
    except IntegrityError:  # created at the same moment by someone else
        db.rollback()
        errors = {"code": N_("An office with this code exists already")}
        return _new_office_page(request, values=values, errors=errors, status_code=422)
    return RedirectResponse(f"/admin/offices/{office.code}?saved=created", status_code=303)


def _office_page(
    request: Request, db, office: Office, *, values: dict[str, str] | None = None, day_values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None, status_code: int = 200,
) -> Response:
    today = _today()
    return render(request, "admin/office.html", {
        "office": office,
        "values": values or _office_values(office),
        "day_values": day_values or {},
        "errors": errors or {},
        "labels": {**OFFICE_LABELS, **DAY_LABELS},
        "kinds": OFFICE_KINDS,
        "overrides": day_overrides(db, office=office.code, start=today),
        "usual_slots": day_capacity(capacity=None, daily_slots=office.daily_slots),
        "booked": booked_by_office(db, start=today, days=BOOKED_WINDOW_DAYS).get(office.code, 0),
        "window_days": BOOKED_WINDOW_DAYS,
        "max_slots_per_day": MAX_SLOTS_PER_DAY,
        "saved": request.query_params.get("saved", ""),
    }, status_code=status_code)


@router.get("/offices/{code}")
def office_page(request: Request, code: str, admin: AdminUser, db: SessionDep) -> Response:
    return _office_page(request, db, _office_or_404(db, code))


@router.post("/offices/{code}")
async def update_office(request: Request, code: str, admin: AdminUser, db: SessionDep) -> Response:
    office = _office_or_404(db, code)
    values, clean, errors = _validate_office(db, await _form(request), creating=False)
    values["code"] = office.code
    if errors:
        return _office_page(request, db, office, values=values, errors=errors, status_code=422)
    changes = {
        name: [getattr(office, name), value] for name, value in clean.items() if getattr(office, name) != value
    }
    if changes:
        for name, (_, value) in changes.items():
            setattr(office, name, value)
        db.add(office)
        _audit(db, admin, action="office_updated", detail={"office": office.code, "changes": changes})
        db.commit()
    return RedirectResponse(f"/admin/offices/{office.code}?saved=office", status_code=303)


@router.post("/offices/{code}/days")
async def set_day(request: Request, code: str, admin: AdminUser, db: SessionDep) -> Response:
    office = _office_or_404(db, code)
    submitted = await _form(request)
    day_values = {"day": submitted.get("day", "").strip()[:40], "capacity": submitted.get("capacity", "").strip()[:40]}
    errors: dict[str, str] = {}
    today = _today()
    day = _parse_day(day_values["day"])
    if day is None:
        errors["day"] = N_("Enter a real date, like 12/24/2026")
    elif day < today:
        errors["day"] = N_("Choose today or a later date")
    elif day > today + timedelta(days=OVERRIDE_HORIZON_DAYS):
        errors["day"] = N_("Choose a date within the next 2 years")
    elif day.weekday() >= 5:
        errors["day"] = N_("Appointments are held on weekdays only. Choose a weekday.")
    capacity: int | None = None
    if day_values["capacity"]:
        capacity = _whole_number(day_values["capacity"])
        if capacity is None or not 0 <= capacity <= MAX_DAILY_SLOTS:
            errors["capacity"] = N_("Enter a whole number from 0 to 200, or leave it empty")
    if errors or day is None:
        return _office_page(request, db, office, day_values=day_values, errors=errors, status_code=422)
    before = db.get(AppointmentDay, (office.code, day))
    previous = before.capacity if before is not None else None
    set_day_capacity(db, office=office.code, day=day, capacity=capacity)
    if previous != capacity:
        _audit(db, admin, action="office_day_capacity",
               detail={"office": office.code, "day": day.isoformat(), "capacity": [previous, capacity]})
    db.commit()
    return RedirectResponse(f"/admin/offices/{office.code}?saved=day", status_code=303)
