"""Record CaseWorkflow histories for the replay test.

    .venv/bin/python -m tests.workflows.record_histories

Runs each path on the time-skipping test server with fake activities and writes its history to
tests/workflows/histories/<path>.json. Re-record only on purpose: the committed histories are
what today's code must still replay (a change to running logic goes behind workflow.patched()).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

import devserver
from tests.conftest import register_search_attributes
from tests.workflows.test_case_workflow import FakeActivities, officer, running_case, waiting_in
from workflows.case import CaseWorkflow
from workflows.client import DATA_CONVERTER
from workflows.types import ClaimInput, DecideInput, RecordBiometricsInput

HISTORIES = Path(__file__).parent / "histories"


async def approve_after_biometrics(env) -> str:
    fakes = FakeActivities()
    async with running_case(env, fakes, category="c8") as handle:
        await waiting_in(handle, fakes, "biometrics")
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), id="bio-1")
        await handle.execute_update(CaseWorkflow.record_biometrics, officer(RecordBiometricsInput), id="bio-1")
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput), id="claim-1")
        await handle.execute_update(CaseWorkflow.decide, officer(DecideInput, decision="approve", reason="Eligible."))
        await handle.result()
        return (await handle.fetch_history()).to_json()


async def deny_without_biometrics_after_overdue(env) -> str:
    from datetime import timedelta

    fakes = FakeActivities()
    async with running_case(env, fakes, category="c3C") as handle:
        await waiting_in(handle, fakes, "review")
        await env.sleep(timedelta(days=91))  # past the review target: flagged overdue
        await handle.execute_update(CaseWorkflow.claim, officer(ClaimInput), id="claim-1")
        await handle.execute_update(CaseWorkflow.decide, officer(DecideInput, decision="deny", reason="Not eligible."))
        await handle.result()
        return (await handle.fetch_history()).to_json()


PATHS = {
    "approve_after_biometrics": approve_after_biometrics,
    "deny_without_biometrics_after_overdue": deny_without_biometrics_after_overdue,
}


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=devserver.test_server_path(), data_converter=DATA_CONVERTER
    )
    await register_search_attributes(env.client)
    try:
        HISTORIES.mkdir(exist_ok=True)
        for name, path in PATHS.items():
            (HISTORIES / f"{name}.json").write_text(await path(env))
            print(f"recorded {name}")
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
