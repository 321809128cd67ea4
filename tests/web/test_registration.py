"""Creating an account, confirming the email address, resetting a forgotten password, and the
rule that only a confirmed address may file. Temporal is down here, so mail stays in the outbox."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS
from models.account_security import issue_token
from models.accounts import create_user, get_user_by_email
from models.db import session_scope
from models.tables import AccountEvent, AccountToken, OutboundEmail, User, utcnow
from tests.web.conftest import DownTemporal, csrf, csrf_from, sign_in
from web.app import create_app
from web.routers import registration

APPLICANT = DEMO_ACCOUNTS[0]
PASSWORD = "violet kettle marathon oboe"
NEW_PASSWORD = "seven quiet lanterns drifting"

VALID = {
    "given_name": "Ana",
    "family_name": "Rivera",
    "date_of_birth_month": "4",
    "date_of_birth_day": "27",
    "date_of_birth_year": "1990",
    "street": "1 Main St",
    "apartment": "",
    "city": "Austin",
    "state": "TX",
    "zip_code": "78701",
    "a_number": "a-123 456 789",
    "language": "en",
    "email": "Ana.Rivera@Example.com",
    "password": PASSWORD,
}
EMAIL = "ana.rivera@example.com"
LINK_RE = re.compile(r"https?://[^/\s]+(/(?:verify-email|reset-password)/[A-Za-z0-9_\-]+)")


def _with_registration(app) -> None:
    """Until web/app.py includes the router and its handler, add them to the test app."""
    if not any(getattr(route, "path", None) == "/register" for route in app.routes):
        app.include_router(registration.router)
    if registration.VerifyEmailFirst not in app.exception_handlers:

        async def verify_email_first(request, exc):
            return registration.verify_first_page(request)

        app.add_exception_handler(registration.VerifyEmailFirst, verify_email_first)


@pytest.fixture
def client(settings):
    app = create_app(settings)
    app.state.temporal = DownTemporal()
    _with_registration(app)
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def register(client: TestClient, **changes: str):
    token = csrf(client, "/register")
    return client.post("/register", data={"csrf_token": token, **VALID, **changes})


def mails(settings, to: str | None = None) -> list[OutboundEmail]:
    with session_scope(settings.database_url) as db:
        query = select(OutboundEmail).order_by(col(OutboundEmail.id))
        if to is not None:
            query = query.where(OutboundEmail.to_address == to)
        return list(db.exec(query).all())


def link_in(mail: OutboundEmail) -> str:
    match = LINK_RE.search(mail.body_text)
    assert match, mail.body_text
    return match.group(1)


def user_by_email(settings, email: str) -> User | None:
    with session_scope(settings.database_url) as db:
        return get_user_by_email(db, email=email)


def events(settings, user_id: int) -> list[str]:
    with session_scope(settings.database_url) as db:
        rows = db.exec(select(AccountEvent).where(AccountEvent.user_id == user_id).order_by(col(AccountEvent.id))).all()
        return [row.kind for row in rows]


def user_count(settings) -> int:
    with session_scope(settings.database_url) as db:
        return len(db.exec(select(User)).all())


def main_text(html: str) -> str:
    """The page's main content, without the CSRF token and tags, to compare two answers."""
    main = html.split('id="main-content"', 1)[1].split("</main>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


# --- registration ------------------------------------------------------------------------------


def test_the_registration_page_has_every_field(client):
    page = client.get("/register")
    assert page.status_code == 200
    html = page.text
    assert 'action="/register"' in html and 'method="post"' in html and 'name="csrf_token"' in html
    for name in ("given_name", "family_name", "date_of_birth_month", "date_of_birth_day", "date_of_birth_year",
                 "street", "apartment", "city", "state", "zip_code", "a_number", "email", "password"):
        assert f'name="{name}"' in html, name
    assert 'autocomplete="new-password"' in html
    assert 'name="language" value="en" checked' in html and 'name="language" value="es"' in html


def test_register_mails_a_link_that_confirms_the_address_once(client, settings):
    response = register(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/register/check-email"
    page = client.get("/register/check-email")
    assert page.status_code == 200 and "Check your email" in page.text

    user = user_by_email(settings, EMAIL)
    assert user is not None
    assert user.role == "applicant" and user.language == "en" and user.full_name == "Ana Rivera"
    assert user.email_verified_at is None
    assert user.date_of_birth is not None and user.date_of_birth.isoformat() == "1990-04-27"
    assert user.a_number == "A123456789"
    assert user.mailing_address == {"street": "1 Main St", "apartment": "", "city": "Austin", "state": "TX",
                                    "zip_code": "78701"}
    assert PASSWORD not in user.password_hash and user.password_hash.startswith("$argon2id$")
    assert events(settings, user.id or 0) == ["account_created"]

    [mail] = mails(settings)
    assert mail.to_address == EMAIL and mail.subject == "Confirm your email address for Caseline"
    assert mail.status == "pending"  # Temporal is down: the mail waits in the outbox
    link = link_in(mail)
    assert link.startswith("/verify-email/")

    confirmed = client.get(link)
    assert confirmed.status_code == 200
    assert "Your email address is confirmed" in confirmed.text
    user = user_by_email(settings, EMAIL)
    assert user is not None and user.email_verified_at is not None
    assert events(settings, user.id or 0) == ["account_created", "email_verified"]

    again = client.get(link)
    assert again.status_code == 410
    assert "This link has expired or was already used" in again.text and 'href="/sign-in"' in again.text
    assert client.get("/verify-email/not-a-real-token").status_code == 410


def test_the_chosen_language_is_kept(client, settings):
    assert register(client, language="es").status_code == 303
    user = user_by_email(settings, EMAIL)
    assert user is not None and user.language == "es"
    [mail] = mails(settings)
    assert mail.language == "es"


def test_registering_a_used_address_looks_the_same_and_tells_the_owner(client, settings, monkeypatch):
    first = register(client)
    assert first.status_code == 303
    first_page = client.get(first.headers["location"])
    owner = user_by_email(settings, EMAIL)
    assert owner is not None
    users_before = user_count(settings)
    mails_before = len(mails(settings))

    hashed = []
    real_hash = registration.hash_password
    monkeypatch.setattr(registration, "hash_password", lambda password: hashed.append(1) or real_hash(password))
    second = register(client, given_name="Mallory", family_name="Smith", email="  ANA.RIVERA@example.com ",
                      password="a different long passphrase")
    assert second.status_code == first.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    second_page = client.get(second.headers["location"])
    assert second_page.status_code == first_page.status_code == 200
    assert main_text(second_page.text) == main_text(first_page.text)
    assert "already" not in second.text.lower()
    assert hashed == [1]  # the same hashing work as creating an account

    assert user_count(settings) == users_before  # nothing created
    unchanged = user_by_email(settings, EMAIL)
    assert unchanged is not None and unchanged.full_name == "Ana Rivera" and unchanged.password_hash == owner.password_hash
    new_mails = mails(settings)[mails_before:]
    assert [m.to_address for m in new_mails] == [EMAIL]
    notice = new_mails[0]
    assert "Someone tried to create a Caseline account" in notice.subject
    assert "already has an account" in notice.body_text
    assert "/sign-in" in notice.body_text and "/forgot-password" in notice.body_text
    assert not LINK_RE.search(notice.body_text)  # no link that would confirm or reset anything

    # A second try within the hour does not mail the owner again (no flooding a mailbox).
    assert register(client).headers["location"] == "/register/check-email"
    assert len(mails(settings)) == mails_before + 1


def test_registering_a_demo_account_address_creates_nothing(client, settings):
    users_before = user_count(settings)
    response = register(client, email=APPLICANT.email)
    assert response.status_code == 303 and response.headers["location"] == "/register/check-email"
    assert user_count(settings) == users_before
    [notice] = mails(settings)
    assert notice.to_address == APPLICANT.email and "already has an account" in notice.body_text


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"zip_code": "7870"}, "zip_code", "Enter a ZIP code of 5 digits"),
        ({"a_number": "A12345"}, "a_number", "Enter an A-Number as the letter A and 8 or 9 digits"),
        ({"a_number": "B123456789"}, "a_number", "Enter an A-Number as the letter A and 8 or 9 digits"),
        ({"date_of_birth_year": str(utcnow().year + 1)}, "date_of_birth", "The date must be in the past"),
        ({"date_of_birth_month": "2", "date_of_birth_day": "30"}, "date_of_birth", "Enter a real date"),
        ({"password": "short pass"}, "password", "Use at least 12 characters"),
        ({"password": "password1234"}, "password", "This password is too common"),
        ({"password": "AnaRivera2026", "email": "ana@example.com"}, "password", "Do not use your name in your password"),
        ({"email": "not-an-email"}, "email", "Enter an email address in the right form"),
        ({"email": ""}, "email", "Enter your email address"),
        ({"password": "ana.rivera@example.com!"}, "password", "Do not use your email address in your password"),
        ({"given_name": ""}, "given_name", "Enter this information"),
        ({"state": "ZZ"}, "state", "Select an option"),
        ({"language": "fr"}, "language", "Select a language"),
    ],
)
def test_invalid_answers_are_shown_again_with_errors(client, settings, changes, field, message):
    users_before = user_count(settings)
    response = register(client, **changes)
    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html
    assert f'href="#{field}"' in html
    assert f'id="{field}-error"' in html  # the message by the field
    assert message in html
    assert html.index("There is a problem") < html.index('action="/register"')  # the summary is at the top
    assert 'value="Rivera"' in html  # what was typed is kept ...
    assert VALID["password"] not in html  # ... except the password
    assert user_count(settings) == users_before
    assert mails(settings) == []


