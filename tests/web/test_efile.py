"""E-filing each of the four forms as a guided journey: one page per topic, documents, the fee, check
your answers and sign, the payment, and the case it becomes.

The walk itself is in ``tests/web/efiling.py``. Temporal is the recording fake (``temporal``) where a
test checks that the case workflow is started, and down (``DownTemporal``) elsewhere: a filing is then
saved with its receipt number and its workflow started later, so its input is checked as
``case_input`` builds it.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS, DEMO_APPLICANT_BIRTH_DATE, DEMO_REPRESENTATIVE
from models.accounts import create_user, get_user_by_email
from models.db import get_engine, session_scope
from models.documents import EMPTY_FILE, MAX_UPLOAD_BYTES, TOO_LARGE, WRONG_TYPE, LocalDocumentStore, store_upload
from models.forms import FORMS, FormSpec, reduced_fee_income_limit, validate_answers
from models.tables import Document, Draft, Filing, Payment, SandboxCharge, WebSession, utcnow
from tests.web.conftest import csrf, csrf_from, sign_in
from tests.web.efiling import (
    APPROVED_CARD,
    DECLINED_CARD,
    PDF,
    VALID,
    answer_all,
    answer_step,
    choose_client,
    choose_fee,
    draft_id_of,
    file_form,
    pay,
    receipt_of,
    sign,
    start_draft,
    step_of,
    step_url,
    text_of,
    upload,
    upload_required_evidence,
)
from web.filing import case_input
from web.journey import question_steps
from web.routers.efile import CLIENT_NOT_FOUND
from web.templating import env, format_date

APPLICANT = DEMO_ACCOUNTS[0]
OFFICER = DEMO_ACCOUNTS[1]
OTHER_EMAIL, OTHER_PASSWORD = "other@example.com", "another long password"

# What the review page and the officer see instead of the codes that were stored.
SHOWN = {
    "I-765": ["(c)(8) Pending asylum application", "April 27, 1990", "Austin"],
    "I-130": ["US citizen", "My husband or wife", "Vietnam", "August 3, 1992"],
    "N-400": ["A123456789", "I have been a permanent resident for at least 5 years", "June 1, 2012"],
    "I-589": ["Venezuela", "Race, Political opinion", "March 2, 2024", "Spanish"],
}
CODES = {"I-765": ">c8<", "I-130": ">VN<", "N-400": ">lpr_5<", "I-589": "political_opinion<"}
FEES = {"I-765": "$470.00", "I-130": "$625.00", "N-400": "$710.00", "I-589": "$100.00"}

PARAMS = pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
I765, I130, N400, I589 = FORMS["I-765"], FORMS["I-130"], FORMS["N-400"], FORMS["I-589"]
BACK_RE = re.compile(r'class="usa-link caseline-back" href="([^"]+)"')
DECLINED_MESSAGE = "Your card was declined. No money was taken. Try another card."


@pytest.fixture
def applicant(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    return client


def browser(client: TestClient) -> TestClient:
    """A second browser on the same app, with its own cookies."""
    return TestClient(client.app, base_url="http://testserver", follow_redirects=False)


def verified_applicant(settings, email: str = OTHER_EMAIL, full_name: str = "Other Person") -> int:
    with session_scope(settings.database_url) as db:
        user = create_user(db, email=email, password=OTHER_PASSWORD, full_name=full_name)
        user.email_verified_at = utcnow()
        db.add(user)
        db.flush()
        return user.id


@pytest.fixture
def other(client, settings) -> TestClient:
    """Another applicant with a confirmed address, signed in in their own browser."""
    verified_applicant(settings)
    second = browser(client)
    sign_in(second, OTHER_EMAIL, OTHER_PASSWORD)
    return second


def rows(settings, model, *where) -> list:
    with session_scope(settings.database_url) as db:
        found = list(db.exec(select(model).where(*where)).all())
        db.expunge_all()
        return found


def draft_of(settings, url: str) -> Draft | None:
    with session_scope(settings.database_url) as db:
        draft = db.get(Draft, draft_id_of(url))
        if draft is not None:
            db.expunge(draft)
        return draft


def user_id(settings, email: str) -> int:
    with session_scope(settings.database_url) as db:
        return get_user_by_email(db, email=email).id


def step_names(form: FormSpec) -> list[str]:
    """An applicant's pages, when a fee is paid."""
    return [s.name for s in question_steps(form)] + ["evidence", "fee", "review", "pay"]


def empty_page(form: FormSpec, step: str) -> dict[str, str]:
    """What a browser sends for a page left blank: empty text boxes, lists and dates; no option ticked."""
    sent: dict[str, str] = {}
    for spec in next(s.fields for s in question_steps(form) if s.name == step):
        if spec.kind == "date":
            sent |= {f"{spec.name}_{part}": "" for part in ("month", "day", "year")}
        elif spec.kind not in ("radio", "yes_no", "checkboxes"):
            sent[spec.name] = ""
    return sent


def answer_all_but(client, url: str, form: FormSpec, skipped: str) -> None:
    for step in question_steps(form):
        if step.name != skipped:
            answer_step(client, url, form, step.name, VALID[form.code])


def assert_step_page(html: str, n: int, total: int, back: str) -> None:
    assert f"Step {n} of {total}" in text_of(html)
    assert BACK_RE.search(html).group(1) == back


def assert_field_error(html: str, name: str, message: str) -> None:
    """The summary links to the field, the message is by the field, and the field points at it."""
    assert "There is a problem" in html and f'href="#{name}"' in html, name
    assert re.search(rf'id="{re.escape(name)}-error"[^>]*>{re.escape(html_lib.escape(message, quote=False))}<', html), name
    assert re.search(rf'aria-describedby="[^"]*{re.escape(name)}-error', html), name


# --- the whole journey ------------------------------------------------------------------------


@PARAMS
def test_each_form_walks_through_every_step_to_a_case(applicant, settings, temporal, form: FormSpec) -> None:
    url = start_draft(applicant, form)
    names = step_names(form)
    assert step_of(url) == names[0]
    answers = VALID[form.code]
    for n, name in enumerate(names[:-4], 1):  # the questions
        page = applicant.get(step_url(url, name))
        assert page.status_code == 200
        assert_step_page(page.text, n, len(names), step_url(url, names[n - 2]) if n > 1 else f"/efile/{form.slug}")
        assert f'action="{step_url(url, name)}"' in page.text
        response = answer_step(applicant, url, form, name, answers)
        assert response.headers["location"] == step_url(url, names[n])

    page = applicant.get(step_url(url, "evidence"))
    assert_step_page(page.text, len(names) - 3, len(names), step_url(url, names[-5]))
    assert "Upload your documents" in page.text
    for item in form.evidence:
        assert item.label in html_lib.unescape(page.text)
    upload_required_evidence(applicant, url, form)

    page = applicant.get(step_url(url, "fee"))
    assert_step_page(page.text, len(names) - 2, len(names), step_url(url, "evidence"))
    assert f"The filing fee for Form {form.code} is {FEES[form.code]}." in page.text
    assert choose_fee(applicant, url).headers["location"] == step_url(url, "review")

    review = applicant.get(step_url(url, "review"))
    assert_step_page(review.text, len(names) - 1, len(names), step_url(url, "fee"))
    assert "Check your answers before you submit" in review.text
    assert "Some answers are missing" not in review.text
    for text in SHOWN[form.code]:
        assert text in review.text, text
    assert CODES[form.code] not in review.text
    assert f"{FEES[form.code]}, paid by card after you sign" in review.text
    signed = sign(applicant, url, "Maria Lopez")
    assert signed.headers["location"] == step_url(url, "pay")

    page = applicant.get(step_url(url, "pay"))
    assert_step_page(page.text, len(names), len(names), step_url(url, "review"))
    assert f"Amount to pay: {FEES[form.code]}" in page.text
    receipt = receipt_of(pay(applicant, url))

    with session_scope(settings.database_url) as db:
        filing = db.get(Filing, receipt)
        assert filing.form_type == form.code and filing.applicant_id == user_id(settings, APPLICANT.email)
        assert filing.representative_id is None and filing.signature == "Maria Lopez"
        assert set(filing.answers) == {spec.name for spec in form.fields}
        assert filing.fee_cents == form.fee_cents and not filing.fee_waiver_requested
        assert filing.workflow_started is True
        expected = case_input(filing)
        assert db.exec(select(Draft)).all() == []
    assert temporal.started == [(receipt, expected)]
    assert expected.plan == form.stage_plan(filing.answers) and expected.sla_days == form.sla_days
    assert expected.interview == form.interview and expected.after_approval == form.after_approval(filing.answers)
    case = applicant.get(f"/cases/{receipt}?filed=1")
    assert case.status_code == 200
    assert "Your application was submitted" in case.text and receipt in case.text
    assert applicant.get(url).status_code == 404  # the draft became the case


