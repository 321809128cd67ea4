"""The officers' and supervisors' case workspace, with a fake Temporal client: which actions each
person is offered in each stage, and that each action sends the right Workflow Update (or none)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from models.db import session_scope
from models.domain import Stage
from models.tables import AuditEvent, Case, CaseNote
from tests.helpers import file_i765, make_user
from tests.web.conftest import csrf_from, sign_in
from tests.web.fake_temporal import (
    ACCOUNTS,
    make_appointment,
    make_case,
    make_evidence_request,
    page,
)
from workflows.case import CaseWorkflow
from workflows.types import (
    ClaimInput,
    DecideInput,
    ExpediteDecisionInput,
    ExtendEvidenceInput,
    HoldInput,
    ReassignInput,
    RecordBiometricsInput,
    RecordInterviewInput,
    RecordOathInput,
    ReleaseInput,
    RequestEvidenceInput,
    ResumeInput,
    RetryInput,
    TransferInput,
)

APPLICANT, OFFICER, SUPERVISOR = ACCOUNTS["applicant"], ACCOUNTS["officer"], ACCOUNTS["supervisor"]
ACTION_RE = re.compile(r'action="/officer/cases/[A-Z0-9]{13}/([a-z-]+)"')
ACTION_ID_RE = re.compile(r'name="action_id" value="([0-9a-f-]{36})"')
EASTERN = ZoneInfo("America/New_York")


def actions_on(html: str) -> set[str]:
    return set(ACTION_RE.findall(html))


def action_id_on(html: str) -> str:
    match = ACTION_ID_RE.search(html)
    assert match, "no action id on the page"
    return match.group(1)


def new_case(settings, ids, stage: Stage, *, assigned: str | None = None, appointment: str | None = None,
             rfe: bool = False, form: str = "I-765", **fields) -> str:
    with session_scope(settings.database_url) as db:
        case = make_case(db, applicant_id=ids["applicant"], stage=stage, form=form,
                         assigned_officer_id=ids[assigned] if assigned else None, **fields)
        if appointment:
            make_appointment(db, case.receipt_number, kind=appointment, office="ACH" if appointment == "biometrics" else "CHI")
        if rfe:
            make_evidence_request(db, case.receipt_number, officer_id=ids["officer"], items=["photos", "other"],
                                  instructions="A clearer copy of the photo page.")
        return case.receipt_number


def as_officer(client) -> None:
    sign_in(client, OFFICER.email, OFFICER.password)


def as_supervisor(client) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)


def sign_out(client, receipt: str) -> None:
    client.post("/sign-out", data={"csrf_token": csrf_from(client.get(f"/officer/cases/{receipt}").text)})


def post_action(client, receipt: str, action: str, data: dict | None = None, *, action_id: str | None = None):
    workspace = page(client.get(f"/officer/cases/{receipt}"))
    form = {"csrf_token": csrf_from(workspace.text), "action_id": action_id or action_id_on(workspace.text), **(data or {})}
    return client.post(f"/officer/cases/{receipt}/{action}", data=form)


def in_days(days: int) -> str:
    return (datetime.now(EASTERN).date() + timedelta(days=days)).isoformat()


def end_of_day_eastern(day: str) -> datetime:
    """23:59 in New York on ``day``, written out without zoneinfo: 03:59 or 04:59 UTC the next day."""
    following = date.fromisoformat(day) + timedelta(days=1)
    for hour in (3, 4):  # EDT is UTC-4, EST is UTC-5
        candidate = datetime(following.year, following.month, following.day, hour, 59, tzinfo=UTC)
        if candidate.astimezone(EASTERN).hour == 23:
            return candidate
    raise AssertionError(day)


# --- who is offered what, stage by stage -----------------------------------------------------

SUPERVISING = {"hold", "transfer", "reassign"}
SCENARIOS = {
    # name: (case set-up, the officer's forms, the supervisor's forms)
    "biometrics": (dict(stage=Stage.BIOMETRICS, appointment="biometrics"),
                   {"biometrics", "claim"}, {"biometrics", "claim"} | SUPERVISING),
    "review, unassigned": (dict(stage=Stage.REVIEW), {"claim"}, {"claim"} | SUPERVISING),
    "review, the officer's": (dict(stage=Stage.REVIEW, assigned="officer"),
                              {"decide", "request-evidence", "release"}, SUPERVISING),
    "review, the supervisor's": (dict(stage=Stage.REVIEW, assigned="supervisor"),
                                 set(), {"decide", "request-evidence", "release"} | SUPERVISING),
    "review, expedite requested": (dict(stage=Stage.REVIEW, expedite_status="requested"),
                                   {"claim"}, {"claim", "expedite"} | SUPERVISING),
    "evidence requested": (dict(stage=Stage.EVIDENCE_REQUESTED, assigned="officer", rfe=True),
                           {"extend-evidence", "release"}, {"extend-evidence"} | SUPERVISING),
    "interview": (dict(stage=Stage.INTERVIEW, form="N-400", appointment="interview"),
                  {"interview", "claim"}, {"interview", "claim"} | SUPERVISING),
    "oath": (dict(stage=Stage.POST_DECISION, form="N-400", appointment="oath", decision="approve"),
             {"oath"}, {"oath", "reassign"}),
    "on hold": (dict(stage=Stage.ON_HOLD, held_from_stage="review"), set(), {"resume", "transfer", "reassign"}),
    "blocked": (dict(stage=Stage.BLOCKED, blocked_activity="book_appointment", blocked_error="no capacity at ACH"),
                set(), {"retry", "transfer", "reassign"}),
    "closed": (dict(stage=Stage.CLOSED, decision="approve", decision_reason_code="eligible"), set(), set()),
}


@pytest.mark.parametrize("role", ["officer", "supervisor"])
def test_workspace_offers_the_actions_of_each_stage(client, settings, ids, temporal, role):
    receipts = {name: new_case(settings, ids, **setup) for name, (setup, _, _) in SCENARIOS.items()}
    sign_in(client, ACCOUNTS[role].email, ACCOUNTS[role].password)
    for name, (setup, officer_forms, supervisor_forms) in SCENARIOS.items():
        receipt = receipts[name]
        html = page(client.get(f"/officer/cases/{receipt}")).text
        assert f"Case {receipt}" in html, name
        if role == "officer":
            assert actions_on(html) == officer_forms | {"notes"}, name
            assert "Supervisor actions" not in html, name
            if not officer_forms:
                someone_else = setup.get("assigned") == "supervisor"
                assert ("Another officer is working on this case." in html) == someone_else, name
                assert ("Nothing is waiting for an officer on this case." in html) == (not someone_else), name
        else:
            assert actions_on(html) == supervisor_forms | {"notes"}, name
            assert ("Supervisor actions" in html) == (setup["stage"] != Stage.CLOSED), name
    assert temporal.calls == []


def test_workspace_shows_the_case_file(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.EVIDENCE_REQUESTED, assigned="officer", rfe=True)
    with session_scope(settings.database_url) as db:
        make_appointment(db, receipt, kind="biometrics", office="ACH", status="attended",
                         starts_at=datetime(2026, 10, 20, 14, 0, tzinfo=UTC))
        just_filed = file_i765(db, applicant_id=ids["applicant"], office="IOE").receipt_number  # no case row yet
    as_officer(client)
    html = page(client.get(f"/officer/cases/{receipt}")).text
    assert "Olivia Chen" in html  # assigned to
    assert "Requests for evidence" in html and "Waiting for the response" in html
    assert "Two passport-style photos" in html and "A clearer copy of the photo page." in html
    assert "attended" in html and "Rivera" in html  # the appointments, the application's answers
    assert "Evidence requested" in html
    html = page(client.get(f"/officer/cases/{just_filed}")).text
    assert "The case is being set up." in html and actions_on(html) == {"notes"}


def test_blocked_case_shows_what_failed(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.BLOCKED, blocked_activity="book_appointment",
                       blocked_error="no capacity at ACH")
    as_supervisor(client)
    html = page(client.get(f"/officer/cases/{receipt}")).text
    assert "book_appointment" in html and "no capacity at ACH" in html
    assert "Retry the blocked step" in html


def test_n400_review_offers_its_own_evidence_and_no_interview_request(client, settings, ids, temporal):
    with session_scope(settings.database_url) as db:
        receipt = make_case(db, applicant_id=ids["applicant"], stage=Stage.REVIEW, form="N-400",
                            assigned_officer_id=ids["officer"]).receipt_number
    as_officer(client)
    html = page(client.get(f"/officer/cases/{receipt}")).text
    assert "schedule-interview" not in actions_on(html)  # an N-400 interview is always held, not asked for
    assert "Copy of your permanent resident card" in html  # the N-400's own evidence list


def test_applicants_cannot_open_the_workspace(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    anonymous = client.get(f"/officer/cases/{receipt}")
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/sign-in")
    sign_in(client, APPLICANT.email, APPLICANT.password)
    own = client.get(f"/officer/cases/{receipt}")  # even for the applicant's own case
    assert own.status_code == 403 and "Traceback" not in own.text
    token = csrf_from(client.get(f"/cases/{receipt}").text)
    refused = client.post(f"/officer/cases/{receipt}/decide",
                          data={"csrf_token": token, "decision": "approve", "reason_code": "eligible", "reason": "ok"})
    assert refused.status_code == 403
    assert client.post(f"/officer/cases/{receipt}/notes", data={"csrf_token": token, "note": "hi"}).status_code == 403
    assert temporal.calls == []


def test_another_applicants_case_is_a_404(client, settings, ids, temporal):
    with session_scope(settings.database_url) as db:
        other = make_user(db, "someone else")
        receipt = make_case(db, applicant_id=other.id, stage=Stage.REVIEW).receipt_number
    sign_in(client, APPLICANT.email, APPLICANT.password)
    response = client.get(f"/cases/{receipt}")
    assert response.status_code == 404 and "Page not found" in response.text


def test_unknown_or_malformed_case_is_a_404_in_the_workspace(client, settings, ids, temporal):
    as_officer(client)
    assert page(client.get("/officer/cases/IOE9999999999"), 404)
    assert page(client.get("/officer/cases/not-a-receipt"), 404)
    receipt = new_case(settings, ids, Stage.REVIEW)
    token = csrf_from(client.get(f"/officer/cases/{receipt}").text)
    assert client.post("/officer/cases/IOE9999999999/claim", data={"csrf_token": token}).status_code == 404
    assert temporal.calls == []


# --- each action sends its update -------------------------------------------------------------


def test_decide_sends_the_decision_with_the_forms_action_id(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    action_id = action_id_on(workspace)
    response = client.post(f"/officer/cases/{receipt}/decide", data={
        "csrf_token": csrf_from(workspace), "action_id": action_id, "decision": "deny",
        "reason_code": "insufficient_evidence", "reason": "  The photos do not show the applicant.  ",
    })
    assert response.status_code == 303
    assert response.headers["location"] == f"/officer/cases/{receipt}?done=decide"
    call = temporal.only()
    assert (call.receipt_number, call.name, call.id) == (receipt, "decide", f"decide:{action_id}")
    assert call.arg == DecideInput(actor_id=ids["officer"], actor_role="officer", decision="deny",
                                   reason="The photos do not show the applicant.", reason_code="insufficient_evidence")
    done = page(client.get(response.headers["location"])).text
    assert "The action was recorded." in done


def test_a_double_click_sends_the_same_update_id(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_officer(client)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    form = {"csrf_token": csrf_from(workspace), "action_id": action_id_on(workspace)}
    assert client.post(f"/officer/cases/{receipt}/claim", data=form).status_code == 303
    assert client.post(f"/officer/cases/{receipt}/claim", data=form).status_code == 303
    first, second = temporal.calls
    assert first.id == second.id == f"claim:{form['action_id']}"


def test_a_malformed_action_id_is_replaced(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_officer(client)
    response = post_action(client, receipt, "claim", action_id="../../x")
    assert response.status_code == 303
    update_id = temporal.only().id
    assert re.fullmatch(r"claim:[0-9a-f-]{36}", update_id), update_id


def test_decide_with_missing_fields_sends_nothing(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    response = page(post_action(client, receipt, "decide", {"decision": "", "reason_code": "", "reason": " "}), 422)
    html = response.text
    assert "There is a problem" in html and "<title>Error:" in html
    assert "Choose to approve or deny the case." in html and "Give the reason for the decision." in html
    assert 'href="#decision"' in html and 'href="#reason"' in html
    assert temporal.calls == []


def test_decide_needs_a_reason_code_of_the_decision(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    response = page(post_action(client, receipt, "decide",
                                {"decision": "approve", "reason_code": "misrepresentation", "reason": "Eligible."}), 422)
    assert "Choose the reason for the decision." in response.text
    assert "Eligible." in response.text  # what was typed is kept
    assert temporal.calls == []


def test_request_evidence_sends_the_items_and_the_end_of_the_due_day(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    due = in_days(30)
    response = post_action(client, receipt, "request-evidence", {
        "items": ["photos", "no_such_item", "other", "photos"], "instructions": "Your birth certificate.",
        "due_date": due,
    })
    assert response.status_code == 303 and response.headers["location"].endswith("?done=request-evidence")
    call = temporal.only()
    assert call.name == "request_evidence" and call.id.startswith("request-evidence:")
    assert call.arg == RequestEvidenceInput(actor_id=ids["officer"], actor_role="officer", items=["photos", "other"],
                                            instructions="Your birth certificate.", due_at=end_of_day_eastern(due))


def test_request_evidence_with_the_forms_default_due_date(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    default = re.search(r'name="due_date" value="(\d{4}-\d{2}-\d{2})"', workspace).group(1)
    assert default == in_days(87) or default == in_days(86)  # 87 days from now, as a New York date
    response = client.post(f"/officer/cases/{receipt}/request-evidence", data={
        "csrf_token": csrf_from(workspace), "action_id": action_id_on(workspace), "items": "photos", "due_date": default,
    })
    assert response.status_code == 303
    assert temporal.only().arg.due_at == end_of_day_eastern(default)


BAD_EVIDENCE_REQUESTS = [
    # form (due dates as days from today), the field in error, its message
    ({"items": ["nonsense"], "due_date": 30}, "items", "Choose at least one item of evidence to request."),
    ({"items": ["other"], "instructions": " "}, "instructions", "Describe the other evidence you need."),
    ({"items": ["photos"], "instructions": "x" * 2001}, "instructions", "The text must be 2,000 characters or fewer."),
    ({"items": ["photos"], "due_date": "2020-01-01"}, "due_date", "The due date must be in the future."),
    ({"items": ["photos"], "due_date": -1}, "due_date", "The due date must be in the future."),
    ({"items": ["photos"], "due_date": "tomorrow"}, "due_date", "Enter a real date, like 2027-03-31."),
    ({"items": ["photos"], "due_date": 400}, "due_date", "The due date must be within a year."),
]


def test_request_evidence_refuses_a_bad_form(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    for data, field, message in BAD_EVIDENCE_REQUESTS:
        if isinstance(data.get("due_date"), int):
            data = {**data, "due_date": in_days(data["due_date"])}
        response = page(post_action(client, receipt, "request-evidence", data), 422)
        assert "There is a problem" in response.text and message in response.text, data
        assert f'href="#{field}"' in response.text and f'id="{field}-error"' in response.text, data
    assert temporal.calls == []


# One date for the form and the expected update: the list is built when the module is collected, and a
# run that crosses midnight in New York must not compare two different days.
EXTENDED_TO = in_days(100)

OFFICER_ACTIONS = [
    # action, case set-up, form, the update's name, its argument given who acts
    ("biometrics", dict(stage=Stage.BIOMETRICS, appointment="biometrics"), {"outcome": "no_show"},
     "record_biometrics", lambda who: RecordBiometricsInput(**who, outcome="no_show")),
    ("claim", dict(stage=Stage.REVIEW), {}, "claim", lambda who: ClaimInput(**who)),
    ("release", dict(stage=Stage.REVIEW, assigned="officer"), {}, "release", lambda who: ReleaseInput(**who)),
    ("interview", dict(stage=Stage.INTERVIEW, form="N-400", appointment="interview"), {"outcome": "failed"},
     "record_interview", lambda who: RecordInterviewInput(**who, outcome="failed")),
    ("oath", dict(stage=Stage.POST_DECISION, form="N-400", appointment="oath"), {"outcome": "taken"},
     "record_oath", lambda who: RecordOathInput(**who, outcome="taken")),
    ("extend-evidence", dict(stage=Stage.EVIDENCE_REQUESTED, assigned="officer", rfe=True), {"due_date": EXTENDED_TO},
     "extend_evidence_due_date", lambda who: ExtendEvidenceInput(**who, due_at=end_of_day_eastern(EXTENDED_TO))),
]


def test_each_officer_action_sends_its_update(client, settings, ids, temporal):
    receipts = [new_case(settings, ids, **setup) for _, setup, _, _, _ in OFFICER_ACTIONS]
    who = {"actor_id": ids["officer"], "actor_role": "officer"}
    as_officer(client)
    for receipt, (action, _, data, name, expected) in zip(receipts, OFFICER_ACTIONS, strict=True):
        temporal.calls.clear()
        response = post_action(client, receipt, action, data)
        assert response.status_code == 303, (action, response.text)
        assert response.headers["location"] == f"/officer/cases/{receipt}?done={action}"
        call = temporal.only()
        assert (call.receipt_number, call.name) == (receipt, name)
        assert call.id.startswith(f"{action}:")
        assert call.arg == expected(who), action


SUPERVISOR_ACTIONS = [
    ("hold", dict(stage=Stage.REVIEW), {"reason": "Security checks pending."}, "hold",
     lambda who, ids: HoldInput(**who, reason="Security checks pending.")),
    ("resume", dict(stage=Stage.ON_HOLD, held_from_stage="review"), {}, "resume", lambda who, ids: ResumeInput(**who)),
    ("transfer", dict(stage=Stage.REVIEW), {"office": "chi", "reason": "Closer to the applicant."}, "transfer",
     lambda who, ids: TransferInput(**who, office="CHI", reason="Closer to the applicant.")),
    ("reassign", dict(stage=Stage.REVIEW, assigned="supervisor"), {"officer_id": "OFFICER"}, "reassign",
     lambda who, ids: ReassignInput(**who, officer_id=ids["officer"])),
    ("expedite", dict(stage=Stage.REVIEW, expedite_status="requested"), {"grant": "yes", "reason": "Medical urgency."},
     "decide_expedite", lambda who, ids: ExpediteDecisionInput(**who, grant=True, reason="Medical urgency.")),
    ("retry", dict(stage=Stage.BLOCKED, blocked_activity="book_appointment"), {}, "retry",
     lambda who, ids: RetryInput(**who)),
    ("decide", dict(stage=Stage.REVIEW, assigned="supervisor"),
     {"decision": "approve", "reason_code": "eligible", "reason": "Eligible."}, "decide",
     lambda who, ids: DecideInput(**who, decision="approve", reason="Eligible.", reason_code="eligible")),
]


def test_each_supervisor_action_sends_its_update(client, settings, ids, temporal):
    receipts = [new_case(settings, ids, **setup) for _, setup, _, _, _ in SUPERVISOR_ACTIONS]
    who = {"actor_id": ids["supervisor"], "actor_role": "supervisor"}
    as_supervisor(client)
    for receipt, (action, _, data, name, expected) in zip(receipts, SUPERVISOR_ACTIONS, strict=True):
        temporal.calls.clear()
        data = {k: (str(ids["officer"]) if v == "OFFICER" else v) for k, v in data.items()}
        response = post_action(client, receipt, action, data)
        assert response.status_code == 303, (action, response.text)
        assert response.headers["location"] == f"/officer/cases/{receipt}?done={action}"
        call = temporal.only()
        assert (call.receipt_number, call.name) == (receipt, name)
        assert call.arg == expected(who, ids), action


def test_supervisor_actions_are_refused_to_an_officer(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, expedite_status="requested")
    as_officer(client)
    for action in ("hold", "resume", "transfer", "reassign", "expedite", "retry"):
        response = post_action(client, receipt, action,
                               {"reason": "x", "office": "CHI", "officer_id": str(ids["officer"]), "grant": "yes"})
        assert response.status_code == 403 and "Traceback" not in response.text, action
    assert temporal.calls == []


BAD_SUPERVISOR_FORMS = [
    ("hold", {"reason": ""}, "Give the reason for the hold."),
    ("transfer", {"office": "X1", "reason": "why"}, "Choose the office to transfer the case to."),
    ("transfer", {"office": "CHI", "reason": ""}, "Give the reason for the transfer."),
    ("transfer", {"office": "ZZZ", "reason": "why"}, "Choose the office to transfer the case to."),  # no such office
    ("transfer", {"office": "ACH", "reason": "why"}, "Choose the office to transfer the case to."),  # a support center
    ("reassign", {"officer_id": "someone"}, "Choose the officer to give the case to."),
    ("reassign", {"officer_id": "999999"}, "Choose the officer to give the case to."),  # no such person
    ("reassign", {"officer_id": "APPLICANT"}, "Choose the officer to give the case to."),  # not an officer
    ("expedite", {"grant": "maybe", "reason": "x"}, "Choose to grant or refuse the request."),
    ("expedite", {"grant": "no", "reason": "x" * 2001}, "The text must be 2,000 characters or fewer."),
]


def test_supervisor_forms_are_checked_before_sending(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, expedite_status="requested")
    as_supervisor(client)
    for action, data, message in BAD_SUPERVISOR_FORMS:
        data = {k: (str(ids["applicant"]) if v == "APPLICANT" else v) for k, v in data.items()}
        response = page(post_action(client, receipt, action, data), 422)
        assert "There is a problem" in response.text and message in response.text, (action, data)
    assert temporal.calls == []


BAD_OFFICER_FORMS = [
    ("biometrics", {"outcome": "late"}, "Choose what happened at the appointment."),
    ("biometrics", {}, "Choose what happened at the appointment."),  # nothing chosen is not "taken"
    ("interview", {}, "Choose the outcome of the interview."),
    ("oath", {"outcome": ""}, "Choose what happened at the ceremony."),
    ("extend-evidence", {"due_date": ""}, "Enter the new due date."),
]


def test_officer_forms_are_checked_before_sending(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    for action, data, message in BAD_OFFICER_FORMS:
        response = page(post_action(client, receipt, action, data), 422)
        assert message in response.text, (action, data)
    assert temporal.calls == []


def test_unknown_action_is_a_404(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_supervisor(client)
    assert page(post_action(client, receipt, "approve-everything"), 404)
    assert page(post_action(client, receipt, "Decide"), 404)
    assert temporal.calls == []


def test_a_refusal_is_shown_and_changes_nothing(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    temporal.refuse(CaseWorkflow.decide, "Claim this case before you decide it.")
    as_officer(client)
    response = page(post_action(client, receipt, "decide",
                                {"decision": "approve", "reason_code": "eligible", "reason": "All good."}), 422)
    html = response.text
    assert "The action was not recorded" in html and "Claim this case before you decide it." in html
    assert "The action was recorded." not in html
    assert actions_on(html) >= {"decide", "request-evidence", "release"}  # the page is still usable
    assert [c.refused for c in temporal.calls] == [True] and temporal.sent == []
    with session_scope(settings.database_url) as db:
        case = db.get(Case, receipt)
        assert case.stage == Stage.REVIEW and case.decision is None and case.assigned_officer_id == ids["officer"]
        assert db.exec(select(AuditEvent).where(AuditEvent.receipt_number == receipt)).all() == []


def test_another_kind_of_failure_is_a_general_message(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    temporal.refuse(CaseWorkflow.claim, "boom", type="SomethingElse")
    as_officer(client)
    response = page(post_action(client, receipt, "claim"), 422)
    assert "The action could not be completed. Try again in a few minutes." in response.text
    assert "boom" not in response.text


def test_actions_need_the_csrf_token(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW, assigned="officer")
    as_officer(client)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    response = client.post(f"/officer/cases/{receipt}/decide", data={
        "action_id": action_id_on(workspace), "decision": "approve", "reason_code": "eligible", "reason": "ok",
    })
    assert response.status_code == 403 and "Your form expired" in response.text
    forged = client.post(f"/officer/cases/{receipt}/claim", data={"csrf_token": "0" * 64})
    assert forged.status_code == 403
    assert temporal.calls == []


# --- notes between officers -------------------------------------------------------------------


def test_an_officer_adds_a_note(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_officer(client)
    workspace = page(client.get(f"/officer/cases/{receipt}")).text
    response = client.post(f"/officer/cases/{receipt}/notes",
                           data={"csrf_token": csrf_from(workspace), "note": "  Photo <b>looks</b> old.  "})
    assert response.status_code == 303
    assert response.headers["location"] == f"/officer/cases/{receipt}?done=notes#notes"
    html = page(client.get(response.headers["location"])).text
    assert "Photo &lt;b&gt;looks&lt;/b&gt; old." in html and "<b>looks</b>" not in html
    assert "<strong>Olivia Chen</strong>" in html
    with session_scope(settings.database_url) as db:
        note = db.exec(select(CaseNote).where(CaseNote.receipt_number == receipt)).one()
        assert note.body == "Photo <b>looks</b> old." and note.author_id == ids["officer"]
        audit = db.exec(select(AuditEvent).where(AuditEvent.receipt_number == receipt)).one()
        assert (audit.action, audit.actor_id) == ("note", ids["officer"])
    assert temporal.calls == []  # a note is the officers' own words, not a workflow action


def test_notes_are_listed_newest_first_for_every_officer(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_officer(client)
    token = csrf_from(client.get(f"/officer/cases/{receipt}").text)
    for body in ("First note.", "Second note."):
        assert client.post(f"/officer/cases/{receipt}/notes", data={"csrf_token": token, "note": body}).status_code == 303
    sign_out(client, receipt)
    as_supervisor(client)
    html = page(client.get(f"/officer/cases/{receipt}")).text
    assert html.index("Second note.") < html.index("First note.")
    with session_scope(settings.database_url) as db:
        actions = db.exec(select(AuditEvent.action).where(AuditEvent.receipt_number == receipt)).all()
        assert actions == ["note", "note"]


def test_an_empty_note_is_refused(client, settings, ids, temporal):
    receipt = new_case(settings, ids, Stage.REVIEW)
    as_officer(client)
    token = csrf_from(client.get(f"/officer/cases/{receipt}").text)
    response = page(client.post(f"/officer/cases/{receipt}/notes", data={"csrf_token": token, "note": "   "}), 422)
    assert "There is a problem" in response.text and "Write the note." in response.text
    too_long = page(client.post(f"/officer/cases/{receipt}/notes", data={"csrf_token": token, "note": "x" * 4001}), 422)
    assert "A note must be 4,000 characters or fewer." in too_long.text
    without_token = client.post(f"/officer/cases/{receipt}/notes", data={"note": "Hello"})
    assert without_token.status_code == 403
    with session_scope(settings.database_url) as db:
        assert db.exec(select(CaseNote).where(CaseNote.receipt_number == receipt)).all() == []
        assert db.exec(select(AuditEvent).where(AuditEvent.action == "note")).all() == []


