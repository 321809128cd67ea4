"""Issuing receipt numbers atomically: unique, never reused, in the real format."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from models.domain import format_receipt_number, receipt_prefix
from models.tables import ReceiptCounter

# Fiscal years and workdays follow the agency's calendar (Eastern time), not UTC.
AGENCY_TIME_ZONE = ZoneInfo("America/New_York")


def issue_receipt_number(session: Session, *, office: str, now: datetime) -> str:
    """Take the next sequence for today's prefix in the caller's transaction.

    The counter row is created if missing (a conflict-free insert) and then incremented with a
    single UPDATE ... RETURNING, which both SQLite and PostgreSQL serialise per row.
    """
    prefix = receipt_prefix(office, now.astimezone(AGENCY_TIME_ZONE).date())
    table = ReceiptCounter.__table__
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(table).values(prefix=prefix, last_sequence=0).on_conflict_do_nothing())
    sequence = session.execute(
        sa.update(table)
        .where(table.c.prefix == prefix)
        .values(last_sequence=table.c.last_sequence + 1)
        .returning(table.c.last_sequence)
    ).scalar_one()
    return format_receipt_number(prefix, sequence)