def test_the_workflow_input_of_each_form(applicant, settings) -> None:
    expected = {
        "I-765": (["intake", "biometrics", "review", "decision", "post_decision"], "never", ["card_produced", "card_mailed"]),
        "I-130": (["intake", "review", "decision", "post_decision"], "on_request", ["dos"]),
        "N-400": (["intake", "biometrics", "interview", "review", "decision", "post_decision"], "always", ["oath"]),
        "I-589": (["intake", "biometrics", "interview", "review", "decision"], "always", []),
    }
    receipts = {form.code: file_form(applicant, form) for form in FORMS.values()}
    with session_scope(settings.database_url) as db:
        inputs = {code: case_input(db.get(Filing, receipt)) for code, receipt in receipts.items()}
        assert all(not f.workflow_started for f in db.exec(select(Filing)).all())  # Temporal is down: started later
    assert {code: (i.plan, i.interview, i.after_approval) for code, i in inputs.items()} == expected
    assert inputs["N-400"].sla_days["interview"] > 0 and "interview" not in inputs["I-765"].plan
    assert all(i.representative_id is None for i in inputs.values())


def test_a_relative_in_the_united_states_is_not_sent_to_the_department_of_state(applicant, settings) -> None:
    answers = {**VALID["I-130"], "beneficiary_abroad": "no", "beneficiary_country": "VN"}
    url = start_draft(applicant, I130)
    answer_all(applicant, url, I130, answers)
    review = applicant.get(step_url(url, "review")).text
    assert "Country where your relative lives" not in review  # the question did not apply
    upload_required_evidence(applicant, url, I130)
    choose_fee(applicant, url)
    sign(applicant, url, "Maria Lopez")
    receipt = receipt_of(pay(applicant, url))
    with session_scope(settings.database_url) as db:
        filing = db.get(Filing, receipt)
        assert filing.answers["beneficiary_country"] == ""
        inp = case_input(filing)
    assert inp.plan == ["intake", "review", "decision"] and inp.after_approval == []


def test_an_unknown_form_or_step_is_a_404(applicant) -> None:
    assert applicant.get("/efile/i-999").status_code == 404
    assert applicant.post("/efile/i-999", data={"csrf_token": csrf(applicant, "/account")}).status_code == 404
    url = start_draft(applicant, I765)
    assert applicant.get(step_url(url, "no-such-step")).status_code == 404
    assert applicant.get(step_url(url, "client")).status_code == 404  # an applicant names no client
    assert applicant.get("/efile/drafts/00000000-0000-0000-0000-000000000000/your-name").status_code == 404
    assert applicant.get("/efile/drafts/" + "x" * 300).status_code == 404


def test_the_start_page_says_what_is_needed(applicant) -> None:
    page = applicant.get("/efile/n-400")
    assert page.status_code == 200
    text = html_lib.unescape(text_of(page.text))
    assert "Form N-400" in text and "Application for Naturalization" in text
    assert "The filing fee is $710.00. You pay it by card at the end, or ask for a fee waiver." in text
    assert "A reduced fee of $380.00 applies to some household incomes." in text
    for item in N400.evidence:
        assert item.label in text
    assert "or ask for a fee waiver" not in text_of(applicant.get("/efile/i-130").text)


def test_the_dashboard_offers_all_four_forms_with_their_fees(applicant) -> None:
    html = applicant.get("/account").text
    for form in FORMS.values():
        assert f'href="/efile/{form.slug}"' in html
        assert f"Start Form {form.code}" in html and form.title in html
        assert f"Filing fee: {FEES[form.code]}" in html
    assert "Reduced fee for eligible household income: $380.00" in html


# --- the question pages -------------------------------------------------------------------------


@PARAMS
def test_each_page_of_questions_shows_its_questions_with_labels(applicant, form: FormSpec) -> None:
    url = start_draft(applicant, form)
    for step in question_steps(form):
        html = applicant.get(step_url(url, step.name)).text
        assert f"Form {form.code}" in html and form.title in html
        assert 'method="post"' in html and "Save and continue" in html and 'name="save_and_exit"' in html
        for spec in step.fields:
            assert spec.label in html_lib.unescape(html), spec.name
            target = f'id="{spec.name}_month"' if spec.kind == "date" else f'id="{spec.name}"'
            assert target in html, spec.name
            if spec.hint and spec.kind != "date":
                assert f'id="{spec.name}-hint"' in html
                assert re.search(rf'aria-describedby="{spec.name}-hint"', html), spec.name
        others = {f.name for f in form.fields} - {f.name for f in step.fields}
        for name in others:
            assert f'name="{name}"' not in html and f'name="{name}_month"' not in html, name


def test_yes_no_questions_are_radios_and_countries_a_list(applicant) -> None:
    url = start_draft(applicant, I130)
    html = applicant.get(step_url(url, "about-your-relative")).text
    assert 'type="radio" name="beneficiary_abroad" value="yes"' in html
    assert 'type="radio" name="beneficiary_abroad" value="no"' in html
    assert '<select class="usa-select" id="beneficiary_country_of_birth"' in html
    assert '<option value="MX">Mexico</option>' in html
    url = start_draft(applicant, I589)
    html = applicant.get(step_url(url, "your-claim")).text
    assert html.count('type="checkbox" name="protected_grounds"') == 5
    assert "Membership in a particular social group" in html


def test_only_birth_dates_ask_the_browser_for_a_birthday(applicant) -> None:
    html = applicant.get(step_url(start_draft(applicant, N400), "about-you")).text
    assert re.search(r'id="date_of_birth_month" name="date_of_birth_month" inputmode="numeric" maxlength="2" '
                     r'value="\d*" autocomplete="bday-month"', html)
    lpr_month = re.search(r'<input[^>]*id="lpr_date_month"[^>]*>', html).group(0)
    assert "autocomplete" not in lpr_month


def test_a_new_form_starts_with_the_applicants_own_details(applicant, settings) -> None:
    with session_scope(settings.database_url) as db:
        user = get_user_by_email(db, email=APPLICANT.email)
        user.date_of_birth = date(1980, 2, 10)
        user.a_number = "A012345678"
        user.mailing_address = {"street": "9 Elm St", "apartment": "", "city": "Dallas", "state": "TX", "zip_code": "75201"}
        db.add(user)
    url = start_draft(applicant, N400)
    html = applicant.get(step_url(url, "about-you")).text
    assert 'id="a_number" name="a_number" value="A012345678"' in html
    assert 'name="date_of_birth_year" inputmode="numeric" minlength="4" maxlength="4" value="1980"' in html
    html = applicant.get(step_url(url, "mailing-address")).text
    assert 'name="street" value="9 Elm St"' in html and 'name="zip_code" value="75201"' in html
    assert '<option value="TX" selected>' in html
    assert draft_of(settings, url).answers == {
        "street": "9 Elm St", "city": "Dallas", "state": "TX", "zip_code": "75201", "date_of_birth": "1980-02-10",
        "a_number": "A012345678",
    }
    # On a petition the date of birth asked is the relative's: nothing is filled in for it.
    url = start_draft(applicant, I130)
    html = applicant.get(step_url(url, "about-your-relative")).text
    assert 'name="beneficiary_date_of_birth_year" inputmode="numeric" minlength="4" maxlength="4" value=""' in html
    assert 'name="city" value="Dallas"' in applicant.get(step_url(url, "your-mailing-address")).text
    assert "date_of_birth" not in draft_of(settings, url).answers


