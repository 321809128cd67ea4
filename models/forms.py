"""The form catalog: each form's fields, fee, stage plan and service-level targets, as data.

Adding a form means adding a ``FormSpec`` here (and its templates), not changing the workflow:
the workflow receives the stage plan and targets in its input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from i18n import N_
from models.domain import Stage

FieldKind = Literal["text", "date", "select", "postal_code"]


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    hint: str = ""
    max_length: int = 100
    choices: tuple[Choice, ...] = ()
    autocomplete: str = ""
    section: str = ""


@dataclass(frozen=True)
class FormSpec:
    code: str  # I-765
    slug: str  # i-765
    title: str
    fee_cents: int
    fields: tuple[FieldSpec, ...]
    sla_days: dict[str, int]
    biometrics_categories: frozenset[str] = field(default_factory=frozenset)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def stage_plan(self, answers: dict[str, str]) -> list[str]:
        plan = [Stage.INTAKE.value]
        if answers.get("eligibility_category") in self.biometrics_categories:
            plan.append(Stage.BIOMETRICS.value)
        plan += [Stage.REVIEW.value, Stage.DECISION.value]
        return plan


US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI"
).split()

I765_CATEGORIES = (
    Choice("c8", N_("(c)(8) Pending asylum application")),
    Choice("c9", N_("(c)(9) Pending application to adjust status")),
    Choice("c3C", N_("(c)(3)(C) STEM extension of student practical training")),
    Choice("a12", N_("(a)(12) Temporary Protected Status")),
    Choice("c33", N_("(c)(33) Deferred Action for Childhood Arrivals")),
    Choice("a5", N_("(a)(5) Asylee")),
)

_NAME_HINT = N_("As it appears on your passport or other identity document.")

I765 = FormSpec(
    code="I-765",
    slug="i-765",
    title=N_("Application for Employment Authorization"),
    fee_cents=47_000,
    fields=(
        FieldSpec("family_name", N_("Family name (last name)"), hint=_NAME_HINT, autocomplete="family-name", section=N_("Your name")),
        FieldSpec("given_name", N_("Given name (first name)"), autocomplete="given-name", section=N_("Your name")),
        FieldSpec("middle_name", N_("Middle name"), required=False, autocomplete="additional-name", section=N_("Your name")),
        FieldSpec("date_of_birth", N_("Date of birth"), kind="date", hint=N_("For example: 4 27 1990"), autocomplete="bday", section=N_("About you")),
        FieldSpec("eligibility_category", N_("Eligibility category"), kind="select", choices=I765_CATEGORIES,
                  hint=N_("The category of the law under which you ask for permission to work."), section=N_("About you")),
        FieldSpec("street", N_("Street number and name"), autocomplete="address-line1", max_length=120, section=N_("Mailing address")),
        FieldSpec("apartment", N_("Apartment, suite or floor"), required=False, autocomplete="address-line2", max_length=40, section=N_("Mailing address")),
        FieldSpec("city", N_("City or town"), autocomplete="address-level2", section=N_("Mailing address")),
        FieldSpec("state", N_("State"), kind="select", choices=tuple(Choice(s, s) for s in US_STATES),
                  autocomplete="address-level1", section=N_("Mailing address")),
        FieldSpec("zip_code", N_("ZIP code"), kind="postal_code", hint=N_("5 digits, or 5 + 4 digits"), max_length=10,
                  autocomplete="postal-code", section=N_("Mailing address")),
    ),
    sla_days={Stage.INTAKE.value: 2, Stage.BIOMETRICS.value: 45, Stage.REVIEW.value: 90, Stage.DECISION.value: 7},
    biometrics_categories=frozenset({"c8", "c9", "a12", "c33"}),
)

FORMS: dict[str, FormSpec] = {I765.code: I765}
FORMS_BY_SLUG: dict[str, FormSpec] = {f.slug: f for f in FORMS.values()}

_ZIP_RE = re.compile(r"^\d{5}(-\d{4})?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def validate_answers(form: FormSpec, data: dict[str, str], *, today: date) -> tuple[dict[str, str], dict[str, str]]:
    """Clean the submitted answers. Returns (answers, errors by field name); errors are msgids."""
    answers: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in form.fields:
        if spec.kind == "date" and any(f"{spec.name}_{part}" in data for part in ("year", "month", "day")):
            parts = [str(data.get(f"{spec.name}_{part}", "") or "").strip() for part in ("year", "month", "day")]
            value = "" if not any(parts) else "-".join(
                [parts[0].zfill(4) if parts[0].isdigit() else parts[0]]
                + [p.zfill(2) if p.isdigit() else p for p in parts[1:]]
            )
        else:
            value = " ".join(str(data.get(spec.name, "") or "").split())
        answers[spec.name] = value
        if not value:
            if spec.required:
                errors[spec.name] = N_("Enter this information") if spec.kind != "select" else N_("Select an option")
            continue
        if len(value) > spec.max_length or _CONTROL_RE.search(value):
            errors[spec.name] = N_("This answer is too long or has characters we cannot accept")
        elif spec.kind == "select" and value not in {c.value for c in spec.choices}:
            errors[spec.name] = N_("Select an option")
        elif spec.kind == "postal_code" and not _ZIP_RE.fullmatch(value):
            errors[spec.name] = N_("Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000")
        elif spec.kind == "date":
            try:
                born = date.fromisoformat(value)
            except ValueError:
                errors[spec.name] = N_("Enter a real date: month, day and year, like 4 27 1990")
            else:
                if born > today:
                    errors[spec.name] = N_("The date must be in the past")
                elif born.year < today.year - 130:
                    errors[spec.name] = N_("Enter a date within the last 130 years")
    return answers, errors
