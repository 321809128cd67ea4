"""Applying Alembic migrations from code (the `caseline migrate` command and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from i18n import ROOT


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(ROOT / "migrations"))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