# --- refused answers ------------------------------------------------------------------------------


@PARAMS
def test_a_blank_page_is_refused_with_a_summary_linking_to_each_field(applicant, settings, form: FormSpec) -> None:
    url = start_draft(applicant, form)
    for step in question_steps(form):
        response = answer_step(applicant, url, form, step.name, {}, expect=422, **empty_page(form, step.name))
        html = response.text
        assert "There is a problem" in html and 'role="alert"' in html
        assert html.count('class="usa-error-message"') == len(
            [s for s in step.fields if s.required and s.only_if is None])
        for spec in step.fields:
            if spec.required and spec.only_if is None:
                assert f'href="#{spec.name}"' in html, spec.name
                assert f'id="{spec.name}-error"' in html, spec.name
                assert re.search(rf'aria-describedby="[^"]*{spec.name}-error', html), spec.name
            else:
                assert f'href="#{spec.name}"' not in html, spec.name
        assert f"Step {[s.name for s in question_steps(form)].index(step.name) + 1} of" in text_of(html)
    assert draft_of(settings, url).completed_steps == []


@PARAMS
def test_a_bad_answer_is_refused_and_saved_as_typed(applicant, settings, form: FormSpec) -> None:
    url = start_draft(applicant, form)
    answer_all(applicant, url, form)
    address = [s for s in question_steps(form) if any(f.name == "zip_code" for f in s.fields)][0].name
    response = answer_step(applicant, url, form, address, {**VALID[form.code], "zip_code": "123", "city": ""},
                           expect=422)
    assert response.text.count('class="usa-error-message"') == 2
    assert_field_error(response.text, "zip_code", "Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000")
    assert_field_error(response.text, "city", "Enter this information")
    assert 'name="zip_code" value="123"' in response.text and 'name="street" value="1 Main St"' in response.text
    draft = draft_of(settings, url)
    assert draft.answers["zip_code"] == "123" and draft.answers["city"] == "" and draft.answers["street"] == "1 Main St"
    # Coming back to the page shows what is still wrong.
    again = applicant.get(step_url(url, address))
    assert again.status_code == 200 and 'value="123"' in again.text and 'href="#zip_code"' in again.text


def test_refused_checkboxes_and_radios_stay_ticked(applicant, settings) -> None:
    url = start_draft(applicant, I589)
    html = answer_step(applicant, url, I589, "your-claim", {"protected_grounds": ["race", "political_opinion"]},
                       expect=422).text
    assert 'id="protected_grounds" type="checkbox" name="protected_grounds" value="race" checked' in html
    assert 'value="political_opinion" checked' in html and 'value="religion" checked' not in html
    assert_field_error(html, "include_family", "Select yes or no")
    html = answer_step(applicant, url, I589, "your-claim", {"include_family": "no"}, expect=422).text
    assert 'id="include_family-no" type="radio" name="include_family" value="no" checked' in html
    assert 'checked' not in re.search(r'<fieldset[^>]*>\s*<legend[^>]*>Why do you fear harm.*?</fieldset>', html, re.S).group(0)
    assert draft_of(settings, url).answers["protected_grounds"] == ""  # nothing ticked: saved as nothing

    url = start_draft(applicant, I130)
    data = {"family_name": "", "given_name": "Maria", "petitioner_status": "lpr", "relationship": "spouse"}
    html = answer_step(applicant, url, I130, "about-you-the-petitioner", data, expect=422).text
    assert 'id="petitioner_status-lpr" type="radio" name="petitioner_status" value="lpr" checked' in html
    assert 'id="relationship" type="radio" name="relationship" value="spouse" checked' in html


@pytest.mark.parametrize(
    ("form_code", "step", "changes", "field", "message"),
    [
        ("I-130", "about-your-relative", {"beneficiary_country": ""}, "beneficiary_country", "Select a country"),
        ("I-130", "about-you-the-petitioner", {"petitioner_status": "lpr", "relationship": "sibling"}, "relationship",
         "A permanent resident can file for a husband, wife or unmarried son or daughter only"),
        ("N-400", "about-you", {"a_number": "B123"}, "a_number", "Enter an A-Number"),
        ("N-400", "filing-fee", {"reduced_fee": "yes"}, "household_size", "Select an option"),
        ("N-400", "about-you", {"lpr_date_year": str(date.today().year - 1)}, "lpr_date",
         "You can apply from 90 days before you have been a permanent resident for 5 years"),
        ("I-589", "your-claim", {"protected_grounds": []}, "protected_grounds", "Select at least one"),
        ("I-589", "about-you", {"arrival_date_year": "1950"}, "arrival_date", "This date cannot be before your date of birth"),
    ],
)
def test_each_form_refuses_its_own_kinds_of_mistakes_on_the_page_and_at_review(
    applicant, form_code, step, changes, field, message
) -> None:
    form = FORMS[form_code]
    url = start_draft(applicant, form)
    # Only the pages before this one are answered: a page's checks do not wait for the whole form.
    for earlier in [s.name for s in question_steps(form)]:
        if earlier == step:
            break
        answer_step(applicant, url, form, earlier, VALID[form_code])
    response = answer_step(applicant, url, form, step, {**VALID[form_code], **changes}, expect=422)
    assert f'href="#{field}"' in response.text and message in response.text
    # Saved as typed; at the end, the check-your-answers page still lists it, with a link to fix it.
    answer_all_but(applicant, url, form, step)
    review = applicant.get(step_url(url, "review")).text
    assert f'href="{step_url(url, step)}?return=review#{field}"' in review
    assert message in review


# --- check your answers ---------------------------------------------------------------------------


def test_change_links_go_to_the_right_page_and_saving_there_returns_to_review(applicant, settings) -> None:
    url = start_draft(applicant, I589)
    answer_all(applicant, url, I589)
    upload_required_evidence(applicant, url, I589)
    choose_fee(applicant, url)
    review = applicant.get(step_url(url, "review")).text
    for step in question_steps(I589):
        for spec in step.fields:
            assert f'href="{step_url(url, step.name)}?return=review#{spec.name}"' in review, spec.name
    assert f'href="{step_url(url, "evidence")}?return=review#item-identity"' in review
    assert f'href="{step_url(url, "fee")}?return=review"' in review

    change = applicant.get(step_url(url, "your-claim") + "?return=review")
    assert change.status_code == 200
    assert BACK_RE.search(change.text).group(1) == step_url(url, "review")
    assert "Back to check your answers" in change.text and "Save and go back to check your answers" in change.text
    assert f'action="{step_url(url, "your-claim")}?return=review"' in change.text
    assert 'value="race" checked' in change.text and 'value="political_opinion" checked' in change.text
    saved = answer_step(applicant, url, I589, "your-claim", {"protected_grounds": ["religion"], "include_family": "no"},
                        query="?return=review")
    assert saved.headers["location"] == step_url(url, "review")
    assert draft_of(settings, url).answers["protected_grounds"] == "religion"
    assert "Religion" in applicant.get(step_url(url, "review")).text

    # The documents and the fee pages go back to the check-your-answers page too, also after an upload.
    uploaded = upload(applicant, url, "country_conditions", query="?return=review")
    assert uploaded.headers["location"] == step_url(url, "evidence") + "?return=review#item-country_conditions"
    refused = upload(applicant, url, "country_conditions", data=b"", query="?return=review", expect=422)
    assert BACK_RE.search(refused.text).group(1) == step_url(url, "review")
    evidence = applicant.get(step_url(url, "evidence") + "?return=review")
    assert f'action="{step_url(url, "evidence")}?return=review"' in evidence.text
    assert f'action="{step_url(url, "evidence/upload")}?return=review"' in evidence.text
    (added,) = rows(settings, Document, Document.evidence_item == "country_conditions")
    removed = applicant.post(f"{step_url(url, 'evidence')}/{added.id}/remove?return=review",
                             data={"csrf_token": csrf_from(evidence.text)})
    assert removed.headers["location"] == step_url(url, "evidence") + "?return=review#item-country_conditions"
    back = applicant.post(step_url(url, "evidence") + "?return=review", data={"csrf_token": csrf_from(evidence.text)})
    assert back.headers["location"] == step_url(url, "review")
    fee = applicant.get(step_url(url, "fee") + "?return=review")
    back = applicant.post(step_url(url, "fee") + "?return=review", data={"csrf_token": csrf_from(fee.text), "fee_option": "pay"})
    assert back.headers["location"] == step_url(url, "review")
    # An answer that becomes wrong on the way back is refused there, and the link back is kept.
    wrong = answer_step(applicant, url, I589, "mailing-address", {**VALID["I-589"], "zip_code": "1"}, expect=422,
                        query="?return=review")
    assert f'action="{step_url(url, "mailing-address")}?return=review"' in wrong.text


