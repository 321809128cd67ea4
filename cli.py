"""The `caseline` command: run the whole system for development, or each part on its own."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from settings import Settings, get_settings

app = typer.Typer(help="Caseline: immigration cases online, on Temporal.", no_args_is_help=True, add_completion=False)
log = logging.getLogger("caseline")


@dataclass(frozen=True)
class DemoAccount:
    email: str
    password: str
    full_name: str
    role: str

    @property
    def totp_secret(self) -> str | None:
        """Staff must use two-step verification; the demo staff share a known, dev-only key."""
        if self.role in ("applicant", "representative"):
            return None
        import base64

        return base64.b32encode(f"caseline-demo-{self.role}-key".encode()[:20]).decode()


DEMO_ACCOUNTS = (
    DemoAccount("applicant@caseline.example", "demo-applicant-2026", "Maria Lopez", "applicant"),
    DemoAccount("officer@caseline.example", "demo-officer-2026", "Olivia Chen", "officer"),
    DemoAccount("supervisor@caseline.example", "demo-supervisor-2026", "Samuel Rivera", "supervisor"),
)
# The demo admin (offices and appointment capacity) sits beside DEMO_ACCOUNTS, whose three
# entries callers unpack by name; ALL_DEMO_ACCOUNTS is every demo account, seeded and printed.
DEMO_ADMIN = DemoAccount("admin@caseline.example", "demo-admin-2026", "Alex Morgan", "admin")
# An attorney who files for clients: the demo applicant is found by her email and date of birth.
DEMO_REPRESENTATIVE = DemoAccount("attorney@caseline.example", "demo-attorney-2026", "Daniel Brooks", "representative")
DEMO_APPLICANT_BIRTH_DATE = "1990-04-27"
# Customer service answers secure messages from the shared inbox.
DEMO_SERVICE = DemoAccount("service@caseline.example", "demo-service-2026", "Priya Natarajan", "customer_service")
ALL_DEMO_ACCOUNTS = (*DEMO_ACCOUNTS, DEMO_ADMIN, DEMO_REPRESENTATIVE, DEMO_SERVICE)


def _logging() -> None:
    """Every log line of the process as JSON (or readable, CASELINE_LOG_FORMAT=console): observability.py."""
    from observability import configure_logging

    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)


@app.command()
def migrate() -> None:
    """Apply the database migrations (Alembic) to DATABASE_URL."""
    from models.migrate import upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"database is up to date: {_redact(settings.database_url)}")


def seed_demo_accounts(settings: Settings) -> list[DemoAccount]:
    """Create the demo accounts that do not exist yet. Development only."""
    from models.accounts import create_user, get_user_by_email
    from models.db import session_scope
    from models.domain import Role

    if not settings.is_dev:
        raise typer.BadParameter("demo accounts are only for development (CASELINE_ENV=dev)")
    from models.tables import utcnow

    created = []
    with session_scope(settings.database_url) as db:
        for account in ALL_DEMO_ACCOUNTS:
            user = get_user_by_email(db, email=account.email)
            if user is None:
                user = create_user(db, email=account.email, password=account.password, full_name=account.full_name,
                                   role=Role(account.role))
                created.append(account)
            # Also brings demo accounts made by an older version up to date.
            user.email_verified_at = user.email_verified_at or utcnow()
            if account.role == "applicant" and user.date_of_birth is None:
                user.date_of_birth = date.fromisoformat(DEMO_APPLICANT_BIRTH_DATE)
            if account.totp_secret and user.totp_enabled_at is None:
                user.totp_secret = account.totp_secret
                user.totp_enabled_at = utcnow()
    return created


@app.command("new-payload-key")
def new_payload_key(key_id: Annotated[str, typer.Argument(help="a short name for the key, e.g. 2026-11")]) -> None:
    """Print a new Temporal payload key for CASELINE_PAYLOAD_KEYS (put it first to encrypt with it)."""
    from workflows.codec import PayloadKeyError, new_key_setting

    try:
        typer.echo(new_key_setting(key_id))
    except PayloadKeyError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command("demo-code")
def demo_code(role: Annotated[str, typer.Argument(help="officer, supervisor, admin or customer_service")] = "officer") -> None:
    """Print the current authentication code of a demo staff account (development only)."""
    import pyotp

    if not get_settings().is_dev:
        raise typer.BadParameter("demo accounts are only for development (CASELINE_ENV=dev)")
    account = next((a for a in ALL_DEMO_ACCOUNTS if a.role == role and a.totp_secret), None)
    if account is None:
        raise typer.BadParameter("choose officer, supervisor, admin or customer_service")
    typer.echo(pyotp.TOTP(account.totp_secret).now())


@app.command("seed-demo")
def seed_demo() -> None:
    """Create the demo applicant, officer, supervisor and admin (development only)."""
    created = seed_demo_accounts(get_settings())
    typer.echo(f"created {len(created)} demo account(s)")


@app.command("create-user")
def create_user_command(
    email: Annotated[str, typer.Option(help="Email address used to sign in")],
    name: Annotated[str, typer.Option(help="Full name")],
    role: Annotated[str, typer.Option(help="applicant, representative, officer, supervisor or admin")] = "officer",
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)] = "",
) -> None:
    """Create an account; staff accounts are made here, never by self-registration."""
    from models.accounts import create_user, get_user_by_email
    from models.db import session_scope
    from models.domain import Role

    try:
        chosen = Role(role)
    except ValueError:
        raise typer.BadParameter(f"unknown role {role!r}") from None
    from models.passwords import check_password

    problems = check_password(password, email=email, full_name=name)
    if problems:
        raise typer.BadParameter(problems[0])
    with session_scope(get_settings().database_url) as db:
        if get_user_by_email(db, email=email) is not None:
            raise typer.BadParameter("an account with this email address exists already")
        user = create_user(db, email=email, password=password, full_name=name, role=chosen)
        typer.echo(f"created {chosen.value} account {user.email} (id {user.id})")


@app.command()
def web(
    host: Annotated[str | None, typer.Option(help="Address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
) -> None:
    """Run the web app (uvicorn)."""
    import uvicorn

    settings = get_settings()
    _logging()
    uvicorn.run(
        "web.app:create_app",
        factory=True,
        host=host or settings.web_host,
        port=port or settings.web_port,
        proxy_headers=True,
        # uvicorn's own logging config would give its loggers handlers of their own: with None they
        # go through the root handler _logging() installed, as JSON lines like the rest, at its level.
        log_config=None,
    )


@app.command()
def worker() -> None:
    """Run the Temporal worker for case workflows and activities."""
    from worker import run_worker

    _logging()
    try:
        asyncio.run(run_worker())
    except KeyboardInterrupt:
        pass


@app.command("smtp-sink")
def smtp_sink(
    host: str = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: CASELINE_SMTP_PORT)")] = None,
) -> None:
    """Run the development SMTP server that keeps mail in data/mailbox."""
    from mailsink import start_sink

    settings = get_settings()
    controller = start_sink(settings.mail_dir, host=host, port=port or settings.smtp_port)
    typer.echo(f"SMTP sink on {host}:{port or settings.smtp_port}, keeping mail in {settings.mail_dir}")
    stop = StopRequest()
    try:
        while not stop.requested:
            time.sleep(0.2)
    finally:
        controller.stop()


# --- caseline dev -----------------------------------------------------------------------


class StopRequest:
    """Turns Ctrl-C and SIGTERM into a flag the main loop checks, so children stop in order."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGINT, self._request)
        signal.signal(signal.SIGTERM, self._request)

    def _request(self, *_: object) -> None:
        self.requested = True


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


