"""Benchmark of the officers' queue queries with 100,000 open tasks, on SQLite and PostgreSQL.

Run it with ``.venv/bin/python benchmarks/queues.py``. It builds a fresh SQLite file and a fresh
PostgreSQL database (created and dropped here, on CASELINE_BENCH_POSTGRES_URL, by default
postgresql://postgres@127.0.0.1:5432/postgres), migrates both, seeds them with bulk inserts, then
times side by side: the first page against a deep page (page 2000), filtered pages, the counts and
the "next case" candidates. It prints medians, ratios and the query plans.

Each database is seeded once and copied: one copy keeps the human_task indexes the migrations create
("migrated"), the other gets the ones ``models.tables.HumanTask`` declares ("model"), so an index
change shows its effect before anyone writes its migration. The copies are timed turn about, query
by query, so a busy machine slows both alike. Figures only: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from models.db import get_engine, normalize_url  # noqa: E402
from models.migrate import upgrade  # noqa: E402
from models.queries import QueueFilter, next_task_candidates, queue_counts, queue_page  # noqa: E402
from models.tables import Case, Filing, HumanTask, User  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get("CASELINE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
OFFICES = (("IOE", 35), ("NBC", 25), ("NYC", 10), ("ATL", 10), ("CHI", 10), ("LOS", 10))
FORMS = (("I-765", 40), ("I-130", 25), ("N-400", 25), ("I-589", 10))
KINDS = (("review", 60), ("biometrics", 20), ("interview", 12), ("oath", 5), ("expedite", 1.5), ("blocked", 1.5))
STAGE_OF = {"review": "review", "biometrics": "biometrics", "interview": "interview", "oath": "post_decision",
            "expedite": "review", "blocked": "blocked"}
OFFICERS = 50
APPLICANTS = 2_000
VARIANTS = ("migrated", "model")


# --- seeding ----------------------------------------------------------------------------------


def _pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], weights=[w for _, w in weighted])[0]


def build_rows(open_tasks: int, done_tasks: int, seed: int = 2027) -> dict[str, list[dict[str, Any]]]:
    """Deterministic rows: users, filings, cases, open tasks (one per case) and older done tasks."""
    rng = random.Random(seed)
    users = [
        {"id": i, "email": f"officer{i}@bench.example", "full_name": f"Officer {i}", "role": "officer",
         "language": "en", "password_hash": "x", "created_at": NOW, "mailing_address": {}}
        for i in range(1, OFFICERS + 1)
    ] + [
        {"id": i, "email": f"applicant{i}@bench.example", "full_name": f"Applicant {i}", "role": "applicant",
         "language": "en", "password_hash": "x", "created_at": NOW, "mailing_address": {}}
        for i in range(OFFICERS + 1, OFFICERS + APPLICANTS + 1)
    ]
    tasks: list[dict[str, Any]] = []
    filings, cases = [], []
    for n in range(open_tasks):
        office, form, kind = _pick(rng, OFFICES), _pick(rng, FORMS), _pick(rng, KINDS)
        receipt = f"{office}{2700000000 + n}"
        applicant = rng.randrange(OFFICERS + 1, OFFICERS + APPLICANTS + 1)
        opened = NOW - timedelta(days=rng.uniform(0, 400))
        overdue = rng.random() < 0.10
        due = opened + timedelta(days=rng.uniform(30, 180))
        if overdue:
            due = NOW - timedelta(days=rng.uniform(0.1, 60))
        elif due <= NOW:
            due = NOW + timedelta(days=rng.uniform(0.1, 120))
        expedited = rng.random() < 0.02
        assigned = rng.randrange(1, OFFICERS + 1) if rng.random() < 0.30 else None
        filed = opened - timedelta(days=rng.uniform(1, 60))
        filings.append({"receipt_number": receipt, "form_type": form, "applicant_id": applicant, "office": office,
                        "answers": {}, "filed_at": filed, "workflow_started": True})
        cases.append({"receipt_number": receipt, "form_type": form, "office": office, "stage": STAGE_OF[kind],
                      "status_code": "case_received", "status_changed_at": opened, "stage_entered_at": opened,
                      "decision": None, "overdue": overdue, "expedited": expedited, "applicant_id": applicant,
                      "assigned_officer_id": assigned, "due_at": due, "last_seq": 3, "filed_at": filed,
                      "updated_at": opened})
        tasks.append({"task_key": f"{receipt}:{kind}:3", "receipt_number": receipt, "kind": kind,
                      "expedited": expedited, "overdue": overdue, "form_type": form, "office": office,
                      "status": "open", "assigned_officer_id": assigned, "opened_at": opened, "due_at": due,
                      "closed_at": None})
    for n in range(min(done_tasks, open_tasks)):  # earlier steps of the same cases, finished
        case = cases[n]
        opened = case["filed_at"] + timedelta(days=1)
        tasks.append({"task_key": f"{case['receipt_number']}:biometrics:1", "receipt_number": case["receipt_number"],
                      "kind": "biometrics", "expedited": False, "overdue": False, "form_type": case["form_type"],
                      "office": case["office"], "status": "done", "assigned_officer_id": rng.randrange(1, OFFICERS + 1),
                      "opened_at": opened, "due_at": opened + timedelta(days=30),
                      "closed_at": case["stage_entered_at"]})
    tasks.sort(key=lambda t: t["opened_at"])  # ids grow with time, as they do when activities write them
    for i, task in enumerate(tasks, start=1):
        task["id"] = i
    return {"users": users, "filings": filings, "cases": cases, "tasks": tasks}


def seed(engine: Engine, rows: dict[str, list[dict[str, Any]]]) -> None:
    tables = ((User, "users"), (Filing, "filings"), (Case, "cases"), (HumanTask, "tasks"))
    with engine.begin() as conn:
        for model, key in tables:
            table = model.__table__  # type: ignore[attr-defined]
            data = rows[key]
            for start in range(0, len(data), 10_000):
                conn.execute(table.insert(), data[start:start + 10_000])
        if engine.dialect.name == "postgresql":  # explicit ids: move the sequences past them
            for model in (User, HumanTask):
                table = model.__table__  # type: ignore[attr-defined]
                conn.execute(sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), (SELECT max(id) FROM {table.name}))"
                ))


def analyze(engine: Engine) -> None:
    """The steady state after a bulk load. PostgreSQL: what autovacuum does (statistics, visibility map
    for index-only scans). SQLite: a WAL checkpoint, no ANALYZE (the app never runs it)."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