def test_review_lists_every_remaining_problem_and_signing_waits_until_they_are_fixed(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    review = applicant.get(step_url(url, "review"))
    assert review.status_code == 200
    html = review.text
    assert "Some answers are missing or need correcting" in html
    _, errors = validate_answers(I765, draft_of(settings, url).answers, today=date.today())
    assert set(errors) == {"family_name", "given_name", "eligibility_category", "street", "city", "state", "zip_code"}
    for field in errors:
        step = next(s.name for s in question_steps(I765) if any(f.name == field for f in s.fields))
        assert f'href="{step_url(url, step)}?return=review#{field}"' in html, field
    assert f'href="{step_url(url, "evidence")}?return=review">Upload the documents marked as required' in html
    assert f'href="{step_url(url, "fee")}?return=review">Tell us how you will pay the fee' in html
    assert 'name="signature"' not in html  # nothing to sign yet
    assert applicant.get(step_url(url, "pay")).headers["location"] == step_url(url, "review")

    refused = sign(applicant, url, "Maria Lopez", expect=422)
    assert "Some answers are missing or need correcting" in refused.text
    assert draft_of(settings, url).signed_at is None and rows(settings, Filing) == []

    answer_all(applicant, url, I765)
    upload_required_evidence(applicant, url, I765)
    still = applicant.get(step_url(url, "review")).text
    assert "Upload the documents" not in still and "Tell us how you will pay the fee" in still
    choose_fee(applicant, url)
    assert "Some answers are missing" not in applicant.get(step_url(url, "review")).text
    assert sign(applicant, url, "Maria Lopez").headers["location"] == step_url(url, "pay")


# --- documents ----------------------------------------------------------------------------------


def test_required_documents_need_a_file(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    page = applicant.get(step_url(url, "evidence"))
    refused = applicant.post(step_url(url, "evidence"), data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code == 422
    for item in I765.evidence:
        if item.required:
            assert_field_error(refused.text, f"file-{item.code}", "Upload at least one file for this document")
        else:
            assert f'href="#file-{item.code}"' not in refused.text
    assert "evidence" not in draft_of(settings, url).completed_steps
    upload(applicant, url, "photos")
    refused = applicant.post(step_url(url, "evidence"), data={"csrf_token": csrf_from(page.text)})
    assert refused.status_code == 422 and 'href="#file-photos"' not in refused.text
    assert 'href="#file-eligibility_proof"' in refused.text
    # Leaving to come back later is allowed with documents still missing.
    later = applicant.post(step_url(url, "evidence"), data={"csrf_token": csrf_from(page.text), "save_and_exit": "1"})
    assert later.headers["location"] == "/account?saved=1"


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + b"\x00" * 100, "x.pdf", WRONG_TYPE),  # a renamed program
        (b"<html><script>alert(1)</script></html>", "scan.pdf", WRONG_TYPE),
        (b"%PDF-1.4\n" + b"0" * (MAX_UPLOAD_BYTES - 8), "big.pdf", TOO_LARGE),
        (b"", "empty.pdf", EMPTY_FILE),
    ],
    ids=["executable", "html", "too-large", "empty"],
)
def test_files_that_are_not_documents_are_refused(applicant, settings, data, name, message) -> None:
    url = start_draft(applicant, I765)
    refused = upload(applicant, url, "photos", data=data, name=name, expect=422)
    assert_field_error(refused.text, "file-photos", message)
    assert "Upload your documents" in refused.text and "Step 4 of 7" in text_of(refused.text)
    assert rows(settings, Document) == []
    assert not settings.documents_dir.exists() or not any(p.is_file() for p in settings.documents_dir.rglob("*"))


