"""The walking skeleton end to end, in a real browser against the real system.

An applicant signs in, files Form I-765 and watches the case page update by itself while an
officer (in another browser context) records the biometrics appointment, claims the case and
approves it; the card is then produced and mailed by itself and the case closes. Every status
change is emailed; the dev mailbox shows the mail. axe-core checks every page we show.

axe needs scripting, so it runs in the JavaScript-enabled contexts only; the no-JavaScript test
drives the same templates through plain form posts.
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, Response, expect

from mailsink import StoredMail, read_mailbox
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
from tests.e2e.conftest import LiveSystem, demo_account
from tests.e2e.efiling import APPROVED_CARD, DECLINED_CARD, DECLINED_MESSAGE, I765_FILING, Journey, file_form

pytestmark = pytest.mark.e2e

RECEIVED = "Case Was Received"
SCHEDULED = "Biometrics Appointment Was Scheduled"
FINGERPRINTS_TAKEN = "Case Was Updated To Show Fingerprints Were Taken"
ACTIVELY_REVIEWED = "Case Is Being Actively Reviewed By USCIS"
APPROVED = "Case Was Approved"
CARD_PRODUCED = "New Card Is Being Produced"
CARD_MAILED = "Card Was Mailed To Me"
# After the approval the card steps follow by themselves, then the case closes.
AFTER_APPROVAL = [APPROVED, CARD_PRODUCED, CARD_MAILED]
JOURNEY_STEPS = [RECEIVED, SCHEDULED, FINGERPRINTS_TAKEN, ACTIVELY_REVIEWED, *AFTER_APPROVAL]
# The case page polls every 5 s; allow a few rounds plus the workflow's own work.
SELF_UPDATE_TIMEOUT_MS = 20_000


# --- helpers -------------------------------------------------------------------------------


def one_of(texts: list[str]) -> re.Pattern:
    return re.compile("^(" + "|".join(map(re.escape, texts)) + ")$")


def status_title(page: Page):
    return page.locator("#status-title")


def timeline_titles(page: Page):
    """The status steps of the case page's timeline (not the documents uploaded, listed among them)."""
    return page.locator(".caseline-timeline .usa-process-list__heading").filter(
        has_not_text=re.compile(r"^Document (uploaded|sent in response to a request for evidence)$")
    )


async def expect_status_by_itself(page: Page, title: str) -> None:
    """The open case page comes to show ``title`` through its own polling, without a reload."""
    await page.evaluate("() => { window.__e2eNotReloaded = true }")
    failed_polls: list[int] = []

    def watch(response: Response) -> None:
        if "since=" in response.url and response.status >= 500:
            failed_polls.append(response.status)

    page.on("response", watch)
    deadline = time.monotonic() + SELF_UPDATE_TIMEOUT_MS / 1000
    try:
        while (await status_title(page).inner_text()).strip() != title:
            if time.monotonic() > deadline:
                shown = (await status_title(page).inner_text()).strip()
                pytest.fail(f"the case page still shows {shown!r}, not {title!r}", pytrace=False)
            assert not failed_polls, f"the case page's polls failed: {failed_polls}"
            await asyncio.sleep(0.5)
    finally:
        page.remove_listener("response", watch)
    assert await page.evaluate("() => window.__e2eNotReloaded === true"), "the case page was reloaded"
    await settled(page)


def applicant_mail(system: LiveSystem, receipt: str) -> list[StoredMail]:
    applicant = demo_account("applicant").email
    return [m for m in read_mailbox(system.mail_dir) if receipt in m.subject and applicant in m.to]


async def open_from_queue(page: Page, queue: str, receipt: str) -> None:
    """Work queues → the named queue → the case (reloading the queue until the case is listed)."""
    await follow(page, lambda: page.get_by_role("link", name="Work queues", exact=True).click(), url="**/officer")
    await follow(page, lambda: page.get_by_role("link", name=f"Open the {queue} queue").click(),
                 url=f"**/officer/queues/{queue.lower()}")
    link = page.get_by_role("link", name=receipt, exact=True)
    deadline = time.monotonic() + 15
    while not await link.is_visible() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        await visit(page, f"/officer/queues/{queue.lower()}")
    await follow(page, link.click, url=f"**/officer/cases/{receipt}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")


async def officer_action(page: Page, button: str, *, done: str) -> None:
    response = await post(page, button)
    assert response.status == 303, f"{button}: {response.status}"
    await page.wait_for_url(re.compile(rf"\?done={done}$"))
    await settled(page)
    await expect(page.get_by_role("status")).to_contain_text("The action was recorded.")
    await assert_accessible(page)


async def expect_case_closed(page: Page) -> None:
    """A closed case's page stops polling: nothing will change any more."""
    await page.wait_for_function(
        "() => { const s = document.querySelector('#case-status'); return s && !s.hasAttribute('hx-get') }",
        timeout=SELF_UPDATE_TIMEOUT_MS,
    )
    await settled(page)


