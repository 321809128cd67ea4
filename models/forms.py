"""The form catalog: each form's fields, fees, evidence, stage plan and service-level targets, as data.

Adding a form means adding a ``FormSpec`` here, not changing the workflow or the templates: the
workflow receives the stage plan, the targets, how the form treats interviews and what follows an
approval in its input (``web/filing.py``), and the e-filing pages render any form's fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

from i18n import N_
from models.domain import Stage

FieldKind = Literal[
    "text",  # one line of free text
    "date",  # month, day and year; stored as YYYY-MM-DD
    "select",  # one of `choices`, in a drop-down list
    "radio",  # one of a few `choices`, as radio buttons
    "checkboxes",  # one or more of `choices`; stored as their values joined by commas, in choice order
    "yes_no",  # "yes" or "no", as radio buttons
    "country",  # a country from `choices` (COUNTRIES or NATIONALITIES), in a drop-down list
    "postal_code",  # a US ZIP code
    "a_number",  # an Alien Registration Number; stored as A and 9 digits
    "amount",  # whole US dollars; stored as digits only
]
InterviewPolicy = Literal["always", "on_request", "never"]
# What follows an approval (CaseInput.after_approval): card_produced, card_mailed, oath, dos.
ApprovalStep = Literal["card_produced", "card_mailed", "oath", "dos"]

CHOICE_KINDS = frozenset({"select", "radio", "checkboxes", "yes_no", "country"})


@dataclass(frozen=True)
class Choice:
    value: str
    label: str


@dataclass(frozen=True)
class When:
    """A condition on one answer: ``answers[field]`` is one of ``values``."""

    field: str
    values: frozenset[str]

    def __call__(self, answers: Mapping[str, str]) -> bool:
        return answers.get(self.field, "") in self.values


def when(field_name: str, *values: str) -> When:
    return When(field_name, frozenset(values))


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
    # Dates: True when the date cannot be after today (a birth, an arrival); False for any real date.
    past_only: bool = True
    # Dates: True when the date cannot be before the answer to "date_of_birth".
    after_birth: bool = False
    # The question applies only when this holds; otherwise its answer is dropped and never required.
    only_if: When | None = None

    @property
    def has_choices(self) -> bool:
        return self.kind in CHOICE_KINDS

    def labels_for(self, value: str) -> list[str]:
        """The msgids of the choices an answer holds, in choice order (translate them where shown)."""
        if not self.has_choices or not value:
            return []
        chosen = set(value.split(",")) if self.kind == "checkboxes" else {value}
        return [c.label for c in self.choices if c.value in chosen]


@dataclass(frozen=True)
class EvidenceSpec:
    """A document an officer can ask for (``RequestEvidenceInput.items``) and an applicant uploads."""

    code: str
    label: str  # msgid
    required: bool = True  # False: only in some cases, said in the hint
    hint: str = ""


# A check across answers, run once every field is valid: (answers, today) -> errors by field name.
CrossCheck = Callable[[Mapping[str, str], date], dict[str, str]]


@dataclass(frozen=True)
class FormSpec:
    code: str  # I-765
    slug: str  # i-765
    title: str
    fee_cents: int
    fields: tuple[FieldSpec, ...]
    sla_days: dict[str, int]  # service-level target in days, by Stage value
    stages: tuple[str, ...] = ()  # every stage the plan may hold, in order
    stage_conditions: Mapping[str, When] = field(default_factory=dict)  # stage -> when it is in the plan
    interview: InterviewPolicy = "never"
    approval_steps: tuple[ApprovalStep, ...] = ()
    approval_condition: When | None = None  # when the approval steps apply; None: always
    evidence: tuple[EvidenceSpec, ...] = ()
    reduced_fee_cents: int | None = None
    reduced_fee_field: str = ""  # the yes/no question that asks for the reduced fee
    checks: tuple[CrossCheck, ...] = ()
    summary: str = ""  # one plain sentence for the list of forms
    # Whether a filer may ask for a fee waiver instead of paying (Form I-912); never for an I-130.
    fee_waiver: bool = True
    biometrics_categories: frozenset[str] = field(default_factory=frozenset)

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.fields if f.name == name)

    def stage_plan(self, answers: Mapping[str, str]) -> list[str]:
        """The stages this case goes through, in order (Stage values)."""
        return [
            stage for stage in self.stages
            if stage not in self.stage_conditions or self.stage_conditions[stage](answers)
        ]

    def after_approval(self, answers: Mapping[str, str]) -> list[str]:
        """What follows an approval, in order."""
        if self.approval_condition is not None and not self.approval_condition(answers):
            return []
        return list(self.approval_steps)

    def evidence_item(self, code: str) -> EvidenceSpec | None:
        return next((e for e in self.evidence if e.code == code), None)

    def fee_for(self, answers: Mapping[str, str]) -> int:
        """The fee this filing owes: the reduced fee when it is asked for and the form has one."""
        if self.reduced_fee_cents is not None and self.reduced_fee_field and answers.get(self.reduced_fee_field) == "yes":
            return self.reduced_fee_cents
        return self.fee_cents


US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI"
).split()

YES_NO = (Choice("yes", N_("Yes")), Choice("no", N_("No")))

# Countries and territories outside the United States (ISO 3166-1 codes), for births, nationality and
# residence abroad. American Samoa, Guam, the Northern Mariana Islands, Puerto Rico and the US Virgin
# Islands are part of the United States here, as they are in immigration law.
COUNTRIES: tuple[Choice, ...] = tuple(Choice(code, label) for code, label in (
    ("AF", N_("Afghanistan")), ("AX", N_("Åland Islands")), ("AL", N_("Albania")), ("DZ", N_("Algeria")),
    ("AD", N_("Andorra")), ("AO", N_("Angola")), ("AI", N_("Anguilla")), ("AG", N_("Antigua and Barbuda")),
    ("AR", N_("Argentina")), ("AM", N_("Armenia")), ("AW", N_("Aruba")), ("AU", N_("Australia")),
    ("AT", N_("Austria")), ("AZ", N_("Azerbaijan")), ("BS", N_("Bahamas")), ("BH", N_("Bahrain")),
    ("BD", N_("Bangladesh")), ("BB", N_("Barbados")), ("BY", N_("Belarus")), ("BE", N_("Belgium")),
    ("BZ", N_("Belize")), ("BJ", N_("Benin")), ("BM", N_("Bermuda")), ("BT", N_("Bhutan")), ("BO", N_("Bolivia")),
    ("BA", N_("Bosnia and Herzegovina")), ("BW", N_("Botswana")), ("BR", N_("Brazil")),
    ("VG", N_("British Virgin Islands")), ("BN", N_("Brunei")), ("BG", N_("Bulgaria")), ("BF", N_("Burkina Faso")),
    ("BI", N_("Burundi")), ("KH", N_("Cambodia")), ("CM", N_("Cameroon")), ("CA", N_("Canada")),
    ("CV", N_("Cape Verde")), ("BQ", N_("Caribbean Netherlands")), ("KY", N_("Cayman Islands")),
    ("CF", N_("Central African Republic")), ("TD", N_("Chad")), ("CL", N_("Chile")), ("CN", N_("China")),
    ("CX", N_("Christmas Island")), ("CC", N_("Cocos (Keeling) Islands")), ("CO", N_("Colombia")),
    ("KM", N_("Comoros")), ("CD", N_("Congo (Democratic Republic of the)")), ("CG", N_("Congo (Republic of the)")),
    ("CK", N_("Cook Islands")), ("CR", N_("Costa Rica")), ("CI", N_("Côte d'Ivoire")), ("HR", N_("Croatia")),
    ("CU", N_("Cuba")), ("CW", N_("Curaçao")), ("CY", N_("Cyprus")), ("CZ", N_("Czechia")), ("DK", N_("Denmark")),
    ("DJ", N_("Djibouti")), ("DM", N_("Dominica")), ("DO", N_("Dominican Republic")), ("EC", N_("Ecuador")),
    ("EG", N_("Egypt")), ("SV", N_("El Salvador")), ("GQ", N_("Equatorial Guinea")), ("ER", N_("Eritrea")),
    ("EE", N_("Estonia")), ("SZ", N_("Eswatini")), ("ET", N_("Ethiopia")), ("FK", N_("Falkland Islands")),
    ("FO", N_("Faroe Islands")), ("FJ", N_("Fiji")), ("FI", N_("Finland")), ("FR", N_("France")),
    ("GF", N_("French Guiana")), ("PF", N_("French Polynesia")), ("GA", N_("Gabon")), ("GM", N_("Gambia")),
    ("GE", N_("Georgia")), ("DE", N_("Germany")), ("GH", N_("Ghana")), ("GI", N_("Gibraltar")), ("GR", N_("Greece")),
    ("GL", N_("Greenland")), ("GD", N_("Grenada")), ("GP", N_("Guadeloupe")), ("GT", N_("Guatemala")),
    ("GG", N_("Guernsey")), ("GN", N_("Guinea")), ("GW", N_("Guinea-Bissau")), ("GY", N_("Guyana")),
    ("HT", N_("Haiti")), ("HN", N_("Honduras")), ("HK", N_("Hong Kong")), ("HU", N_("Hungary")),
    ("IS", N_("Iceland")), ("IN", N_("India")), ("ID", N_("Indonesia")), ("IR", N_("Iran")), ("IQ", N_("Iraq")),
    ("IE", N_("Ireland")), ("IM", N_("Isle of Man")), ("IL", N_("Israel")), ("IT", N_("Italy")),
    ("JM", N_("Jamaica")), ("JP", N_("Japan")), ("JE", N_("Jersey")), ("JO", N_("Jordan")), ("KZ", N_("Kazakhstan")),
    ("KE", N_("Kenya")), ("KI", N_("Kiribati")), ("XK", N_("Kosovo")), ("KW", N_("Kuwait")), ("KG", N_("Kyrgyzstan")),
    ("LA", N_("Laos")), ("LV", N_("Latvia")), ("LB", N_("Lebanon")), ("LS", N_("Lesotho")), ("LR", N_("Liberia")),
    ("LY", N_("Libya")), ("LI", N_("Liechtenstein")), ("LT", N_("Lithuania")), ("LU", N_("Luxembourg")),
    ("MO", N_("Macao")), ("MG", N_("Madagascar")), ("MW", N_("Malawi")), ("MY", N_("Malaysia")),
    ("MV", N_("Maldives")), ("ML", N_("Mali")), ("MT", N_("Malta")), ("MH", N_("Marshall Islands")),
    ("MQ", N_("Martinique")), ("MR", N_("Mauritania")), ("MU", N_("Mauritius")), ("YT", N_("Mayotte")),
    ("MX", N_("Mexico")), ("FM", N_("Micronesia")), ("MD", N_("Moldova")), ("MC", N_("Monaco")),
    ("MN", N_("Mongolia")), ("ME", N_("Montenegro")), ("MS", N_("Montserrat")), ("MA", N_("Morocco")),
    ("MZ", N_("Mozambique")), ("MM", N_("Myanmar (Burma)")), ("NA", N_("Namibia")), ("NR", N_("Nauru")),
    ("NP", N_("Nepal")), ("NL", N_("Netherlands")), ("NC", N_("New Caledonia")), ("NZ", N_("New Zealand")),
    ("NI", N_("Nicaragua")), ("NE", N_("Niger")), ("NG", N_("Nigeria")), ("NU", N_("Niue")),
    ("NF", N_("Norfolk Island")), ("KP", N_("North Korea")), ("MK", N_("North Macedonia")), ("NO", N_("Norway")),
    ("OM", N_("Oman")), ("PK", N_("Pakistan")), ("PW", N_("Palau")), ("PS", N_("Palestinian Territories")),
    ("PA", N_("Panama")), ("PG", N_("Papua New Guinea")), ("PY", N_("Paraguay")), ("PE", N_("Peru")),
    ("PH", N_("Philippines")), ("PN", N_("Pitcairn Islands")), ("PL", N_("Poland")), ("PT", N_("Portugal")),
    ("QA", N_("Qatar")), ("RE", N_("Réunion")), ("RO", N_("Romania")), ("RU", N_("Russia")), ("RW", N_("Rwanda")),
    ("BL", N_("Saint Barthélemy")), ("SH", N_("Saint Helena")), ("KN", N_("Saint Kitts and Nevis")),
    ("LC", N_("Saint Lucia")), ("MF", N_("Saint Martin")), ("PM", N_("Saint Pierre and Miquelon")),
    ("VC", N_("Saint Vincent and Grenadines")), ("WS", N_("Samoa")), ("SM", N_("San Marino")),
    ("ST", N_("São Tomé and Príncipe")), ("SA", N_("Saudi Arabia")), ("SN", N_("Senegal")), ("RS", N_("Serbia")),
    ("SC", N_("Seychelles")), ("SL", N_("Sierra Leone")), ("SG", N_("Singapore")), ("SX", N_("Sint Maarten")),
    ("SK", N_("Slovakia")), ("SI", N_("Slovenia")), ("SB", N_("Solomon Islands")), ("SO", N_("Somalia")),
    ("ZA", N_("South Africa")), ("KR", N_("South Korea")), ("SS", N_("South Sudan")), ("ES", N_("Spain")),
    ("LK", N_("Sri Lanka")), ("SD", N_("Sudan")), ("SR", N_("Suriname")), ("SJ", N_("Svalbard and Jan Mayen")),
    ("SE", N_("Sweden")), ("CH", N_("Switzerland")), ("SY", N_("Syria")), ("TW", N_("Taiwan")),
    ("TJ", N_("Tajikistan")), ("TZ", N_("Tanzania")), ("TH", N_("Thailand")), ("TL", N_("Timor-Leste")),
    ("TG", N_("Togo")), ("TK", N_("Tokelau")), ("TO", N_("Tonga")), ("TT", N_("Trinidad and Tobago")),
    ("TN", N_("Tunisia")), ("TR", N_("Türkiye")), ("TM", N_("Turkmenistan")), ("TC", N_("Turks and Caicos Islands")),
    ("TV", N_("Tuvalu")), ("UG", N_("Uganda")), ("UA", N_("Ukraine")), ("AE", N_("United Arab Emirates")),
    ("GB", N_("United Kingdom")), ("UY", N_("Uruguay")), ("UZ", N_("Uzbekistan")), ("VU", N_("Vanuatu")),
    ("VA", N_("Vatican City (Holy See)")), ("VE", N_("Venezuela")), ("VN", N_("Vietnam")),
    ("WF", N_("Wallis and Futuna")), ("EH", N_("Western Sahara")), ("YE", N_("Yemen")), ("ZM", N_("Zambia")),
    ("ZW", N_("Zimbabwe")),
))

NATIONALITIES: tuple[Choice, ...] = COUNTRIES + (Choice("stateless", N_("Stateless")),)

_NAME_HINT = N_("As it appears on your passport or other identity document.")
_STATE_CHOICES = tuple(Choice(s, s) for s in US_STATES)


def _address(section: str) -> tuple[FieldSpec, ...]:
    """The US mailing address every form asks for (the field names are the same on every form)."""
    return (
        FieldSpec("street", N_("Street number and name"), autocomplete="address-line1", max_length=120, section=section),
        FieldSpec("apartment", N_("Apartment, suite or floor"), required=False, autocomplete="address-line2", max_length=40,
                  section=section),
        FieldSpec("city", N_("City or town"), autocomplete="address-level2", section=section),
        FieldSpec("state", N_("State"), kind="select", choices=_STATE_CHOICES, autocomplete="address-level1", section=section),
        FieldSpec("zip_code", N_("ZIP code"), kind="postal_code", hint=N_("5 digits, or 5 + 4 digits"), max_length=10,
                  autocomplete="postal-code", section=section),
    )


def _your_name(section: str) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec("family_name", N_("Family name (last name)"), hint=_NAME_HINT, autocomplete="family-name", section=section),
        FieldSpec("given_name", N_("Given name (first name)"), autocomplete="given-name", section=section),
        FieldSpec("middle_name", N_("Middle name"), required=False, autocomplete="additional-name", section=section),
    )


_DATE_HINT = N_("For example: 4 27 1990")
# A case waits in evidence_requested for the applicant: 84 days to answer and 3 for mailing.
RFE_WINDOW_DAYS = 87

# --- I-765 ----------------------------------------------------------------------------------

I765_CATEGORIES = (
    Choice("c8", N_("(c)(8) Pending asylum application")),
    Choice("c9", N_("(c)(9) Pending application to adjust status")),
    Choice("c3C", N_("(c)(3)(C) STEM extension of student practical training")),
    Choice("a12", N_("(a)(12) Temporary Protected Status")),
    Choice("c33", N_("(c)(33) Deferred Action for Childhood Arrivals")),
    Choice("a5", N_("(a)(5) Asylee")),
)
I765_BIOMETRICS = frozenset({"c8", "c9", "a12", "c33"})

I765 = FormSpec(
    code="I-765",
    slug="i-765",
    title=N_("Application for Employment Authorization"),
    summary=N_("Ask for a work permit (Employment Authorization Document)."),
    fee_cents=47_000,
    fields=(
        *_your_name(N_("Your name")),
        FieldSpec("date_of_birth", N_("Date of birth"), kind="date", hint=_DATE_HINT, autocomplete="bday", section=N_("About you")),
        FieldSpec("eligibility_category", N_("Eligibility category"), kind="select", choices=I765_CATEGORIES,
                  hint=N_("The category of the law under which you ask for permission to work."), section=N_("About you")),
        *_address(N_("Mailing address")),
    ),
    stages=(Stage.INTAKE.value, Stage.BIOMETRICS.value, Stage.REVIEW.value, Stage.DECISION.value, Stage.POST_DECISION.value),
    stage_conditions={Stage.BIOMETRICS.value: When("eligibility_category", I765_BIOMETRICS)},
    interview="never",
    approval_steps=("card_produced", "card_mailed"),
    evidence=(
        EvidenceSpec("photos", N_("Two passport-style photos"),
                     hint=N_("Taken in the last 30 days, 2 by 2 inches, in color, on a white background.")),
        EvidenceSpec("i94_or_passport", N_("Copy of your Form I-94 or passport"),
                     hint=N_("Your arrival-departure record, or the passport pages with your photo and your US visa or entry stamp.")),
        EvidenceSpec("eligibility_proof", N_("Proof of your eligibility category"),
                     hint=N_("For example, the receipt notice of your pending asylum or adjustment application.")),
        EvidenceSpec("previous_ead", N_("Copy of your previous work permit"), required=False,
                     hint=N_("Front and back, if you had an Employment Authorization Document before.")),
    ),
    sla_days={
        Stage.INTAKE.value: 2, Stage.BIOMETRICS.value: 45, Stage.REVIEW.value: 90, Stage.EVIDENCE_REQUESTED.value: RFE_WINDOW_DAYS,
        Stage.DECISION.value: 7, Stage.POST_DECISION.value: 30,
    },
    biometrics_categories=I765_BIOMETRICS,
)

# --- I-130 ----------------------------------------------------------------------------------

PETITIONER_STATUSES = (
    Choice("citizen", N_("US citizen")),
    Choice("lpr", N_("Lawful permanent resident (green card holder)")),
)
RELATIONSHIPS = (
    Choice("spouse", N_("My husband or wife")),
    Choice("parent", N_("My mother or father")),
    Choice("child", N_("My son or daughter")),
    Choice("sibling", N_("My brother or sister")),
)


def _lpr_can_petition(answers: Mapping[str, str], today: date) -> dict[str, str]:
    """A permanent resident can petition only for a spouse or an unmarried child."""
    if answers.get("petitioner_status") == "lpr" and answers.get("relationship") in ("parent", "sibling"):
        return {"relationship": N_("A permanent resident can file for a husband, wife or unmarried son or daughter only")}
    return {}


_ABOUT_PETITIONER = N_("About you, the petitioner")
_ABOUT_RELATIVE = N_("About your relative")

I130 = FormSpec(
    code="I-130",
    slug="i-130",
    title=N_("Petition for Alien Relative"),
    summary=N_("Ask to bring a family member to live in the United States."),
    fee_cents=62_500,
    fee_waiver=False,
    fields=(
        FieldSpec("family_name", N_("Family name (last name)"), hint=_NAME_HINT, autocomplete="family-name", section=_ABOUT_PETITIONER),
        FieldSpec("given_name", N_("Given name (first name)"), autocomplete="given-name", section=_ABOUT_PETITIONER),
        FieldSpec("petitioner_status", N_("Your immigration status"), kind="radio", choices=PETITIONER_STATUSES,
                  section=_ABOUT_PETITIONER),
        FieldSpec("relationship", N_("Who are you filing for?"), kind="radio", choices=RELATIONSHIPS,
                  hint=N_("File one petition for each relative."), section=_ABOUT_PETITIONER),
        FieldSpec("beneficiary_family_name", N_("Your relative's family name (last name)"), hint=_NAME_HINT,
                  section=_ABOUT_RELATIVE),
        FieldSpec("beneficiary_given_name", N_("Your relative's given name (first name)"), section=_ABOUT_RELATIVE),
        FieldSpec("beneficiary_date_of_birth", N_("Your relative's date of birth"), kind="date", hint=_DATE_HINT,
                  section=_ABOUT_RELATIVE),
        FieldSpec("beneficiary_country_of_birth", N_("Your relative's country of birth"), kind="country", choices=COUNTRIES,
                  section=_ABOUT_RELATIVE),
        FieldSpec("beneficiary_abroad", N_("Does your relative live outside the United States?"), kind="yes_no",
                  choices=YES_NO, hint=N_("If so, we send the approved petition to the Department of State."),
                  section=_ABOUT_RELATIVE),
        FieldSpec("beneficiary_country", N_("Country where your relative lives"), kind="country", choices=COUNTRIES,
                  hint=N_("Only if your relative lives outside the United States."),
                  only_if=when("beneficiary_abroad", "yes"), section=_ABOUT_RELATIVE),
        *_address(N_("Your mailing address")),
    ),
    stages=(Stage.INTAKE.value, Stage.REVIEW.value, Stage.DECISION.value, Stage.POST_DECISION.value),
    stage_conditions={Stage.POST_DECISION.value: when("beneficiary_abroad", "yes")},
    interview="on_request",
    approval_steps=("dos",),
    approval_condition=when("beneficiary_abroad", "yes"),
    evidence=(
        EvidenceSpec("petitioner_status", N_("Proof of your US citizenship or permanent residence"),
                     hint=N_("For example, your US passport, birth certificate, "
                             "naturalization certificate or both sides of your green card.")),
        EvidenceSpec("relationship", N_("Proof of your relationship"),
                     hint=N_("A marriage certificate for a spouse; a birth certificate "
                             "showing both of you for a parent, child, brother or sister.")),
        EvidenceSpec("spouse_photos", N_("Passport-style photos of you and your spouse"), required=False,
                     hint=N_("Only when you file for your husband or wife: one photo of each of you.")),
        EvidenceSpec("bona_fide_marriage", N_("Evidence that your marriage is real"), required=False,
                     hint=N_("Only when you file for your husband or wife: for example, a "
                             "joint lease, bank statements or birth certificates of your children.")),
        EvidenceSpec("prior_marriages_ended", N_("Proof that earlier marriages ended"), required=False,
                     hint=N_("Divorce decrees or death certificates, if either of you was married before.")),
    ),
    sla_days={
        Stage.INTAKE.value: 2, Stage.REVIEW.value: 180, Stage.EVIDENCE_REQUESTED.value: RFE_WINDOW_DAYS, Stage.INTERVIEW.value: 120,
        Stage.DECISION.value: 14, Stage.POST_DECISION.value: 30,
    },
    checks=(_lpr_can_petition,),
)

# --- N-400 ----------------------------------------------------------------------------------

N400_BASES = (
    Choice("lpr_5", N_("I have been a permanent resident for at least 5 years")),
    Choice("married_3", N_("I have been a permanent resident for at least 3 years, "
                           "married to and living with the same US citizen for those 3 years")),
    Choice("military", N_("I serve or served honorably in the US armed forces")),
)
HOUSEHOLD_SIZES = tuple(Choice(str(n), str(n)) for n in range(1, 11))
EARLY_FILING_DAYS = 90  # an N-400 may be filed 90 days before the residence period ends

# Why a filer asks for a fee waiver (Form I-912): (code, msgid).
FEE_WAIVER_REASONS = (
    ("means_tested", N_("I, my spouse or the head of my household receive a means-tested benefit")),
    ("low_income", N_("My household income is at or below 150 percent of the Federal Poverty Guidelines")),
    ("hardship", N_("I have a financial hardship that prevents me from paying")),
)

# HHS Poverty Guidelines (48 contiguous states and DC, 2025): the amount for one person and for each
# person more. The reduced N-400 fee is for a household income of at most 400 percent of it.
POVERTY_GUIDELINE_BASE = 15_650
POVERTY_GUIDELINE_PER_PERSON = 5_500
REDUCED_FEE_INCOME_PERCENT = 400


def reduced_fee_income_limit(household_size: int) -> int:
    """The highest yearly household income, in whole dollars, that allows the reduced N-400 fee."""
    guideline = POVERTY_GUIDELINE_BASE + POVERTY_GUIDELINE_PER_PERSON * (max(household_size, 1) - 1)
    return guideline * REDUCED_FEE_INCOME_PERCENT // 100


def _income_allows_reduced_fee(answers: Mapping[str, str], today: date) -> dict[str, str]:
    if answers.get("reduced_fee") != "yes":
        return {}
    try:
        size, income = int(answers.get("household_size", "")), int(answers.get("household_income", ""))
    except ValueError:
        return {}
    if income > reduced_fee_income_limit(size):
        return {"household_income": N_("With this household income you cannot pay the reduced fee: "
                                       "answer No to the reduced fee, or check the amount")}
    return {}


def _anniversary(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def _residence_long_enough(answers: Mapping[str, str], today: date) -> dict[str, str]:
    """Permanent residence of 5 years (3 when married to a citizen), filed at most 90 days early."""
    years = {"lpr_5": 5, "married_3": 3}.get(answers.get("eligibility_basis", ""))
    if not years or not answers.get("lpr_date"):
        return {}
    earliest = _anniversary(date.fromisoformat(answers["lpr_date"]), years) - timedelta(days=EARLY_FILING_DAYS)
    if today < earliest:
        message = (N_("You can apply from 90 days before you have been a permanent resident for 5 years") if years == 5
                   else N_("You can apply from 90 days before you have been a permanent resident for 3 years"))
        return {"lpr_date": message}
    return {}


_REDUCED_FEE = N_("Filing fee")

N400 = FormSpec(
    code="N-400",
    slug="n-400",
    title=N_("Application for Naturalization"),
    summary=N_("Apply to become a US citizen."),
    fee_cents=71_000,
    reduced_fee_cents=38_000,
    reduced_fee_field="reduced_fee",
    fields=(
        *_your_name(N_("Your name")),
        FieldSpec("a_number", N_("A-Number"), kind="a_number", max_length=20,
                  hint=N_("The letter A and 8 or 9 digits, like A123456789. It is on your green card."), section=N_("About you")),
        FieldSpec("date_of_birth", N_("Date of birth"), kind="date", hint=_DATE_HINT, autocomplete="bday", section=N_("About you")),
        FieldSpec("lpr_date", N_("Date you became a permanent resident"), kind="date", after_birth=True,
                  hint=N_("The \"Resident since\" date on your green card. For example: 4 27 2019"), section=N_("About you")),
        FieldSpec("eligibility_basis", N_("Why you can apply"), kind="radio", choices=N400_BASES, section=N_("About you")),
        FieldSpec("reduced_fee", N_("Are you asking for the reduced fee?"), kind="yes_no", choices=YES_NO,
                  hint=N_("You may pay the reduced fee if your household income is more than 150 "
                          "percent and not more than 400 percent of the Federal Poverty Guidelines."),
                  section=_REDUCED_FEE),
        FieldSpec("household_size", N_("Number of people in your household"), kind="select", choices=HOUSEHOLD_SIZES,
                  hint=N_("Only if you ask for the reduced fee. Count yourself, your spouse and the children and others you support."),
                  only_if=when("reduced_fee", "yes"), section=_REDUCED_FEE),
        FieldSpec("household_income", N_("Total household income last year, in US dollars"), kind="amount", max_length=15,
                  hint=N_("Only if you ask for the reduced fee. Whole dollars, like 45000."),
                  only_if=when("reduced_fee", "yes"), section=_REDUCED_FEE),
        *_address(N_("Mailing address")),
    ),
    stages=(Stage.INTAKE.value, Stage.BIOMETRICS.value, Stage.INTERVIEW.value, Stage.REVIEW.value, Stage.DECISION.value,
            Stage.POST_DECISION.value),
    interview="always",
    approval_steps=("oath",),
    evidence=(
        EvidenceSpec("green_card", N_("Copy of your permanent resident card"), hint=N_("Both sides of your green card.")),
        EvidenceSpec("identity", N_("Copy of your passport or other photo identity document")),
        EvidenceSpec("spouse_citizenship", N_("Proof of your spouse's US citizenship and your marriage"), required=False,
                     hint=N_("Only if you apply after 3 years married to a US citizen: for "
                             "example, your spouse's passport and your marriage certificate.")),
        EvidenceSpec("military_service", N_("Request for Certification of Military or Naval Service (Form N-426)"), required=False,
                     hint=N_("Only if you apply on the basis of military service.")),
        EvidenceSpec("income_proof", N_("Proof of household income"), required=False,
                     hint=N_("Only if you ask for the reduced fee: for example, your latest federal tax return.")),
    ),
    sla_days={
        Stage.INTAKE.value: 2, Stage.BIOMETRICS.value: 45, Stage.INTERVIEW.value: 120, Stage.REVIEW.value: 30,
        Stage.EVIDENCE_REQUESTED.value: RFE_WINDOW_DAYS, Stage.DECISION.value: 14, Stage.POST_DECISION.value: 90,
    },
    checks=(_residence_long_enough, _income_allows_reduced_fee),
)

# --- I-589 ----------------------------------------------------------------------------------

PROTECTED_GROUNDS = (
    Choice("race", N_("Race")),
    Choice("religion", N_("Religion")),
    Choice("nationality", N_("Nationality")),
    Choice("political_opinion", N_("Political opinion")),
    Choice("social_group", N_("Membership in a particular social group")),
)

I589 = FormSpec(
    code="I-589",
    slug="i-589",
    title=N_("Application for Asylum and for Withholding of Removal"),
    summary=N_("Ask for protection if you fear harm in your country."),
    fee_cents=10_000,
    fields=(
        *_your_name(N_("Your name")),
        FieldSpec("date_of_birth", N_("Date of birth"), kind="date", hint=_DATE_HINT, autocomplete="bday", section=N_("About you")),
        FieldSpec("nationality", N_("Country of nationality"), kind="country", choices=NATIONALITIES,
                  hint=N_("The country whose citizen you are. Choose \"Stateless\" if you have none."), section=N_("About you")),
        FieldSpec("arrival_date", N_("Date of your last arrival in the United States"), kind="date", after_birth=True,
                  hint=N_("You must usually apply within 1 year of arriving. If it has been "
                          "longer, you can still apply and explain why. For example: 4 27 2025"),
                  section=N_("About you")),
        FieldSpec("language", N_("The language you speak best"), max_length=60,
                  hint=N_("We arrange your interview in this language. For example: Spanish, Haitian Creole, Dari."),
                  section=N_("About you")),
        FieldSpec("protected_grounds", N_("Why do you fear harm?"), kind="checkboxes", choices=PROTECTED_GROUNDS,
                  hint=N_("Select all that apply."), section=N_("Your claim")),
        FieldSpec("include_family", N_("Are you including your spouse or children in this application?"), kind="yes_no",
                  choices=YES_NO, hint=N_("Your spouse and unmarried children under 21 who are in the United States."),
                  section=N_("Your claim")),
        *_address(N_("Mailing address")),
    ),
    stages=(Stage.INTAKE.value, Stage.BIOMETRICS.value, Stage.INTERVIEW.value, Stage.REVIEW.value, Stage.DECISION.value),
    interview="always",
    evidence=(
        EvidenceSpec("identity", N_("Copy of your passport or other identity document"),
                     hint=N_("If you have none, explain why in your statement.")),
        EvidenceSpec("photo", N_("A passport-style photo of you and of each family member you include")),
        EvidenceSpec("persecution", N_("Evidence of the harm you suffered or fear"),
                     hint=N_("For example, statements of witnesses, medical or police records, or news reports about you.")),
        EvidenceSpec("country_conditions", N_("Reports on conditions in your country"), required=False,
                     hint=N_("For example, human rights reports that describe how people like you are treated.")),
        EvidenceSpec("family_relationship", N_("Proof of your relationship to family members you include"), required=False,
                     hint=N_("Only if you include your spouse or children: marriage and birth certificates.")),
        EvidenceSpec("translations", N_("Certified English translations"), required=False,
                     hint=N_("Of every document that is not in English.")),
    ),
    sla_days={
        Stage.INTAKE.value: 2, Stage.BIOMETRICS.value: 30, Stage.INTERVIEW.value: 45, Stage.REVIEW.value: 60,
        Stage.EVIDENCE_REQUESTED.value: RFE_WINDOW_DAYS, Stage.DECISION.value: 14,
    },
)

FORMS: dict[str, FormSpec] = {f.code: f for f in (I765, I130, N400, I589)}
FORMS_BY_SLUG: dict[str, FormSpec] = {f.slug: f for f in FORMS.values()}


def evidence_label(form_type: str, code: str) -> str:
    """The msgid naming an evidence item of a form; "other" (and anything unknown) is returned as is."""
    form = FORMS.get(form_type)
    item = form.evidence_item(code) if form is not None else None
    return item.label if item is not None else code


# --- validation -----------------------------------------------------------------------------

_ZIP_RE = re.compile(r"^\d{5}(-\d{4})?$")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_A_NUMBER_RE = re.compile(r"^A?(\d{8,9})$")
_AMOUNT_RE = re.compile(r"^\$?(\d{1,3}(,\d{3})+|\d+)$")
_AMOUNT_MAX_DIGITS = 10

REQUIRED = N_("Enter this information")
SELECT = N_("Select an option")


def normalize_a_number(value: str) -> str | None:
    """``A123456789`` from what people type ("a-123 456 789", "A12345678"), or None when it is not one.

    USCIS writes an 8-digit A-Number with a 0 in front, so it is kept with 9 digits."""
    match = _A_NUMBER_RE.fullmatch(re.sub(r"[\s\-]", "", value).upper())
    return f"A{match.group(1).zfill(9)}" if match else None


def _raw_value(spec: FieldSpec, data: Mapping[str, str]) -> str:
    if spec.kind == "date" and any(f"{spec.name}_{part}" in data for part in ("year", "month", "day")):
        parts = [str(data.get(f"{spec.name}_{part}", "") or "").strip() for part in ("year", "month", "day")]
        if not any(parts):
            return ""
        return "-".join([parts[0].zfill(4) if parts[0].isdigit() else parts[0]] + [p.zfill(2) if p.isdigit() else p for p in parts[1:]])
    value = " ".join(str(data.get(spec.name, "") or "").split())
    if spec.kind == "checkboxes":
        value = ",".join(part.strip() for part in value.split(",") if part.strip())
    return value


def _missing_message(spec: FieldSpec) -> str:
    if spec.kind == "yes_no":
        return N_("Select yes or no")
    if spec.kind == "checkboxes":
        return N_("Select at least one")
    if spec.kind == "country":
        return N_("Select a country")
    if spec.kind in ("select", "radio"):
        return SELECT
    return REQUIRED


def _check_value(spec: FieldSpec, value: str, answers: Mapping[str, str], today: date) -> tuple[str, str | None]:
    """(the cleaned value, an error msgid or None) for a value that is not empty."""
    if len(value) > spec.max_length or _CONTROL_RE.search(value):
        return value, N_("This answer is too long or has characters we cannot accept")
    if spec.kind == "checkboxes":
        chosen = set(value.split(","))
        known = [c.value for c in spec.choices if c.value in chosen]
        if len(known) != len(chosen):
            return value, SELECT
        return ",".join(known), None
    if spec.kind in CHOICE_KINDS:
        return value, None if value in {c.value for c in spec.choices} else _missing_message(spec)
    if spec.kind == "postal_code" and not _ZIP_RE.fullmatch(value):
        return value, N_("Enter a ZIP code of 5 digits, like 20529, or 5 + 4 digits, like 20529-2000")
    if spec.kind == "a_number":
        a_number = normalize_a_number(value)
        if a_number is None:
            return value, N_("Enter an A-Number: the letter A and 8 or 9 digits, like A123456789")
        return a_number, None
    if spec.kind == "amount":
        digits = value.replace(" ", "")
        if not _AMOUNT_RE.fullmatch(digits):
            return value, N_("Enter an amount in whole dollars, like 45000")
        digits = digits.lstrip("$").replace(",", "").lstrip("0") or "0"
        if len(digits) > _AMOUNT_MAX_DIGITS:
            return value, N_("Enter an amount in whole dollars, like 45000")
        return digits, None
    if spec.kind == "date":
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return value, N_("Enter a real date: month, day and year, like 4 27 1990")
        if spec.past_only and day > today:
            return value, N_("The date must be in the past")
        if day.year < today.year - 130:
            return value, N_("Enter a date within the last 130 years")
        if spec.after_birth:
            try:
                born = date.fromisoformat(answers.get("date_of_birth", ""))
            except ValueError:
                born = None
            if born is not None and day < born:
                return value, N_("This date cannot be before your date of birth")
    return value, None


def validate_answers(form: FormSpec, data: Mapping[str, str], *, today: date) -> tuple[dict[str, str], dict[str, str]]:
    """Clean the submitted answers. Returns (answers, errors by field name); errors are msgids.

    ``data`` holds one string per field (a date may come as its ``_month``, ``_day`` and ``_year``
    parts; checkboxes as their values joined by commas). A question whose ``only_if`` does not hold
    is answered with "". Checks across answers run once every field is valid.
    """
    fields = form.fields
    answers: dict[str, str] = {spec.name: _raw_value(spec, data) for spec in fields}
    errors: dict[str, str] = {}
    for spec in fields:
        if spec.only_if is not None and not spec.only_if(answers):
            answers[spec.name] = ""
            continue
        value = answers[spec.name]
        if not value:
            if spec.required:
                errors[spec.name] = _missing_message(spec)
            continue
        answers[spec.name], error = _check_value(spec, value, answers, today)
        if error:
            errors[spec.name] = error
    if not errors:
        for check in getattr(form, "checks", ()):
            errors.update(check(answers, today))
    return answers, errors