def test_a_number_is_optional_and_normalised():
    assert registration.normalize_a_number("A123456789") == "A123456789"
    assert registration.normalize_a_number("a 123-456-789") == "A123456789"
    assert registration.normalize_a_number("12345678") == "A012345678"
    assert registration.normalize_a_number("A-1234-5678") == "A012345678"
    for bad in ("A1234567", "A1234567890", "AA12345678", "A12345678X", ""):
        assert registration.normalize_a_number(bad) is None, bad


def test_an_attorney_registers_a_representative_account_and_nobody_registers_staff(client, settings):
    assert 'name="account_type" value="applicant" checked' in client.get("/register").text
    assert register(client, account_type="representative").status_code == 303
    assert user_by_email(settings, EMAIL).role == "representative"
    refused = register(client, email="someone@example.com", account_type="officer")
    assert refused.status_code == 422 and "Select who the account is for" in refused.text
    assert 'href="#account_type"' in refused.text
    assert user_by_email(settings, "someone@example.com") is None


def test_registering_without_an_a_number_works(client, settings):
    assert register(client, a_number="").status_code == 303
    user = user_by_email(settings, EMAIL)
    assert user is not None and user.a_number is None


# --- a confirmed address is needed to file ----------------------------------------------------


def test_unconfirmed_applicant_cannot_file_until_they_confirm(client, settings):
    register(client)
    first_link = link_in(mails(settings)[0])
    sign_in(client, EMAIL, PASSWORD)
    assert client.get("/account").status_code == 200

    refused = client.get("/efile/i-765")
    assert refused.status_code == 403
    assert "Confirm your email address before you file" in refused.text
    assert 'action="/account/verify-email/resend"' in refused.text
    posted = client.post("/efile/i-765", data={"csrf_token": csrf_from(refused.text), "given_name": "Ana"})
    assert posted.status_code == 403 and "Confirm your email address before you file" in posted.text

    resent = client.post("/account/verify-email/resend", data={"csrf_token": csrf_from(refused.text)})
    assert resent.status_code == 303 and resent.headers["location"] == "/account?verification_sent=1"
    verify_mails = mails(settings, to=EMAIL)
    assert len(verify_mails) == 2
    new_link = link_in(verify_mails[1])
    assert new_link != first_link
    assert client.get(first_link).status_code == 410  # a new link replaces the old one

    assert client.get(new_link).status_code == 200
    assert client.get("/efile/i-765").status_code == 200

    # Nothing more to confirm: no mail, straight back to the account.
    again = client.post("/account/verify-email/resend", data={"csrf_token": csrf(client, "/account")})
    assert again.status_code == 303 and again.headers["location"] == "/account"
    assert len(mails(settings, to=EMAIL)) == 2


