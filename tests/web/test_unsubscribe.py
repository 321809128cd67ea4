"""The unsubscribe links in case emails (no sign-in: GET shows, POST changes, one-click POST from
mail programs without cookies or CSRF token) and the email notifications settings page."""

from __future__ import annotations

import html
import re

import pytest
from sqlmodel import select
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS
from models.db import session_scope
from models.email_prefs import DAILY, EACH, NONE, SCOPE_ALL, unsubscribe_token, watch_scope
from models.tables import User, WatchedCase
from settings import Settings
from tests.web.conftest import DownTemporal, csrf_from, sign_in
from web.app import create_app
from web.routers import notifications

APPLICANT = DEMO_ACCOUNTS[0]
INVALID = "This unsubscribe link does not work"
ACTION_RE = re.compile(r'<form method="post" action="(/email/unsubscribe\?token=[^"]+)"')


def _with_notifications(app) -> None:
    """Until web/app.py includes the router, add it to the test app."""
    if not any(getattr(route, "path", None) == "/account/notifications" for route in app.routes):
        app.include_router(notifications.router)


@pytest.fixture
def client(settings: Settings):
    app = create_app(settings)
    app.state.temporal = DownTemporal()
    _with_notifications(app)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def add_user(settings: Settings, name: str, *, frequency: str = EACH) -> User:
    with session_scope(settings.database_url) as db:
        user = User(email=f"{name}@example.com", full_name=name.title(), password_hash="unused",
                    case_email_frequency=frequency)
        db.add(user)
        db.flush()
        return user


def add_watch(settings: Settings, user_id: int, receipt_number: str, *, notify: bool = True,
              nickname: str = "") -> WatchedCase:
    with session_scope(settings.database_url) as db:
        row = WatchedCase(user_id=user_id, receipt_number=receipt_number, notify=notify, nickname=nickname)
        db.add(row)
        db.flush()
        return row


def frequency_of(settings: Settings, user_id: int) -> str:
    with session_scope(settings.database_url) as db:
        return db.get(User, user_id).case_email_frequency


def notify_of(settings: Settings, watch_id: int) -> bool:
    with session_scope(settings.database_url) as db:
        return db.get(WatchedCase, watch_id).notify


def link(settings: Settings, user_id: int, scope: str) -> str:
    return f"/email/unsubscribe?token={unsubscribe_token(settings.secret_key, user_id=user_id, scope=scope)}"


def text_of(response) -> str:
    return html.unescape(response.text)


# --- unsubscribe ------------------------------------------------------------------------------------


def test_a_changed_token_is_refused_with_a_clear_message_and_changes_nothing(client: TestClient, settings) -> None:
    ana = add_user(settings, "ana")
    good = unsubscribe_token(settings.secret_key, user_id=ana.id, scope=SCOPE_ALL)
    other = add_user(settings, "other")
    tampered = [
        good.replace(f".{ana.id}.", f".{other.id}.", 1),  # someone else's emails
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        good[:-5],
        f"v9.{ana.id}.all.{good.rsplit('.', 1)[1]}",
        unsubscribe_token("another-key-entirely-0123456789abcdef", user_id=ana.id, scope=SCOPE_ALL),
        "",
    ]
    for token in tampered:
        for method in (client.get, client.post):
            response = method("/email/unsubscribe", params={"token": token})
            assert response.status_code == 400, (token, method)
            assert INVALID in text_of(response)
            assert "we did not change anything" in text_of(response)
            assert 'href="/account/notifications"' in response.text
    assert frequency_of(settings, ana.id) == EACH and frequency_of(settings, other.id) == EACH


