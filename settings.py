"""Caseline settings, read from the environment (prefix ``CASELINE_``) and ``.env``.

Embedded defaults give a working development system on one machine; outside ``dev`` the
default secrets are refused so a misconfigured deployment fails at start, not in production.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from workflows.codec import DEV_PAYLOAD_KEYS, parse_keys

PROJECT_ROOT = Path(__file__).resolve().parent
DEV_SECRET = "dev-only-secret-change-me-dev-only-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASELINE_", env_file=".env", extra="ignore")

    env: Literal["dev", "test", "staging", "production"] = "dev"
    data_dir: Path = PROJECT_ROOT / "data"
    # DATABASE_URL (no prefix) is the conventional name; CASELINE_DATABASE_URL also works.
    database_url: str = Field(
        default="", validation_alias=AliasChoices("DATABASE_URL", "CASELINE_DATABASE_URL")
    )
    secret_key: str = DEV_SECRET
    # Keys of the Temporal payload codec (workflows.codec): "id:base64-32-bytes,...", the first encrypts.
    payload_keys: str = DEV_PAYLOAD_KEYS
    base_url: str = "http://localhost:8000"

    web_host: str = "127.0.0.1"
    web_port: int = 8000

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_task_queue: str = "caseline-cases"
    temporal_ui_port: int = 8233
    temporal_ui_url: str = "http://localhost:8233"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "Caseline <no-reply@caseline.example>"

    # Where document bytes are kept: "local" (documents_dir) or "s3" (any S3-compatible storage,
    # models.s3store; the README says how to set it up).
    document_store: Literal["local", "s3"] = "local"
    s3_bucket: str = ""
    s3_prefix: str = "documents/"
    s3_endpoint_url: str = ""  # empty = AWS S3; e.g. http://minio:9000 for MinIO
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""  # empty = the default AWS credential chain (env, profile, IAM role)
    s3_secret_access_key: str = ""
    s3_path_style: bool = False  # True for MinIO / Ceph
    s3_sse: Literal["", "AES256", "aws:kms", "aws:kms:dsse"] = ""
    s3_kms_key_id: str = ""
    s3_checksum: Literal["sha256", "md5"] = "sha256"  # md5 for endpoints without flexible checksums

    online_office: str = "IOE"
    # Who takes card payments of filing fees (models.payments): the built-in sandbox takes test cards only.
    payment_provider: str = "sandbox"
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12

    # Operations (observability.py): JSON log lines (console = readable, for developers) and
    # Prometheus metrics. The worker serves its metrics on worker_metrics_port and the Temporal SDK's
    # on temporal_metrics_port (0 turns either off), both on metrics_host; the web app on /metrics,
    # which needs "Authorization: Bearer <metrics_token>" when a token is set and, outside dev and
    # test, answers 404 without one.
    log_format: Literal["json", "console"] = "json"
    log_level: str = "INFO"
    metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    temporal_metrics_port: int = 9465
    metrics_token: str = ""

    @model_validator(mode="after")
    def _check(self) -> "Settings":
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'caseline.db'}"
        if self.document_store == "s3" and not self.s3_bucket:
            raise ValueError("CASELINE_DOCUMENT_STORE=s3 needs CASELINE_S3_BUCKET")
        if self.env in ("staging", "production") and (self.secret_key == DEV_SECRET or len(self.secret_key) < 32):
            raise ValueError("CASELINE_SECRET_KEY must be set to a random value of 32+ characters outside dev")
        parse_keys(self.payload_keys)  # a malformed key setting stops the start, with what is wrong
        if self.env in ("staging", "production") and DEV_PAYLOAD_KEYS.split(":", 1)[1] in self.payload_keys:
            raise ValueError("CASELINE_PAYLOAD_KEYS must hold keys of your own outside dev (caseline new-payload-key)")
        return self

    @property
    def is_dev(self) -> bool:
        return self.env in ("dev", "test")

    @property
    def secure_cookies(self) -> bool:
        return self.env in ("staging", "production")

    @property
    def mail_dir(self) -> Path:
        """Where the development SMTP sink keeps what it receives (a Maildir)."""
        return self.data_dir / "mailbox"

    @property
    def documents_dir(self) -> Path:
        """Where uploaded evidence and notices are kept (``models.documents.LocalDocumentStore``)."""
        return self.data_dir / "documents"


@lru_cache
def get_settings() -> Settings:
    return Settings()
