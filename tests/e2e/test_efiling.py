"""Each form of the catalog filed through the guided journey, in a real browser against the real
system, axe-core on every page reached and a screenshot of each in the artifacts folder.

The applicant starts the form, meets the error summary on the first page (its links move to the
fields), answers every page, uploads a PDF for each required document (a renamed program is
refused), chooses how to pay (a fee waiver for the I-589), changes one answer from the
check-your-answers page, signs, pays (a declined card first, then one that is approved) and lands
on the case page, which comes to show "Case Was Received" and the receipt notice by itself.

A representative files an I-130 for the demo applicant, who then finds the case in her account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from playwright.async_api import Page, expect

from models.forms import validate_answers
from tests.e2e.browser import assert_accessible, expect_error_summary, follow, post, sign_in, visit
from tests.e2e.conftest import LiveSystem
from tests.e2e.efiling import (
    APPROVED_CARD,
    CONTINUE,
    DECLINED_CARD,
    DECLINED_MESSAGE,
    I130_BY_REPRESENTATIVE,
    I130_FILING,
    I589_FILING,
    I765_FILING,
    N400_FILING,
    RENAMED_EXECUTABLE,
    WRONG_TYPE_MESSAGE,
    Filing,
    Journey,
    step_url,
    summary_value,
    upload_name,
)
from tests.e2e.test_journey import RECEIVED, SELF_UPDATE_TIMEOUT_MS, timeline_titles
from web.templating import format_money

pytestmark = pytest.mark.e2e

PHONE = {"width": 390, "height": 844}

# The upload-progress script shows its progress bar while htmx sends a document: note whether it did.
WATCH_UPLOAD_PROGRESS = """() => {
  window.__e2eProgressShown = false;
  new MutationObserver(() => {
    if ([...document.querySelectorAll('.caseline-upload-progress')].some((box) => !box.hidden)) {
      window.__e2eProgressShown = true;
    }
  }).observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ['hidden']});
}"""


@dataclass(frozen=True)
class Scenario:
    filing: Filing
    change: tuple[str, str]  # the answer changed from the check-your-answers page: (field, new value)

    @property
    def id(self) -> str:
        return self.filing.form.slug


SCENARIOS = [
    Scenario(I765_FILING.with_answers(eligibility_category="c9"), change=("apartment", "Apt 4B")),
    Scenario(I130_FILING, change=("beneficiary_given_name", "Rosa Elena")),
    Scenario(N400_FILING, change=("street", "55 West Monroe Street")),
    Scenario(I589_FILING, change=("language", "Spanish and Wayuunaiki")),
]


async def expect_summary_above_heading(page: Page) -> None:
    """The error summary is at the top of the page: above the step indicator and the heading."""
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    summary_box = await summary.bounding_box()
    steps_box = await page.locator(".usa-step-indicator").bounding_box()
    heading_box = await page.get_by_role("heading", level=1).bounding_box()
    assert summary_box and steps_box and heading_box
    assert summary_box["y"] + summary_box["height"] <= steps_box["y"] < heading_box["y"], (summary_box, steps_box, heading_box)


async def expect_errors_on_first_page(journey: Journey) -> None:
    """Nothing answered: a 422 with an error summary listing each question of the page, whose links
    move the focus to the question, and the message beside the question."""
    page = journey.page
    step = journey.questions[0]
    await expect_error_summary(page, await post(page, CONTINUE))
    await expect_summary_above_heading(page)
    _, errors = validate_answers(journey.form, {}, today=date.today())
    expected = [f"{spec.label}: {errors[spec.name]}" for spec in step.fields if spec.name in errors]
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    await expect(summary.get_by_role("link")).to_have_text(expected)
    await journey.screenshot("errors")

    await summary.get_by_role("link", name=re.compile(r"^Given name \(first name\): ")).click()
    assert await page.evaluate("() => document.activeElement && document.activeElement.id") == "given_name"
    await expect(page.locator("#given_name-error")).to_have_text(errors["given_name"])
    await expect(page.get_by_label("Given name (first name)")).to_have_attribute(
        "aria-describedby", re.compile(r"\bgiven_name-error\b")
    )


async def expect_renamed_program_refused(journey: Journey) -> None:
    """A program renamed to "….pdf" passes the file picker but not the server, which says why."""
    page = journey.page
    item = next(item for item in journey.form.evidence if item.required)
    response = await journey.upload(item.code, "passport-scan.pdf", RENAMED_EXECUTABLE)
    await expect_error_summary(page, response)
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    await expect(summary.get_by_role("link")).to_have_text([f"{item.label}: {WRONG_TYPE_MESSAGE}"])
    await expect(page.locator(f"#file-{item.code}-error")).to_have_text(WRONG_TYPE_MESSAGE)
    await expect(journey.evidence_section(item.code).locator(".caseline-uploaded")).to_have_count(0)
    # The address stays the documents page's (the upload's own address cannot be reloaded).
    assert step_url("evidence").search(page.url), page.url
    await journey.screenshot("evidence-refused")


async def expect_fits_a_phone(journey: Journey, what: str) -> None:
    """On a phone's screen the page does not scroll sideways (the step indicator, the tables, the forms)."""
    page = journey.page
    desktop = page.viewport_size
    await page.set_viewport_size(PHONE)
    try:
        overflow = await page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        await journey.screenshot(f"{what}-phone")
        assert overflow <= 0, f"the {what} page is {overflow}px wider than a phone's screen"
    finally:
        assert desktop is not None
        await page.set_viewport_size(desktop)