def test_resending_needs_a_signed_in_person(client):
    response = client.post("/account/verify-email/resend", data={"csrf_token": csrf(client, "/")})
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


def test_resending_is_limited(client, settings):
    register(client)
    sign_in(client, EMAIL, PASSWORD)
    token = csrf(client, "/account")
    locations = [client.post("/account/verify-email/resend", data={"csrf_token": token}).headers["location"]
                 for _ in range(5)]
    assert locations[:4] == ["/account?verification_sent=1"] * 4
    assert locations[4] == "/account?verification_wait=1"
    assert len(mails(settings, to=EMAIL)) == 5  # 1 at registration + 4 resent


# --- changing the address (the link the security page sends to a new address) ---------------------


def _verify_link_for(settings, email: str, *, new_email: str) -> str:
    with session_scope(settings.database_url) as db:
        user = get_user_by_email(db, email=email)
        assert user is not None
        return "/verify-email/" + issue_token(db, user=user, purpose="verify_email", email=new_email)


def test_a_link_to_a_new_address_moves_the_account_and_tells_the_old_one(client, settings):
    link = _verify_link_for(settings, APPLICANT.email, new_email="maria.new@example.com")
    response = client.get(link)
    assert response.status_code == 200 and "Your email address is confirmed" in response.text
    assert user_by_email(settings, APPLICANT.email) is None
    moved = user_by_email(settings, "maria.new@example.com")
    assert moved is not None and moved.email_verified_at is not None
    assert events(settings, moved.id or 0)[-2:] == ["email_changed", "email_verified"]
    [notice] = mails(settings, to=APPLICANT.email)
    assert "was changed" in notice.subject and "maria.new@example.com" not in notice.body_text
    sign_in(client, "maria.new@example.com", APPLICANT.password)


