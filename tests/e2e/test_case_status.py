"""Case Status Online in a real browser, axe-core on every page: the public status lookup (a case
filed through the journey, a malformed number), processing times, the portfolio with a pasted
list and its sorting, and the email settings."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect
from sqlmodel import select

from models.accounts import get_user_by_email
from models.db import session_scope
from models.tables import WatchedCase

from tests.e2e.browser import assert_accessible, post, settled, sign_in, tick, visit
from tests.e2e.conftest import LiveSystem, demo_account
from tests.e2e.efiling import I765_FILING, file_form

pytestmark = pytest.mark.e2e


async def test_status_lookup_portfolio_processing_times_and_email_settings(new_context, live_system: LiveSystem) -> None:
    applicant = await new_context()
    await sign_in(applicant, "applicant", home="/account")
    receipt = await file_form(applicant, I765_FILING)

    # Anyone, without an account: the status by receipt number, no personal data.
    public = await new_context()
    await visit(public, "/status")
    await public.get_by_label("Receipt number").first.fill(receipt.lower()[:3] + "-" + receipt[3:])
    await public.get_by_role("button", name="Check status").click()
    await public.wait_for_url(re.compile(r"/status\?receipt_number="))
    await settled(public)
    result = public.locator("#status-result")
    await expect(result).to_contain_text(re.compile("Case Was Received|Biometrics Appointment Was Scheduled"))
    await expect(result).to_contain_text(receipt)
    await expect(public.locator("main")).not_to_contain_text("Maria Lopez")
    await assert_accessible(public)
    await visit(public, "/status?receipt_number=IOE123", status=422)
    await expect(public.get_by_role("heading", name="There is a problem")).to_be_visible()
    await visit(public, "/processing-times")
    await expect(public.get_by_role("heading", level=1)).to_contain_text("Processing times")

    # The applicant follows cases: a pasted list reported line by line, then sorted.
    await visit(applicant, "/portfolio")
    await applicant.locator("textarea").fill(f"{receipt}, My work permit\nnot-a-number\n")
    answer = await post(applicant, "Add these cases")
    assert answer.status in (200, 422), answer.status
    await expect(applicant.locator("#bulk-report")).to_contain_text(receipt)
    await assert_accessible(applicant)
    await visit(applicant, "/portfolio?sort=nickname&order=desc")
    await expect(applicant.locator("table").first).to_contain_text("My work permit")

    # Email settings: a daily digest instead of an email per change.
    await visit(applicant, "/account/notifications")
    await tick(applicant, "One email a day that lists the cases that changed")
    saved = await post(applicant, "Save")
    assert saved.status in (200, 303), saved.status
    await assert_accessible(applicant)
    with session_scope(live_system.settings.database_url) as db:
        user = get_user_by_email(db, email=demo_account("applicant").email)
        assert user.case_email_frequency == "daily"
        (watched,) = db.exec(select(WatchedCase).where(WatchedCase.user_id == user.id)).all()
        assert (watched.receipt_number, watched.nickname) == (receipt, "My work permit")

    # Back to an email per change, as the other browser tests of this live system expect.
    await visit(applicant, "/account/notifications")
    await tick(applicant, "An email each time a case changes")
    assert (await post(applicant, "Save")).status in (200, 303)
    with session_scope(live_system.settings.database_url) as db:
        assert get_user_by_email(db, email=demo_account("applicant").email).case_email_frequency == "each"
