"""Filing a form through the e-filing journey in a real browser, one page at a time, as people do.

My cases → the form's start page → one page per section of questions (for a representative, their
client first) → the documents → the fee → check your answers and sign → the payment (when a fee is
paid) → the case page with its receipt number. Every page reached is checked with axe-core (in a
context with JavaScript) and, when the journey has an artifacts folder, saved as a screenshot.

A ``Filing`` holds the answers as the draft stores them (dates as YYYY-MM-DD, choice values, ticked
boxes joined by commas); the questions are found on the pages by their labels from the form
catalog, so the same walk fills any form. ``Journey.file`` is the plain walk; its steps are public so
a test can do more on a page before moving on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

from playwright.async_api import Locator, Page, Response, expect

from cli import DEMO_APPLICANT_BIRTH_DATE, DEMO_REPRESENTATIVE
from models.forms import FEE_WAIVER_REASONS, FORMS, FieldSpec, FormSpec
from tests.e2e.browser import assert_accessible, follow, post, settled, submit, tick
from tests.e2e.conftest import demo_account, javascript_enabled
from web.journey import Step, question_steps
from web.templating import format_date, format_money

RECEIPT_RE = re.compile(r"^IOE\d{10}$")
_DRAFT = r"/efile/drafts/[0-9a-f-]{36}/"
CASE_URL_RE = re.compile(r"/cases/(IOE\d{10})\?filed=1$")
APPROVED_CARD = "4242 4242 4242 4242"
DECLINED_CARD = "4000 0000 0000 0002"
DECLINED_MESSAGE = "Your card was declined. No money was taken. Try another card."
WRONG_TYPE_MESSAGE = "The selected file must be a PDF, JPEG, PNG or TIFF"
CONTINUE = "Save and continue"
BACK_TO_REVIEW = "Save and go back to check your answers"


def step_url(name: str) -> re.Pattern:
    """The address of a page of a draft's journey (any query string or fragment)."""
    return re.compile(_DRAFT + re.escape(name) + r"(\?[^#]*)?(#.*)?$")


