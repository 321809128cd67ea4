"""Accounts in a real browser, axe-core on every page: register, confirm the email, sign in, set
up two-step verification, read sessions and activity, ask for a password reset."""

from __future__ import annotations

import re

import pyotp
import pytest
from playwright.async_api import expect

from mailsink import read_mailbox
from tests.e2e.conftest import LiveSystem
from tests.e2e.browser import assert_accessible, expect_error_summary, follow, post, settled, tick, visit, wait_for

pytestmark = pytest.mark.e2e

EMAIL = "ana.rivera@example.com"
PASSWORD = "copper lantern drifts over quiet harbors"


async def test_register_confirm_and_secure_an_account(new_context, live_system: LiveSystem) -> None:
    page = await new_context()
    await visit(page, "/register")
    await expect_error_summary(page, await post(page, "Create account"))

    await page.get_by_label("Given name (first name)").fill("Ana")
    await page.get_by_label("Family name (last name)").fill("Rivera")
    await page.get_by_label("Month").fill("7")
    await page.get_by_label("Day").fill("14")
    await page.get_by_label("Year").fill("1988")
    await page.get_by_label("Street number and name").fill("200 Pine Street")
    await page.get_by_label("City or town").fill("Denver")
    await page.get_by_label("State", exact=True).select_option("CO")
    await page.get_by_label("ZIP code").fill("80202")
    await tick(page, "Español")
    await page.get_by_label("Email address").fill(EMAIL)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    answer = await post(page, "Create account")
    assert answer.status == 303, answer.status
    await settled(page)
    await assert_accessible(page)

    def link() -> str | None:
        for mail in read_mailbox(live_system.mail_dir):
            if mail.to == EMAIL and (found := re.search(r"/verify-email/[\w-]+", mail.body)):
                return found.group(0)
        return None

    await wait_for(lambda: link() is not None, timeout=20, what="the confirmation email")
    verification = [m for m in read_mailbox(live_system.mail_dir) if m.to == EMAIL][0]
    assert verification.language == "es"  # the language chosen at registration
    await visit(page, link())
    await visit(page, link(), status=410)  # single use

    await visit(page, "/sign-in")
    await page.get_by_label(re.compile("^(Email address|Correo electrónico)")).fill(EMAIL)
    await page.get_by_label(re.compile("^(Password|Contraseña)$")).fill(PASSWORD)
    await follow(page, page.get_by_role("button", name=re.compile("^(Sign in|Iniciar sesión)$")).click,
                 url=re.compile(r"/account$"))

    for path in ("/account/security", "/account/sessions", "/account/activity"):
        await visit(page, path)
    await visit(page, "/account/two-factor")
    key = (await page.locator(".caseline-secret").inner_text()).replace(" ", "")
    await page.get_by_label(re.compile("^(Authentication code|Código de autenticación)$")).fill(pyotp.TOTP(key).now())
    codes = await post(page, re.compile(r"^(Turn on two-step verification|Activar la verificación en dos pasos)$"))
    assert codes.status == 200
    await expect(page.locator(".caseline-codes code")).to_have_count(10)
    await assert_accessible(page)

    await visit(page, "/forgot-password")
    await visit(page, "/forgot-password/sent")