# --- indexes ------------------------------------------------------------------------------------


def index_columns(engine: Engine) -> dict[str, tuple[str, ...]]:
    """human_task's plain indexes (the unique one behind task_key is a constraint: left alone)."""
    return {
        ix["name"]: tuple(ix["column_names"])
        for ix in sa.inspect(engine).get_indexes("human_task")
        if not ix.get("unique") and not ix.get("duplicates_constraint")
    }


def use_indexes(engine: Engine, wanted: dict[str, tuple[str, ...]]) -> None:
    """Make human_task's indexes exactly ``wanted`` (name -> columns), as a migration would."""
    have = index_columns(engine)
    with engine.begin() as conn:
        for name, columns in have.items():
            if wanted.get(name) != columns:
                conn.execute(sa.text(f'DROP INDEX "{name}"'))
        for name, columns in wanted.items():
            if have.get(name) != columns:
                cols = ", ".join(f'"{c}"' for c in columns)
                conn.execute(sa.text(f'CREATE INDEX "{name}" ON human_task ({cols})'))
    analyze(engine)


def model_indexes() -> dict[str, tuple[str, ...]]:
    table = HumanTask.__table__  # type: ignore[attr-defined]
    return {ix.name: tuple(c.name for c in ix.columns) for ix in table.indexes}


# --- measuring ------------------------------------------------------------------------------------


Scenario = tuple[str, Callable[[Session], Any]]


