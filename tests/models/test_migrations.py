"""The Alembic migrations create exactly the schema the SQLModel tables describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import models.tables  # noqa: F401  (registers the tables)
from models.db import get_engine, normalize_url


def test_migrations_match_the_models(database_url: str) -> None:
    engine = get_engine(normalize_url(database_url))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], "add an Alembic migration (alembic revision --autogenerate) for these changes"
