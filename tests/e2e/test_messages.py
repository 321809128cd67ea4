"""Secure messages end to end, in a real browser against the real system, axe-core on every page.

The demo attorney represents the demo applicant on a filed I-765. The attorney writes to us from
the case page (a message without a subject is refused first) with a PDF attached; customer
service finds the thread in the inbox's unassigned list, answers it, and the thread is theirs.
The applicant sees two unread messages in the navigation, reads the thread, and the count goes.
Each new message reaches the other parties through the real SMTP sink, without its text.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from mailsink import StoredMail, read_mailbox
from models.db import session_scope
from models.tables import Filing
from tests.e2e.browser import assert_accessible, expect_error_summary, follow, post, settled, sign_in, visit, wait_for
from tests.e2e.conftest import LiveSystem, demo_account
from tests.e2e.test_rfe import PDF_BYTES
from tests.helpers import file_i765

pytestmark = pytest.mark.e2e

SUBJECT = "Our client's new address"
QUESTION = "Maria moved to 12 Oak Street, Columbus, OH 43004.\nPlease update the case and confirm."
ANSWER = "Thank you. We updated the mailing address on the case."
PDF_NAME = "lease.pdf"
ANNOUNCEMENT = "New secure message about case {receipt}"


def a_represented_case(system: LiveSystem) -> str:
    """An I-765 of the demo applicant with the demo attorney on the filing (the journey itself is
    tested in test_efiling); the web app starts its workflow as for a filing saved while Temporal
    was away."""
    from sqlmodel import select

    from models.tables import User

    with session_scope(system.settings.database_url) as db:
        applicant = db.exec(select(User).where(User.email == demo_account("applicant").email)).one()
        attorney = db.exec(select(User).where(User.email == demo_account("representative").email)).one()
        filing = file_i765(db, applicant_id=applicant.id, office="IOE")
        saved = db.get(Filing, filing.receipt_number)
        saved.representative_id = attorney.id
        return filing.receipt_number


def announcements(system: LiveSystem, receipt: str, role: str) -> list[StoredMail]:
    address = demo_account(role).email
    return [m for m in read_mailbox(system.mail_dir) if m.subject == ANNOUNCEMENT.format(receipt=receipt) and address in m.to]


def messages_link(page: Page):
    return page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(r"^Messages"))


async def write_in_form(page: Page, *, body: str, files: list[dict] | None = None) -> None:
    await page.get_by_label("Your message").fill(body)
    if files:
        # USWDS's file input names the input after its drop zone, so the person's way in is the label.
        async with page.expect_file_chooser() as chooser:
            await page.locator("label[for=files]").click()
        await (await chooser.value).set_files(files=files)


async def test_a_thread_between_the_attorney_and_customer_service(new_context, live_system: LiveSystem) -> None:
    receipt = a_represented_case(live_system)
    attorney = await new_context()
    service = await new_context()
    applicant = await new_context()

    # The attorney writes from the case page; a message without a subject is refused by the field.
    await visit(attorney, "/sign-in")
    await sign_in(attorney, "representative", home="/account")
    await visit(attorney, f"/cases/{receipt}")
    await follow(attorney, attorney.get_by_role("link", name="Write to us about this case").click,
                 url=f"**/cases/{receipt}/messages/new")
    await attorney.locator("label").filter(has_text="A change of address").click()
    await write_in_form(attorney, body=QUESTION)
    await expect_error_summary(attorney, await post(attorney, "Send the message"))
    await expect(attorney.get_by_role("link", name="Subject: Enter a subject")).to_be_visible()
    await expect(attorney.get_by_label("Your message")).to_have_value(QUESTION)  # nothing typed is lost
    await expect(attorney.get_by_label("A change of address")).to_be_checked()
    await attorney.get_by_label("Subject").fill(SUBJECT)
    await write_in_form(attorney, body=QUESTION,
                        files=[{"name": PDF_NAME, "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    response = await post(attorney, "Send the message")
    assert response.status == 303, response.status
    await attorney.wait_for_url(re.compile(r"/messages/\d+\?sent=1"))
    await settled(attorney)
    thread_path = re.sub(r"\?.*$", "", attorney.url.split(live_system.base_url, 1)[1])
    await expect(attorney.get_by_role("status")).to_have_text("Your message was sent.")
    await expect(attorney.get_by_role("heading", level=1)).to_have_text(SUBJECT)
    first = attorney.get_by_role("listitem").filter(has_text="Maria moved")
    await expect(first.get_by_role("heading")).to_contain_text("You")
    await expect(first.locator(".caseline-message__body")).to_have_text(QUESTION)  # line breaks kept
    await expect(first.get_by_role("link", name=re.compile("^" + re.escape(PDF_NAME)))).to_be_visible()
    await assert_accessible(attorney)

    # Customer service signs in to the inbox, where the thread waits unassigned.
    await visit(service, "/sign-in")
    await sign_in(service, "customer_service", home="/inbox")
    await expect(service.get_by_role("link", name=re.compile(r"^Unassigned \(\d+\)"))).to_have_attribute("aria-current", "page")
    row = service.get_by_role("row").filter(has=service.get_by_role("link", name=SUBJECT))
    await expect(row).to_contain_text(receipt)
    await expect(row).to_contain_text("1 new message")
    await expect(row).to_contain_text("Nobody yet")
    await assert_accessible(service)
    await follow(service, row.get_by_role("link", name=SUBJECT).click, url=re.compile(r"/inbox/\d+$"))
    attachment = service.get_by_role("link", name=re.compile("^" + re.escape(PDF_NAME)))
    document = await service.request.get(await attachment.get_attribute("href"))
    assert document.status == 200 and await document.body() == PDF_BYTES
    await write_in_form(service, body=ANSWER)
    response = await post(service, "Send the reply")
    assert response.status == 303, response.status
    await service.wait_for_url(re.compile(r"/inbox/\d+\?sent=1"))
    await settled(service)
    await expect(service.locator("dl")).to_contain_text("Priya Natarajan")  # answering took the thread
    await expect(service.locator("dl")).to_contain_text("Answered, waiting for the applicant")
    await assert_accessible(service)
    await visit(service, "/inbox?view=mine")
    await expect(service.get_by_role("row").filter(has=service.get_by_role("link", name=SUBJECT))).to_contain_text("You")

    # The applicant has both messages unread; reading the thread clears the count.
    await visit(applicant, "/sign-in")
    await sign_in(applicant, "applicant", home="/account")
    await expect(messages_link(applicant)).to_have_text("Messages 2 unread")
    await follow(applicant, messages_link(applicant).click, url="**/messages")
    await follow(applicant, applicant.get_by_role("link", name=SUBJECT).click, url=f"**{thread_path}")
    await expect(applicant.locator(".caseline-message__body")).to_have_text([QUESTION, ANSWER])
    await expect(applicant.locator(".caseline-message__heading").nth(0)).to_contain_text("Daniel Brooks")
    await expect(applicant.locator(".caseline-message__heading").nth(1)).to_contain_text("Caseline")
    await expect(messages_link(applicant)).to_have_text("Messages")

    # The emails: the applicant heard of both messages, the attorney of the answer; none holds a message.
    await wait_for(lambda: len(announcements(live_system, receipt, "applicant")) == 2
                   and len(announcements(live_system, receipt, "representative")) == 1,
                   timeout=30, what="the message announcements")
    for mail in announcements(live_system, receipt, "applicant") + announcements(live_system, receipt, "representative"):
        assert f"{live_system.base_url}{thread_path}" in mail.body
        assert "Oak Street" not in mail.body and "updated the mailing address" not in mail.body
        assert PDF_NAME not in mail.body
    assert announcements(live_system, receipt, "customer_service") == []
