"""Admin pages: offices and their appointment capacity; admins only, every change audited."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta

import pytest
from sqlmodel import select

from cli import DEMO_ACCOUNTS, DEMO_ADMIN
from models.db import session_scope
from models.receipts import AGENCY_TIME_ZONE
from models.tables import AppointmentDay, AuditEvent, Office, User
from tests.web.conftest import csrf, sign_in

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS

NEW_OFFICE = {
    "code": "SEA",
    "name": "Seattle Field Office",
    "kind": "field_office",
    "street": "12500 Tukwila International Boulevard",
    "city": "Seattle",
    "state": "WA",
    "zip_prefixes": "9 8",
    "daily_slots": "30",
    "active": "yes",
}


def sign_in_admin(client) -> None:
    sign_in(client, DEMO_ADMIN.email, DEMO_ADMIN.password, totp_secret=DEMO_ADMIN.totp_secret)


def weekday_ahead(days: int) -> date:
    day = datetime.now(AGENCY_TIME_ZONE).date() + timedelta(days=days)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def audit_events(settings, action: str) -> list[AuditEvent]:
    with session_scope(settings.database_url) as db:
        return list(db.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all())


def admin_id(settings) -> int:
    with session_scope(settings.database_url) as db:
        return db.exec(select(User.id).where(User.email == DEMO_ADMIN.email)).one()


def office(settings, code: str) -> Office | None:
    with session_scope(settings.database_url) as db:
        return db.get(Office, code)


# --- who may come in -----------------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get("/admin/offices")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/sign-in?next=%2Fadmin%2Foffices")


@pytest.mark.parametrize("account", [APPLICANT, OFFICER, SUPERVISOR], ids=lambda a: a.role)
def test_people_who_are_not_admins_are_refused(client, settings, account):
    sign_in(client, account.email, account.password)
    for path in ("/admin/offices", "/admin/offices/new", "/admin/offices/NYC"):
        assert client.get(path).status_code == 403
    token = csrf(client, "/account/security")
    assert client.post("/admin/offices/new", data={**NEW_OFFICE, "csrf_token": token}).status_code == 403
    assert client.post("/admin/offices/NYC", data={**NEW_OFFICE, "csrf_token": token}).status_code == 403
    day = weekday_ahead(14).isoformat()
    assert client.post("/admin/offices/NYC/days", data={"day": day, "capacity": "0", "csrf_token": token}).status_code == 403
    assert office(settings, "SEA") is None
    assert 'href="/admin/offices"' not in client.get("/account/security").text


def test_an_admin_must_finish_two_step_verification(client):
    token = csrf(client, "/sign-in")
    response = client.post("/sign-in", data={"csrf_token": token, "email": DEMO_ADMIN.email, "password": DEMO_ADMIN.password})
    assert response.headers["location"].startswith("/sign-in/two-factor")
    page = client.get("/admin/offices")
    assert page.status_code == 303
    assert page.headers["location"].startswith("/sign-in/two-factor")


def test_the_admin_sees_every_office_and_the_nav_link(client):
    sign_in_admin(client)
    page = client.get("/admin/offices")
    assert page.status_code == 200
    assert 'href="/admin/offices"' in page.text  # the header link
    for code in ("IOE", "NBC", "NYC", "ATL", "CHI", "LOS", "ANY", "AAT", "ACH", "ALA", "ZNY", "ZLA"):
        assert f'href="/admin/offices/{code}"' in page.text
    assert "Application support center" in page.text
    assert "Booked in the next 14 days" in page.text
    assert client.get("/admin").headers["location"] == "/admin/offices"


# --- creating and editing offices ----------------------------------------------------------------


def test_the_admin_creates_an_office(client, settings):
    sign_in_admin(client)
    form = client.get("/admin/offices/new")
    assert form.status_code == 200
    assert '<label class="usa-label" for="code">' in form.text
    response = client.post("/admin/offices/new", data={**NEW_OFFICE, "code": "sea", "csrf_token": csrf(client, "/admin/offices/new")})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/offices/SEA?saved=created"

    created = office(settings, "SEA")
    assert created is not None
    assert (created.name, created.kind, created.city, created.state) == ("Seattle Field Office", "field_office", "Seattle", "WA")
    assert (created.zip_prefixes, created.daily_slots, created.active) == ("8 9", 30, True)
    page = client.get(response.headers["location"])
    assert "The office was added." in page.text and "Seattle Field Office" in page.text
    assert 'href="/admin/offices/SEA"' in client.get("/admin/offices").text

    [event] = audit_events(settings, "office_created")
    assert event.actor_id == admin_id(settings)
    assert json.loads(event.detail)["office"] == "SEA"


def test_invalid_office_details_are_shown_again_with_messages(client, settings):
    sign_in_admin(client)
    bad = {
        "code": "S3A", "name": " ", "kind": "palace", "street": "", "city": "x" * 81, "state": "ZZ",
        "zip_prefixes": "9, 10", "daily_slots": "201", "active": "yes",
    }
    response = client.post("/admin/offices/new", data={**bad, "csrf_token": csrf(client, "/admin/offices/new")})
    assert response.status_code == 422
    text = response.text
    assert "There is a problem" in text
    assert "<title>Error: Add an office" in text
    for message in (
        "Enter a code of 3 capital letters, like NYC",
        "Enter the name of the office",
        "Choose the kind of office",
        "Enter the street address",
        "Use 80 characters or fewer",
        "Enter the 2-letter postal code of a state, like NY",
        "Enter single digits from 0 to 9 separated by spaces, like 0 1 2",
        "Enter a whole number from 0 to 200",
    ):
        assert message in text, message
    # Each message sits by its field, which points at it; the summary links to the field.
    assert 'id="daily_slots-error"' in text
    assert re.search(r'id="daily_slots"[^>]*aria-describedby="daily_slots-hint daily_slots-error"', text)
    assert 'href="#state"' in text
    assert 'value="S3A"' in text and 'value="201"' in text  # what was typed is kept
    assert office(settings, "S3A") is None
    assert audit_events(settings, "office_created") == []


def test_odd_input_is_refused_with_a_message(client):
    sign_in_admin(client)
    for slots in ("-1", "2.5", "²", "1e3", "9" * 50, ""):
        response = client.post(
            "/admin/offices/new", data={**NEW_OFFICE, "daily_slots": slots, "csrf_token": csrf(client, "/admin/offices/new")}
        )
        assert response.status_code == 422, slots
        assert "Enter a whole number from 0 to 200" in response.text, slots
    odd = [
        ({"name": "Seattle\x00Office"}, "Use letters, numbers, spaces and punctuation only"),
        ({"zip_prefixes": "\u0663"}, "Enter single digits from 0 to 9 separated by spaces, like 0 1 2"),
        ({"code": "\uff33EA"}, "Enter a code of 3 capital letters, like NYC"),
    ]
    for change, message in odd:
        response = client.post(
            "/admin/offices/new", data={**NEW_OFFICE, **change, "csrf_token": csrf(client, "/admin/offices/new")}
        )
        assert response.status_code == 422, change
        assert message in response.text, change


def test_an_office_code_is_unique(client, settings):
    sign_in_admin(client)
    response = client.post("/admin/offices/new", data={**NEW_OFFICE, "code": "NYC", "csrf_token": csrf(client, "/admin/offices/new")})
    assert response.status_code == 422
    assert "An office with this code exists already" in response.text
    assert office(settings, "NYC").name == "New York City Field Office"


def test_a_form_without_the_csrf_token_is_refused(client, settings):
    sign_in_admin(client)
    assert client.post("/admin/offices/new", data=NEW_OFFICE).status_code == 403
    assert office(settings, "SEA") is None


def test_the_admin_edits_an_office(client, settings):
    sign_in_admin(client)
    page = client.get("/admin/offices/NYC")
    assert page.status_code == 200
    assert 'value="26 Federal Plaza"' in page.text
    changed = {**NEW_OFFICE, "name": "New York City Field Office", "street": "26 Federal Plaza", "city": "New York",
               "state": "ny", "zip_prefixes": "0 1", "daily_slots": "12", "active": ""}
    changed.pop("code")
    response = client.post("/admin/offices/NYC", data={**changed, "csrf_token": csrf(client, "/admin/offices/NYC")})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/offices/NYC?saved=office"
    saved = office(settings, "NYC")
    assert (saved.daily_slots, saved.active, saved.state, saved.kind) == (12, False, "NY", "field_office")
    assert "Your changes were saved." in client.get(response.headers["location"]).text

    [event] = audit_events(settings, "office_updated")
    assert event.actor_id == admin_id(settings)
    assert json.loads(event.detail) == {"office": "NYC", "changes": {"daily_slots": [40, 12], "active": [True, False]}}

    invalid = client.post("/admin/offices/NYC", data={**changed, "kind": "", "csrf_token": csrf(client, "/admin/offices/NYC")})
    assert invalid.status_code == 422
    assert "Choose the kind of office" in invalid.text
    assert office(settings, "NYC").kind == "field_office"
    assert len(audit_events(settings, "office_updated")) == 1


def test_unknown_offices_are_not_found(client):
    sign_in_admin(client)
    assert client.get("/admin/offices/XYZ").status_code == 404
    assert client.get("/admin/offices/nyc").status_code == 404
    token = csrf(client, "/admin/offices")
    assert client.post("/admin/offices/XYZ", data={**NEW_OFFICE, "csrf_token": token}).status_code == 404
    assert client.post("/admin/offices/XYZ/days", data={"day": "", "csrf_token": token}).status_code == 404


# --- capacity on one date ------------------------------------------------------------------------


def test_the_admin_closes_a_date_and_opens_it_again(client, settings):
    sign_in_admin(client)
    day = weekday_ahead(21)
    token = csrf(client, "/admin/offices/ANY")
    response = client.post("/admin/offices/ANY/days", data={"day": day.strftime("%m/%d/%Y"), "capacity": "0", "csrf_token": token})
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/offices/ANY?saved=day"
    with session_scope(settings.database_url) as db:
        assert db.get(AppointmentDay, ("ANY", day)).capacity == 0
    page = client.get(response.headers["location"]).text
    assert "The capacity of that date was saved." in page
    assert f'<time datetime="{day.isoformat()}">' in page and "Closed" in page

    response = client.post("/admin/offices/ANY/days", data={"day": day.isoformat(), "capacity": "5", "csrf_token": token})
    assert response.status_code == 303
    with session_scope(settings.database_url) as db:
        assert db.get(AppointmentDay, ("ANY", day)).capacity == 5

    # Back to the office's usual number: the date leaves the list.
    response = client.post("/admin/offices/ANY/days", data={"day": day.isoformat(), "capacity": "", "csrf_token": token})
    assert response.status_code == 303
    with session_scope(settings.database_url) as db:
        assert db.get(AppointmentDay, ("ANY", day)).capacity is None
    assert f'<time datetime="{day.isoformat()}">' not in client.get("/admin/offices/ANY").text

    events = audit_events(settings, "office_day_capacity")
    assert [json.loads(e.detail)["capacity"] for e in events] == [[None, 0], [0, 5], [5, None]]
    assert {e.actor_id for e in events} == {admin_id(settings)}


def test_an_invalid_date_or_capacity_is_shown_again(client, settings):
    sign_in_admin(client)
    today = datetime.now(AGENCY_TIME_ZONE).date()
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    weekday = weekday_ahead(10).isoformat()
    cases = [
        ("not a date", "3", "day", "Enter a real date, like 12/24/2026"),
        ("02/30/2027", "3", "day", "Enter a real date, like 12/24/2026"),
        ("", "3", "day", "Enter a real date, like 12/24/2026"),
        ((today - timedelta(days=3)).isoformat(), "3", "day", "Choose today or a later date"),
        (saturday.isoformat(), "3", "day", "Appointments are held on weekdays only. Choose a weekday."),
        (weekday_ahead(800).isoformat(), "3", "day", "Choose a date within the next 2 years"),
        (weekday, "many", "capacity", "Enter a whole number from 0 to 200, or leave it empty"),
        (weekday, "201", "capacity", "Enter a whole number from 0 to 200, or leave it empty"),
        (weekday, "-1", "capacity", "Enter a whole number from 0 to 200, or leave it empty"),
    ]
    for day, capacity, field, message in cases:
        response = client.post(
            "/admin/offices/ANY/days", data={"day": day, "capacity": capacity, "csrf_token": csrf(client, "/admin/offices/ANY")}
        )
        assert response.status_code == 422, (day, capacity)
        assert "There is a problem" in response.text
        assert message in response.text, (day, capacity)
        assert f'id="{field}-error"' in response.text
        assert f'href="#{field}"' in response.text
        assert f'value="{capacity}"' in response.text  # what was typed is kept
    with session_scope(settings.database_url) as db:
        assert db.exec(select(AppointmentDay)).all() == []
    assert audit_events(settings, "office_day_capacity") == []
