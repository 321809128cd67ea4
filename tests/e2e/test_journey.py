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
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.async_api import Page, Response, expect

from mailsink import StoredMail, read_mailbox
from cli import DemoAccount
from tests.e2e.conftest import AXE_JS, LiveSystem, demo_account, javascript_enabled

pytestmark = pytest.mark.e2e

RECEIPT_RE = re.compile(r"^IOE\d{10}$")
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

I765_ANSWERS = {
    "given_name": "Maria",
    "family_name": "Lopez",
    "date_of_birth": ("4", "27", "1990"),
    "eligibility_category": "c8",  # (c)(8) Pending asylum application: needs biometrics
    "street": "100 Congress Avenue",
    "city": "Austin",
    "state": "TX",
    "zip_code": "78701",
}
CATEGORY_LABELS = {
    "c8": "(c)(8) Pending asylum application",
    "c3C": "(c)(3)(C) STEM extension of student practical training",
}

_HTMX_BUSY = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"


# --- helpers -------------------------------------------------------------------------------


async def settled(page: Page) -> None:
    """The page (or htmx's boosted swap) has finished loading and settling."""
    await page.wait_for_load_state("domcontentloaded")
    if javascript_enabled(page):
        await page.wait_for_function(_HTMX_BUSY)


async def assert_accessible(page: Page) -> None:
    """Run axe-core on what the page shows now; fail with a readable list of violations.

    axe needs scripting: in a context without JavaScript there is nothing to run it with."""
    if not javascript_enabled(page):
        return
    await page.add_script_tag(path=str(AXE_JS))
    result = await page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = result["violations"]
    if violations:
        lines = [f"axe found {len(violations)} violation(s) on {page.url}:"]
        for v in violations:
            targets = ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
            lines.append(f"- {v['id']} ({v['impact']}): {v['help']} [{len(v['nodes'])} node(s): {targets}]")
        pytest.fail("\n".join(lines), pytrace=False)


async def visit(page: Page, path: str, *, status: int = 200) -> None:
    """A full page load of ``path``, checked with axe."""
    response = await page.goto(path)
    assert response is not None and response.status == status, f"GET {path}: {response and response.status}"
    await settled(page)
    await assert_accessible(page)


async def follow(page: Page, action: Callable[[], Awaitable], *, url: str | re.Pattern) -> None:
    """Click something that navigates (a boosted link or form), wait for the new page, check it with axe."""
    await action()
    await page.wait_for_url(url)
    await settled(page)
    await assert_accessible(page)


async def post(page: Page, button: str) -> Response:
    """Press a form's submit button; returns the answer to the POST (a 303, or a page refusing it)."""
    click = page.get_by_role("button", name=button, exact=True).click
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        if javascript_enabled(page):
            await click()  # htmx sends it (hx-boost) and swaps the page
        else:
            async with page.expect_navigation():
                await click()
    await settled(page)
    return await answer.value


async def expect_error_summary(page: Page, response: Response) -> None:
    """The server refused the form with 422 and an error summary, shown to the person and accessible."""
    assert response.status == 422, f"{response.request.method} {response.url} answered {response.status}"
    assert "There is a problem" in await response.text()
    await expect(page.get_by_role("heading", name="There is a problem")).to_be_visible()
    await assert_accessible(page)


_USED_TOTP_STEPS: dict[str, int] = {}


async def totp_code(account: DemoAccount) -> str:
    """A code the server accepts: it refuses a time step already used (replay protection), so a
    second sign-in within the same 30 seconds takes the next step's code (accepted one step early)."""
    totp = pyotp.TOTP(account.totp_secret)
    step = totp.timecode(datetime.now(UTC))
    last = _USED_TOTP_STEPS.get(account.email)
    if last is not None and step <= last:
        step = last + 1
        while totp.timecode(datetime.now(UTC)) + 1 < step:  # not inside the accepted window yet
            await asyncio.sleep(1)
    _USED_TOTP_STEPS[account.email] = step
    return totp.generate_otp(step)


async def sign_in(page: Page, role: str, *, home: str) -> None:
    account = demo_account(role)
    if urlsplit(page.url).path != "/sign-in":
        await visit(page, "/sign-in")
    await page.get_by_label("Email address").fill(account.email)
    await page.get_by_label("Password").fill(account.password)
    if account.totp_secret:  # staff: the password, then the code of their authentication app
        await follow(page, page.get_by_role("button", name="Sign in").click, url=re.compile(r"/sign-in/two-factor"))
        await page.get_by_label("Authentication code").fill(await totp_code(account))
        await follow(page, page.get_by_role("button", name="Continue").click, url=re.compile(re.escape(home) + "$"))
    else:
        await follow(page, page.get_by_role("button", name="Sign in").click, url=re.compile(re.escape(home) + "$"))
    await expect(page.get_by_role("button", name="Sign out")).to_be_visible()