def test_a_link_to_an_address_taken_meanwhile_changes_nothing(client, settings):
    link = _verify_link_for(settings, APPLICANT.email, new_email="taken@example.com")
    with session_scope(settings.database_url) as db:
        create_user(db, email="taken@example.com", password="somebody else's passphrase", full_name="Some Body")
    response = client.get(link)
    assert response.status_code == 409 and "We could not change your email address" in response.text
    assert user_by_email(settings, APPLICANT.email) is not None
    assert mails(settings) == []
    assert client.get(link).status_code == 410  # used up


# --- forgotten passwords -------------------------------------------------------------------------


def test_forgot_password_answers_the_same_for_known_and_unknown_addresses(client, settings):
    page = client.get("/forgot-password")
    assert page.status_code == 200 and 'action="/forgot-password"' in page.text
    token = csrf_from(page.text)

    unknown = client.post("/forgot-password", data={"csrf_token": token, "email": "nobody@example.com"})
    known = client.post("/forgot-password", data={"csrf_token": token, "email": APPLICANT.email.upper()})
    assert unknown.status_code == known.status_code == 303
    assert unknown.headers["location"] == known.headers["location"] == "/forgot-password/sent"
    assert unknown.text == known.text
    unknown_page, known_page = client.get(unknown.headers["location"]), client.get(known.headers["location"])
    assert unknown_page.status_code == known_page.status_code == 200
    assert unknown_page.text == known_page.text
    assert "If an account uses this address, we sent a link to reset the password. The link works for 30 minutes." in known_page.text

    [mail] = mails(settings)
    assert mail.to_address == APPLICANT.email and mail.subject == "Reset your Caseline password"
    assert link_in(mail).startswith("/reset-password/")