async def _wait_for_temporal(address: str, deadline: float) -> None:
    from workflows.client import connect

    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            client = await connect(address)
            await client.service_client.check_health()
            return
        except Exception as exc:  # still starting
            last = exc
            await asyncio.sleep(0.5)
    raise RuntimeError(f"the Temporal dev server did not start in time: {last}")


def _wait_for_port(host: str, port: int, deadline: float, name: str, proc: subprocess.Popen) -> None:
    while time.monotonic() < deadline:
        if _port_open(host, port):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{name} stopped while starting (exit code {proc.returncode})")
        time.sleep(0.2)
    raise RuntimeError(f"{name} did not open port {port} in time")


class Children:
    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], log_file: Path, env: dict[str, str]) -> subprocess.Popen:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        out = open(log_file, "ab", buffering=0)  # noqa: SIM115 - kept open for the child's life
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def first_exited(self) -> tuple[str, int] | None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                return name, proc.returncode
        return None

    def stop(self) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name, proc in reversed(self.procs):
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                typer.echo(f"  {name} did not stop in time; killing it")
                proc.kill()
                proc.wait()


@app.command()
def dev() -> None:
    """Run everything on one machine: Temporal dev server + Web UI, SMTP sink, worker and web app."""
    import devserver

    settings = get_settings()
    if not settings.is_dev:
        raise typer.BadParameter("`caseline dev` is for development (CASELINE_ENV=dev)")
    data = settings.data_dir
    data.mkdir(parents=True, exist_ok=True)
    logs = data / "logs"
    temporal_host, temporal_port = settings.temporal_address.rsplit(":", 1)
    busy = [
        f"{name} port {port}"
        for name, port in (("Temporal", int(temporal_port)), ("Temporal Web UI", settings.temporal_ui_port),
                           ("web", settings.web_port), ("SMTP", settings.smtp_port))
        if _port_open("127.0.0.1", port)
    ]
    if busy:
        typer.echo("These ports are in use, so Caseline cannot start: " + ", ".join(busy), err=True)
        typer.echo("Stop whatever uses them (an earlier `make run`?) and try again.", err=True)
        raise typer.Exit(1)

    typer.echo("Applying database migrations ...")
    migrate()
    created = seed_demo_accounts(settings)
    if created:
        typer.echo(f"Created {len(created)} demo account(s).")

    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    caseline = str(Path(sys.executable).parent / "caseline")
    children = Children()
    stop = StopRequest()
    try:
        typer.echo("Starting the Temporal dev server ...")
        children.start(
            "temporal",
            [devserver.temporal_cli_path(), *devserver.dev_server_args(
                db_filename=str(data / "temporal.db"), port=int(temporal_port), ui_port=settings.temporal_ui_port,
                ip=temporal_host if temporal_host != "localhost" else "127.0.0.1",
                ui_codec_endpoint=f"{settings.base_url.rstrip('/')}/codec",
            )],
            logs / "temporal.log",
            env,
        )
        asyncio.run(_wait_for_temporal(settings.temporal_address, time.monotonic() + 90))
        smtp = children.start("smtp-sink", [caseline, "smtp-sink"], logs / "smtp.log", env)
        _wait_for_port("127.0.0.1", settings.smtp_port, time.monotonic() + 30, "the SMTP sink", smtp)
        children.start("worker", [caseline, "worker"], logs / "worker.log", env)
        web_proc = children.start("web", [caseline, "web"], logs / "web.log", env)
        _wait_for_port("127.0.0.1", settings.web_port, time.monotonic() + 60, "the web app", web_proc)
    except (RuntimeError, FileNotFoundError) as exc:
        typer.echo(f"Caseline could not start: {exc}. Logs are in {logs}.", err=True)
        children.stop()
        raise typer.Exit(1) from None

    base = settings.base_url
    lines = [
        "",
        "Caseline is running. Press Ctrl-C to stop everything.",
        "",
        f"  Web app            {base}",
        f"  Dev mailbox        {base}/dev/mailbox   (SMTP sink on 127.0.0.1:{settings.smtp_port})",
        f"  Temporal Web UI    {settings.temporal_ui_url}",
        f"  Temporal frontend  {settings.temporal_address}",
        f"  Data               {data}   (logs in {logs})",
        "",
        "  Demo accounts (development only):",
    ]
    lines += [f"    {a.role:<15} {a.email:<30} {a.password}" for a in ALL_DEMO_ACCOUNTS]
    lines += [
        "",
        "  Staff sign in with two-step verification. The current code of a demo account:",
        "    .venv/bin/caseline demo-code officer   (or supervisor, admin), or add a key to an authenticator app:",
    ]
    lines += [f"    {a.role:<15} key {a.totp_secret}" for a in ALL_DEMO_ACCOUNTS if a.totp_secret]
    typer.echo("\n".join(lines) + "\n")

    exit_code = 0
    try:
        while not stop.requested:
            exited = children.first_exited()
            if exited:
                typer.echo(f"{exited[0]} stopped (exit code {exited[1]}); stopping the rest. See {logs}.", err=True)
                exit_code = 1
                break
            time.sleep(0.5)
    finally:
        typer.echo("Stopping Caseline ...")
        children.stop()
        typer.echo("Stopped.")
    raise typer.Exit(exit_code)


if __name__ == "__main__":
    app()
