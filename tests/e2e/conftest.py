"""The whole system, started for real inside the test session, and a headless Chromium to drive it.

- Temporal: the dev server of the session (``dev_server_env``).
- SMTP: an aiosmtpd sink on a free port, writing to ``settings.mail_dir`` (what /dev/mailbox reads).
- Database: SQLite in a temporary folder, migrated, with the demo accounts.
- Worker: ``worker.build_worker`` on its own task queue, an asyncio task in the session loop.
- Web app: uvicorn in a daemon thread (its own event loop and its own Temporal connection).
- Browser: Debian's Chromium through Playwright's async API; axe-core from node_modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright
from sqlmodel import Session

from cli import ALL_DEMO_ACCOUNTS, DemoAccount, seed_demo_accounts
from mailsink import start_sink
from models.db import get_engine
from models.domain import receipt_prefix
from models.migrate import upgrade
from models.tables import ReceiptCounter, utcnow
from settings import PROJECT_ROOT, Settings
from tests.conftest import free_port
from web.app import create_app
from worker import build_worker

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
AXE_JS = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
# Generous for a page served on localhost; the case page's own polling is waited for explicitly.
DEFAULT_TIMEOUT_MS = 10_000


_WITHOUT_JAVASCRIPT: weakref.WeakSet[BrowserContext] = weakref.WeakSet()


def javascript_enabled(page: Page) -> bool:
    return page.context not in _WITHOUT_JAVASCRIPT


def demo_account(role: str) -> DemoAccount:
    return next(account for account in ALL_DEMO_ACCOUNTS if account.role == role)


@dataclass(frozen=True)
class LiveSystem:
    settings: Settings
    base_url: str
    mail_dir: Path


@pytest.fixture(scope="session")
def e2e_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def e2e_smtp_sink(e2e_data_dir: Path) -> Iterator[tuple[int, Path]]:
    """The session's SMTP sink, on the folder the dev mailbox page reads; yields (port, maildir)."""
    port = free_port()
    directory = e2e_data_dir / "mailbox"  # == Settings(data_dir=e2e_data_dir).mail_dir
    controller = start_sink(directory, port=port)
    try:
        yield port, directory
    finally:
        controller.stop()


def _start_receipts_at_random_sequence(settings: Settings) -> None:
    """Receipt numbers are workflow ids on the session's shared Temporal server; other test modules
    issue receipts from their own fresh databases, so start today's sequence somewhere random."""
    import random

    prefix = receipt_prefix(settings.online_office, utcnow().date())
    with Session(get_engine(settings.database_url)) as db:
        db.add(ReceiptCounter(prefix=prefix, last_sequence=random.randrange(10_000, 90_000)))
        db.commit()


class _UvicornThread:
    def __init__(self, settings: Settings) -> None:
        config = uvicorn.Config(
            create_app(settings, temporal_client=None), host="127.0.0.1", port=settings.web_port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="e2e-uvicorn", daemon=True)

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the web app stopped while starting")
            if time.monotonic() > deadline:
                raise RuntimeError("the web app did not start in time")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
async def live_system(dev_server_env, e2e_data_dir: Path, e2e_smtp_sink: tuple[int, Path]) -> AsyncIterator[LiveSystem]:
    smtp_port, mail_dir = e2e_smtp_sink
    web_port = free_port()
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{e2e_data_dir / 'caseline.db'}",
        data_dir=e2e_data_dir,
        smtp_port=smtp_port,
        temporal_address=dev_server_env.client.service_client.config.target_host,
        temporal_task_queue=f"e2e-{uuid.uuid4().hex[:12]}",
        base_url=f"http://127.0.0.1:{web_port}",
        web_port=web_port,
    )
    assert settings.mail_dir == mail_dir
    upgrade(settings.database_url)
    seed_demo_accounts(settings)
    _start_receipts_at_random_sequence(settings)

    with ThreadPoolExecutor(max_workers=20, thread_name_prefix="e2e-activity") as executor:
        worker = build_worker(dev_server_env.client, settings, executor)
        worker_task = asyncio.create_task(worker.run(), name="e2e-worker")
        web = _UvicornThread(settings)
        try:
            web.start()
            yield LiveSystem(settings=settings, base_url=settings.base_url, mail_dir=mail_dir)
        finally:
            web.stop()
            worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker_task


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def new_context(browser: Browser, live_system: LiveSystem):
    """A factory of fresh browser contexts (separate cookies: one per person), closed after the test.

    ``bypass_csp`` only lets the test inject axe-core; the app still sends its real CSP header.
    """
    contexts: list[BrowserContext] = []

    async def make(*, javascript: bool = True) -> Page:
        context = await browser.new_context(
            base_url=live_system.base_url,
            bypass_csp=True,
            java_script_enabled=javascript,
            locale="en-US",
            viewport={"width": 1280, "height": 900},
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)
        if not javascript:
            _WITHOUT_JAVASCRIPT.add(context)
        return await context.new_page()

    try:
        yield make
    finally:
        for context in contexts:
            await context.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