async def tick(page: Page, label: str | re.Pattern) -> None:
    """USWDS hides the real checkbox or radio off screen and styles its label: people click the label."""
    await page.locator("label").filter(has_text=label).click()
    await expect(page.get_by_label(label)).to_be_checked()


async def fill_i765(page: Page, answers: dict) -> None:
    await page.get_by_label("Given name (first name)").fill(answers["given_name"])
    await page.get_by_label("Family name (last name)").fill(answers["family_name"])
    month, day, year = answers["date_of_birth"]
    await page.get_by_label("Month").fill(month)
    await page.get_by_label("Day").fill(day)
    await page.get_by_label("Year").fill(year)
    await page.get_by_label("Eligibility category").select_option(answers["eligibility_category"])
    await page.get_by_label("Street number and name").fill(answers["street"])
    await page.get_by_label("City or town").fill(answers["city"])
    await page.get_by_label("State", exact=True).select_option(answers["state"])
    await page.get_by_label("ZIP code").fill(answers["zip_code"])


async def file_i765(page: Page, answers: dict = I765_ANSWERS) -> str:
    """From the dashboard: start the form, meet its errors, fill it, sign it; returns the receipt number."""
    await follow(page, page.get_by_role("link", name="Start Form I-765").click, url="**/efile/i-765")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Application for Employment Authorization")

    await expect_error_summary(page, await post(page, "Save and continue"))

    await fill_i765(page, answers)
    response = await post(page, "Save and continue")
    assert response.status == 303, response.status
    await page.wait_for_url(re.compile(r"/efile/drafts/[0-9a-f-]{36}/review$"))
    await settled(page)
    await expect(page.get_by_role("heading", level=1)).to_have_text("Check your answers before you submit")
    await expect(page.get_by_text(CATEGORY_LABELS[answers["eligibility_category"]])).to_be_visible()
    await assert_accessible(page)

    await expect_error_summary(page, await post(page, "Submit application"))

    await tick(page, re.compile("^I certify, under penalty of perjury"))
    response = await post(page, "Submit application")
    assert response.status == 303, response.status
    await page.wait_for_url(re.compile(r"/cases/[A-Z]{3}\d{10}\?filed=1$"))
    await settled(page)
    receipt = page.url.rsplit("/", 1)[1].split("?")[0]
    assert RECEIPT_RE.fullmatch(receipt), receipt
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")
    await expect(page.get_by_text(f"Your receipt number is {receipt}.")).to_be_visible()
    return receipt


def one_of(texts: list[str]) -> re.Pattern:
    return re.compile("^(" + "|".join(map(re.escape, texts)) + ")$")


def status_title(page: Page):
    return page.locator("#status-title")


def timeline_titles(page: Page):
    return page.locator(".caseline-timeline .usa-process-list__heading")


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


async def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        await asyncio.sleep(0.25)


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
    receipt = await file_i765(applicant)
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


async def test_sign_in_and_file_without_javascript(new_context, live_system: LiveSystem) -> None:
    """Plain form posts and full page loads: no htmx, no boosting; the error summaries show."""
    page = await new_context(javascript=False)
    await page.goto("/")
    await page.get_by_role("main").get_by_role("link", name="Sign in").click()
    await page.wait_for_url("**/sign-in")
    await sign_in(page, "applicant", home="/account")
    await expect(page.get_by_role("heading", level=1)).to_have_text("My cases")

    receipt = await file_i765(page)
    await expect(page.get_by_role("link", name="Reload this page to see new steps.")).to_be_visible()
    await expect(status_title(page)).to_have_count(1)

    # The case is on the dashboard, and its page opens from there.
    await page.get_by_role("link", name="My cases", exact=True).click()
    await page.wait_for_url("**/account")
    await page.get_by_role("link", name=receipt, exact=True).click()
    await page.wait_for_url(f"**/cases/{receipt}")
    await expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {receipt}")
    await expect(status_title(page)).to_have_text(one_of([RECEIVED, SCHEDULED, "We are processing your filing"]))
