"""Attacks on the running app (in-process): brute force, second-factor replay, session fixation,
idle and absolute expiry, cross-account reads, XSS, the append-only audit log."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa
from sqlmodel import select
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS
from models.account_security import FREE_FAILURES, LOCK_AFTER, audit
from models.db import get_engine, session_scope
from models.tables import AccountEvent, OutboundEmail, User, WebSession, utcnow
from tests.web.conftest import csrf, csrf_from, sign_in

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS


def _attempt(client: TestClient, email: str, password: str):
    return client.post("/sign-in", data={"csrf_token": csrf(client, "/sign-in"), "email": email, "password": password})


def _unthrottle(settings) -> None:
    """Let the growing delay pass at once (what waiting would do)."""
    with session_scope(settings.database_url) as db:
        db.exec(sa.text("UPDATE sign_in_throttle SET next_allowed_at = NULL"))  # type: ignore[call-overload]


def test_brute_force_is_slowed_then_locked_and_the_owner_is_told(client, settings):
    statuses = []
    for attempt in range(1, LOCK_AFTER + 1):
        statuses.append(_attempt(client, APPLICANT.email, f"wrong password number {attempt}").status_code)
        if FREE_FAILURES < attempt < LOCK_AFTER:
            # From the fourth failure on, the next try must wait (and waiting is not counted).
            too_soon = _attempt(client, APPLICANT.email, "yet another wrong one")
            assert too_soon.status_code == 429 and "Too many attempts" in too_soon.text
            _unthrottle(settings)
    assert statuses == [422] * LOCK_AFTER
    # Locked now: even the right password is refused for a while.
    locked = _attempt(client, APPLICANT.email, APPLICANT.password)
    assert locked.status_code == 429
    with session_scope(settings.database_url) as db:
        user = db.exec(select(User).where(User.email == APPLICANT.email)).one()
        kinds = [e.kind for e in db.exec(select(AccountEvent).where(AccountEvent.user_id == user.id)).all()]
        mails = db.exec(select(OutboundEmail).where(OutboundEmail.to_address == APPLICANT.email)).all()
    assert kinds.count("sign_in_failed") >= LOCK_AFTER and "account_locked" in kinds
    assert any("locked" in m.subject for m in mails)


def test_throttling_does_not_reveal_whether_an_account_exists(client, settings):
    known, unknown = [], []
    for n in range(5):
        known.append(_attempt(client, APPLICANT.email, f"wrong {n} password").status_code)
        unknown.append(_attempt(client, "nobody-here@example.com", f"wrong {n} password").status_code)
    assert known == unknown


def test_staff_without_two_step_verification_must_set_it_up(client, settings):
    from models.accounts import create_user
    from models.domain import Role

    with session_scope(settings.database_url) as db:
        create_user(db, email="new.officer@example.gov", password="a long officer passphrase", full_name="New Officer",
                    role=Role.OFFICER)
    sign_in(client, "new.officer@example.gov", "a long officer passphrase")
    assert client.get("/officer").headers["location"] == "/account/two-factor"
    setup = client.get("/account/two-factor")
    assert setup.status_code == 200 and 'src="data:image/svg+xml' in setup.text
    with session_scope(settings.database_url) as db:
        secret = db.exec(select(User).where(User.email == "new.officer@example.gov")).one().totp_secret
    wrong = client.post("/account/two-factor", data={"csrf_token": csrf_from(setup.text), "code": "000000"})
    assert wrong.status_code == 422
    done = client.post("/account/two-factor", data={"csrf_token": csrf_from(setup.text), "code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200 and done.text.count("<code>") == 10
    assert client.get("/officer").status_code == 200


def test_a_used_authentication_code_cannot_be_replayed(client, settings):
    sign_in(client, OFFICER.email, OFFICER.password)  # uses the current code
    client.post("/sign-out", data={"csrf_token": csrf(client, "/officer")})
    token = csrf(client, "/sign-in")
    client.post("/sign-in", data={"csrf_token": token, "email": OFFICER.email, "password": OFFICER.password})
    page = client.get("/sign-in/two-factor")
    replay = client.post("/sign-in/two-factor", data={"csrf_token": csrf_from(page.text),
                                                       "code": pyotp.TOTP(OFFICER.totp_secret).now()})
    assert replay.status_code == 422 and "This code is not right" in replay.text
    assert client.get("/officer").status_code == 303  # still not signed in


def test_password_alone_does_not_open_a_staff_account(client):
    client.post("/sign-in", data={"csrf_token": csrf(client, "/sign-in"), "email": OFFICER.email,
                                  "password": OFFICER.password})
    response = client.get("/officer")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in/two-factor")


def test_recovery_codes_work_once(client, settings):
    from models import totp
    from models.tables import RecoveryCode

    codes = totp.new_recovery_codes()
    with session_scope(settings.database_url) as db:
        officer = db.exec(select(User).where(User.email == OFFICER.email)).one()
        for code in codes:
            db.add(RecoveryCode(user_id=officer.id, code_hash=totp.hash_recovery_code(code)))

    def use(code: str):
        client.post("/sign-in", data={"csrf_token": csrf(client, "/sign-in"), "email": OFFICER.email,
                                      "password": OFFICER.password})
        page = client.get("/sign-in/two-factor")
        return client.post("/sign-in/two-factor", data={"csrf_token": csrf_from(page.text), "recovery_code": code})

    first = use(codes[3].lower().replace("-", " "))
    assert first.status_code == 303 and first.headers["location"] == "/account/two-factor?recovered=1"
    client.post("/sign-out", data={"csrf_token": csrf(client, "/account/two-factor")})
    again = use(codes[3])
    assert again.status_code == 422
    with session_scope(settings.database_url) as db:
        assert any("recovery code" in m.subject for m in db.exec(select(OutboundEmail)).all())


def test_sign_in_replaces_a_planted_session_cookie(client, settings):
    planted = "attacker-chosen-value"
    token = csrf(client, "/sign-in")
    response = client.post(
        "/sign-in",
        data={"csrf_token": token, "email": APPLICANT.email, "password": APPLICANT.password},
        headers={"Cookie": f"caseline_session={planted}; caseline_csrf={client.cookies.get('caseline_csrf')}"},
    )
    assert response.status_code == 303
    issued = response.cookies.get("caseline_session")
    assert issued and issued != planted
    # The planted value grants nothing; the issued one does.
    attacker = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    assert attacker.get("/account", headers={"Cookie": f"caseline_session={planted}"}).status_code == 303
    assert attacker.get("/account", headers={"Cookie": f"caseline_session={issued}"}).status_code == 200


def _age_session(settings, *, idle: timedelta | None = None, absolute: bool = False) -> None:
    with session_scope(settings.database_url) as db:
        for record in db.exec(select(WebSession)).all():
            if idle:
                record.last_seen_at = utcnow() - idle
            if absolute:
                record.expires_at = utcnow() - timedelta(seconds=1)
            db.add(record)


def test_sessions_end_after_30_idle_minutes(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    _age_session(settings, idle=timedelta(minutes=29))
    assert client.get("/account").status_code == 200
    _age_session(settings, idle=timedelta(minutes=31))
    assert client.get("/account").status_code == 303


def test_sessions_end_after_12_hours_even_when_active(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    _age_session(settings, absolute=True)
    assert client.get("/account").status_code == 303


def test_a_polling_page_does_not_keep_the_session_alive(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    _age_session(settings, idle=timedelta(minutes=10))
    client.get("/account?since=0", headers={"HX-Request": "true"})
    with session_scope(settings.database_url) as db:
        seen = db.exec(select(WebSession)).one().last_seen_at
    assert utcnow() - seen >= timedelta(minutes=9)


def test_revoking_another_session_signs_it_out(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    laptop = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(laptop, APPLICANT.email, APPLICANT.password)
    page = client.get("/account/sessions")
    assert page.status_code == 200 and page.text.count("/revoke") == 2
    with session_scope(settings.database_url) as db:
        sessions = db.exec(select(WebSession)).all()
    from web.security import session_id_for

    laptop_id = session_id_for(laptop.cookies.get("caseline_session"))
    assert laptop_id in {s.id for s in sessions}
    revoked = client.post(f"/account/sessions/{laptop_id}/revoke", data={"csrf_token": csrf_from(page.text)})
    assert revoked.status_code == 303
    assert laptop.get("/account").status_code == 303
    assert client.get("/account").status_code == 200


def test_someone_elses_session_cannot_be_revoked(client, settings):
    other = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(other, OFFICER.email, OFFICER.password)
    officer_id = _session_id(other)
    sign_in(client, APPLICANT.email, APPLICANT.password)
    response = client.post(f"/account/sessions/{officer_id}/revoke", data={"csrf_token": csrf(client, "/account")})
    assert response.status_code == 404
    assert other.get("/officer").status_code == 200


def _session_id(c: TestClient) -> str:
    from web.security import session_id_for

    return session_id_for(c.cookies.get("caseline_session"))


def test_changing_the_password_signs_out_other_sessions_and_emails(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    laptop = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(laptop, APPLICANT.email, APPLICANT.password)
    page = client.get("/account/security")
    changed = client.post("/account/password", data={"csrf_token": csrf_from(page.text),
                                                     "current_password": APPLICANT.password,
                                                     "new_password": "lantern orbit meadow quietly"})
    assert changed.status_code == 303
    assert laptop.get("/account").status_code == 303
    assert client.get("/account").status_code == 200
    with session_scope(settings.database_url) as db:
        assert any("password was changed" in m.subject for m in db.exec(select(OutboundEmail)).all())


def test_the_activity_log_shows_sign_ins_and_failures(client):
    _attempt(client, APPLICANT.email, "not my password at all")
    sign_in(client, APPLICANT.email, APPLICANT.password)
    page = client.get("/account/activity")
    assert page.status_code == 200
    assert "Failed sign-in attempt" in page.text and "Signed in" in page.text


XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_free_text_is_escaped_everywhere_it_is_shown(client, settings):
    from models.forms import I765
    from tests.web.efiling import VALID, answer_all, start_draft, step_url

    sign_in(client, APPLICANT.email, APPLICANT.password)
    url = start_draft(client, I765)
    answers = {**VALID["I-765"], "family_name": XSS[:100], "city": XSS[:100], "street": XSS[:120]}
    answer_all(client, url, I765, answers)
    for step in ("your-name", "mailing-address", "review"):
        page = client.get(step_url(url, step))
        assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text, step
        assert "<img src=x" not in page.text, step


@pytest.mark.parametrize("statement", ["UPDATE audit_event SET action = 'nothing'", "DELETE FROM audit_event"])
def test_the_audit_log_is_append_only(database_url, statement):
    with session_scope(database_url) as db:
        audit(db, key="test:1", actor_id=None, action="approved", receipt_number="IOE2700000001", detail="x")
        audit(db, key="test:1", actor_id=None, action="approved", receipt_number="IOE2700000001", detail="x")
    with pytest.raises(sa.exc.DBAPIError):
        with get_engine(database_url.replace("postgresql://", "postgresql+psycopg://")).begin() as conn:
            conn.execute(sa.text(statement))
    with session_scope(database_url) as db:
        assert db.exec(sa.text("SELECT count(*) FROM audit_event")).one()[0] == 1  # type: ignore[call-overload]


def test_changing_the_email_needs_the_new_address_and_signs_out_other_sessions(client, settings):
    import re

    sign_in(client, APPLICANT.email, APPLICANT.password)
    laptop = TestClient(client.app, base_url="http://testserver", follow_redirects=False)
    sign_in(laptop, APPLICANT.email, APPLICANT.password)
    page = client.get("/account/security")
    asked = client.post("/account/email", data={"csrf_token": csrf_from(page.text), "new_email": "maria.new@example.com",
                                                "current_password": APPLICANT.password})
    assert asked.status_code == 303
    with session_scope(settings.database_url) as db:
        link_mail = db.exec(select(OutboundEmail).where(OutboundEmail.to_address == "maria.new@example.com")).one()
    path = re.search(r"/verify-email/[\w-]+", link_mail.body_text).group(0)
    assert client.get(path).status_code == 200
    assert laptop.get("/account").status_code == 303  # signed out
    assert client.get("/account").status_code == 200
    with session_scope(settings.database_url) as db:
        assert db.exec(select(User).where(User.email == "maria.new@example.com")).first() is not None
        told = db.exec(select(OutboundEmail).where(OutboundEmail.to_address == APPLICANT.email)).all()
    assert any("email address" in m.subject for m in told)


def test_unknown_accounts_cost_the_same_password_hashing_work(client, monkeypatch):
    from models import accounts

    hasher = accounts.password_hasher()
    calls: list[str] = []
    original = type(hasher).verify

    def counting(self, hash_, password):
        calls.append(hash_[:9])
        return original(self, hash_, password)

    monkeypatch.setattr(type(hasher), "verify", counting)
    _attempt(client, APPLICANT.email, "a wrong password here")
    known = list(calls)
    calls.clear()
    _attempt(client, "no.such.person@example.com", "a wrong password here")
    assert len(known) == len(calls) == 1
    assert known[0] == calls[0] == "$argon2id"  # the same algorithm and parameters, so the same work


def test_free_text_from_registration_is_escaped(client, settings):
    from models.accounts import create_user

    with session_scope(settings.database_url) as db:
        user = create_user(db, email="xss@example.com", password="velvet canyon morning tide",
                           full_name=XSS[:150])
        user.email_verified_at = utcnow()
    sign_in(client, "xss@example.com", "velvet canyon morning tide")
    page = client.get("/account")
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