def test_a_file_of_exactly_6_mb_is_accepted_and_an_unknown_document_is_a_404(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    upload(applicant, url, "photos", data=b"%PDF-1.4\n" + b"0" * (MAX_UPLOAD_BYTES - 9))
    (document,) = rows(settings, Document)
    assert document.size == MAX_UPLOAD_BYTES and document.draft_id == draft_id_of(url)
    assert upload(applicant, url, "not_an_item", expect=404).status_code == 404
    upload(applicant, url, "other")  # anything else that supports the application
    assert {d.evidence_item for d in rows(settings, Document)} == {"photos", "other"}


def test_an_application_takes_at_most_40_documents(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    with session_scope(settings.database_url) as db:
        owner = get_user_by_email(db, email=APPLICANT.email).id
        for n in range(40):
            store_upload(db, LocalDocumentStore(settings.documents_dir), data=PDF + str(n).encode(), raw_name=f"{n}.pdf",
                         owner_id=owner, kind="evidence", draft_id=draft_id_of(url), evidence_item="other")
    refused = upload(applicant, url, "photos", expect=422)
    assert_field_error(refused.text, "file-photos", "You can upload at most 40 documents with one application")
    assert len(rows(settings, Document)) == 40


@pytest.mark.parametrize(
    ("raw_name", "shown"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\system32\\evil.pdf", "evil.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.pdf"),
        ("a" * 300 + ".pdf", "a" * 116 + ".pdf"),
        ("CON.pdf", "document.pdf"),
        ("lpt1", "document.pdf"),
        ('<img src=x onerror=alert(1)>.pdf', "img srcx onerroralert(1).pdf"),
    ],
    ids=["traversal", "windows-traversal", "rtl-override", "long", "reserved", "reserved-no-extension", "markup"],
)
def test_odd_file_names_are_shown_safely_and_never_used_as_a_path(applicant, settings, raw_name, shown) -> None:
    url = start_draft(applicant, I765)
    data = PDF + raw_name.encode("utf-8", "replace")  # different bytes for each name
    upload(applicant, url, "photos", data=data, name=raw_name)
    (document,) = rows(settings, Document)
    assert document.display_name == shown
    digest = hashlib.sha256(data).hexdigest()
    assert document.sha256 == digest
    # The bytes are kept under their SHA-256 only, nowhere else.
    stored = [p for p in settings.data_dir.rglob("*") if p.is_file() and p.parent != settings.data_dir]
    assert [p.relative_to(settings.documents_dir).as_posix() for p in stored] == [f"{digest[:2]}/{digest[2:4]}/{digest}"]
    assert stored[0].read_bytes() == data
    assert not (settings.data_dir.parent / "etc").exists() and not (settings.data_dir / "etc").exists()
    page = applicant.get(step_url(url, "evidence")).text
    assert html_lib.escape(shown, quote=False) in page and "\u202e" not in page and "<img src=x" not in page
    opened = applicant.get(f"/documents/{document.id}")
    assert opened.status_code == 200 and opened.content == data


def test_a_file_can_be_removed(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    upload(applicant, url, "photos", name="first.pdf")
    upload(applicant, url, "photos", data=PDF + b"2", name="second.pdf")
    first = next(d for d in rows(settings, Document) if d.display_name == "first.pdf")
    page = applicant.get(step_url(url, "evidence"))
    assert f'action="{step_url(url, "evidence")}/{first.id}/remove"' in page.text
    removed = applicant.post(f"{step_url(url, 'evidence')}/{first.id}/remove", data={"csrf_token": csrf_from(page.text)})
    assert removed.status_code == 303 and removed.headers["location"] == step_url(url, "evidence") + "#item-photos"
    assert [d.display_name for d in rows(settings, Document)] == ["second.pdf"]
    page = applicant.get(step_url(url, "evidence")).text
    assert "first.pdf" not in page and "second.pdf" in page
    again = applicant.post(f"{step_url(url, 'evidence')}/{first.id}/remove", data={"csrf_token": csrf_from(page)})
    assert again.status_code == 404


def test_another_persons_document_cannot_be_removed_or_opened(applicant, other, settings) -> None:
    mine = start_draft(applicant, I765)
    upload(applicant, mine, "photos", name="mine.pdf")
    theirs = start_draft(other, I765)
    upload(other, theirs, "photos", data=PDF + b"theirs", name="theirs.pdf")
    their_document = next(d for d in rows(settings, Document) if d.display_name == "theirs.pdf")
    my_document = next(d for d in rows(settings, Document) if d.display_name == "mine.pdf")
    token = csrf(applicant, step_url(mine, "evidence"))
    assert applicant.post(f"{step_url(mine, 'evidence')}/{their_document.id}/remove", data={"csrf_token": token}).status_code == 404
    assert applicant.post(f"{step_url(theirs, 'evidence')}/{their_document.id}/remove", data={"csrf_token": token}).status_code == 404
    assert applicant.post(f"{step_url(theirs, 'evidence')}/{my_document.id}/remove", data={"csrf_token": token}).status_code == 404
    assert applicant.get(f"/documents/{their_document.id}").status_code == 404
    assert len(rows(settings, Document)) == 2


def test_after_filing_the_documents_belong_to_the_case(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    answer_all(applicant, url, I765)
    upload(applicant, url, "previous_ead", name="old work permit.pdf", data=PDF + b"ead")
    upload_required_evidence(applicant, url, I765)
    review = applicant.get(step_url(url, "review")).text
    assert "old work permit.pdf" in review and "photos.pdf" in review
    choose_fee(applicant, url)
    sign(applicant, url, "Maria Lopez")
    receipt = receipt_of(pay(applicant, url))
    documents = rows(settings, Document)
    assert len(documents) == 4
    assert all(d.receipt_number == receipt and d.draft_id is None for d in documents)
    case = applicant.get(f"/cases/{receipt}").text
    for document in documents:
        assert html_lib.escape(document.display_name, quote=False) in case
        assert applicant.get(f"/documents/{document.id}").status_code == 200


# --- the fee ------------------------------------------------------------------------------------


def test_a_fee_option_must_be_chosen_and_a_waiver_needs_a_reason_and_an_explanation(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    refused = choose_fee(applicant, url, "", expect=422)
    assert_field_error(refused.text, "fee_option", "Select how you will pay the fee")
    refused = choose_fee(applicant, url, "waiver", reason="", explanation="   ", expect=422)
    assert_field_error(refused.text, "waiver_reason", "Select why you ask for a fee waiver")
    assert_field_error(refused.text, "waiver_explanation", "Explain why you cannot pay the fee")
    assert 'id="fee_option-waiver" type="radio" name="fee_option" value="waiver" checked' in refused.text
    refused = choose_fee(applicant, url, "waiver", reason="made_up", explanation="x" * 2001, expect=422)
    assert "Select why you ask for a fee waiver" in refused.text
    assert "Use at most 2000 characters, without special characters" in refused.text
    draft = draft_of(settings, url)
    assert draft.fee_option == "waiver" and "fee" not in draft.completed_steps
    assert choose_fee(applicant, url, "waiver").headers["location"] == step_url(url, "review")
    draft = draft_of(settings, url)
    assert (draft.fee_option, draft.waiver_reason, draft.waiver_explanation) == (
        "waiver", "means_tested", "I receive SNAP benefits.")
    # Choosing to pay after all forgets the waiver.
    choose_fee(applicant, url, "pay")
    draft = draft_of(settings, url)
    assert (draft.fee_option, draft.waiver_reason, draft.waiver_explanation) == ("pay", "", "")


def test_a_fee_waiver_is_filed_at_signing_without_a_payment(applicant, settings, temporal) -> None:
    url = start_draft(applicant, I765)
    answer_all(applicant, url, I765)
    upload_required_evidence(applicant, url, I765)
    choose_fee(applicant, url, "waiver", reason="low_income", explanation="I earn $900 a month.")
    review = applicant.get(step_url(url, "review")).text
    assert "Fee waiver requested" in review and "Sign and submit application" in review
    assert "Step 6 of 6" in text_of(review)  # no payment step
    assert applicant.get(step_url(url, "pay")).status_code == 404
    receipt = receipt_of(sign(applicant, url, "Maria Lopez"))
    (filing,) = rows(settings, Filing)
    assert filing.receipt_number == receipt and filing.fee_waiver_requested is True
    assert (filing.waiver_reason, filing.waiver_explanation) == ("low_income", "I earn $900 a month.")
    assert filing.fee_cents == 0 and filing.payment_id is None
    assert rows(settings, Payment) == [] and rows(settings, SandboxCharge) == []
    assert [started for started, _ in temporal.started] == [receipt]
    case = applicant.get(f"/cases/{receipt}").text
    assert "You asked for a fee waiver. An officer decides on it with your case." in case


def test_a_waiver_signed_twice_files_one_case_and_shows_it_both_times(applicant, settings, temporal) -> None:
    url = start_draft(applicant, I765)
    answer_all(applicant, url, I765)
    upload_required_evidence(applicant, url, I765)
    choose_fee(applicant, url, "waiver", reason="hardship", explanation="No income yet.")
    token = csrf(applicant, step_url(url, "review"))
    signed = {"csrf_token": token, "attest": "yes", "signature": "Maria Lopez"}
    first = applicant.post(step_url(url, "review"), data=signed)
    second = applicant.post(step_url(url, "review"), data=signed)  # a double click: the first one filed
    assert receipt_of(first) == receipt_of(second)
    assert len(rows(settings, Filing)) == 1 and rows(settings, Draft) == []


def test_an_i130_cannot_ask_for_a_fee_waiver(applicant, settings) -> None:
    url = start_draft(applicant, I130)
    page = applicant.get(step_url(url, "fee")).text
    assert 'name="fee_option"' not in page and 'name="waiver_reason"' not in page
    assert "A fee waiver cannot be requested for Form I-130." in page
    # A waiver posted anyway is not one: the fee is paid.
    assert choose_fee(applicant, url, "waiver").headers["location"] == step_url(url, "review")
    draft = draft_of(settings, url)
    assert (draft.fee_option, draft.waiver_reason, draft.waiver_explanation) == ("pay", "", "")
    answer_all(applicant, url, I130)
    upload_required_evidence(applicant, url, I130)
    assert "$625.00, paid by card after you sign" in applicant.get(step_url(url, "review")).text
    assert sign(applicant, url, "Maria Lopez").headers["location"] == step_url(url, "pay")
    receipt = receipt_of(pay(applicant, url))
    assert rows(settings, Filing, Filing.receipt_number == receipt)[0].fee_waiver_requested is False


def test_the_reduced_naturalization_fee_is_what_is_shown_and_paid(applicant, settings) -> None:
    answers = {**VALID["N-400"], "reduced_fee": "yes", "household_size": "4", "household_income": "$52,000"}
    url = start_draft(applicant, N400)
    answer_all(applicant, url, N400, answers)
    upload_required_evidence(applicant, url, N400)
    fee = applicant.get(step_url(url, "fee")).text
    assert "You asked for the reduced fee: $380.00 instead of $710.00." in fee
    assert "I will pay $380.00 by card" in fee
    choose_fee(applicant, url)
    review = applicant.get(step_url(url, "review")).text
    assert "$380.00, paid by card after you sign" in review and "$52,000.00" in review
    assert "$710.00" not in review
    sign(applicant, url, "Maria Lopez")
    page = applicant.get(step_url(url, "pay")).text
    assert "Amount to pay: $380.00" in page and "Pay $380.00 and submit" in page and "$710.00" not in page
    receipt = receipt_of(pay(applicant, url))
    (filing,) = rows(settings, Filing)
    (payment,) = rows(settings, Payment)
    assert filing.fee_cents == payment.amount_cents == 38_000 and filing.payment_id == payment.id
    assert "$380.00" in applicant.get(f"/cases/{receipt}").text


def test_a_household_income_above_400_percent_of_the_guideline_is_refused(applicant, settings) -> None:
    limit = reduced_fee_income_limit(3)
    assert limit == (15_650 + 2 * 5_500) * 4
    url = start_draft(applicant, N400)
    for step in ("your-name", "about-you"):
        answer_step(applicant, url, N400, step, VALID["N-400"])
    data = {"reduced_fee": "yes", "household_size": "3", "household_income": f"{limit + 1:,}"}
    refused = answer_step(applicant, url, N400, "filing-fee", data, expect=422)
    assert_field_error(refused.text, "household_income", "With this household income you cannot pay the reduced fee: "
                                                         "answer No to the reduced fee, or check the amount")
    assert draft_of(settings, url).answers["household_income"] == str(limit + 1)
    answer_step(applicant, url, N400, "filing-fee", {**data, "household_income": str(limit)})
    answer_step(applicant, url, N400, "filing-fee", {**data, "household_size": "4", "household_income": str(limit + 1)})


# --- the payment --------------------------------------------------------------------------------


def signed_i765(client) -> str:
    url = start_draft(client, I765)
    answer_all(client, url, I765)
    upload_required_evidence(client, url, I765)
    choose_fee(client, url)
    assert sign(client, url, "Maria Lopez").headers["location"] == step_url(url, "pay")
    return url


def test_a_declined_card_takes_no_money_and_another_card_files_the_case(applicant, settings) -> None:
    url = signed_i765(applicant)
    declined = pay(applicant, url, card=DECLINED_CARD, expect=422)
    assert_field_error(declined.text, "card_number", DECLINED_MESSAGE)
    assert "Pay $470.00 and submit" in declined.text
    assert draft_of(settings, url) is not None and rows(settings, Filing) == []
    (payment,) = rows(settings, Payment)
    assert payment.status == "requires_payment" and payment.last_decline_code == "card_declined"

    receipt = receipt_of(pay(applicant, url, card=APPROVED_CARD))
    (filing,) = rows(settings, Filing)
    (payment,) = rows(settings, Payment)
    assert filing.receipt_number == receipt and filing.payment_id == payment.id
    assert payment.status == "succeeded" and payment.receipt_number == receipt and payment.reference.startswith("PAY-")
    assert [c.status for c in rows(settings, SandboxCharge)].count("succeeded") == 1
    case = text_of(applicant.get(f"/cases/{receipt}").text)
    assert "Amount paid $470.00" in case and "Card Visa ending in 4242" in case
    assert f"Payment reference {payment.reference}" in case


def test_a_double_clicked_payment_charges_once_and_files_one_case(applicant, settings) -> None:
    url = signed_i765(applicant)
    first = pay(applicant, url, attempt_key="double-click-key-1")
    second = pay_again(applicant, url, "double-click-key-1")
    assert second.status_code == 303 and second.headers["location"] == first.headers["location"]
    receipt_of(first)
    assert len(rows(settings, Filing)) == 1 and len(rows(settings, Payment)) == 1
    charges = rows(settings, SandboxCharge)
    assert [c.status for c in charges] == ["succeeded"]


def pay_again(client, url: str, attempt_key: str):
    """The second request of a double click: the same form, posted once more (the page has gone)."""
    token = csrf(client, "/account")
    data = {"csrf_token": token, "attempt_key": attempt_key, "card_number": APPROVED_CARD, "card_name": "Maria Lopez",
            "card_expiry_month": "12", "card_expiry_year": "2035", "card_cvc": "123", "card_postal_code": "78701"}
    return client.post(step_url(url, "pay"), data=data)


def test_invalid_card_details_are_refused_before_any_charge(applicant, settings) -> None:
    url = signed_i765(applicant)
    refused = pay(applicant, url, card="1234 5678", expect=422, card_expiry_month="13", card_cvc="", card_name="",
                  card_postal_code="ABC")
    assert_field_error(refused.text, "card_number", "The card number must be between 12 and 19 digits")
    assert_field_error(refused.text, "card_name", "Enter the name on the card")
    assert "Enter the expiry month as a number from 1 to 12" in refused.text and 'href="#card_expiry_month"' in refused.text
    assert_field_error(refused.text, "card_cvc", "Enter the security code")
    assert_field_error(refused.text, "card_postal_code", "Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000")
    assert rows(settings, Payment) == [] and rows(settings, SandboxCharge) == [] and rows(settings, Filing) == []
    assert draft_of(settings, url) is not None


def every_value(settings) -> list[str]:
    """Every value in every column of every table, as text."""
    engine = get_engine(settings.database_url)
    values: list[str] = []
    with engine.connect() as connection:
        for table in sa.inspect(engine).get_table_names():
            for row in connection.execute(sa.text(f'SELECT * FROM "{table}"')):
                values += [str(value) for value in row if value is not None]
    return values


def test_card_numbers_and_security_codes_are_never_stored_nor_shown_again(applicant, settings) -> None:
    url = signed_i765(applicant)
    card, cvc = "4111 1111 1111 1111", "837"  # approved by the sandbox, and not on the page's list of test cards
    expired = pay(applicant, url, card=card, card_cvc=cvc, card_expiry_year="2020", expect=422)
    declined = pay(applicant, url, card=DECLINED_CARD, card_cvc=cvc, expect=422)
    for page in (expired.text, declined.text):
        assert card not in page and card.replace(" ", "") not in page
        assert f'value="{cvc}"' not in page and 'name="card_number" value' not in page
        assert 'name="card_name" autocomplete="cc-name" maxlength="100" value="Maria Lopez"' in page  # kept
    assert "This card has expired" in expired.text
    receipt_of(pay(applicant, url, card=card, card_cvc=cvc))
    values = every_value(settings)
    assert "1111" in values  # the last 4 digits are kept (the check below sees the payment tables)
    for number in (card, card.replace(" ", ""), DECLINED_CARD, DECLINED_CARD.replace(" ", "")):
        assert not any(number in value for value in values), number
    assert cvc not in values and not any(f'"{cvc}"' in value or "card_cvc" in value for value in values)


# --- signing ------------------------------------------------------------------------------------


def test_signing_needs_the_box_ticked_and_the_applicants_own_name(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    answer_all(applicant, url, I765, {**VALID["I-765"], "middle_name": "Elena"})
    upload_required_evidence(applicant, url, I765)
    choose_fee(applicant, url)
    refused = sign(applicant, url, "Maria Lopez", attest=False, expect=422)
    assert_field_error(refused.text, "attest", "Confirm that the information you gave is true and correct")
    assert 'name="signature" maxlength="200" autocomplete="name" value="Maria Lopez"' in refused.text
    refused = sign(applicant, url, "   ", expect=422)
    assert_field_error(refused.text, "signature", "Type your full name to sign")
    for wrong in ("Ana Rivera", "Maria", "Lopez", "Mar Lopez"):
        refused = sign(applicant, url, wrong, expect=422)
        assert_field_error(refused.text, "signature", "Type your full name as you gave it in this application")
    assert draft_of(settings, url).signed_at is None
    assert applicant.get(step_url(url, "pay")).headers["location"] == step_url(url, "review")
    assert sign(applicant, url, "  maria elena   LOPEZ ").headers["location"] == step_url(url, "pay")
    draft = draft_of(settings, url)
    assert draft.signature == "maria elena LOPEZ" and draft.signed_at is not None


def test_changing_what_was_signed_asks_for_the_signature_again(applicant, settings) -> None:
    url = signed_i765(applicant)
    # Saving a page again without changing it keeps the signature.
    answer_step(applicant, url, I765, "your-name", VALID["I-765"], query="?return=review")
    choose_fee(applicant, url)
    assert applicant.get(step_url(url, "pay")).status_code == 200
    # A changed answer is not what was signed: back to the check-your-answers page to sign again.
    answer_step(applicant, url, I765, "your-name", {**VALID["I-765"], "family_name": "Rivera"}, query="?return=review")
    assert draft_of(settings, url).signed_at is None
    assert applicant.get(step_url(url, "pay")).headers["location"] == step_url(url, "review")
    posted = applicant.post(step_url(url, "pay"), data={"csrf_token": csrf(applicant, "/account"), "card_number": APPROVED_CARD})
    assert posted.headers["location"] == step_url(url, "review") and rows(settings, Filing) == []
    assert "Type your full name as you gave it" in sign(applicant, url, "Maria Lopez", expect=422).text
    sign(applicant, url, "Maria Rivera")
    # So do a new document and another way to pay.
    upload(applicant, url, "other", data=PDF + b"more")
    assert draft_of(settings, url).signed_at is None
    sign(applicant, url, "Maria Rivera")
    choose_fee(applicant, url, "waiver")
    assert draft_of(settings, url).signed_at is None
    receipt = receipt_of(sign(applicant, url, "Maria Rivera"))
    (filing,) = rows(settings, Filing)
    assert filing.receipt_number == receipt and filing.signature == "Maria Rivera"
    assert filing.answers["family_name"] == "Rivera" and filing.fee_waiver_requested


# --- a representative files for a client ----------------------------------------------------------


@pytest.fixture
def representative(client):
    rep = browser(client)
    sign_in(rep, DEMO_REPRESENTATIVE.email, DEMO_REPRESENTATIVE.password)
    return rep


def test_the_seeded_applicant_has_the_date_of_birth_representatives_use(settings) -> None:
    with session_scope(settings.database_url) as db:
        assert get_user_by_email(db, email=APPLICANT.email).date_of_birth.isoformat() == DEMO_APPLICANT_BIRTH_DATE


def test_a_representative_names_the_client_first_and_wrong_details_get_one_message(representative, settings) -> None:
    with session_scope(settings.database_url) as db:
        client_user = get_user_by_email(db, email=APPLICANT.email)
        client_user.mailing_address = {"street": "9 Elm St", "apartment": "", "city": "Dallas", "state": "TX", "zip_code": "75201"}
        db.add(client_user)
    url = start_draft(representative, I765)
    assert step_of(url) == "client"
    page = representative.get(url)
    assert_step_page(page.text, 1, 8, "/efile/i-765")
    assert "You file this application for your client" in page.text
    for email, birth in (
        ("nobody@example.com", DEMO_APPLICANT_BIRTH_DATE),
        (APPLICANT.email, "1990-04-28"),
        (OFFICER.email, DEMO_APPLICANT_BIRTH_DATE),
        (DEMO_REPRESENTATIVE.email, DEMO_APPLICANT_BIRTH_DATE),
    ):
        refused = choose_client(representative, url, email, birth, expect=422)
        assert_field_error(refused.text, "client_email", CLIENT_NOT_FOUND)
        assert f'value="{email}"' in refused.text
    refused = choose_client(representative, url, "not an email", "1990-13-40", expect=422)
    assert 'href="#client_email"' in refused.text and 'href="#client_date_of_birth"' in refused.text
    assert draft_of(settings, url).client_id is None
    assert representative.get(step_url(url, "your-name")).status_code == 200
    assert representative.get(f"/efile/drafts/{draft_id_of(url)}").headers["location"] == url  # still to do

    chosen = choose_client(representative, url, APPLICANT.email.upper(), DEMO_APPLICANT_BIRTH_DATE)
    assert chosen.headers["location"] == step_url(url, "your-name")
    draft = draft_of(settings, url)
    assert draft.client_id == user_id(settings, APPLICANT.email) and draft.answers == {}
    assert "Your client: Maria Lopez" in representative.get(url).text
    # Nothing of the client's profile is filled in for the representative.
    assert 'name="street" value=""' in representative.get(step_url(url, "mailing-address")).text
    assert 'name="date_of_birth_year" inputmode="numeric" minlength="4" maxlength="4" value=""' in representative.get(
        step_url(url, "about-you")).text


def test_a_representatives_filing_belongs_to_the_client_and_both_see_it(client, representative, other, settings) -> None:
    url = start_draft(representative, I765)
    choose_client(representative, url, APPLICANT.email, DEMO_APPLICANT_BIRTH_DATE)
    answer_all(representative, url, I765)
    upload_required_evidence(representative, url, I765)
    choose_fee(representative, url)
    review = representative.get(step_url(url, "review")).text
    assert f"Maria Lopez ({APPLICANT.email})" in review
    assert f'href="{step_url(url, "client")}?return=review"' in review
    assert "prepared this application at the request of my client" in review
    refused = sign(representative, url, "Maria Lopez", expect=422)  # the representative signs, with their own name
    assert "Type your full name as you gave it in this application" in refused.text
    sign(representative, url, "daniel BROOKS")
    receipt = receipt_of(pay(representative, url))

    applicant_id, representative_id = user_id(settings, APPLICANT.email), user_id(settings, DEMO_REPRESENTATIVE.email)
    (filing,) = rows(settings, Filing)
    assert (filing.applicant_id, filing.representative_id) == (applicant_id, representative_id)
    assert case_input(filing).representative_id == representative_id and case_input(filing).applicant_id == applicant_id
    assert representative.get(f"/cases/{receipt}").status_code == 200
    assert f'href="/cases/{receipt}"' in representative.get("/account").text
    sign_in(client, APPLICANT.email, APPLICANT.password)
    assert f'href="/cases/{receipt}"' in client.get("/account").text
    case = client.get(f"/cases/{receipt}")
    assert case.status_code == 200
    for document in rows(settings, Document):
        assert document.receipt_number == receipt and document.owner_id == representative_id
        assert client.get(f"/documents/{document.id}").status_code == 200
    assert other.get(f"/cases/{receipt}").status_code == 404
    assert f"/cases/{receipt}" not in other.get("/account").text


# --- the session times out while a page is open ---------------------------------------------------


def idle_out(settings, email: str) -> None:
    """Make every session of this account idle for longer than sessions last."""
    with session_scope(settings.database_url) as db:
        owner = user_id(settings, email)
        for record in db.exec(select(WebSession).where(WebSession.user_id == owner)).all():
            record.last_seen_at = utcnow() - timedelta(minutes=settings.session_idle_minutes + 1)
            db.add(record)


def test_answers_posted_after_the_session_timed_out_are_saved(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    page = applicant.get(step_url(url, "your-name"))
    idle_out(settings, APPLICANT.email)
    data = {"csrf_token": csrf_from(page.text), "family_name": "Lopez", "given_name": "Maria", "middle_name": "Elena"}
    response = applicant.post(step_url(url, "your-name"), data=data)
    assert response.status_code == 303
    next_path = step_url(url, "your-name")
    assert response.headers["location"] == f"/sign-in?next={next_path.replace('/', '%2F')}&saved=1"
    draft = draft_of(settings, url)
    assert (draft.answers["family_name"], draft.answers["given_name"], draft.answers["middle_name"]) == ("Lopez", "Maria", "Elena")
    assert applicant.get(url).status_code == 303  # signed out

    sign_in_page = applicant.get(response.headers["location"])
    assert "We saved your answers: sign in to continue where you stopped." in sign_in_page.text
    back = applicant.post("/sign-in", data={"csrf_token": csrf_from(sign_in_page.text), "email": APPLICANT.email,
                                            "password": APPLICANT.password, "next": next_path})
    assert back.status_code == 303 and back.headers["location"] == next_path
    assert 'name="middle_name" value="Elena"' in applicant.get(next_path).text


def test_a_timed_out_post_to_someone_elses_draft_saves_nothing(applicant, other, settings) -> None:
    url = start_draft(applicant, I765)
    answer_step(applicant, url, I765, "your-name", VALID["I-765"])
    token = csrf(other, "/account")
    idle_out(settings, OTHER_EMAIL)
    response = other.post(step_url(url, "your-name"), data={"csrf_token": token, "family_name": "Mallory", "given_name": "X"})
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in?next=")
    assert "saved=1" not in response.headers["location"]
    assert draft_of(settings, url).answers["family_name"] == "Lopez"
    # Nor does a page without questions say it saved anything.
    own = start_draft(applicant, I765)
    token = csrf(applicant, step_url(own, "fee"))
    idle_out(settings, APPLICANT.email)
    response = applicant.post(step_url(own, "fee"), data={"csrf_token": token, "fee_option": "pay"})
    assert response.status_code == 303 and "saved=1" not in response.headers["location"]


# --- drafts: resuming, the dashboard, deleting --------------------------------------------------


def test_a_draft_resumes_at_the_first_page_not_done(applicant) -> None:
    url = start_draft(applicant, N400)
    resume = f"/efile/drafts/{draft_id_of(url)}"
    assert applicant.get(resume).headers["location"] == step_url(url, "your-name")
    answer_step(applicant, url, N400, "your-name", VALID["N-400"])
    assert applicant.get(resume).headers["location"] == step_url(url, "about-you")
    answer_step(applicant, url, N400, "filing-fee", VALID["N-400"])  # a later page done first
    assert applicant.get(resume).headers["location"] == step_url(url, "about-you")
    answer_all(applicant, url, N400)
    assert applicant.get(resume).headers["location"] == step_url(url, "evidence")
    upload_required_evidence(applicant, url, N400)
    assert applicant.get(resume).headers["location"] == step_url(url, "fee")
    choose_fee(applicant, url)
    assert applicant.get(resume).headers["location"] == step_url(url, "review")


def test_save_and_come_back_later_keeps_answers_even_wrong_ones(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    response = answer_step(applicant, url, I765, "mailing-address", {"street": "1 Main St", "zip_code": "12"},
                           save_and_exit="1")
    assert response.headers["location"] == "/account?saved=1"
    draft = draft_of(settings, url)
    assert draft.answers["street"] == "1 Main St" and draft.answers["zip_code"] == "12"
    assert "mailing-address" not in draft.completed_steps
    account = applicant.get("/account?saved=1").text
    assert "Your answers are saved." in account


def test_the_dashboard_lists_drafts_with_their_deletion_date(applicant, settings) -> None:
    url = start_draft(applicant, I589)
    draft = draft_of(settings, url)
    html = applicant.get("/account").text
    assert "Applications you have not submitted" in html and "Form I-589" in html
    assert f'href="/efile/drafts/{draft.id}">Continue' in html
    assert f'href="/efile/drafts/{draft.id}/delete/confirm">Delete' in html
    assert format_date(draft.updated_at + timedelta(days=30)) in html


def test_saving_a_page_restarts_the_30_days(applicant, settings) -> None:
    url = start_draft(applicant, I765)
    long_ago = utcnow() - timedelta(days=25)
    with session_scope(settings.database_url) as db:
        draft = db.get(Draft, draft_id_of(url))
        draft.updated_at, draft.expiry_warning_days = long_ago, 7
        db.add(draft)
    assert format_date(long_ago + timedelta(days=30)) in applicant.get("/account").text
    answer_step(applicant, url, I765, "your-name", {"family_name": ""}, expect=422)  # refused answers are saved too
    draft = draft_of(settings, url)
    assert draft.expiry_warning_days is None and draft.updated_at > long_ago + timedelta(days=24)
    assert format_date(draft.updated_at + timedelta(days=30)) in applicant.get("/account").text


def test_deleting_a_draft_removes_it_and_its_documents(applicant, other, settings) -> None:
    url = start_draft(applicant, I765)
    upload(applicant, url, "photos")
    confirm = applicant.get(f"/efile/drafts/{draft_id_of(url)}/delete/confirm")
    assert confirm.status_code == 200 and "Delete your draft Form I-765?" in confirm.text
    assert other.get(f"/efile/drafts/{draft_id_of(url)}/delete/confirm").status_code == 404
    assert other.post(f"/efile/drafts/{draft_id_of(url)}/delete/confirm",
                      data={"csrf_token": csrf(other, "/account")}).status_code == 404
    assert draft_of(settings, url) is not None
    deleted = applicant.post(f"/efile/drafts/{draft_id_of(url)}/delete/confirm", data={"csrf_token": csrf_from(confirm.text)})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/account?deleted=1"
    assert draft_of(settings, url) is None and rows(settings, Document) == []
    assert "Your draft was deleted." in applicant.get("/account?deleted=1").text
    assert applicant.get(url).status_code == 404


def test_another_persons_draft_is_a_404_everywhere(applicant, other, settings) -> None:
    url = start_draft(applicant, I765)
    answer_step(applicant, url, I765, "your-name", VALID["I-765"])
    token = csrf(other, "/account")
    assert other.get(f"/efile/drafts/{draft_id_of(url)}").status_code == 404
    for step in ("your-name", "evidence", "fee", "review", "pay"):
        assert other.get(step_url(url, step)).status_code == 404, step
        assert other.post(step_url(url, step), data={"csrf_token": token, "family_name": "Mallory"}).status_code == 404, step
    uploaded = other.post(step_url(url, "evidence/upload"), data={"csrf_token": token, "item": "photos"},
                          files={"file": ("x.pdf", PDF, "application/pdf")})
    assert uploaded.status_code == 404
    assert draft_of(settings, url).answers["family_name"] == "Lopez" and rows(settings, Document) == []


def test_staff_cannot_file(client, settings) -> None:
    sign_in(client, OFFICER.email, OFFICER.password)
    assert client.get("/efile/i-765").status_code == 403


# --- the officer's view ---------------------------------------------------------------------------


@PARAMS
def test_the_officer_sees_any_forms_answers_with_labels_and_choice_names(form: FormSpec) -> None:
    data = {k: ",".join(v) if isinstance(v, list) else v for k, v in VALID[form.code].items()}
    answers, errors = validate_answers(form, data, today=date(2026, 11, 21))
    assert errors == {}
    filing = Filing(receipt_number="IOE2690123456", form_type=form.code, applicant_id=1, office="IOE", answers=answers)
    template = env.from_string('{% from "officer/_answers.html" import answers_list with context %}{{ answers_list(filing) }}')
    html = template.render(filing=filing, lang="en")
    for spec in form.fields:
        if spec.only_if is None or spec.only_if(answers):
            assert spec.label in html_lib.unescape(html), spec.name
    for text in SHOWN[form.code]:
        assert text in html, text
    assert CODES[form.code] not in html
