"""A request for evidence end to end, in a real browser against the real system, axe-core on every page.

The applicant files Form I-765 in category (c)(3)(C), which needs no biometrics, so the case goes
straight to review. The officer claims it and sends a request for evidence; the applicant's page
shows the request by itself, the applicant uploads a PDF with a note; the case comes back to the
same officer, who sees the answer and the document, opens it, and approves the case. The card
steps follow by themselves and the case closes.
"""

from __future__ import annotations

import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from playwright.async_api import expect

from models.tables import utcnow
from tests.e2e.browser import (
    assert_accessible,
    expect_error_summary,
    follow,
    post,
    settled,
    sign_in,
    tick,
    visit,
    wait_for,
)
from tests.e2e.conftest import LiveSystem
from tests.e2e.efiling import I765_FILING, file_form
from tests.e2e.test_journey import (
    ACTIVELY_REVIEWED,
    AFTER_APPROVAL,
    CARD_MAILED,
    RECEIVED,
    applicant_mail,
    expect_case_closed,
    expect_closed_in_workspace,
    expect_status_by_itself,
    officer_action,
    open_from_queue,
    status_title,
    summary_row,
    timeline_titles,
)

pytestmark = pytest.mark.e2e

RFE_SENT = "Request for Additional Evidence Was Sent"
RFE_ANSWERED = "Response To USCIS' Request For Evidence Was Received"
RFE_STEPS = [RECEIVED, ACTIVELY_REVIEWED, RFE_SENT, RFE_ANSWERED, *AFTER_APPROVAL]

STEM_OPT = I765_FILING.with_answers(eligibility_category="c3C")  # (c)(3)(C): no biometrics
REQUESTED_ITEM = "Copy of your Form I-94 or passport"
INSTRUCTIONS = "Send the passport pages with your photo and your F-1 visa."
RESPONSE_NOTE = "The passport pages you asked for."
PDF_NAME = "passport-pages.pdf"
PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