def summary_row(page: Page, term: str):
    """The value of a row of the workspace's "Where the case is" list."""
    return page.locator(".caseline-summary__row").filter(has=page.locator("dt").get_by_text(term, exact=True)).locator("dd")


async def expect_closed_in_workspace(page: Page, receipt: str) -> None:
    await visit(page, f"/officer/cases/{receipt}")
    await expect(summary_row(page, "Stage")).to_have_text("Closed")
    await expect(summary_row(page, "Public status")).to_have_text(CARD_MAILED)
    await expect(summary_row(page, "Decision")).to_contain_text("Approved")
    await expect(summary_row(page, "Tracking number")).not_to_be_empty()
    await expect(page.get_by_text("Nothing is waiting for an officer on this case.")).to_be_visible()


# --- the journey ---------------------------------------------------------------------------


async def test_walking_skeleton_journey(new_context, live_system: LiveSystem, artifacts_dir) -> None:
    system = live_system
    applicant = await new_context()
    officer = await new_context()

    # 1. Home → sign in → My cases → file Form I-765 → the case page with its receipt number.
    await visit(applicant, "/")
    await expect(applicant.get_by_role("heading", level=1)).to_have_text("File and follow your immigration case online")
    await follow(applicant, applicant.get_by_role("main").get_by_role("link", name="Sign in").click, url="**/sign-in")
    await sign_in(applicant, "applicant", home="/account")
    await expect(applicant.get_by_role("heading", level=1)).to_have_text("My cases")
    receipt = await file_form(applicant, I765_FILING)
    await expect(status_title(applicant)).to_have_text(
        one_of(["We are processing your filing", *JOURNEY_STEPS])
    )
    # c8 needs biometrics: the case moves on to the appointment by itself.
    await expect_status_by_itself(applicant, SCHEDULED)
    await expect(timeline_titles(applicant)).to_have_text([SCHEDULED, RECEIVED])
    await assert_accessible(applicant)

    # 3. The dev mailbox lists the receipt email (in a second tab: the case page stays open).
    mailbox = await applicant.context.new_page()
    await wait_for(lambda: any(RECEIVED in m.subject for m in applicant_mail(system, receipt)), timeout=15,
                   what="the 'Case Was Received' email in the SMTP sink")
    await visit(mailbox, "/dev/mailbox")
    received_link = mailbox.get_by_role("link", name=f"Your case {receipt}: {RECEIVED}")
    await expect(received_link).to_be_visible()
    await follow(mailbox, received_link.click, url=re.compile(r"/dev/mailbox/[^/]+$"))
    await expect(mailbox.get_by_role("heading", level=1)).to_have_text(f"Your case {receipt}: {RECEIVED}")
    await expect(mailbox.locator(".caseline-mail-body")).to_contain_text(f"/cases/{receipt}")

    # 4. Wrong role: the applicant cannot open the officers' pages.
    await visit(mailbox, "/officer", status=403)
    await expect(mailbox.get_by_role("heading", level=1)).to_have_text("You cannot open this page")
    await mailbox.close()

    # 4. The officer, in another browser context: the biometrics appointment first ...
    await visit(officer, "/")
    await sign_in(officer, "officer", home="/officer")
    await expect(officer.get_by_role("heading", level=1)).to_have_text("Work queues")
    await open_from_queue(officer, "Biometrics", receipt)
    await expect_error_summary(officer, await post(officer, "Record the appointment"))  # nothing chosen
    await tick(officer, "Fingerprints, photograph and signature were taken")
    await officer_action(officer, "Record the appointment", done="biometrics")

    # 2. ... and the applicant's open page shows it without a reload.
    await expect_status_by_itself(applicant, FINGERPRINTS_TAKEN)
    await expect(timeline_titles(applicant)).to_have_text([FINGERPRINTS_TAKEN, SCHEDULED, RECEIVED])
    await assert_accessible(applicant)

    # 4. Review: no way to decide before the case is claimed.
    await open_from_queue(officer, "Review", receipt)
    await expect(officer.get_by_role("button", name="Claim this case")).to_be_visible()
    await expect(officer.get_by_role("button", name="Record the decision")).to_have_count(0)
    await expect(officer.get_by_role("radio")).to_have_count(0)
    # A hand-made POST, complete as the form would send it, is refused by the workflow, with an explanation.
    csrf = await officer.locator("input[name=csrf_token]").first.input_value()
    forged = await officer.request.post(
        f"/officer/cases/{receipt}/decide",
        form={"csrf_token": csrf, "decision": "approve", "reason_code": "eligible", "reason": "Looks fine"},
        max_redirects=0,
    )
    assert forged.status == 422, forged.status
    assert "Claim this case before you decide it." in await forged.text()

    await officer_action(officer, "Claim this case", done="claim")
    await expect_status_by_itself(applicant, ACTIVELY_REVIEWED)
    await expect_error_summary(officer, await post(officer, "Record the decision"))
    await tick(officer, "Approve")
    await officer.get_by_label("Reason code").select_option("eligible")
    await officer.get_by_label("Written explanation").fill("Eligible under (c)(8); identity and biometrics verified.")
    await officer_action(officer, "Record the decision", done="decide")

    # 5. The applicant's page reaches the decision and the card steps by itself, with every step in
    # its timeline (the card steps follow the approval faster than the page polls) ...
    await expect_status_by_itself(applicant, CARD_MAILED)
    await expect(timeline_titles(applicant)).to_have_text(list(reversed(JOURNEY_STEPS)))
    await expect_case_closed(applicant)
    await assert_accessible(applicant)
    await applicant.screenshot(path=artifacts_dir / "case-page.png", full_page=True)

    # ... the officer finds the case decided and closed ...
    await expect_closed_in_workspace(officer, receipt)
    await officer.screenshot(path=artifacts_dir / "officer-workspace.png", full_page=True)

    # ... and the applicant got one email per step.
    await wait_for(lambda: len(applicant_mail(system, receipt)) >= len(JOURNEY_STEPS), timeout=20,
                   what="one email per step")
    subjects = sorted(m.subject for m in applicant_mail(system, receipt))
    assert subjects == sorted(f"Your case {receipt}: {step}" for step in JOURNEY_STEPS)


