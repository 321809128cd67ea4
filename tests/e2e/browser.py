"""What every browser test does: load pages, follow links and forms (boosted by htmx or plain),
check each page with axe-core, sign in, wait for things to appear.

axe needs scripting, so it runs in the JavaScript-enabled contexts only; a context without
JavaScript drives the same templates through plain form posts and full page loads.
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
from playwright.async_api import Locator, Page, Response, expect

from cli import DemoAccount
from tests.e2e.conftest import AXE_JS, demo_account, javascript_enabled

_HTMX_BUSY = "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling, .htmx-added')"


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


async def submit(page: Page, button: Locator) -> Response:
    """Press a form's submit button; returns the answer to the POST (a 303, or a page refusing it)."""
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        if javascript_enabled(page):
            await button.click()  # htmx sends it (hx-boost) and swaps the page
        else:
            async with page.expect_navigation():
                await button.click()
    await settled(page)
    return await answer.value


async def post(page: Page, button: str | re.Pattern) -> Response:
    """Press the submit button named ``button``; returns the answer to the POST."""
    return await submit(page, page.get_by_role("button", name=button, exact=True))


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


async def tick(page: Page | Locator, label: str | re.Pattern) -> None:
    """USWDS hides the real checkbox or radio off screen and styles its label: people click the label."""
    await page.locator("label").filter(has_text=label).click()
    await expect(page.get_by_label(label)).to_be_checked()


async def wait_for(check: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}", pytrace=False)
        await asyncio.sleep(0.25)
