"""The supervisor's dashboard and stuck-case finder in a real browser against the real system,
axe-core on every page.

The applicant files an I-765 that goes straight to review; the test marks it past its target in
the database (a stage's target is weeks away, and nothing here can wait that long). The
supervisor finds it on the dashboard, puts it on hold from its row and comes back to the
dashboard; the case's workflow is on hold. The finder refuses a bad number of days with an error
summary, and with good ones reports the worker polling the live system's task queue."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect
from sqlmodel import Session

from models.db import get_engine, session_scope
from models.domain import Stage
from models.tables import Case, utcnow
from tests.e2e.browser import assert_accessible, follow, settled, sign_in, submit, visit, wait_for
from tests.e2e.conftest import LiveSystem
from tests.e2e.efiling import I765_FILING, file_form

pytestmark = pytest.mark.e2e

STRAIGHT_TO_REVIEW = I765_FILING.with_answers(eligibility_category="c3C")  # (c)(3)(C): no biometrics
HOLD_REASON = "Waiting for the background check to come back."


def _stage(live_system: LiveSystem, receipt: str) -> str | None:
    with Session(get_engine(live_system.settings.database_url)) as db:
        case = db.get(Case, receipt)
        return case.stage if case else None


async def test_supervisor_holds_a_late_case_from_the_dashboard(new_context, live_system: LiveSystem) -> None:
    applicant = await new_context()
    await visit(applicant, "/sign-in")
    await sign_in(applicant, "applicant", home="/account")
    receipt = await file_form(applicant, STRAIGHT_TO_REVIEW)
    await wait_for(lambda: _stage(live_system, receipt) == Stage.REVIEW, timeout=30, what="the case in review")
    with session_scope(live_system.settings.database_url) as db:
        case = db.get(Case, receipt)
        case.overdue = True
        case.due_at = utcnow() - timedelta(days=3)
        db.add(case)

    supervisor = await new_context()
    await visit(supervisor, "/sign-in")
    await sign_in(supervisor, "supervisor", home="/officer")
    await follow(supervisor, supervisor.get_by_role("link", name="Dashboard").click, url=re.compile(r"/supervisor$"))
    await expect(supervisor.get_by_role("heading", name="Supervisor dashboard", level=1)).to_be_visible()
    await expect(supervisor.get_by_role("img", name="Open cases per stage")).to_be_visible()
    await expect(supervisor.get_by_role("img", name="Cases filed and decided per day")).to_be_visible()

    late = supervisor.locator("#past-target")
    row = late.get_by_role("row").filter(has=supervisor.get_by_role("link", name=receipt, exact=True))
    await expect(row).to_have_count(1)
    await row.get_by_text(f"Hold case {receipt}").click()  # the row's <details>: no script needed to open it
    await row.get_by_label("Reason for the hold").fill(HOLD_REASON)
    await assert_accessible(supervisor)
    answer = await submit(supervisor, row.get_by_role("button", name="Put the case on hold"))
    assert answer.status == 303, await answer.text()
    await expect(supervisor).to_have_url(re.compile(rf"/supervisor\?done=hold&case={receipt}$"))
    await expect(supervisor.get_by_text(f"The action on case {receipt} was recorded.")).to_be_visible()
    await assert_accessible(supervisor)
    await wait_for(lambda: _stage(live_system, receipt) == Stage.ON_HOLD, timeout=30, what="the case on hold")

    # The stuck-case finder: a bad figure is refused beside its field; good ones give the report.
    await follow(supervisor, supervisor.get_by_role("link", name="Find stuck cases").click,
                 url=re.compile(r"/supervisor/stuck$"))
    await supervisor.get_by_label("Days in one stage", exact=True).fill("0")
    async with supervisor.expect_response(lambda r: "/supervisor/stuck?" in r.url) as refused:
        await supervisor.get_by_role("button", name="Find stuck cases").click()
    await settled(supervisor)
    assert (await refused.value).status == 422
    await expect(supervisor.get_by_role("heading", name="There is a problem")).to_be_visible()
    await expect(supervisor.get_by_label("Days in one stage", exact=True)).to_have_value("0")
    await assert_accessible(supervisor)

    await supervisor.get_by_label("Days in one stage", exact=True).fill("30")
    await follow(supervisor, supervisor.get_by_role("button", name="Find stuck cases").click,
                 url=re.compile(r"/supervisor/stuck\?days=30&attempts=3$"))
    await expect(supervisor.get_by_text(
        f"Workers are taking work from the task queue {live_system.settings.temporal_task_queue}."
    )).to_be_visible()

    # Put the shared system back as it was: the case resumes where it stopped.
    await visit(supervisor, f"/officer/cases/{receipt}")
    answer = await submit(supervisor, supervisor.get_by_role("button", name="Resume the case"))
    assert answer.status == 303
    await wait_for(lambda: _stage(live_system, receipt) == Stage.REVIEW, timeout=30, what="the case back in review")
