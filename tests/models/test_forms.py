"""The form catalog: four forms, their stage plans, what follows an approval, fees, evidence and answers."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract

from models.domain import Stage
from models.forms import (
    CHOICE_KINDS,
    COUNTRIES,
    FORMS,
    FORMS_BY_SLUG,
    I130,
    I589,
    I765,
    N400,
    EvidenceSpec,
    FieldSpec,
    FormSpec,
    evidence_label,
    validate_answers,
)

TODAY = date(2026, 11, 21)

REQUIRED = "Enter this information"
SELECT = "Select an option"
YES_OR_NO = "Select yes or no"
A_COUNTRY = "Select a country"
AT_LEAST_ONE = "Select at least one"
BAD_A_NUMBER = "Enter an A-Number: the letter A and 8 or 9 digits, like A123456789"
BAD_AMOUNT = "Enter an amount in whole dollars, like 45000"
NOT_A_DATE = "Enter a real date: month, day and year, like 4 27 1990"
FUTURE = "The date must be in the past"
BEFORE_BIRTH = "This date cannot be before your date of birth"

ADDRESS = {"street": "1 Main Street", "apartment": "", "city": "Springfield", "state": "IL", "zip_code": "62701"}

VALID: dict[str, dict[str, str]] = {
    "I-765": {
        "family_name": "Rivera", "given_name": "Ana", "middle_name": "", "date_of_birth": "1990-04-27",
        "eligibility_category": "c8", **ADDRESS,
    },
    "I-130": {
        "family_name": "Smith", "given_name": "John", "petitioner_status": "citizen", "relationship": "spouse",
        "beneficiary_family_name": "Nguyen", "beneficiary_given_name": "Linh", "beneficiary_date_of_birth": "1992-08-03",
        "beneficiary_country_of_birth": "VN", "beneficiary_abroad": "yes", "beneficiary_country": "VN", **ADDRESS,
    },
    "N-400": {
        "family_name": "Okafor", "given_name": "Chidi", "middle_name": "", "a_number": "A123456789",
        "date_of_birth": "1980-02-10", "lpr_date": "2015-06-01", "eligibility_basis": "lpr_5",
        "reduced_fee": "no", "household_size": "", "household_income": "", **ADDRESS,
    },
    "I-589": {
        "family_name": "Haddad", "given_name": "Rami", "middle_name": "", "date_of_birth": "1988-12-24",
        "nationality": "SY", "arrival_date": "2026-03-02", "language": "Arabic",
        "protected_grounds": "religion,political_opinion", "include_family": "no", **ADDRESS,
    },
}


def answers(code: str, **changes: str) -> dict[str, str]:
    return {**VALID[code], **changes}


def check(form: FormSpec, data: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    return validate_answers(form, data, today=TODAY)


def errors_for(form: FormSpec, **changes: str) -> dict[str, str]:
    return check(form, answers(form.code, **changes))[1]


# --- the catalog ----------------------------------------------------------------------------


def test_the_catalog_holds_the_four_forms_by_code_and_by_slug() -> None:
    assert list(FORMS) == ["I-765", "I-130", "N-400", "I-589"]
    assert FORMS_BY_SLUG == {"i-765": I765, "i-130": I130, "n-400": N400, "i-589": I589}
    for code, form in FORMS.items():
        assert form.code == code and form.slug == code.lower()


def test_fees_are_the_2024_fee_rule_amounts() -> None:
    assert {code: form.fee_cents for code, form in FORMS.items()} == {
        "I-765": 47_000, "I-130": 62_500, "N-400": 71_000, "I-589": 10_000,
    }
    assert {code: form.reduced_fee_cents for code, form in FORMS.items()} == {
        "I-765": None, "I-130": None, "N-400": 38_000, "I-589": None,
    }


def test_the_reduced_fee_is_owed_only_when_asked_for() -> None:
    assert N400.fee_for(answers("N-400", reduced_fee="yes")) == 38_000
    assert N400.fee_for(answers("N-400", reduced_fee="no")) == 71_000
    assert N400.fee_for({}) == 71_000
    assert I765.fee_for({"reduced_fee": "yes"}) == 47_000  # no reduced fee for this form


def test_interview_policies() -> None:
    assert {code: form.interview for code, form in FORMS.items()} == {
        "I-765": "never", "I-130": "on_request", "N-400": "always", "I-589": "always",
    }


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_has_a_modest_number_of_uniquely_named_fields_in_sections(form: FormSpec) -> None:
    names = [spec.name for spec in form.fields]
    assert len(names) == len(set(names))
    assert 10 <= len(names) <= 16
    assert all(spec.section for spec in form.fields)
    # The mailing address has the same field names on every form (offices are chosen by ZIP code).
    assert {"street", "apartment", "city", "state", "zip_code"} <= set(names)


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_choice_fields_have_choices_and_conditions_name_real_fields(form: FormSpec) -> None:
    names = {spec.name for spec in form.fields}
    for spec in form.fields:
        if spec.kind in CHOICE_KINDS:
            values = [c.value for c in spec.choices]
            assert values and len(values) == len(set(values)), spec.name
        if spec.only_if is not None:
            assert spec.only_if.field in names and spec.only_if.field != spec.name
    for condition in [*form.stage_conditions.values(), form.approval_condition]:
        assert condition is None or condition.field in names


def test_every_user_facing_text_of_the_catalog_is_marked_for_translation() -> None:
    source = Path(__file__).resolve().parents[2] / "models" / "forms.py"
    with source.open("rb") as f:
        marked = {message for _, message, _, _ in extract("python", f, keywords={"N_": None})}
    texts: list[str] = []
    for form in FORMS.values():
        texts += [form.title, form.summary]
        for spec in form.fields:
            texts += [spec.label, spec.section] + ([spec.hint] if spec.hint else [])
            texts += [c.label for c in spec.choices if c.label != c.value]  # US state codes stay as they are
        for item in form.evidence:
            texts += [item.label] + ([item.hint] if item.hint else [])
    assert [t for t in texts if t not in marked] == []


def test_countries_are_outside_the_united_states_and_unique() -> None:
    codes = [c.value for c in COUNTRIES]
    assert len(codes) == len(set(codes)) > 190
    assert {"MX", "IN", "CN", "PH", "VN", "SV", "HT", "AF", "UA"} <= set(codes)
    assert not {"US", "PR", "GU", "VI", "AS", "MP"} & set(codes)
    assert "stateless" in {c.value for c in I589.field("nationality").choices}


# --- stage plans and what follows an approval -------------------------------------------------


@pytest.mark.parametrize("category", sorted(I765.biometrics_categories))
def test_i765_plans_biometrics_for_its_categories(category: str) -> None:
    plan = I765.stage_plan(answers("I-765", eligibility_category=category))
    assert plan == ["intake", "biometrics", "review", "decision", "post_decision"]
    assert all(type(stage) is str for stage in plan)


@pytest.mark.parametrize("category", ["c3C", "a5", ""])
def test_i765_skips_biometrics_otherwise(category: str) -> None:
    assert I765.stage_plan(answers("I-765", eligibility_category=category)) == ["intake", "review", "decision", "post_decision"]


def test_i765_approval_produces_and_mails_a_card() -> None:
    assert I765.after_approval(answers("I-765")) == ["card_produced", "card_mailed"]
    assert I765.after_approval({}) == ["card_produced", "card_mailed"]


def test_i130_goes_to_the_department_of_state_only_when_the_relative_lives_abroad() -> None:
    abroad = answers("I-130", beneficiary_abroad="yes")
    here = answers("I-130", beneficiary_abroad="no", beneficiary_country="")
    assert I130.stage_plan(abroad) == ["intake", "review", "decision", "post_decision"]
    assert I130.after_approval(abroad) == ["dos"]
    assert I130.stage_plan(here) == ["intake", "review", "decision"]
    assert I130.after_approval(here) == []
    assert I130.stage_plan({}) == ["intake", "review", "decision"]
    assert I130.after_approval({}) == []


@pytest.mark.parametrize("reduced_fee", ["yes", "no"])
def test_n400_always_has_biometrics_an_interview_and_an_oath(reduced_fee: str) -> None:
    data = answers("N-400", reduced_fee=reduced_fee)
    assert N400.stage_plan(data) == ["intake", "biometrics", "interview", "review", "decision", "post_decision"]
    assert N400.after_approval(data) == ["oath"]


@pytest.mark.parametrize("include_family", ["yes", "no"])
def test_i589_has_biometrics_and_an_interview_and_nothing_after_the_decision(include_family: str) -> None:
    data = answers("I-589", include_family=include_family)
    assert I589.stage_plan(data) == ["intake", "biometrics", "interview", "review", "decision"]
    assert I589.after_approval(data) == []


def _plan_variants(form: FormSpec) -> list[list[str]]:
    variants = [answers(form.code)]
    variants += [answers(form.code, eligibility_category=c) for c in ("c8", "a5")]
    variants += [answers(form.code, beneficiary_abroad=v) for v in ("yes", "no")]
    return [form.stage_plan(v) for v in variants]


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_sla_days_cover_every_stage_the_case_can_wait_in(form: FormSpec) -> None:
    reachable = {stage for plan in _plan_variants(form) for stage in plan} | {Stage.EVIDENCE_REQUESTED.value}
    if form.interview != "never":
        reachable.add(Stage.INTERVIEW.value)
    assert reachable <= set(form.sla_days)
    assert set(form.sla_days) <= {s.value for s in Stage}
    assert all(isinstance(days, int) and 0 < days <= 365 for days in form.sla_days.values())
    assert form.sla_days["evidence_requested"] == 87  # the usual RFE window: 84 days and 3 for mailing
    assert all(stage in {s.value for s in Stage} for plan in _plan_variants(form) for stage in plan)


def test_sla_days_keep_the_i765_review_target() -> None:
    assert I765.sla_days["review"] == 90


# --- evidence -------------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_every_form_lists_evidence_with_unique_codes_and_some_required(form: FormSpec) -> None:
    codes = [item.code for item in form.evidence]
    assert len(codes) >= 3 and len(codes) == len(set(codes))
    assert "other" not in codes  # "other" is the officer's free-text item
    assert any(item.required for item in form.evidence)
    assert all(item.label for item in form.evidence)
    assert all(item.hint for item in form.evidence if not item.required)  # says when it is needed
    for item in form.evidence:
        assert form.evidence_item(item.code) is item
    assert form.evidence_item("nothing") is None


def test_each_form_asks_for_its_usual_documents() -> None:
    assert {"photos", "i94_or_passport", "previous_ead"} <= {e.code for e in I765.evidence}
    assert {"petitioner_status", "relationship", "spouse_photos"} <= {e.code for e in I130.evidence}
    assert I130.evidence_item("spouse_photos").required is False  # spouse cases only
    assert N400.evidence_item("green_card") == EvidenceSpec(
        "green_card", "Copy of your permanent resident card", True, "Both sides of your green card."
    )
    assert {"identity", "persecution"} <= {e.code for e in I589.evidence if e.required}


def test_evidence_label_gives_the_msgid_or_the_code() -> None:
    assert evidence_label("I-765", "photos") == "Two passport-style photos"
    assert evidence_label("N-400", "green_card") == "Copy of your permanent resident card"
    assert evidence_label("I-130", "other") == "other"
    assert evidence_label("I-130", "photos") == "photos"  # not an I-130 item
    assert evidence_label("X-1", "photos") == "photos"


# --- answers: every form ----------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_valid_answers_pass_and_hold_exactly_the_form_fields(form: FormSpec) -> None:
    cleaned, errors = check(form, answers(form.code))
    assert errors == {}
    assert set(cleaned) == {spec.name for spec in form.fields}


@pytest.mark.parametrize("form", FORMS.values(), ids=FORMS.keys())
def test_nothing_answered_reports_each_required_field_with_its_kind_of_message(form: FormSpec) -> None:
    _, errors = check(form, {})
    expected = {
        "text": REQUIRED, "date": REQUIRED, "postal_code": REQUIRED, "a_number": REQUIRED, "amount": REQUIRED,
        "select": SELECT, "radio": SELECT, "yes_no": YES_OR_NO, "country": A_COUNTRY, "checkboxes": AT_LEAST_ONE,
    }
    assert errors == {spec.name: expected[spec.kind] for spec in form.fields if spec.required and spec.only_if is None}


# --- yes/no ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["yes", "no"])
def test_yes_no_accepts_yes_and_no(value: str) -> None:
    cleaned, errors = check(I589, answers("I-589", include_family=value))
    assert errors == {} and cleaned["include_family"] == value


@pytest.mark.parametrize("value", ["maybe", "Yes", "1", "true"])
def test_yes_no_refuses_anything_else(value: str) -> None:
    assert errors_for(I589, include_family=value) == {"include_family": YES_OR_NO}


# --- radios ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["spouse", "parent", "child", "sibling"])
def test_radio_accepts_its_choices(value: str) -> None:
    assert errors_for(I130, relationship=value) == {}


@pytest.mark.parametrize("value", ["cousin", "SPOUSE", "spouse,child"])
def test_radio_refuses_values_outside_its_choices(value: str) -> None:
    assert errors_for(I130, relationship=value) == {"relationship": SELECT}


# --- checkboxes -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("race", "race"),
        ("political_opinion,religion", "religion,political_opinion"),  # kept in the order of the choices
        ("social_group, race ,race", "race,social_group"),  # spaces and repeats dropped
        ("race,religion,nationality,political_opinion,social_group", "race,religion,nationality,political_opinion,social_group"),
    ],
)
def test_checkboxes_keep_the_chosen_values_in_choice_order(value: str, stored: str) -> None:
    cleaned, errors = check(I589, answers("I-589", protected_grounds=value))
    assert errors == {} and cleaned["protected_grounds"] == stored


@pytest.mark.parametrize("value", ["poverty", "race,poverty", "Race"])
def test_checkboxes_refuse_unknown_values(value: str) -> None:
    assert errors_for(I589, protected_grounds=value) == {"protected_grounds": SELECT}


@pytest.mark.parametrize("value", ["", " , ", ","])
def test_checkboxes_need_at_least_one(value: str) -> None:
    assert errors_for(I589, protected_grounds=value) == {"protected_grounds": AT_LEAST_ONE}


def test_checkbox_labels_are_shown_in_choice_order() -> None:
    spec = I589.field("protected_grounds")
    assert spec.labels_for("race,social_group") == ["Race", "Membership in a particular social group"]
    assert I130.field("beneficiary_abroad").labels_for("yes") == ["Yes"]
    assert I130.field("family_name").labels_for("Smith") == []  # free text is shown as typed


# --- countries ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["MX", "VN", "GB", "XK"])
def test_country_accepts_listed_countries(value: str) -> None:
    assert errors_for(I130, beneficiary_country_of_birth=value) == {}


@pytest.mark.parametrize("value", ["US", "ZZ", "mx", "Mexico"])
def test_country_refuses_anything_else(value: str) -> None:
    assert errors_for(I130, beneficiary_country_of_birth=value) == {"beneficiary_country_of_birth": A_COUNTRY}


def test_stateless_is_a_nationality_but_not_a_country_of_birth() -> None:
    assert errors_for(I589, nationality="stateless") == {}
    assert errors_for(I130, beneficiary_country_of_birth="stateless") == {"beneficiary_country_of_birth": A_COUNTRY}


# --- A-Numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("A123456789", "A123456789"),
        ("a-123-456-789", "A123456789"),
        ("A 1234 5678", "A012345678"),  # 8 digits are written with a 0 in front
        ("12345678", "A012345678"),
    ],
)
def test_a_numbers_are_kept_as_a_and_nine_digits(typed: str, stored: str) -> None:
    cleaned, errors = check(N400, answers("N-400", a_number=typed))
    assert errors == {} and cleaned["a_number"] == stored


@pytest.mark.parametrize("typed", ["A1234567", "A1234567890", "B12345678", "A12345678X", "AA12345678", "A-"])
def test_bad_a_numbers_are_refused(typed: str) -> None:
    assert errors_for(N400, a_number=typed) == {"a_number": BAD_A_NUMBER}


# --- amounts --------------------------------------------------------------------------------

REDUCED = {"reduced_fee": "yes", "household_size": "3"}


@pytest.mark.parametrize(("typed", "stored"), [("45000", "45000"), ("$45,000", "45000"), ("45,000", "45000"), ("0", "0")])
def test_amounts_are_kept_as_whole_dollars(typed: str, stored: str) -> None:
    cleaned, errors = check(N400, answers("N-400", **REDUCED, household_income=typed))
    assert errors == {} and cleaned["household_income"] == stored


@pytest.mark.parametrize("typed", ["45000.50", "-5", "forty", "4,50", "45,0000", "12345678901"])
def test_bad_amounts_are_refused(typed: str) -> None:
    assert errors_for(N400, **REDUCED, household_income=typed) == {"household_income": BAD_AMOUNT}


# --- questions that depend on another answer ----------------------------------------------------


def test_the_reduced_fee_needs_the_household_size_and_income() -> None:
    assert errors_for(N400, reduced_fee="yes") == {"household_size": SELECT, "household_income": REQUIRED}
    cleaned, errors = check(N400, answers("N-400", **REDUCED, household_income="52000"))
    assert errors == {} and cleaned["household_income"] == "52000" and cleaned["household_size"] == "3"


def test_household_answers_are_dropped_without_the_reduced_fee() -> None:
    cleaned, errors = check(N400, answers("N-400", reduced_fee="no", household_size="3", household_income="oops"))
    assert errors == {}
    assert cleaned["household_size"] == "" and cleaned["household_income"] == ""


def test_the_country_of_residence_is_needed_only_for_a_relative_abroad() -> None:
    assert errors_for(I130, beneficiary_abroad="yes", beneficiary_country="") == {"beneficiary_country": A_COUNTRY}
    assert errors_for(I130, beneficiary_abroad="yes", beneficiary_country="US") == {"beneficiary_country": A_COUNTRY}
    cleaned, errors = check(I130, answers("I-130", beneficiary_abroad="no", beneficiary_country="VN"))
    assert errors == {} and cleaned["beneficiary_country"] == ""


# --- dates ----------------------------------------------------------------------------------


def _form_with_dates() -> FormSpec:
    return FormSpec(
        code="T-1", slug="t-1", title="Test", fee_cents=0, sla_days={},
        fields=(
            FieldSpec("date_of_birth", "Date of birth", kind="date"),
            FieldSpec("arrival", "Arrival", kind="date", after_birth=True),
            FieldSpec("expires", "Expiry date", kind="date", past_only=False, required=False),
        ),
    )


def test_past_only_dates_refuse_the_future_and_other_dates_accept_it() -> None:
    form = _form_with_dates()
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    base = {"date_of_birth": "1990-01-01", "arrival": "2020-05-05"}
    assert check(form, {**base, "expires": tomorrow})[1] == {}
    assert check(form, {**base, "expires": "2031-12-31"})[1] == {}
    assert check(form, {**base, "arrival": tomorrow})[1] == {"arrival": FUTURE}
    assert check(form, {**base, "arrival": TODAY.isoformat()})[1] == {}


@pytest.mark.parametrize("bad", ["2031-02-30", "2031-13-01", "soon"])
def test_dates_that_may_be_in_the_future_must_still_be_real(bad: str) -> None:
    form = _form_with_dates()
    assert check(form, {"date_of_birth": "1990-01-01", "arrival": "2020-05-05", "expires": bad})[1] == {"expires": NOT_A_DATE}


def test_dates_after_birth_cannot_come_before_it() -> None:
    form = _form_with_dates()
    assert check(form, {"date_of_birth": "1990-01-01", "arrival": "1989-12-31"})[1] == {"arrival": BEFORE_BIRTH}
    assert check(form, {"date_of_birth": "1990-01-01", "arrival": "1990-01-01"})[1] == {}
    assert errors_for(N400, lpr_date="1979-01-01") == {"lpr_date": BEFORE_BIRTH}
    assert errors_for(I589, arrival_date="1988-12-23") == {"arrival_date": BEFORE_BIRTH}


def test_date_parts_of_any_date_field_are_assembled() -> None:
    data = {k: v for k, v in answers("I-589").items() if k != "arrival_date"}
    data |= {"arrival_date_month": "3", "arrival_date_day": "2", "arrival_date_year": "2026"}
    cleaned, errors = check(I589, data)
    assert errors == {} and cleaned["arrival_date"] == "2026-03-02"


# --- checks across answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "relationship", "refused"),
    [
        ("citizen", "spouse", False), ("citizen", "parent", False), ("citizen", "sibling", False),
        ("lpr", "spouse", False), ("lpr", "child", False), ("lpr", "parent", True), ("lpr", "sibling", True),
    ],
)
def test_a_permanent_resident_files_only_for_a_spouse_or_child(status: str, relationship: str, refused: bool) -> None:
    errors = errors_for(I130, petitioner_status=status, relationship=relationship)
    if refused:
        assert errors == {"relationship": "A permanent resident can file for a husband, wife or unmarried son or daughter only"}
    else:
        assert errors == {}


FIVE_YEARS = "You can apply from 90 days before you have been a permanent resident for 5 years"
THREE_YEARS = "You can apply from 90 days before you have been a permanent resident for 3 years"


@pytest.mark.parametrize(
    ("basis", "lpr_date", "error"),
    [
        ("lpr_5", (date(2021, 11, 21) + timedelta(days=90)).isoformat(), None),  # exactly 90 days early
        ("lpr_5", (date(2021, 11, 21) + timedelta(days=91)).isoformat(), FIVE_YEARS),
        ("lpr_5", "2023-11-21", FIVE_YEARS),  # 3 years is not enough on this basis
        ("married_3", "2023-11-21", None),
        ("married_3", "2024-06-01", THREE_YEARS),
        ("military", "2026-01-15", None),  # no residence period for military service
    ],
)
def test_n400_residence_period_with_90_days_early_filing(basis: str, lpr_date: str, error: str | None) -> None:
    errors = errors_for(N400, eligibility_basis=basis, lpr_date=lpr_date)
    assert errors == ({"lpr_date": error} if error else {})


def test_checks_across_answers_wait_until_every_field_is_valid() -> None:
    errors = errors_for(I130, petitioner_status="lpr", relationship="parent", zip_code="1")
    assert set(errors) == {"zip_code"}