async def test_sign_in_and_file_without_javascript(new_context, live_system: LiveSystem, artifacts_dir) -> None:
    """The whole filing journey with plain form posts and full page loads: no htmx, no boosting, no
    USWDS script. The error summary links move to the field, documents go up as plain multipart
    posts, "Back" links go back a page with the answers kept, and the card is paid by a plain post."""
    page = await new_context(javascript=False)
    await page.goto("/")
    await page.get_by_role("main").get_by_role("link", name="Sign in").click()
    await page.wait_for_url("**/sign-in")
    await sign_in(page, "applicant", home="/account")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My cases")

    journey = Journey(page, I765_FILING, artifacts=artifacts_dir, name="nojs-efile-i-765")
    await journey.start()

    # Nothing answered: the error summary links to the fields, and its links move there.
    await expect_error_summary(page, await post(page, "Save and continue"))
    summary = page.get_by_role("alert").filter(has=page.get_by_role("heading", name="There is a problem"))
    await summary.get_by_role("link", name="Family name (last name): Enter this information").click()
    await expect(page.locator("#family_name")).to_be_focused()
    await expect(page.locator("#family_name-error")).to_have_text("Enter this information")
    await journey.screenshot("errors")

    # The questions; "Back" from the documents finds the address as it was given.
    await journey.question_pages()
    await page.get_by_role("link", name="Back", exact=True).click()
    await page.wait_for_url(re.compile(r"/mailing-address$"))
    await journey.expect_heading("Mailing address")
    await expect(page.get_by_label("ZIP code")).to_have_value(I765_FILING.answers["zip_code"])
    await expect(page.get_by_label("State", exact=True)).to_have_value(I765_FILING.answers["state"])
    await journey.save(to="evidence")

    # A document refused, then every required one uploaded by plain multipart posts.
    refused = await journey.upload("photos", "photos.pdf", b"")
    await expect_error_summary(page, refused)
    await expect(page.locator("#file-photos-error")).to_have_text("The selected file is empty")
    await journey.evidence_page()

    # "Back" from the fee page to the documents, which are still there, and on again.
    await page.get_by_role("link", name="Back", exact=True).click()
    await page.wait_for_url(re.compile(r"/evidence$"))
    await expect(journey.evidence_section("photos").get_by_role("link", name=re.compile("^photos.pdf"))).to_be_visible()
    await journey.save(to="fee")
    await journey.fee_page()
    await journey.expect_review()
    await journey.sign()
    declined = await journey.pay(DECLINED_CARD)
    await expect_error_summary(page, declined)
    await expect(page.locator("#card_number-error")).to_have_text(DECLINED_MESSAGE)
    receipt = await journey.on_case_page(await journey.pay(APPROVED_CARD))
    await expect(page.get_by_role("link", name="Reload this page to see new steps.")).to_be_visible()
    await expect(status_title(page)).to_have_count(1)

    # The case is on the dashboard, and its page opens from there.
    await page.get_by_role("link", name="My cases", exact=True).click()
    await page.wait_for_url("**/account")
    await page.get_by_role("link", name=receipt, exact=True).click()
    await page.wait_for_url(f"**/cases/{receipt}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")
    await expect(status_title(page)).to_have_text(one_of([RECEIVED, SCHEDULED, "We are processing your filing"]))