def small_pdf(text: str) -> bytes:
    """A real one-page PDF (with a correct cross-reference table) that says ``text``."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 18 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    pdf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(pdf))
        pdf += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(pdf)
    pdf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    pdf += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    pdf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(pdf)


# A Windows program (the start of a PE file) that someone renamed to look like a scan.
RENAMED_EXECUTABLE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"\x80\x00\x00\x00"
    + b"\x0e\x1f\xba\x0e\x00\xb4\x09\xcd\x21\xb8\x01\x4c\xcd\x21This program cannot be run in DOS mode.\r\r\n$"
    + b"\x00" * 7 + b"PE\x00\x00\x4c\x01\x03\x00" + b"\x00" * 64
)


def upload_name(item_code: str) -> str:
    return item_code.replace("_", "-") + ".pdf"


def years_ago(years: int, *, days: int = 0) -> str:
    today = date.today()
    try:
        day = today.replace(year=today.year - years)
    except ValueError:  # 29 February
        day = today.replace(year=today.year - years, day=28)
    return (day - timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class Card:
    number: str
    name: str
    expiry_month: str = "12"
    expiry_year: str = field(default_factory=lambda: str(date.today().year + 3))
    cvc: str = "123"
    postal_code: str = "60604"


@dataclass(frozen=True)
class Filing:
    """One way to fill a form, and who signs it."""

    form: FormSpec
    answers: Mapping[str, str]
    signer: str
    fee: Literal["pay", "waiver"] = "pay"
    waiver_reason: str = ""  # a code of FEE_WAIVER_REASONS
    waiver_explanation: str = ""
    # (email, date of birth) of the client's applicant account, when a representative files.
    client: tuple[str, str] | None = None

    def with_answers(self, **changes: str) -> Filing:
        return replace(self, answers={**self.answers, **changes})

    @property
    def pays(self) -> bool:
        return self.fee == "pay" or not self.form.fee_waiver

    @property
    def amount(self) -> int:
        """What the payment page asks for, in cents."""
        return self.form.fee_for(self.answers) if self.pays else 0

    def applies(self, spec: FieldSpec) -> bool:
        return spec.only_if is None or spec.only_if(self.answers)


# --- the four forms, filled as the demo applicant (Maria Lopez, born 27 April 1990) would ---------

MAILING_ADDRESS = {"street": "125 South Clark Street", "apartment": "", "city": "Chicago", "state": "IL",
                   "zip_code": "60604"}
APPLICANT = demo_account("applicant")
APPLICANT_NAME = {"given_name": "Maria", "middle_name": "", "family_name": "Lopez"}

I765_FILING = Filing(
    FORMS["I-765"],
    {**APPLICANT_NAME, "date_of_birth": DEMO_APPLICANT_BIRTH_DATE,
     "eligibility_category": "c8",  # (c)(8) Pending asylum application: needs biometrics
     **MAILING_ADDRESS},
    signer=APPLICANT.full_name,
)
I130_FILING = Filing(
    FORMS["I-130"],
    {"family_name": "Lopez", "given_name": "Maria", "petitioner_status": "citizen", "relationship": "parent",
     "beneficiary_family_name": "Lopez", "beneficiary_given_name": "Rosa", "beneficiary_date_of_birth": "1962-03-15",
     "beneficiary_country_of_birth": "MX", "beneficiary_abroad": "yes", "beneficiary_country": "MX",
     **MAILING_ADDRESS},
    signer=APPLICANT.full_name,
)
N400_FILING = Filing(
    FORMS["N-400"],
    {**APPLICANT_NAME, "a_number": "A204518337", "date_of_birth": DEMO_APPLICANT_BIRTH_DATE,
     "lpr_date": years_ago(12, days=40),  # a permanent resident for 12 years
     "eligibility_basis": "lpr_5", "reduced_fee": "no", "household_size": "", "household_income": "",
     **MAILING_ADDRESS},
    signer=APPLICANT.full_name,
)
I589_FILING = Filing(
    FORMS["I-589"],
    {**APPLICANT_NAME, "date_of_birth": DEMO_APPLICANT_BIRTH_DATE, "nationality": "VE",
     "arrival_date": years_ago(0, days=150),  # arrived five months ago: within the year
     "language": "Spanish", "protected_grounds": "political_opinion,social_group", "include_family": "no",
     **MAILING_ADDRESS},
    signer=APPLICANT.full_name,
    fee="waiver",
    waiver_reason="low_income",
    waiver_explanation="I arrived five months ago and I am not allowed to work yet. I have no income; "
                       "a church in Chicago gives me a room.",
)
# A representative files the I-130 for the demo applicant, found by her email and date of birth.
I130_BY_REPRESENTATIVE = replace(
    I130_FILING, signer=DEMO_REPRESENTATIVE.full_name, client=(APPLICANT.email, DEMO_APPLICANT_BIRTH_DATE)
)


# --- finding questions by their labels --------------------------------------------------------


def label_pattern(text: str) -> re.Pattern:
    """A question's label as shown: its text, with "(optional)" after it for an optional question."""
    return re.compile("^" + re.escape(text) + r"( \(optional\))?$")


def answer_text(spec: FieldSpec, value: str) -> str:
    """An answer as the check-your-answers page shows it."""
    if not value:
        return "Not given"
    if spec.kind == "date":
        return format_date(value)
    if spec.kind == "amount":
        return format_money(int(value) * 100)
    if spec.has_choices:
        return ", ".join(spec.labels_for(value))
    return value


def summary_value(page: Page, term: str) -> Locator:
    """The answer of a row of a check-your-answers list."""
    row = page.locator(".caseline-summary__row").filter(has=page.locator("dt").get_by_text(term, exact=True))
    return row.locator("dd").first


