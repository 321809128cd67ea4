"""E-filing each of the four forms: the form page, refused answers, the review page and submission.

Temporal is down in these tests (DownTemporal): a submitted filing is saved with its receipt number
and its workflow is started later, so here the workflow input is checked as ``case_input`` builds it.
"""

from __future__ import annotations

import html as html_lib
import re
from datetime import date

import pytest
from sqlmodel import select

from cli import DEMO_ACCOUNTS
from models.accounts import get_user_by_email
from models.db import session_scope
from models.forms import FORMS, FormSpec
from models.tables import Draft, Filing
from tests.web.conftest import csrf, csrf_from, sign_in
from web.filing import case_input
from web.templating import env

APPLICANT = DEMO_ACCOUNTS[0]

ADDRESS = {"street": "1 Main St", "city": "Austin", "state": "TX", "zip_code": "78701"}

# What a browser sends for a valid form: dates in parts, ticked checkboxes as repeated names.
VALID: dict[str, dict[str, str | list[str]]] = {
    "I-765": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "4", "date_of_birth_day": "27", "date_of_birth_year": "1990",
        "eligibility_category": "c8", **ADDRESS,
    },
    "I-130": {
        "family_name": "Lopez", "given_name": "Maria", "petitioner_status": "citizen", "relationship": "spouse",
        "beneficiary_family_name": "Nguyen", "beneficiary_given_name": "Linh",
        "beneficiary_date_of_birth_month": "8", "beneficiary_date_of_birth_day": "3", "beneficiary_date_of_birth_year": "1992",
        "beneficiary_country_of_birth": "VN", "beneficiary_abroad": "yes", "beneficiary_country": "VN", **ADDRESS,
    },
    "N-400": {
        "family_name": "Lopez", "given_name": "Maria", "a_number": "a-123 456 789",
        "date_of_birth_month": "2", "date_of_birth_day": "10", "date_of_birth_year": "1980",
        "lpr_date_month": "6", "lpr_date_day": "1", "lpr_date_year": "2012",
        "eligibility_basis": "lpr_5", "reduced_fee": "no", **ADDRESS,
    },
    "I-589": {
        "family_name": "Lopez", "given_name": "Maria",
        "date_of_birth_month": "12", "date_of_birth_day": "24", "date_of_birth_year": "1988",
        "nationality": "VE", "arrival_date_month": "3", "arrival_date_day": "2", "arrival_date_year": "2024",
        "language": "Spanish", "protected_grounds": ["political_opinion", "race"], "include_family": "no", **ADDRESS,
    },
}

# What the review page and the officer see instead of the codes that were stored.
SHOWN = {
    "I-765": ["(c)(8) Pending asylum application", "April 27, 1990", "Austin"],
    "I-130": ["US citizen", "My husband or wife", "Vietnam", "August 3, 1992"],
    "N-400": ["A123456789", "I have been a permanent resident for at least 5 years", "June 1, 2012"],
    "I-589": ["Venezuela", "Race, Political opinion", "March 2, 2024", "Spanish"],
}
CODES = {"I-765": ">c8<", "I-130": ">VN<", "N-400": ">lpr_5<", "I-589": "political_opinion"}

PARAMS = pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())