def test_forgot_password_wants_an_email_address(client, settings):
    token = csrf(client, "/forgot-password")
    response = client.post("/forgot-password", data={"csrf_token": token, "email": "nonsense"})
    assert response.status_code == 422
    assert "There is a problem" in response.text and 'href="#email"' in response.text
    assert mails(settings) == []


def _reset_link(client: TestClient, settings, email: str) -> str:
    client.post("/forgot-password", data={"csrf_token": csrf(client, "/forgot-password"), "email": email})
    return link_in(mails(settings, to=email)[-1])


def test_reset_password_works_once_and_signs_out_everywhere(client, settings):
    elsewhere = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(elsewhere, APPLICANT.email, APPLICANT.password)
    assert elsewhere.get("/account").status_code == 200

    link = _reset_link(client, settings, APPLICANT.email)
    form = client.get(link)
    assert form.status_code == 200
    assert f'action="{link}"' in form.text and 'autocomplete="new-password"' in form.text
    assert client.get(link).status_code == 200  # looking does not use the link up

    weak = client.post(link, data={"csrf_token": csrf_from(form.text), "password": "password1234"})
    assert weak.status_code == 422 and "This password is too common" in weak.text and 'href="#password"' in weak.text

    done = client.post(link, data={"csrf_token": csrf_from(form.text), "password": NEW_PASSWORD})
    assert done.status_code == 303 and done.headers["location"] == "/sign-in?reset=1"

    assert elsewhere.get("/account").status_code == 303  # the other session has ended
    with session_scope(settings.database_url) as db:
        user = get_user_by_email(db, email=APPLICANT.email)
        assert user is not None and user.password_changed_at is not None
        assert "password_reset" in events(settings, user.id or 0)
    changed = mails(settings, to=APPLICANT.email)[-1]
    assert changed.subject == "Your Caseline password was changed" and "/forgot-password" in changed.body_text

    used = client.get(link)
    assert used.status_code == 410 and "This link has expired or was already used" in used.text
    assert 'href="/forgot-password"' in used.text
    assert client.post(link, data={"csrf_token": csrf_from(used.text), "password": "yet another long passphrase"}).status_code == 410

    token = csrf(client, "/sign-in")
    old = client.post("/sign-in", data={"csrf_token": token, "email": APPLICANT.email, "password": APPLICANT.password})
    assert old.status_code == 422
    sign_in(client, APPLICANT.email, NEW_PASSWORD)
    assert client.get("/account").status_code == 200


def test_a_reset_link_confirms_an_unconfirmed_address(client, settings):
    register(client)
    link = _reset_link(client, settings, EMAIL)
    token = csrf(client, link)
    assert client.post(link, data={"csrf_token": token, "password": NEW_PASSWORD}).status_code == 303
    user = user_by_email(settings, EMAIL)
    assert user is not None and user.email_verified_at is not None


def test_expired_links_are_refused(client, settings):
    verify = link_in(mails(settings, to=EMAIL)[0]) if register(client).status_code == 303 else ""
    reset = _reset_link(client, settings, APPLICANT.email)
    with session_scope(settings.database_url) as db:
        for token in db.exec(select(AccountToken)).all():
            token.expires_at = utcnow() - timedelta(seconds=1)
            db.add(token)
    assert client.get(verify).status_code == 410
    user = user_by_email(settings, EMAIL)
    assert user is not None and user.email_verified_at is None

    page = client.get(reset)
    assert page.status_code == 410 and "This link has expired or was already used" in page.text
    refused = client.post(reset, data={"csrf_token": csrf_from(page.text), "password": NEW_PASSWORD})
    assert refused.status_code == 410
    sign_in(client, APPLICANT.email, APPLICANT.password)  # the password did not change