def test_scope_all_get_asks_and_post_stops_every_case_email(client: TestClient, settings) -> None:
    ana = add_user(settings, "ana", frequency=DAILY)
    watched = add_watch(settings, ana.id, "IOE2700300001")
    url = link(settings, ana.id, SCOPE_ALL)

    page = client.get(url)  # a mail scanner opening the link: nothing happens
    assert page.status_code == 200
    assert "Stop emails about changes to your cases?" in text_of(page)
    assert "ana@example.com" not in page.text and "Ana" not in page.text  # no personal data on a link's page
    assert frequency_of(settings, ana.id) == DAILY
    [action] = ACTION_RE.findall(page.text)
    assert html.unescape(action) == url
    assert page.text.count('type="submit"') == 2  # the button, and the header's language switch

    # The button: a plain form post, no sign-in and no CSRF token needed.
    done = client.post(html.unescape(action), data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    text = text_of(done)
    assert "You will no longer get emails about changes to your cases" in text
    assert "To turn these emails back on" in text and 'href="/account/notifications"' in done.text
    assert frequency_of(settings, ana.id) == NONE
    assert notify_of(settings, watched.id) is True  # the opt-ins are kept for when they turn emails back on

    again = client.get(url)
    assert again.status_code == 200 and "You already stopped emails" in text_of(again)
    assert client.post(url).status_code == 200 and frequency_of(settings, ana.id) == NONE  # twice is harmless


def test_one_click_unsubscribe_works_without_cookies_or_csrf_token(settings) -> None:
    """What a mail program sends for List-Unsubscribe-Post (RFC 8058): a bare POST to the link."""
    ana = add_user(settings, "ana")
    app = create_app(settings)
    app.state.temporal = DownTemporal()
    _with_notifications(app)
    with TestClient(app, base_url="http://testserver", follow_redirects=False, cookies=None) as bare:
        response = bare.post(link(settings, ana.id, SCOPE_ALL), content=b"List-Unsubscribe=One-Click",
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert frequency_of(settings, ana.id) == NONE


def test_scope_one_case_stops_that_case_only(client: TestClient, settings) -> None:
    ben = add_user(settings, "ben")
    first = add_watch(settings, ben.id, "IOE2700300001", nickname="Mamá")
    second = add_watch(settings, ben.id, "IOE2700300002")
    url = link(settings, ben.id, watch_scope(first.id))

    page = client.get(url)
    assert page.status_code == 200
    assert "Stop emails about case IOE2700300001?" in text_of(page)
    assert "Mamá" not in text_of(page)
    assert notify_of(settings, first.id) is True

    done = client.post(url, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "You will no longer get emails about case IOE2700300001" in text_of(done)
    assert "tick this case again" in text_of(done)
    assert (notify_of(settings, first.id), notify_of(settings, second.id)) == (False, True)
    assert frequency_of(settings, ben.id) == EACH


def test_a_case_no_longer_followed_has_nothing_to_stop(client: TestClient, settings) -> None:
    ben = add_user(settings, "ben")
    watch = add_watch(settings, ben.id, "IOE2700300001")
    url = link(settings, ben.id, watch_scope(watch.id))
    with session_scope(settings.database_url) as db:
        db.delete(db.get(WatchedCase, watch.id))
    for response in (client.get(url), client.post(url)):
        assert response.status_code == 200 and "There are no emails to stop" in text_of(response)
    # Another person's watched case, with a token made for this person: nothing either.
    carla = add_user(settings, "carla")
    hers = add_watch(settings, carla.id, "IOE2700300003")
    response = client.post(link(settings, ben.id, watch_scope(hers.id)))
    assert "There are no emails to stop" in text_of(response)
    assert notify_of(settings, hers.id) is True


# --- the settings page ----------------------------------------------------------------------------


def applicant_id(settings) -> int:
    with session_scope(settings.database_url) as db:
        return db.exec(select(User.id).where(User.email == APPLICANT.email)).one()


def test_the_notifications_page_needs_sign_in(client: TestClient) -> None:
    response = client.get("/account/notifications")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


def test_the_notifications_page_saves_the_frequency_and_the_opt_ins(client: TestClient, settings) -> None:
    me = applicant_id(settings)
    first = add_watch(settings, me, "IOE2700300001", nickname="Tío Juan", notify=True)
    second = add_watch(settings, me, "IOE2700300002", notify=False)
    stranger = add_user(settings, "stranger")
    theirs = add_watch(settings, stranger.id, "IOE2700300009")
    sign_in(client, APPLICANT.email, APPLICANT.password)

    page = client.get("/account/notifications")
    assert page.status_code == 200
    assert 'id="frequency-each" type="radio" name="frequency" value="each" checked' in page.text
    for value in ("daily", "none"):
        assert f'value="{value}">' in page.text
    assert 'href="/portfolio"' in page.text
    assert f'id="notify-{first.id}" type="checkbox" name="notify" value="{first.id}" checked' in page.text
    assert f'id="notify-{second.id}" type="checkbox" name="notify" value="{second.id}">' in page.text
    assert "IOE2700300001 (Tío Juan)" in text_of(page) and "IOE2700300009" not in page.text
    token = csrf_from(page.text)

    # Without the CSRF token: refused, nothing saved.
    assert client.post("/account/notifications", data={"frequency": "daily"}).status_code == 403
    assert frequency_of(settings, me) == EACH

    # Daily; the first case off, the second on; a case that is not mine is left alone.
    saved = client.post("/account/notifications", data={
        "csrf_token": token, "frequency": "daily", "watched": [str(first.id), str(second.id), str(theirs.id)],
        "notify": [str(second.id), str(theirs.id)],
    })
    assert saved.status_code == 303 and saved.headers["location"] == "/account/notifications?saved=1"
    assert frequency_of(settings, me) == DAILY
    assert (notify_of(settings, first.id), notify_of(settings, second.id), notify_of(settings, theirs.id)) == (
        False, True, True
    )
    shown = client.get(saved.headers["location"])
    assert "Your choices are saved." in text_of(shown)
    assert 'value="daily" checked' in shown.text

    # No choice: the page again with the error, nothing changed.
    invalid = client.post("/account/notifications", data={"csrf_token": token, "frequency": "hourly"})
    assert invalid.status_code == 422
    assert "There is a problem" in text_of(invalid)
    assert "Choose how often we email you when a case changes" in text_of(invalid)
    assert frequency_of(settings, me) == DAILY


def test_the_notifications_page_without_followed_cases(client: TestClient, settings) -> None:
    sign_in(client, APPLICANT.email, APPLICANT.password)
    page = client.get("/account/notifications")
    assert "You do not follow any case yet." in text_of(page)
    token = csrf_from(page.text)
    assert client.post("/account/notifications", data={"csrf_token": token, "frequency": "none"}).status_code == 303
    assert frequency_of(settings, applicant_id(settings)) == NONE