async def answer(page: Page, spec: FieldSpec, value: str) -> None:
    """Give one answer the way a person does: type it, pick it from a list, or click the label of a choice."""
    name = label_pattern(spec.label)
    if spec.kind == "date":
        group = page.get_by_role("group", name=name)
        year, month, day = value.split("-") if value else ("", "", "")
        await group.get_by_label("Month", exact=True).fill(month.lstrip("0"))
        await group.get_by_label("Day", exact=True).fill(day.lstrip("0"))
        await group.get_by_label("Year", exact=True).fill(year)
    elif spec.kind in ("select", "country"):
        await page.get_by_label(name).select_option(value)
    elif spec.kind in ("radio", "yes_no", "checkboxes"):
        group = page.get_by_role("group", name=name)
        wanted = set(value.split(","))
        for choice in spec.choices:
            # A radio button is unticked by ticking another; a checkbox by clicking it again.
            if (choice.value in wanted or spec.kind == "checkboxes") and (
                (choice.value in wanted) != await group.get_by_label(choice.label, exact=True).is_checked()
            ):
                await group.locator("label").filter(has_text=re.compile("^" + re.escape(choice.label) + "$")).click()
        for choice in spec.choices:
            option = group.get_by_label(choice.label, exact=True)
            await (expect(option).to_be_checked() if choice.value in wanted else expect(option).not_to_be_checked())
    else:
        await page.get_by_label(name).fill(value)


# --- the journey ----------------------------------------------------------------------------------