async def test_request_for_evidence_answered_then_approved(new_context, live_system: LiveSystem) -> None:
    applicant = await new_context()
    officer = await new_context()

    # The applicant files; with no biometrics the case waits in review.
    await visit(applicant, "/sign-in")
    await sign_in(applicant, "applicant", home="/account")
    receipt = await file_form(applicant, STEM_OPT)
    await expect_status_by_itself(applicant, RECEIVED)
    await assert_accessible(applicant)

    # The officer opens the Review queue and claims the case.
    await visit(officer, "/sign-in")
    await sign_in(officer, "officer", home="/officer")
    await open_from_queue(officer, "Review", receipt)
    await officer_action(officer, "Claim this case", done="claim")
    await expect_status_by_itself(applicant, ACTIVELY_REVIEWED)

    # A request for evidence without any item is refused beside the field ...
    await expect_error_summary(officer, await post(officer, "Send the request for evidence"))
    await expect(officer.get_by_role("link", name=re.compile("Choose at least one item of evidence"))).to_be_visible()
    # ... then sent with an item, instructions and a due date of the officer's choosing.
    due_day = (utcnow() + timedelta(days=30)).astimezone(ZoneInfo("America/New_York")).date()
    due_text = format_date(due_day, format="medium", locale="en")  # as the pages show it, e.g. "Aug 14, 2026"
    await tick(officer, REQUESTED_ITEM)
    await officer.get_by_label("Instructions (optional)", exact=True).fill(INSTRUCTIONS)
    await officer.get_by_label("Due date", exact=True).fill(due_day.isoformat())
    await officer_action(officer, "Send the request for evidence", done="request-evidence")
    await expect(summary_row(officer, "Stage")).to_have_text("Evidence requested")
    officer_rfe = officer.locator("section[aria-labelledby=rfe-heading]")
    await expect(officer_rfe).to_contain_text("Waiting for the response")
    await expect(officer_rfe).to_contain_text(f"due {due_text}")

    # The applicant's open page shows the request by itself: what to send and by when.
    await expect_status_by_itself(applicant, RFE_SENT)
    request = applicant.locator("#rfe")
    await expect(request.get_by_role("heading", name="We need more evidence from you")).to_be_visible()
    await expect(request.get_by_role("listitem")).to_have_text([REQUESTED_ITEM])
    await expect(request).to_contain_text(INSTRUCTIONS)
    await expect(request).to_contain_text(f"Send it by {due_text}")
    await assert_accessible(applicant)

    # An empty response is refused; a PDF with a note is sent.
    await expect_error_summary(applicant, await post(applicant, "Send my response"))
    # USWDS's file input names the input after its drop zone, so the person's way in is the label.
    async with applicant.expect_file_chooser() as chooser:
        await applicant.locator("label[for=files]").filter(has_text="Your documents").click()
    await (await chooser.value).set_files(
        files=[{"name": PDF_NAME, "mimeType": "application/pdf", "buffer": PDF_BYTES}]
    )
    await applicant.get_by_label("A note for the officer").fill(RESPONSE_NOTE)
    response = await post(applicant, "Send my response")
    assert response.status == 303, response.status
    await applicant.wait_for_url(re.compile(rf"/cases/{receipt}\?done=rfe$"))
    await settled(applicant)
    await expect(status_title(applicant)).to_have_text(RFE_ANSWERED)
    await expect(applicant.locator("#rfe")).to_have_count(0)  # nothing is waiting for the applicant
    await expect(applicant.get_by_role("link", name=re.compile("^" + re.escape(PDF_NAME)))).to_be_visible()
    await assert_accessible(applicant)

    # The officer sees the answer and the document, which opens ...
    await visit(officer, f"/officer/cases/{receipt}")
    await expect(officer_rfe).to_contain_text("Answered")
    await expect(officer_rfe).to_contain_text(RESPONSE_NOTE)
    evidence = officer.locator("section[aria-labelledby=evidence-heading]")
    document_link = evidence.get_by_role("link", name=re.compile("^" + re.escape(PDF_NAME)))
    await expect(document_link).to_be_visible()
    href = await document_link.get_attribute("href")
    assert href and re.fullmatch(r"/documents/[\w-]+", href), href
    document = await officer.request.get(href)
    assert document.status == 200, document.status
    assert document.headers["content-type"] == "application/pdf", document.headers["content-type"]
    assert await document.body() == PDF_BYTES

    # ... and the case is back in their review queue, still assigned to them: no need to claim it again.
    await visit(officer, "/officer/queues/review?assignment=mine")
    row = officer.get_by_role("row").filter(has=officer.get_by_role("link", name=receipt, exact=True))
    await expect(row).to_contain_text("Olivia Chen (you)")
    await follow(officer, row.get_by_role("link", name=receipt, exact=True).click, url=f"**/officer/cases/{receipt}")
    await expect(summary_row(officer, "Stage")).to_have_text("Review")
    await expect(summary_row(officer, "Assigned to")).to_have_text("Olivia Chen")
    await expect(officer.get_by_role("button", name="Claim this case")).to_have_count(0)
    await tick(officer, "Approve")
    await officer.get_by_label("Reason code").select_option("eligible_after_rfe")
    await officer.get_by_label("Written explanation").fill("The passport pages establish the F-1 status.")
    await officer_action(officer, "Record the decision", done="decide")

    # The applicant's page reaches the approval and the card steps by itself; the case closes.
    await expect_status_by_itself(applicant, CARD_MAILED)
    await expect(timeline_titles(applicant)).to_have_text(list(reversed(RFE_STEPS)))
    await expect_case_closed(applicant)
    await assert_accessible(applicant)
    await expect_closed_in_workspace(officer, receipt)

    # One email per step, the request for evidence among them.
    await wait_for(lambda: len(applicant_mail(live_system, receipt)) >= len(RFE_STEPS), timeout=20,
                   what="one email per step")
    subjects = sorted(m.subject for m in applicant_mail(live_system, receipt))
    assert subjects == sorted(f"Your case {receipt}: {step}" for step in RFE_STEPS)