async def expect_case_received_by_itself(page: Page) -> None:
    """The case page, polling, comes to list "Case Was Received" in its steps without a reload."""
    await page.evaluate("() => { window.__e2eNotReloaded = true }")
    await expect(timeline_titles(page).filter(has_text=re.compile(f"^{RECEIVED}$"))).to_have_count(
        1, timeout=SELF_UPDATE_TIMEOUT_MS
    )
    assert await page.evaluate("() => window.__e2eNotReloaded === true"), "the case page was reloaded"


async def expect_receipt_notice(page: Page) -> None:
    """The Notices list links the receipt notice, a PDF that opens."""
    link = page.get_by_role("link", name=re.compile(r"^Receipt notice\b", re.IGNORECASE))
    await expect(link).to_be_visible(timeout=SELF_UPDATE_TIMEOUT_MS)
    href = await link.get_attribute("href")
    assert href and re.fullmatch(r"/documents/[\w-]+", href), href
    notice = await page.request.get(href)
    assert notice.status == 200, notice.status
    assert notice.headers["content-type"] == "application/pdf", notice.headers["content-type"]
    assert (await notice.body()).startswith(b"%PDF-")


async def expect_filed_case(journey: Journey) -> None:
    """What the case page says of the filing: the documents sent and the fee."""
    page = journey.page
    filing = journey.filing
    documents = page.locator("table.caseline-documents")
    for item in journey.form.evidence:
        if item.required:
            await expect(documents.get_by_role("link", name=re.compile("^" + re.escape(upload_name(item.code))))).to_be_visible()
    if filing.pays:
        await expect(summary_value(page, "Amount paid")).to_have_text(format_money(filing.amount))
        await expect(summary_value(page, "Card")).to_have_text("Visa ending in 4242")
    else:
        await expect(page.get_by_text("You asked for a fee waiver. An officer decides on it with your case.")).to_be_visible()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
async def test_file_each_form_through_the_journey(
    new_context, live_system: LiveSystem, artifacts_dir, scenario: Scenario
) -> None:
    page = await new_context()
    await visit(page, "/sign-in")
    await sign_in(page, "applicant", home="/account")
    journey = Journey(page, scenario.filing, artifacts=artifacts_dir)
    await journey.start()

    await expect_errors_on_first_page(journey)
    await journey.question_pages()

    await expect_renamed_program_refused(journey)
    await expect_fits_a_phone(journey, "evidence")
    await page.evaluate(WATCH_UPLOAD_PROGRESS)
    await journey.upload_document(next(item.code for item in journey.form.evidence if item.required))
    assert await page.evaluate("() => window.__e2eProgressShown"), "no progress bar showed during the upload"
    await journey.evidence_page()  # the other required documents

    await journey.fee_page()
    await journey.expect_review()
    await expect_fits_a_phone(journey, "review")
    await journey.change(*scenario.change)
    await journey.screenshot("review-changed")

    response = await journey.sign()
    if scenario.filing.pays:
        declined = await journey.pay(DECLINED_CARD)
        await expect_error_summary(page, declined)
        await expect(page.locator("#card_number-error")).to_have_text(DECLINED_MESSAGE)
        await journey.screenshot("pay-declined")
        response = await journey.pay(APPROVED_CARD)
    await journey.on_case_page(response)

    await expect_filed_case(journey)
    await expect_case_received_by_itself(page)
    await assert_accessible(page)
    await journey.screenshot("case-received")
    await expect_receipt_notice(page)
    await assert_accessible(page)
    await journey.screenshot("case-notices")


async def test_representative_files_for_a_client_who_sees_the_case(new_context, live_system: LiveSystem, artifacts_dir) -> None:
    attorney = await new_context()
    await visit(attorney, "/sign-in")
    await sign_in(attorney, "representative", home="/account")
    journey = Journey(attorney, I130_BY_REPRESENTATIVE, artifacts=artifacts_dir, name="efile-i-130-representative")
    await journey.start()
    await expect(attorney.get_by_role("heading", level=1)).to_have_text("Your client")

    # A client the attorney cannot prove (the right email, a wrong date of birth) is not found.
    assert I130_BY_REPRESENTATIVE.client is not None
    email, birth = I130_BY_REPRESENTATIVE.client
    assert birth == "1990-04-27"
    await attorney.get_by_label("Your client's email address").fill(email)
    wrong = attorney.get_by_role("group", name="Your client's date of birth")
    await wrong.get_by_label("Month").fill("4")
    await wrong.get_by_label("Day").fill("28")
    await wrong.get_by_label("Year").fill("1990")
    await expect_error_summary(attorney, await post(attorney, CONTINUE))
    await expect(attorney.locator("#client_email-error")).to_contain_text("We could not find an applicant account")

    await journey.client_page()
    receipt = await journey.file_from_questions()
    await expect(summary_value(attorney, "Amount paid")).to_have_text(format_money(I130_BY_REPRESENTATIVE.amount))
    await follow(attorney, attorney.get_by_role("link", name="My cases", exact=True).click, url="**/account")
    await expect(attorney.get_by_role("table", name="Cases you filed for clients").get_by_role("link", name=receipt)).to_be_visible()

    # The client, in her own browser, finds the case among hers and opens it.
    client = await new_context()
    await visit(client, "/sign-in")
    await sign_in(client, "applicant", home="/account")
    cases = client.get_by_role("table", name="Your cases")
    row = cases.get_by_role("row").filter(has=client.get_by_role("link", name=receipt, exact=True))
    await expect(row).to_contain_text("I-130")
    await follow(client, row.get_by_role("link", name=receipt, exact=True).click, url=f"**/cases/{receipt}")
    await expect(client.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")
    await expect(client.locator(".caseline-caption")).to_have_text("Form I-130")
    await client.screenshot(path=artifacts_dir / "efile-i-130-representative-client-case.png", full_page=True)