class Journey:
    """One filing walked in one browser page. ``artifacts``: where to save a screenshot of each page."""

    def __init__(self, page: Page, filing: Filing, *, artifacts: Path | None = None, name: str | None = None) -> None:
        self.page = page
        self.filing = filing
        self.form = filing.form
        self.questions: list[Step] = question_steps(filing.form)
        self.artifacts = artifacts
        self.name = name or f"efile-{filing.form.slug}"
        self.shots: list[Path] = []
        self.receipt: str | None = None
        self.uploaded: set[str] = set()  # the documents uploaded, by evidence item

    # pages

    async def screenshot(self, what: str) -> None:
        if self.artifacts is None:
            return
        path = self.artifacts / f"{self.name}-{len(self.shots) + 1:02d}-{what}.png"
        await self.page.screenshot(path=path, full_page=True)
        self.shots.append(path)

    async def landed(self, url: str | re.Pattern, *, shot: str | None = None) -> None:
        """A new page has come (a redirect after a post, a link): wait for it and check it with axe."""
        await self.page.wait_for_url(url)
        await settled(self.page)
        await assert_accessible(self.page)
        if shot:
            await self.screenshot(shot)

    async def expect_heading(self, text: str) -> None:
        await expect(self.page.get_by_role("heading", level=1)).to_have_text(text)

    async def save(self, *, to: str, button: str = CONTINUE, shot: str | None = None) -> None:
        """Press a page's main button; the answers are accepted and the page named ``to`` comes."""
        response = await post(self.page, button)
        assert response.status == 303, f"{button} on {self.page.url}: {response.status}"
        await self.landed(step_url(to), shot=shot)

    # starting

    async def start(self) -> None:
        """From My cases: the form's start page, then "Start now"."""
        page = self.page
        await follow(page, page.get_by_role("link", name=f"Start Form {self.form.code}").click, url=f"**/efile/{self.form.slug}")
        await self.expect_heading(self.form.title)
        for item in self.form.evidence:
            await expect(page.get_by_role("listitem").filter(has_text=item.label).first).to_be_visible()
        await self.screenshot("start")
        response = await post(page, "Start now")
        assert response.status == 303, response.status
        first = "client" if self.filing.client else self.questions[0].name
        await self.landed(step_url(first), shot=first)

    async def client_page(self) -> None:
        assert self.filing.client is not None
        email, birth = self.filing.client
        await self.expect_heading("Your client")
        await self.page.get_by_label("Your client's email address").fill(email)
        await answer(self.page, FieldSpec("client_date_of_birth", "Your client's date of birth", kind="date"), birth)
        await self.save(to=self.questions[0].name, shot=self.questions[0].name)

    # questions

    async def fill(self, step: Step) -> None:
        for spec in step.fields:
            if self.filing.applies(spec):
                await answer(self.page, spec, self.filing.answers.get(spec.name, ""))

    async def question_page(self, index: int) -> None:
        """Answer the questions of one page and go on to the next page."""
        step = self.questions[index]
        await self.expect_heading(step.label)
        await self.fill(step)
        following = self.questions[index + 1].name if index + 1 < len(self.questions) else "evidence"
        await self.save(to=following, shot=following)

    async def question_pages(self, start: int = 0) -> None:
        for index in range(start, len(self.questions)):
            await self.question_page(index)

    # documents

    def evidence_section(self, item_code: str) -> Locator:
        return self.page.locator(f"#item-{item_code}")

    async def choose_file(self, item_code: str, name: str, data: bytes) -> None:
        """Choose a file the way a person does: the label opens the file picker."""
        section = self.evidence_section(item_code)
        if javascript_enabled(self.page):  # USWDS's script has made the input its drop zone
            await expect(section.locator(".usa-file-input__target")).to_have_count(1)
        async with self.page.expect_file_chooser() as chooser:
            await section.locator(f"label[for='file-{item_code}']").click()
        await (await chooser.value).set_files(files=[{"name": name, "mimeType": "application/pdf", "buffer": data}])
        if javascript_enabled(self.page):  # USWDS's drop zone names the chosen file
            await expect(section.locator(".usa-file-input__preview")).to_contain_text(name)

    async def upload(self, item_code: str, name: str, data: bytes) -> Response:
        """Choose a file for one document and press its Upload button; returns the answer to the post."""
        await self.choose_file(item_code, name, data)
        section = self.evidence_section(item_code)
        return await submit(self.page, section.get_by_role("button", name=re.compile(r"^Upload\b")))

    async def upload_document(self, item_code: str, name: str | None = None) -> None:
        """Upload a small PDF for one document; the page comes back listing it under that document."""
        name = name or upload_name(item_code)
        label = next((item.label for item in self.form.evidence if item.code == item_code), "Other documents")
        response = await self.upload(item_code, name, small_pdf(label))
        assert response.status == 303, f"uploading {name}: {response.status}"
        await self.landed(step_url("evidence"))
        uploaded = self.evidence_section(item_code).locator(".caseline-uploaded")
        await expect(uploaded.get_by_role("link", name=re.compile("^" + re.escape(name)))).to_be_visible()
        self.uploaded.add(item_code)

    async def evidence_page(self, *, continue_to: str = "fee") -> None:
        """Upload a PDF for each required document not uploaded yet, then go on."""
        await self.expect_heading("Upload your documents")
        for item in self.form.evidence:
            if item.required and item.code not in self.uploaded:
                await self.upload_document(item.code)
        await self.screenshot("evidence-uploaded")
        await self.save(to=continue_to, shot=continue_to)

    # the fee

    async def fee_page(self) -> None:
        page = self.page
        await self.expect_heading("The filing fee")
        await expect(page.get_by_text(f"The filing fee for Form {self.form.code} is {format_money(self.form.fee_for(self.filing.answers))}.")).to_be_visible()
        if not self.form.fee_waiver:
            await expect(page.get_by_text(f"A fee waiver cannot be requested for Form {self.form.code}.")).to_be_visible()
            await expect(page.get_by_role("radio")).to_have_count(0)
        elif self.filing.fee == "pay":
            await tick(page, f"I will pay {format_money(self.filing.amount)} by card")
        else:
            await tick(page, "I ask for a fee waiver because I cannot pay")
            reason = dict(FEE_WAIVER_REASONS)[self.filing.waiver_reason]
            await tick(page.get_by_role("group", name="Why do you ask for a fee waiver?"), reason)
            await page.get_by_label("Explain your situation").fill(self.filing.waiver_explanation)
        await self.save(to="review", shot="review")

    # checking, signing, paying

    async def expect_review(self) -> None:
        """The check-your-answers page shows every answer and every document, as people read them."""
        await self.expect_heading("Check your answers before you submit")
        for spec in self.form.fields:
            if self.filing.applies(spec):
                await expect(summary_value(self.page, spec.label)).to_have_text(
                    answer_text(spec, self.filing.answers.get(spec.name, ""))
                )
        for item in self.form.evidence:
            shown = upload_name(item.code) if item.required else "None uploaded"
            await expect(summary_value(self.page, item.label)).to_have_text(shown)
        fee = "Fee waiver requested" if not self.filing.pays else f"{format_money(self.filing.amount)}, paid by card after you sign"
        await expect(summary_value(self.page, "Filing fee")).to_have_text(fee)
        if self.filing.client:
            await expect(summary_value(self.page, "Client")).to_have_text(f"{APPLICANT.full_name} ({self.filing.client[0]})")

    async def change(self, field_name: str, value: str) -> None:
        """On the check-your-answers page: a "Change" link, a new answer, back to check the answers."""
        spec = self.form.field(field_name)
        step = next(s for s in self.questions if spec in s.fields)
        await follow(self.page, self.page.get_by_role("link", name=f"Change {spec.label}", exact=True).click,
                     url=step_url(step.name))
        await self.expect_heading(step.label)
        await expect(self.page.get_by_role("link", name="Back to check your answers")).to_be_visible()
        await self.screenshot(f"change-{step.name}")
        self.filing = self.filing.with_answers(**{field_name: value})
        await answer(self.page, spec, value)
        await self.save(to="review", button=BACK_TO_REVIEW)
        await expect(summary_value(self.page, spec.label)).to_have_text(answer_text(spec, value))

    async def sign(self) -> Response:
        page = self.page
        await tick(page, re.compile("^I certify, under penalty of perjury"))
        await page.get_by_label("Your full name").fill(self.filing.signer)
        button = "Sign and continue to payment" if self.filing.pays else "Sign and submit application"
        response = await post(page, button)
        assert response.status == 303, f"{button}: {response.status}"
        if self.filing.pays:
            await self.landed(step_url("pay"), shot="pay")
            await self.expect_heading("Pay the filing fee")
            await expect(page.get_by_text(f"Amount to pay: {format_money(self.filing.amount)}")).to_be_visible()
        return response

    async def pay(self, number: str = APPROVED_CARD) -> Response:
        """Fill the card form and press "Pay ... and submit"; returns the answer to the post."""
        page = self.page
        card = Card(number, self.filing.signer)
        await page.get_by_label("Card number").fill(card.number)
        await page.get_by_label("Name on card").fill(card.name)
        expiry = page.get_by_role("group", name="Expiry date")
        await expiry.get_by_label("Month").fill(card.expiry_month)
        await expiry.get_by_label("Year").fill(card.expiry_year)
        await page.get_by_label("Security code").fill(card.cvc)
        await page.get_by_label("Billing ZIP code").fill(card.postal_code)
        return await post(page, f"Pay {format_money(self.filing.amount)} and submit")

    async def on_case_page(self, response: Response) -> str:
        """The filing went through: the case page with its receipt number."""
        assert response.status == 303, f"{response.request.method} {response.url}: {response.status}"
        await self.page.wait_for_url(CASE_URL_RE)
        await settled(self.page)
        match = CASE_URL_RE.search(self.page.url)
        assert match, self.page.url
        receipt = self.receipt = match.group(1)
        assert RECEIPT_RE.fullmatch(receipt), receipt
        await expect(self.page.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")
        await expect(self.page.get_by_text(f"Your receipt number is {receipt}.")).to_be_visible()
        await assert_accessible(self.page)
        await self.screenshot("case")
        return receipt

    async def file(self) -> str:
        """The whole journey from My cases, nothing refused on the way; returns the receipt number."""
        await self.start()
        if self.filing.client:
            await self.client_page()
        return await self.file_from_questions()

    async def file_from_questions(self) -> str:
        """The journey from the first page of questions on; returns the receipt number."""
        await self.question_pages()
        await self.evidence_page()
        await self.fee_page()
        await self.expect_review()
        response = await self.sign()
        if self.filing.pays:
            response = await self.pay()
        return await self.on_case_page(response)


async def file_form(page: Page, filing: Filing, *, artifacts: Path | None = None) -> str:
    """From My cases, file ``filing`` through the journey; returns the receipt number."""
    return await Journey(page, filing, artifacts=artifacts).file()
