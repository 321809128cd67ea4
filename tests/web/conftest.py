"""Web tests: the real app on a migrated SQLite database, Temporal replaced by a fake that is down."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyotp
import pytest
from starlette.testclient import TestClient

from cli import seed_demo_accounts
from models.db import get_engine
from settings import Settings
from web.app import create_app
from web.temporal import TemporalUnavailable

CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


class DownTemporal:
    """Stands in for the lazy client when Temporal cannot be reached."""

    async def get(self):
        raise TemporalUnavailable()


@pytest.fixture(scope="session")
def seeded_template(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The migrated database with the demo accounts, once per session (argon2id hashing is slow
    on purpose); each web test gets a copy."""
    path = tmp_path_factory.mktemp("seeded-template") / "caseline.db"
    shutil.copyfile(sqlite_template, path)
    seed_demo_accounts(Settings(env="test", database_url=f"sqlite:///{path}", data_dir=path.parent))
    get_engine(f"sqlite:///{path}").dispose()
    return path


@pytest.fixture
def settings(tmp_path: Path, seeded_template: Path) -> Settings:
    shutil.copyfile(seeded_template, tmp_path / "caseline.db")
    return Settings(env="test", database_url=f"sqlite:///{tmp_path / 'caseline.db'}", data_dir=tmp_path)


@pytest.fixture
def client(settings: Settings):
    app = create_app(settings)
    app.state.temporal = DownTemporal()
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def sign_in(client: TestClient, email: str, password: str, *, totp_secret: str | None = None) -> None:
    """Password, then (for accounts with two-step verification, such as demo staff) the current code."""
    token = csrf_from(client.get("/sign-in").text)
    response = client.post("/sign-in", data={"csrf_token": token, "email": email, "password": password})
    assert response.status_code == 303, response.text
    if response.headers["location"].startswith("/sign-in/two-factor"):
        from cli import DEMO_ACCOUNTS

        secret = totp_secret or next(a.totp_secret for a in DEMO_ACCOUNTS if a.email == email)
        page = client.get(response.headers["location"])
        code = pyotp.TOTP(secret).now()
        answer = client.post("/sign-in/two-factor", data={"csrf_token": csrf_from(page.text), "code": code})
        assert answer.status_code == 303, answer.text


def csrf(client: TestClient, path: str = "/") -> str:
    return csrf_from(client.get(path).text)


@pytest.fixture
def temporal(client):
    """The app's Temporal client replaced by a fake that records every update (see fake_temporal)."""
    from tests.web.fake_temporal import FakeTemporal

    fake = FakeTemporal()
    client.app.state.temporal = fake
    return fake


@pytest.fixture
def ids(settings) -> dict[str, int]:
    """The demo accounts' user ids by role."""
    from models.db import session_scope
    from tests.web.fake_temporal import ACCOUNTS, user_id

    with session_scope(settings.database_url) as db:
        return {role: user_id(db, account.email) for role, account in ACCOUNTS.items()}
