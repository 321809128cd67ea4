"""The web app's rules: sign-in, CSRF, security headers, authorisation, filing validation, language."""

from __future__ import annotations

from sqlmodel import select

from cli import DEMO_ACCOUNTS
from models.db import session_scope
from models.forms import FORMS
from models.tables import Filing
from tests.web.conftest import csrf, sign_in
from tests.web.efiling import VALID, answer_step, file_form, start_draft, step_url

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS

I765 = FORMS["I-765"]
VALID_I765 = VALID["I-765"]


def test_home_page_has_security_headers(client):
    response = client.get("/")
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    assert "strict-transport-security" not in response.headers  # dev and test run on plain http
    cookie = response.headers["set-cookie"]
    assert "caseline_csrf=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_post_without_csrf_token_is_refused(client):
    response = client.post("/sign-in", data={"email": APPLICANT.email, "password": APPLICANT.password})
    assert response.status_code == 403
    assert "Your form expired" in response.text
    assert "caseline_session" not in response.headers.get("set-cookie", "")


def test_post_with_a_forged_csrf_token_is_refused(client):
    client.get("/")
    response = client.post("/sign-in", data={"csrf_token": "0" * 64, "email": APPLICANT.email, "password": APPLICANT.password})
    assert response.status_code == 403


def test_sign_in_with_wrong_password_and_unknown_account_say_the_same(client):
    token = csrf(client, "/sign-in")
    wrong = client.post("/sign-in", data={"csrf_token": token, "email": APPLICANT.email, "password": "not the password!"})
    unknown = client.post("/sign-in", data={"csrf_token": token, "email": "nobody@example.com", "password": "not the password!"})
    assert wrong.status_code == unknown.status_code == 422
    message = "The email address or password is not right"
    assert message in wrong.text and message in unknown.text


def test_sign_in_gives_a_new_session_and_sign_out_ends_it(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    first = client.cookies.get("caseline_session")
    assert client.get("/account").status_code == 200
    sign_in_again = client.get("/sign-in")
    assert sign_in_again.status_code == 303  # already signed in
    client.post("/sign-out", data={"csrf_token": csrf(client, "/account")})
    assert client.get("/account").status_code == 303
    sign_in(client, APPLICANT.email, APPLICANT.password)
    assert client.cookies.get("caseline_session") != first


def test_pages_that_need_an_account_send_you_to_sign_in(client):
    response = client.get("/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/sign-in?next=%2Faccount"


def test_open_redirects_are_not_followed_after_sign_in(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"):
        token = csrf(client, "/sign-in")
        response = client.post(
            "/sign-in",
            data={"csrf_token": token, "email": APPLICANT.email, "password": APPLICANT.password, "next": target},
        )
        assert response.status_code == 303
        assert response.headers["location"] == "/account", target
        client.post("/sign-out", data={"csrf_token": csrf(client, "/account")})


def test_invalid_answers_are_shown_again_with_errors_and_kept(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    url = start_draft(client, I765)
    response = answer_step(client, url, I765, "mailing-address", {**VALID_I765, "zip_code": "123", "city": ""}, expect=422)
    assert "There is a problem" in response.text
    assert 'href="#zip_code"' in response.text and 'href="#city"' in response.text
    assert 'value="1 Main St"' in response.text and 'value="123"' in response.text  # what was typed is kept


def test_filing_while_temporal_is_down_keeps_the_filing(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    receipt = file_form(client, I765)
    assert len(receipt) == 13 and receipt.startswith("IOE")
    with session_scope(settings.database_url) as db:
        filing = db.exec(select(Filing)).one()
        assert filing.receipt_number == receipt
        assert filing.workflow_started is False  # started later, when Temporal answers
        assert filing.answers["date_of_birth"] == "1990-04-27"
    page = client.get(f"/cases/{receipt}")
    assert page.status_code == 200 and "We are processing your filing" in page.text


def test_another_persons_case_and_draft_are_a_404(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    receipt = file_form(client, I765)
    draft_url = start_draft(client, I765)
    client.post("/sign-out", data={"csrf_token": csrf(client, "/account")})

    from models.accounts import create_user
    from models.tables import utcnow

    with session_scope(settings.database_url) as db:
        other = create_user(db, email="other@example.com", password="another long password", full_name="Other Person")
        other.email_verified_at = utcnow()
    sign_in(client, "other@example.com", "another long password")
    assert client.get(f"/cases/{receipt}").status_code == 404
    assert client.get(draft_url).status_code == 404
    assert client.get(step_url(draft_url, "review")).status_code == 404
    assert client.get("/cases/NOTARECEIPT").status_code == 404
    assert client.get("/cases/IOE9999999999").status_code == 404


def test_applicants_cannot_open_officer_pages(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    response = client.get("/officer")
    assert response.status_code == 403
    assert "You cannot open this page" in response.text


def test_officer_sees_queues(client):
    sign_in(client, OFFICER.email, OFFICER.password)
    response = client.get("/officer")
    assert response.status_code == 200
    assert "0 cases waiting" in response.text
    assert client.get("/officer/queues/review").status_code == 200
    assert client.get("/officer/queues/nonsense").status_code == 404


def test_staff_cannot_file(client):
    sign_in(client, OFFICER.email, OFFICER.password)
    assert client.get("/efile/i-765").status_code == 403


def test_language_switch_translates_pages(client):
    token = csrf(client, "/")
    response = client.post("/language", data={"csrf_token": token, "lang": "es", "next": "/sign-in"})
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    page = client.get("/sign-in")
    assert '<html lang="es">' in page.text
    assert "Iniciar sesión" in page.text
    unsafe = client.post("/language", data={"csrf_token": token, "lang": "en", "next": "https://evil.example"})
    assert unsafe.headers["location"] == "/"


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.text and "Traceback" not in response.text


def test_htmx_poll_without_news_is_204(client, settings):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    receipt = file_form(client, I765)
    poll = client.get(f"/cases/{receipt}?since=0", headers={"HX-Request": "true"})
    assert poll.status_code == 204
    whole = client.get(f"/cases/{receipt}")
    assert whole.headers["vary"].startswith("HX-Request")


def test_an_error_during_a_partial_update_keeps_the_page(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    poll = client.get("/cases/IOE0000000001?since=0", headers={"HX-Request": "true"})
    assert poll.status_code == 404 and poll.headers["hx-reswap"] == "none"
    boosted = client.get("/cases/IOE0000000001", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert boosted.status_code == 404 and "hx-reswap" not in boosted.headers
    assert "Page not found" in boosted.text