def scenarios(officer_id: int) -> list[Scenario]:
    def page(**kw: Any) -> Callable[[Session], Any]:
        number = kw.pop("page", 1)
        return lambda db: queue_page(db, filter=QueueFilter(kind="review", **kw), officer_id=officer_id, now=NOW,
                                     page=number)

    return [
        ("first page, by age", page()),
        ("page 2000, by age", page(page=2000)),
        ("first page, by due date", page(sort="due")),
        ("page 2000, by due date", page(sort="due", page=2000)),
        ("office NYC, first page", page(office="NYC")),
        ("office NYC, page 200", page(office="NYC", page=200)),
        ("filtered: NYC, I-765, unassigned, due in 30 d, by due", page(
            office="NYC", form_type="I-765", assignment="unassigned", due_within_days=30, sort="due")),
        ("filtered: mine, by age", page(assignment="mine")),
        ("filtered: overdue only, by due", page(overdue_only=True, sort="due")),
        ("filtered: expedited only, by age", page(expedited_only=True)),
        ("counts, all offices", lambda db: queue_counts(db, officer_id=officer_id)),
        ("counts, office NYC", lambda db: queue_counts(db, office="NYC", officer_id=officer_id)),
        ("counts, review queue only", lambda db: queue_counts(db, officer_id=officer_id, kind="review")),
        ("next candidates", lambda db: next_task_candidates(db, kind="review", officer_id=officer_id)),
        ("next candidates, office NYC", lambda db: next_task_candidates(
            db, kind="review", officer_id=officer_id, office="NYC")),
    ]


RATIOS = (
    ("page 2000 / first page (age)", "page 2000, by age", "first page, by age"),
    ("page 2000 / first page (due)", "page 2000, by due date", "first page, by due date"),
    ("NYC page 200 / NYC first page", "office NYC, page 200", "office NYC, first page"),
    ("filtered page / first page", "filtered: NYC, I-765, unassigned, due in 30 d, by due", "first page, by age"),
    ("counts / first page", "counts, all offices", "first page, by age"),
    ("next candidates / first page", "next candidates", "first page, by age"),
)
PLANS = ("first page, by age", "page 2000, by age", "page 2000, by due date", "office NYC, page 200",
         "filtered: NYC, I-765, unassigned, due in 30 d, by due", "counts, all offices", "next candidates, office NYC")


def time_side_by_side(engines: dict[str, Engine], fn: Callable[[Session], Any], repeat: int) -> dict[str, float]:
    """Median milliseconds per engine of ``repeat`` runs, after a warm-up run. The engines take turns
    (in alternating order), so a busy machine slows them alike and the ratios between them hold."""
    samples: dict[str, list[float]] = {name: [] for name in engines}
    sessions = {name: Session(engine) for name, engine in engines.items()}
    try:
        for db in sessions.values():
            fn(db)
        order = list(sessions)
        for turn in range(repeat):
            for name in order if turn % 2 == 0 else reversed(order):
                db = sessions[name]
                db.expunge_all()
                started = time.perf_counter()
                fn(db)
                samples[name].append(time.perf_counter() - started)
    finally:
        for db in sessions.values():
            db.close()
    return {name: statistics.median(values) * 1000 for name, values in samples.items()}


def statements_of(engine: Engine, fn: Callable[[Session], Any]) -> list[tuple[str, Any]]:
    captured: list[tuple[str, Any]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
        captured.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as db:
            fn(db)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return captured


def explain(engine: Engine, statement: str, parameters: Any) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters).all()
            depth: dict[int, int] = {0: 0}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * depth[node] + detail)
            return lines
        prefix = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) "
        return ["  " + row[0] for row in conn.exec_driver_sql(prefix + statement, parameters).all()]


def one_line(statement: str) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= 150 else text[:147] + "..."