@pytest.fixture
def applicant(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    return client


def _drafts(settings) -> list[Draft]:
    with session_scope(settings.database_url) as db:
        return list(db.exec(select(Draft)).all())


def _create(client, form: FormSpec, data: dict) -> str:
    token = csrf(client, f"/efile/{form.slug}")
    response = client.post(f"/efile/{form.slug}", data={"csrf_token": token, **data})
    assert response.status_code == 303, response.text
    return response.headers["location"]


# --- the form page ----------------------------------------------------------------------------


@PARAMS
def test_form_page_shows_every_question_with_a_label(applicant, form: FormSpec) -> None:
    response = applicant.get(f"/efile/{form.slug}")
    assert response.status_code == 200
    html = response.text
    assert f"Form {form.code}" in html and form.title in html
    assert f'action="/efile/{form.slug}"' in html and 'method="post"' in html
    for spec in form.fields:
        assert spec.label in html_lib.unescape(html), spec.name
        target = f'id="{spec.name}_month"' if spec.kind == "date" else f'id="{spec.name}"'
        assert target in html, spec.name
        if spec.hint and spec.kind != "date":
            assert f'id="{spec.name}-hint"' in html
            assert re.search(rf'aria-describedby="{spec.name}-hint"', html), spec.name


def test_yes_no_questions_are_radios_and_countries_a_list(applicant) -> None:
    html = applicant.get("/efile/i-130").text
    assert 'type="radio" name="beneficiary_abroad" value="yes"' in html
    assert 'type="radio" name="beneficiary_abroad" value="no"' in html
    assert '<select class="usa-select" id="beneficiary_country_of_birth"' in html
    assert '<option value="MX">Mexico</option>' in html
    html = applicant.get("/efile/i-589").text
    assert html.count('type="checkbox" name="protected_grounds"') == 5
    assert "Membership in a particular social group" in html


def test_only_birth_dates_ask_the_browser_for_a_birthday(applicant) -> None:
    html = applicant.get("/efile/n-400").text
    assert 'id="date_of_birth_month" name="date_of_birth_month" inputmode="numeric" maxlength="2" value="" autocomplete="bday-month"' in html
    lpr_month = re.search(r'<input[^>]*id="lpr_date_month"[^>]*>', html).group(0)
    assert "autocomplete" not in lpr_month


def test_an_unknown_form_is_a_404(applicant) -> None:
    assert applicant.get("/efile/i-999").status_code == 404


def test_a_new_form_starts_with_the_applicants_own_details(applicant, settings) -> None:
    with session_scope(settings.database_url) as db:
        user = get_user_by_email(db, email=APPLICANT.email)
        user.date_of_birth = date(1980, 2, 10)
        user.a_number = "A012345678"
        user.mailing_address = {"street": "9 Elm St", "apartment": "", "city": "Dallas", "state": "TX", "zip_code": "75201"}
        db.add(user)
    html = applicant.get("/efile/n-400").text
    assert 'id="a_number" name="a_number" value="A012345678"' in html
    assert 'name="street" value="9 Elm St"' in html and 'name="zip_code" value="75201"' in html
    assert 'name="date_of_birth_year" inputmode="numeric" minlength="4" maxlength="4" value="1980"' in html
    assert '<option value="TX" selected>' in html
    # On a petition the date of birth asked is the relative's: nothing is filled in for it.
    html = applicant.get("/efile/i-130").text
    assert 'name="beneficiary_date_of_birth_year" inputmode="numeric" minlength="4" maxlength="4" value=""' in html
    assert 'name="city" value="Dallas"' in html


# --- refused answers --------------------------------------------------------------------------


@PARAMS
def test_nothing_answered_is_refused_with_a_summary_linking_to_each_field(applicant, settings, form: FormSpec) -> None:
    token = csrf(applicant, f"/efile/{form.slug}")
    response = applicant.post(f"/efile/{form.slug}", data={"csrf_token": token})
    assert response.status_code == 422
    html = response.text
    assert "There is a problem" in html and 'role="alert"' in html
    required = [spec for spec in form.fields if spec.required and spec.only_if is None]
    for spec in required:
        assert f'href="#{spec.name}"' in html, spec.name
        assert f'id="{spec.name}-error"' in html, spec.name
        assert re.search(rf'aria-describedby="[^"]*{spec.name}-error', html), spec.name
    optional = [spec for spec in form.fields if not spec.required or spec.only_if is not None]
    for spec in optional:
        assert f'href="#{spec.name}"' not in html
    assert _drafts(settings) == []


@PARAMS
def test_one_bad_answer_is_refused_and_what_was_typed_is_kept(applicant, settings, form: FormSpec) -> None:
    token = csrf(applicant, f"/efile/{form.slug}")
    response = applicant.post(f"/efile/{form.slug}", data={"csrf_token": token, **VALID[form.code], "zip_code": "123"})
    assert response.status_code == 422
    assert response.text.count('class="usa-error-message"') == 1
    assert 'href="#zip_code"' in response.text and "Enter a ZIP code of 5 digits" in response.text
    assert 'name="family_name" value="Lopez"' in response.text
    assert _drafts(settings) == []


def test_refused_checkboxes_and_radios_stay_ticked(applicant) -> None:
    token = csrf(applicant, "/efile/i-589")
    response = applicant.post("/efile/i-589", data={"csrf_token": token, **VALID["I-589"], "city": ""})
    assert response.status_code == 422
    html = response.text
    assert 'id="protected_grounds" type="checkbox" name="protected_grounds" value="race" checked' in html
    assert 'value="political_opinion" checked' in html
    assert 'value="religion" checked' not in html
    assert 'id="include_family-no" type="radio" name="include_family" value="no" checked' in html


@pytest.mark.parametrize(
    ("slug", "changes", "field", "message"),
    [
        ("i-130", {"beneficiary_country": ""}, "beneficiary_country", "Select a country"),
        ("i-130", {"petitioner_status": "lpr", "relationship": "sibling"}, "relationship",
         "A permanent resident can file for a husband, wife or unmarried son or daughter only"),
        ("n-400", {"a_number": "B123"}, "a_number", "Enter an A-Number"),
        ("n-400", {"reduced_fee": "yes"}, "household_size", "Select an option"),
        ("n-400", {"lpr_date_year": str(date.today().year - 1)}, "lpr_date", "You can apply from 90 days before"),
        ("i-589", {"protected_grounds": []}, "protected_grounds", "Select at least one"),
        ("i-589", {"arrival_date_year": "1950"}, "arrival_date", "This date cannot be before your date of birth"),
    ],
)
def test_each_form_refuses_its_own_kinds_of_mistakes(applicant, slug, changes, field, message) -> None:
    form = next(f for f in FORMS.values() if f.slug == slug)
    token = csrf(applicant, f"/efile/{slug}")
    response = applicant.post(f"/efile/{slug}", data={"csrf_token": token, **VALID[form.code], **changes})
    assert response.status_code == 422
    assert f'href="#{field}"' in response.text
    assert message in response.text


# --- review and submission ------------------------------------------------------------------


@PARAMS
def test_valid_answers_go_to_the_review_page_that_shows_them_as_people_read_them(applicant, settings, form: FormSpec) -> None:
    review_url = _create(applicant, form, VALID[form.code])
    assert re.fullmatch(r"/efile/drafts/[0-9a-f-]{36}/review", review_url)
    review = applicant.get(review_url)
    assert review.status_code == 200
    html = review.text
    assert "Check your answers before you submit" in html
    for text in SHOWN[form.code]:
        assert text in html, text
    assert CODES[form.code] not in html
    assert f"The filing fee for Form {form.code} is ${form.fee_cents // 100}.00" in html
    for item in form.evidence:
        assert item.label in html_lib.unescape(html)
    (draft,) = _drafts(settings)
    assert draft.form_type == form.code
    assert set(draft.answers) == {spec.name for spec in form.fields}


@PARAMS
def test_submitting_saves_the_filing_and_its_workflow_input_follows_the_catalog(applicant, settings, form: FormSpec) -> None:
    review_url = _create(applicant, form, VALID[form.code])
    review = applicant.get(review_url)
    submitted = applicant.post(review_url.replace("/review", "/submit"), data={"csrf_token": csrf_from(review.text), "attest": "yes"})
    assert submitted.status_code == 303
    receipt = submitted.headers["location"].split("/")[2].split("?")[0]
    assert re.fullmatch(r"IOE\d{10}", receipt)
    with session_scope(settings.database_url) as db:
        filing = db.exec(select(Filing)).one()
        assert filing.receipt_number == receipt and filing.form_type == form.code
        assert filing.workflow_started is False  # Temporal is down: started later
        inp = case_input(filing)
    assert inp.plan == form.stage_plan(filing.answers)
    assert inp.sla_days == form.sla_days
    assert inp.interview == form.interview
    assert inp.after_approval == form.after_approval(filing.answers)
    assert _drafts(settings) == []


def test_the_workflow_input_of_each_form(applicant, settings) -> None:
    expected = {
        "I-765": (["intake", "biometrics", "review", "decision", "post_decision"], "never", ["card_produced", "card_mailed"]),
        "I-130": (["intake", "review", "decision", "post_decision"], "on_request", ["dos"]),
        "N-400": (["intake", "biometrics", "interview", "review", "decision", "post_decision"], "always", ["oath"]),
        "I-589": (["intake", "biometrics", "interview", "review", "decision"], "always", []),
    }
    for form in FORMS.values():
        review_url = _create(applicant, form, VALID[form.code])
        token = csrf_from(applicant.get(review_url).text)
        assert applicant.post(review_url.replace("/review", "/submit"), data={"csrf_token": token, "attest": "yes"}).status_code == 303
    with session_scope(settings.database_url) as db:
        inputs = {f.form_type: case_input(f) for f in db.exec(select(Filing)).all()}
    assert {code: (i.plan, i.interview, i.after_approval) for code, i in inputs.items()} == expected
    assert inputs["N-400"].sla_days["interview"] > 0 and "interview" not in inputs["I-765"].plan


def test_a_relative_in_the_united_states_is_not_sent_to_the_department_of_state(applicant, settings) -> None:
    form = FORMS["I-130"]
    review_url = _create(applicant, form, {**VALID["I-130"], "beneficiary_abroad": "no", "beneficiary_country": "VN"})
    html = applicant.get(review_url).text
    assert "Country where your relative lives" not in html  # the question did not apply
    token = csrf_from(html)
    applicant.post(review_url.replace("/review", "/submit"), data={"csrf_token": token, "attest": "yes"})
    with session_scope(settings.database_url) as db:
        filing = db.exec(select(Filing)).one()
        assert filing.answers["beneficiary_country"] == ""
        inp = case_input(filing)
    assert inp.plan == ["intake", "review", "decision"] and inp.after_approval == []


def test_the_reduced_naturalization_fee_is_shown_when_asked_for(applicant) -> None:
    data = {**VALID["N-400"], "reduced_fee": "yes", "household_size": "4", "household_income": "$52,000"}
    html = applicant.get(_create(applicant, FORMS["N-400"], data)).text
    assert "You asked for the reduced filing fee for Form N-400: $380.00 instead of $710.00" in html
    assert "$52,000.00" in html


def test_changing_a_draft_shows_the_stored_answers_and_saves_new_ones(applicant, settings) -> None:
    review_url = _create(applicant, FORMS["I-589"], VALID["I-589"])
    edit_url = review_url.removesuffix("/review")
    page = applicant.get(edit_url)
    assert page.status_code == 200
    assert 'value="race" checked' in page.text and 'value="political_opinion" checked' in page.text
    assert '<option value="VE" selected>' in page.text
    changed = {**VALID["I-589"], "protected_grounds": ["religion"]}
    response = applicant.post(edit_url, data={"csrf_token": csrf_from(page.text), **changed})
    assert response.status_code == 303 and response.headers["location"] == review_url
    (draft,) = _drafts(settings)
    assert draft.answers["protected_grounds"] == "religion"


# --- the dashboard and the officer's view ---------------------------------------------------


def test_the_dashboard_offers_all_four_forms_with_their_fees(applicant) -> None:
    html = applicant.get("/account").text
    for form, fee in zip(FORMS.values(), ("$470.00", "$625.00", "$710.00", "$100.00"), strict=True):
        assert f'href="/efile/{form.slug}"' in html
        assert f"Start Form {form.code}" in html and form.title in html
        assert f"Filing fee: {fee}" in html
    assert "Reduced fee for eligible household income: $380.00" in html


@PARAMS
def test_the_officer_sees_any_forms_answers_with_labels_and_choice_names(form: FormSpec) -> None:
    from models.forms import validate_answers

    answers, errors = validate_answers(form, VALID[form.code] | {"protected_grounds": "race,political_opinion"}
                                       if form.code == "I-589" else VALID[form.code], today=date(2026, 11, 21))
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
