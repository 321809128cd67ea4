"""Recorded histories of every path replay against today's CaseWorkflow without nondeterminism.

The histories are written by the path tests themselves (``harness.keep_history``). To record them
again, on purpose only (a change to running logic goes behind ``workflow.patched()``):

    CASELINE_RECORD_HISTORIES=1 .venv/bin/pytest tests/workflows/test_paths.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from workflows.case import CaseWorkflow
from workflows.client import DATA_CONVERTER

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))

# One history per path of tests/workflows/test_paths.py.
PATHS = {
    "action_waits_for_transition", "biometrics_no_show_then_taken", "biometrics_no_show_twice",
    "biometrics_rescheduled", "blocked_booking_retried", "blocked_fulfilment_retried", "blocked_no_capacity",
    "continued_as_new_final_run", "denied_with_reason", "expedite_granted", "expedite_refused",
    "hold_and_resume", "i130_approved_in_the_us", "i130_interview_on_request", "i130_sent_to_dos",
    "i589_approved", "i589_interview_no_show_twice", "i765_biometrics_to_card_mailed",
    "i765_without_biometrics", "mail_always_fails", "n400_failed_twice_denied", "n400_interview_retest_passed",
    "n400_oath_taken", "overdue_review_decided", "repeated_update_id", "rfe_answered", "rfe_due_dates_refused",
    "rfe_expired_denied", "rfe_extended",
    # recorded after the RFE reminder (workflow.patched("rfe-reminder")); the two above are from before it
    "rfe_expired_denied_after_a_reminder", "rfe_extended_with_a_reminder", "search_attributes", "transferred", "withdrawal_refused",
    "withdrawn_in_biometrics", "withdrawn_in_review", "withdrawn_with_rfe_open",
}
def test_there_are_recorded_histories():
    # A refused update leaves no trace in a history, so the refusal table keeps none of its own.
    assert {p.stem for p in HISTORIES} >= PATHS


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_history_replays(path: Path):
    history = WorkflowHistory.from_json(path.stem, json.loads(path.read_text()))
    replayer = Replayer(workflows=[CaseWorkflow], data_converter=DATA_CONVERTER)
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