# --- the run --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> None:
    print(f"Building rows: {args.tasks:,} open tasks (+ {args.done:,} done), {OFFICERS} officers, "
          f"{APPLICANTS:,} applicants ...", flush=True)
    rows = build_rows(args.tasks, args.done)
    per_kind: dict[str, int] = {}
    for task in rows["tasks"]:
        if task["status"] == "open":
            per_kind[task["kind"]] = per_kind.get(task["kind"], 0) + 1
    print("Open tasks per queue: " + ", ".join(f"{k} {n:,}" for k, n in sorted(per_kind.items(), key=lambda x: -x[1])))

    workdir = tempfile.TemporaryDirectory(prefix="caseline-bench-")
    suffix = uuid.uuid4().hex[:10]
    backends = [("SQLite", {v: f"sqlite:///{Path(workdir.name) / f'bench_{v}.db'}" for v in VARIANTS})]
    admin = None
    if not args.no_postgres:
        admin = get_engine(normalize_url(POSTGRES_ADMIN_URL)).execution_options(isolation_level="AUTOCOMMIT")
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        backends.append(("PostgreSQL", {v: f"{base}/caseline_bench_{suffix}_{v}" for v in VARIANTS}))

    results: dict[tuple[str, str], dict[str, float]] = {}
    plans: dict[str, list[str]] = {}
    index_sets: dict[str, dict[str, tuple[str, ...]]] = {}
    created: list[str] = []
    try:
        for label, urls in backends:
            first_url = normalize_url(urls["migrated"])
            if label == "PostgreSQL":
                with admin.connect() as conn:  # type: ignore[union-attr]
                    conn.execute(sa.text(f'CREATE DATABASE "{first_url.rsplit("/", 1)[1]}"'))
                created.append(first_url.rsplit("/", 1)[1])
            upgrade(first_url)
            engine = get_engine(first_url)
            started = time.perf_counter()
            seed(engine, rows)
            analyze(engine)
            print(f"{label}: seeded in {time.perf_counter() - started:.1f} s", flush=True)
            index_sets.setdefault("migrated", index_columns(engine))
            index_sets.setdefault("model", model_indexes())
            variants = list(VARIANTS) if index_sets["migrated"] != index_sets["model"] else ["model"]
            engines = {variants[0]: engine}
            if len(variants) == 2:  # the same rows, copied, with the model's indexes
                engine.dispose()
                copy_url = normalize_url(urls["model"])
                if label == "PostgreSQL":
                    copy_name, source_name = copy_url.rsplit("/", 1)[1], first_url.rsplit("/", 1)[1]
                    with admin.connect() as conn:  # type: ignore[union-attr]
                        conn.execute(sa.text(f'CREATE DATABASE "{copy_name}" TEMPLATE "{source_name}"'))
                    created.append(copy_name)
                else:
                    shutil.copyfile(first_url.split("///", 1)[1], copy_url.split("///", 1)[1])
                engines["model"] = get_engine(copy_url)
                use_indexes(engines["migrated"], index_sets["migrated"])
            use_indexes(engines["model"], index_sets["model"])
            for name, fn in scenarios(officer_id=7):
                for variant, ms in time_side_by_side(engines, fn, args.repeat).items():
                    results.setdefault((label, variant), {})[name] = ms
            print(f"{label}: timed with the {' and the '.join(variants)} indexes, side by side", flush=True)
            lines = []
            for name in PLANS:
                fn = dict(scenarios(officer_id=7))[name]
                lines.append(f"-- {name}")
                for statement, parameters in statements_of(engines["model"], fn):
                    lines.append("   " + one_line(statement))
                    lines.extend("   " + line for line in explain(engines["model"], statement, parameters))
            plans[label] = lines
            for each in engines.values():
                each.dispose()
    finally:
        if admin is not None:
            with admin.connect() as conn:
                for name in created:
                    conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        workdir.cleanup()

    print()
    print("human_task indexes")
    for variant, indexes in index_sets.items():
        print(f"  {variant}:")
        for name, cols in sorted(indexes.items()):
            print(f"    {name} ({', '.join(cols)})")
    print()
    columns = list(results)
    names = [name for name, _ in scenarios(officer_id=7)]
    header = f"{'median ms of ' + str(args.repeat) + ' runs':<56}" + "".join(f"{f'{b} {v}':>22}" for b, v in columns)
    print(header)
    print("-" * len(header))
    for name in names:
        print(f"{name:<56}" + "".join(f"{results[c][name]:>22.2f}" for c in columns))
    print()
    print("Ratios (model indexes)")
    model_columns = [c for c in columns if c[1] == "model"]
    print(f"{'':<40}" + "".join(f"{b:>14}" for b, _ in model_columns))
    for label, numerator, denominator in RATIOS:
        print(f"{label:<40}" + "".join(f"{results[c][numerator] / results[c][denominator]:>14.2f}"
                                      for c in model_columns))
    if len(columns) > len(model_columns):
        print()
        print("Speed-up of the model indexes over the migrated ones (migrated ms / model ms)")
        print(f"{'':<56}" + "".join(f"{b:>14}" for b, _ in model_columns))
        for name in names:
            print(f"{name:<56}" + "".join(
                f"{results[(b, 'migrated')][name] / results[(b, 'model')][name]:>14.2f}" for b, _ in model_columns))
    for label, lines in plans.items():
        print()
        print(f"Query plans on {label} (model indexes)")
        print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100_000, help="open tasks to seed")
    parser.add_argument("--done", type=int, default=50_000, help="finished tasks to seed beside them")
    parser.add_argument("--repeat", type=int, default=15, help="timed runs per query (the median is shown)")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
