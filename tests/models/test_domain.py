"""Pure domain rules: receipt numbers, fiscal calendar, status texts, I-765 answers and stage plan."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.domain import (
    RECEIPT_RE,
    STATUS_TEXT,
    ReceiptNumberError,
    Stage,
    StatusCode,
    fiscal_year,
    format_receipt_number,
    normalize_receipt_number,
    receipt_prefix,
    workday_of_fiscal_year,
)
from models.forms import I765, validate_answers
from tests.helpers import I765_ANSWERS

TODAY = date(2026, 11, 21)

REQUIRED = "Enter this information"
SELECT = "Select an option"
TOO_LONG = "This answer is too long or has characters we cannot accept"
BAD_ZIP = "Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000"
NOT_A_DATE = "Enter a real date: month, day and year, like 4 27 1990"
FUTURE = "The date must be in the past"


def answers_with(**changes: str) -> dict[str, str]:
    return {**I765_ANSWERS, **changes}


def errors_for(data: dict[str, str]) -> dict[str, str]:
    return validate_answers(I765, data, today=TODAY)[1]


# --- receipt numbers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("IOE2690123456", "IOE2690123456"),
        ("ioe-269 012 3456", "IOE2690123456"),
        ("  Ioe 269-012-3456\t", "IOE2690123456"),
        ("eac0000000001", "EAC0000000001"),
    ],
)
def test_normalize_receipt_number_accepts_typed_forms(raw: str, expected: str) -> None:
    assert normalize_receipt_number(raw) == expected


def test_normalize_receipt_number_keeps_leading_zeros_as_a_string() -> None:
    normalized = normalize_receipt_number("ioe 000 000 0012")
    assert normalized == "IOE0000000012"
    assert isinstance(normalized, str)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "IOE269012345",  # 12 characters
        "IOE26901234567",  # 14 characters
        "IO2690123456",  # 2 letters
        "IOEX690123456",  # 4 letters
        "1OE2690123456",  # digit in the office code
        "IOE269012345O",  # letter among the digits
        "IOE.2690123456",
        "IOÉ2690123456",
        "IOE２６９0123456",  # full-width digits
    ],
)
def test_normalize_receipt_number_refuses_malformed_input(raw: str) -> None:
    with pytest.raises(ReceiptNumberError):
        normalize_receipt_number(raw)


def test_normalize_receipt_number_refuses_none() -> None:
    with pytest.raises(ReceiptNumberError):
        normalize_receipt_number(None)  # type: ignore[arg-type]


# --- fiscal calendar -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "year"),
    [
        (date(2026, 9, 30), 2026),
        (date(2026, 10, 1), 2027),
        (date(2027, 1, 1), 2027),
        (date(2027, 9, 30), 2027),
        (date(2027, 10, 1), 2028),
    ],
)
def test_fiscal_year_turns_over_on_october_first(day: date, year: int) -> None:
    assert fiscal_year(day) == year


@pytest.mark.parametrize(
    ("day", "workday"),
    [
        (date(2026, 10, 1), 1),  # Thursday: first day of FY2027
        (date(2026, 10, 2), 2),  # Friday
        (date(2026, 10, 5), 3),  # Monday
        (date(2026, 10, 9), 7),  # Friday of the next week
        (date(2026, 10, 12), 8),  # Monday after that
        (date(2027, 9, 30), 261),  # Thursday: last day of FY2027 (52 weeks + 1 day)
        (date(2022, 10, 1), 1),  # FY2023 began on a Saturday: counts as Monday 3 October
        (date(2022, 10, 2), 1),  # Sunday
        (date(2022, 10, 3), 1),  # that Monday
        (date(2022, 10, 4), 2),
    ],
)
def test_workday_of_fiscal_year_counts_weekdays_from_october_first(day: date, workday: int) -> None:
    assert workday_of_fiscal_year(day) == workday


@pytest.mark.parametrize("day", [date(2026, 10, 3), date(2026, 10, 4)])
def test_weekend_days_count_as_the_next_weekday(day: date) -> None:
    monday = date(2026, 10, 5)
    assert workday_of_fiscal_year(day) == workday_of_fiscal_year(monday) == 3


def test_workday_never_decreases_over_a_fiscal_year() -> None:
    start = date(2026, 10, 1)
    days = [start + timedelta(days=n) for n in range(365)]
    workdays = [workday_of_fiscal_year(d) for d in days]
    assert workdays == sorted(workdays)
    # Each weekday adds exactly one; the sequence restarts with the next fiscal year.
    weekday_values = [w for d, w in zip(days, workdays) if d.weekday() < 5]
    assert weekday_values == list(range(1, len(weekday_values) + 1))
    assert workday_of_fiscal_year(date(2027, 10, 1)) == 1


# --- receipt prefix and format --------------------------------------------------------------


def test_receipt_prefix_is_office_fiscal_year_and_workday() -> None:
    assert receipt_prefix("IOE", date(2026, 10, 5)) == "IOE27003"
    assert receipt_prefix("EAC", date(2026, 9, 30)) == "EAC26" + f"{workday_of_fiscal_year(date(2026, 9, 30)):03d}"
    assert receipt_prefix("IOE", date(2099, 10, 1)) == "IOE00001"  # two-digit year wraps, zero-padded


@pytest.mark.parametrize("office", ["ioe", "IO", "IOEX", "I0E", ""])
def test_receipt_prefix_refuses_bad_office_codes(office: str) -> None:
    with pytest.raises(ValueError):
        receipt_prefix(office, date(2026, 10, 5))


@pytest.mark.parametrize(("sequence", "suffix"), [(1, "00001"), (42, "00042"), (99_999, "99999")])
def test_format_receipt_number_pads_the_sequence(sequence: int, suffix: str) -> None:
    number = format_receipt_number("IOE27003", sequence)
    assert number == f"IOE27003{suffix}"
    assert RECEIPT_RE.fullmatch(number)
    assert normalize_receipt_number(number) == number


@pytest.mark.parametrize("sequence", [0, -1, 100_000])
def test_format_receipt_number_refuses_sequences_out_of_range(sequence: int) -> None:
    with pytest.raises(ValueError):
        format_receipt_number("IOE27003", sequence)


# --- status texts ---------------------------------------------------------------------------

# The public titles listed in DESIGN.md ("Cases and stages"), in the wording people know from USCIS.
DESIGN_TITLES = {
    "Case Was Received",
    "Fingerprint Fee Was Received",
    "Biometrics Appointment Was Scheduled",
    "Case Was Updated To Show Fingerprints Were Taken",
    "Case Was Updated To Show That No One Appeared for In-Person Processing",
    "Request for Additional Evidence Was Sent",
    "Response To USCIS' Request For Evidence Was Received",
    "Case Is Being Actively Reviewed By USCIS",
    "Interview Was Scheduled",
    "Interview Was Rescheduled",
    "Interview Was Completed And My Case Must Be Reviewed",
    "Case Was Transferred And A New Office Has Jurisdiction",
    "Case Is On Hold",
    "Expedite Request Received",
    "Expedite Request Approved",
    "Expedite Request Denied",
    "Case Was Approved",
    "Case Was Denied",
    "Withdrawal Acknowledgement Notice Was Sent",
    "New Card Is Being Produced",
    "Card Was Mailed To Me",
    "Card Was Delivered To Me By The Post Office",
    "Case Was Sent To The Department of State",
    "Oath Ceremony Notice Was Mailed",
    "Case Was Reopened",
}


@pytest.mark.parametrize("code", list(StatusCode))
def test_every_status_code_has_a_title_and_explanation(code: StatusCode) -> None:
    text = code.text
    assert text is STATUS_TEXT[code]
    assert text.title.strip() and text.explanation.strip()
    assert text.explanation.endswith(".")


def test_status_titles_are_the_design_wording_and_unique() -> None:
    titles = [code.text.title for code in StatusCode]
    assert len(set(titles)) == len(titles)
    # One title beyond DESIGN.md's list: a naturalization case ends with the oath, which the
    # list has no wording for.
    assert set(titles) == DESIGN_TITLES | {"Oath Ceremony Was Completed"}
    assert StatusCode.CASE_RECEIVED.text.title == "Case Was Received"
    assert StatusCode.APPROVED.text.title == "Case Was Approved"


# --- I-765 answers --------------------------------------------------------------------------


def test_valid_answers_are_cleaned_without_errors() -> None:
    data = answers_with(family_name="  Rivera   de  la Cruz ", zip_code="62701-1234", middle_name="")
    answers, errors = validate_answers(I765, data, today=TODAY)
    assert errors == {}
    assert answers["family_name"] == "Rivera de la Cruz"
    assert answers["zip_code"] == "62701-1234"
    assert answers["middle_name"] == ""
    assert set(answers) == {f.name for f in I765.fields}


def test_required_fields_are_reported_with_the_right_message() -> None:
    answers, errors = validate_answers(I765, {}, today=TODAY)
    assert errors == {
        "family_name": REQUIRED,
        "given_name": REQUIRED,
        "date_of_birth": REQUIRED,
        "eligibility_category": SELECT,
        "street": REQUIRED,
        "city": REQUIRED,
        "state": SELECT,
        "zip_code": REQUIRED,
    }
    assert answers["middle_name"] == "" and answers["apartment"] == ""


def test_whitespace_only_counts_as_missing() -> None:
    assert errors_for(answers_with(given_name="   \t ")) == {"given_name": REQUIRED}


@pytest.mark.parametrize("zip_code", ["6270", "627011", "62701-12", "62701 1234", "ABCDE", "62701-"])
def test_bad_zip_codes_are_refused(zip_code: str) -> None:
    assert errors_for(answers_with(zip_code=zip_code)) == {"zip_code": BAD_ZIP}


def test_date_of_birth_in_the_future_is_refused() -> None:
    tomorrow = (TODAY + timedelta(days=1)).isoformat()
    assert errors_for(answers_with(date_of_birth=tomorrow)) == {"date_of_birth": FUTURE}
    assert errors_for(answers_with(date_of_birth=TODAY.isoformat())) == {}


def test_date_of_birth_more_than_130_years_ago_is_refused() -> None:
    errors = errors_for(answers_with(date_of_birth="1890-01-01"))
    assert errors == {"date_of_birth": "Enter a date within the last 130 years"}


def test_date_parts_are_assembled_into_an_iso_date() -> None:
    data = {k: v for k, v in I765_ANSWERS.items() if k != "date_of_birth"}
    data |= {"date_of_birth_month": "4", "date_of_birth_day": " 7 ", "date_of_birth_year": "1990"}
    answers, errors = validate_answers(I765, data, today=TODAY)
    assert errors == {}
    assert answers["date_of_birth"] == "1990-04-07"


@pytest.mark.parametrize(
    ("month", "day", "year", "error"),
    [
        ("2", "30", "1990", NOT_A_DATE),
        ("13", "1", "1990", NOT_A_DATE),
        ("4", "27", "", NOT_A_DATE),
        ("April", "27", "1990", NOT_A_DATE),
        ("", "", "", REQUIRED),
    ],
)
def test_bad_date_parts_are_refused(month: str, day: str, year: str, error: str) -> None:
    data = {k: v for k, v in I765_ANSWERS.items() if k != "date_of_birth"}
    data |= {"date_of_birth_month": month, "date_of_birth_day": day, "date_of_birth_year": year}
    assert errors_for(data) == {"date_of_birth": error}


@pytest.mark.parametrize(("field", "value"), [("eligibility_category", "c99"), ("state", "ZZ"), ("state", "il")])
def test_select_values_outside_the_choices_are_refused(field: str, value: str) -> None:
    assert errors_for(answers_with(**{field: value})) == {field: SELECT}


def test_overly_long_values_are_refused_at_the_field_limit() -> None:
    assert errors_for(answers_with(family_name="x" * 100)) == {}
    assert errors_for(answers_with(family_name="x" * 101)) == {"family_name": TOO_LONG}
    assert errors_for(answers_with(street="1" * 120)) == {}
    assert errors_for(answers_with(street="1" * 121)) == {"street": TOO_LONG}


@pytest.mark.parametrize("value", ["Ana\x00", "An\x07a", "Ana\x7f", "\x1bAna"])
def test_control_characters_are_refused(value: str) -> None:
    assert errors_for(answers_with(given_name=value)) == {"given_name": TOO_LONG}


def test_line_breaks_and_tabs_are_folded_into_single_spaces() -> None:
    answers, errors = validate_answers(I765, answers_with(city="Spring\r\n\tfield"), today=TODAY)
    assert errors == {}
    assert answers["city"] == "Spring field"


# --- stage plan -----------------------------------------------------------------------------


@pytest.mark.parametrize("category", sorted(I765.biometrics_categories))
def test_stage_plan_includes_biometrics_for_its_categories(category: str) -> None:
    plan = I765.stage_plan({"eligibility_category": category})
    assert plan == [Stage.INTAKE, Stage.BIOMETRICS, Stage.REVIEW, Stage.DECISION, Stage.POST_DECISION]
    assert all(type(stage) is str for stage in plan)


@pytest.mark.parametrize("answers", [{"eligibility_category": "c3C"}, {"eligibility_category": "a5"}, {}])
def test_stage_plan_skips_biometrics_otherwise(answers: dict[str, str]) -> None:
    assert I765.stage_plan(answers) == ["intake", "review", "decision", "post_decision"]


def test_sla_days_cover_every_stage_a_plan_waits_in() -> None:
    plan = I765.stage_plan({"eligibility_category": "c8"})
    assert set(plan) <= set(I765.sla_days)
    assert I765.sla_days["review"] == 90
