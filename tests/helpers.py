"""Small helpers shared by the test modules (no fixtures: those live in conftest.py)."""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlmodel import Session

from models.accounts import create_user
from models.domain import Role
from models.forms import I765
from models.receipts import issue_receipt_number
from models.tables import Filing, User
from workflows.types import CaseInput

T = TypeVar("T")

PASSWORD = "correct horse battery staple"
FILED_AT = datetime(2026, 10, 5, 14, 30, tzinfo=UTC)

# Answers that pass I-765 validation; the eligibility category decides whether biometrics is planned.
I765_ANSWERS = {
    "family_name": "Rivera",
    "given_name": "Ana",
    "middle_name": "",
    "date_of_birth": "1990-04-27",
    "eligibility_category": "c8",
    "street": "1 Main Street",
    "apartment": "",
    "city": "Springfield",
    "state": "IL",
    "zip_code": "62701",
}

# The first bytes of files of each kind, enough for the upload checks that sniff the type.
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 32
WINDOWS_EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 64

_offices = (f"Z{a}{b}" for a, b in itertools.product(string.ascii_uppercase, repeat=2))


def unique_office() -> str:
    """An office code no other test in this session uses, so receipt numbers issued from fresh
    databases never collide as workflow ids on a shared Temporal server."""
    return next(_offices)


def random_receipt_number() -> str:
    return f"IOE{random.randrange(10**10):010d}"


def case_input(
    receipt_number: str,
    *,
    category: str = "c8",
    applicant_id: int = 1,
    office: str = "IOE",
    filed_at: datetime = FILED_AT,
) -> CaseInput:
    answers = {"eligibility_category": category}
    return CaseInput(
        receipt_number=receipt_number,
        form_type=I765.code,
        office=office,
        applicant_id=applicant_id,
        filed_at=filed_at,
        plan=I765.stage_plan(answers),
        sla_days=dict(I765.sla_days),
        interview=I765.interview,
        after_approval=I765.after_approval(answers),
    )


def make_user(
    session: Session, name: str, *, role: Role = Role.APPLICANT, language: str = "en"
) -> User:
    return create_user(
        session,
        email=f"{name}.{random.randrange(10**9)}@example.com",
        password=PASSWORD,
        full_name=name.title(),
        role=role,
        language=language,
    )


def file_i765(
    session: Session, *, applicant_id: int, office: str, category: str = "c8", filed_at: datetime = FILED_AT
) -> Filing:
    """Issue a receipt number and store the filing, as the web does on submission."""
    filing = Filing(
        receipt_number=issue_receipt_number(session, office=office, now=filed_at),
        form_type=I765.code,
        applicant_id=applicant_id,
        office=office,
        answers={**I765_ANSWERS, "eligibility_category": category},
        filed_at=filed_at,
    )
    session.add(filing)
    session.flush()
    return filing


async def wait_until(
    check: Callable[[], Awaitable[T] | T], *, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"
) -> T:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)
