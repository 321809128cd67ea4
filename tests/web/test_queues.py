"""The officers' queue pages: who may open which queue, filters from the query string, htmx
fragments, and "next case" claiming through a fake Temporal client."""

from __future__ import annotations

import itertools
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from cli import DEMO_ACCOUNTS
from models.db import session_scope
from models.tables import Case, HumanTask, User
from tests.web.conftest import csrf_from, sign_in
from workflows.case import CaseWorkflow
from workflows.types import INVALID_ACTION, ClaimInput

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS[:3]
_numbers = itertools.count(1)


def user_id(settings, email: str) -> int:
    with session_scope(settings.database_url) as db:
        user = db.exec(select(User).where(User.email == email)).one()
        assert user.id is not None
        return user.id


def add_task(
    settings, *, kind: str = "review", office: str = "IOE", form: str = "I-765", opened_days_ago: float = 10,
    due_in_days: float = 30, expedited: bool = False, overdue: bool = False, assigned: int | None = None,
) -> str:
    """An open task and its case, as the projection activities would write them."""
    receipt = f"{office}{2790000000 + next(_numbers)}"
    now = datetime.now(UTC)
    opened_at = now - timedelta(days=opened_days_ago)
    with session_scope(settings.database_url) as db:
        applicant = db.exec(select(User).where(User.email == APPLICANT.email)).one()
        db.add(Case(
            receipt_number=receipt, form_type=form, office=office, stage="review", status_code="case_received",
            status_changed_at=opened_at, stage_entered_at=opened_at, applicant_id=applicant.id or 0,
            filed_at=opened_at, overdue=overdue, expedited=expedited, assigned_officer_id=assigned,
        ))
        db.flush()
        db.add(HumanTask(
            task_key=f"{receipt}:{kind}:1", receipt_number=receipt, kind=kind, expedited=expedited, overdue=overdue,
            form_type=form, office=office, assigned_officer_id=assigned, opened_at=opened_at,
            due_at=now + timedelta(days=due_in_days),
        ))
    return receipt


def receipts_in(html: str) -> list[str]:
    return re.findall(r'href="/officer/cases/([A-Z]{3}[0-9]{10})"', html)


# --- authorisation ---------------------------------------------------------------------------


def test_an_applicant_cannot_open_the_queues(client):
    sign_in(client, APPLICANT.email, APPLICANT.password)
    overview = client.get("/officer")
    assert overview.status_code == 403 and "You cannot open this page" in overview.text
    assert client.get("/officer/queues/review").status_code == 403


def test_signed_out_people_are_sent_to_sign_in(client):
    response = client.get("/officer/queues/review")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")


def test_an_officer_sees_the_officers_queues_only(client):
    sign_in(client, OFFICER.email, OFFICER.password)
    overview = client.get("/officer")
    assert overview.status_code == 200
    for label in ("Biometrics", "Review", "Interviews", "Oath ceremonies"):
        assert label in overview.text
    assert "Expedite requests" not in overview.text and "Blocked cases" not in overview.text
    assert client.get("/officer/queues/blocked").status_code == 404
    assert client.get("/officer/queues/expedite").status_code == 404
    assert client.get("/officer/queues/interview").status_code == 200
    assert client.get("/officer/queues/nonsense").status_code == 404


def test_a_supervisor_sees_the_supervisors_queues_too(client, settings):
    blocked = add_task(settings, kind="blocked")
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    overview = client.get("/officer")
    assert "Expedite requests" in overview.text and "Blocked cases" in overview.text
    page = client.get("/officer/queues/blocked")
    assert page.status_code == 200 and receipts_in(page.text) == [blocked]
    assert client.get("/officer/queues/expedite").status_code == 200


# --- the overview ----------------------------------------------------------------------------------


def test_overview_counts_each_queue_and_refreshes_by_polling(client, settings):
    officer = user_id(settings, OFFICER.email)
    add_task(settings, assigned=officer)
    add_task(settings, overdue=True, due_in_days=-2)
    add_task(settings, expedited=True)
    sign_in(client, OFFICER.email, OFFICER.password)
    page = client.get("/officer")
    assert page.status_code == 200
    assert "3 cases waiting" in page.text and "0 cases waiting" in page.text  # review, then the others
    assert "2 unassigned" in page.text and "1 assigned to me" in page.text
    assert "1 overdue" in page.text and "1 expedited" in page.text
    assert 'hx-get="/officer" hx-trigger="every 30s"' in page.text

    poll = client.get("/officer", headers={"HX-Request": "true"})
    assert poll.status_code == 200 and "<html" not in poll.text
    assert poll.text.lstrip().startswith('<div id="queue-counts"') and "3 cases waiting" in poll.text
    assert "HX-Request" in poll.headers["vary"]


# --- the queue page ---------------------------------------------------------------------------------


def test_queue_lists_expedited_first_with_tags_and_names(client, settings):
    officer = user_id(settings, OFFICER.email)
    supervisor = user_id(settings, SUPERVISOR.email)
    old = add_task(settings, opened_days_ago=40, assigned=supervisor)
    young = add_task(settings, opened_days_ago=2, overdue=True, due_in_days=-1, assigned=officer)
    expedited = add_task(settings, opened_days_ago=1, expedited=True, form="I-765", office="NYC")
    sign_in(client, OFFICER.email, OFFICER.password)
    page = client.get("/officer/queues/review")
    assert page.status_code == 200
    assert receipts_in(page.text) == [expedited, old, young]
    assert "Samuel Rivera" in page.text and "Olivia Chen (you)" in page.text and "No one" in page.text
    assert page.text.count(">Expedited</span>") == 1 and page.text.count(">Overdue</span>") == 1
    assert '<th scope="col">' in page.text and '<th scope="row"' in page.text and "<caption>" in page.text

    by_due = client.get("/officer/queues/review?sort=due")
    assert receipts_in(by_due.text) == [expedited, young, old]


def test_filters_from_the_query_string(client, settings):
    officer = user_id(settings, OFFICER.email)
    nyc = add_task(settings, office="NYC")
    mine = add_task(settings, assigned=officer)
    overdue = add_task(settings, overdue=True, due_in_days=-3)
    expedited = add_task(settings, expedited=True, due_in_days=60)
    soon = add_task(settings, due_in_days=5)
    sign_in(client, OFFICER.email, OFFICER.password)

    def listed(query: str) -> list[str]:
        response = client.get(f"/officer/queues/review?{query}")
        assert response.status_code == 200
        return receipts_in(response.text)

    assert listed("office=NYC") == [nyc]
    assert listed("office=nyc") == [nyc]
    assert listed("assignment=mine") == [mine]
    assert set(listed("assignment=unassigned")) == {nyc, overdue, expedited, soon}
    assert listed("overdue=1") == [overdue]
    assert listed("expedited=on") == [expedited]
    assert listed("due_within=7") == [overdue, soon]
    assert listed("form=I-765&office=NYC&assignment=unassigned") == [nyc]
    filtered = client.get("/officer/queues/review?office=NYC&overdue=1")
    assert "No case matches these filters." in filtered.text
    assert '<option value="NYC" selected>' in filtered.text
    assert 'id="overdue" type="checkbox" name="overdue" value="1" checked' in filtered.text


@pytest.mark.parametrize(
    "query",
    [
        "office=%3Cscript%3E&form=Z-999&assignment=everyone&due_within=abc&overdue=maybe&expedited=2"
        "&sort=random&page=abc",
        "page=-4&due_within=5&sort=&assignment=",
        "page=99999999999999999999999&office=TOOLONG",
        "office=NY&form=&due_within=%20",
    ],
)
def test_bad_query_values_fall_back_to_the_defaults(client, settings, query):
    first = add_task(settings, opened_days_ago=20)
    second = add_task(settings, opened_days_ago=10)
    sign_in(client, OFFICER.email, OFFICER.password)
    response = client.get(f"/officer/queues/review?{query}")
    assert response.status_code == 200
    assert receipts_in(response.text) == [first, second]  # nothing filtered, oldest first
    assert '<option value="age" selected>' in response.text
    assert '<option value="all" selected>' in response.text
    assert "<script>" not in response.text


def test_pagination_keeps_the_filters(client, settings):
    receipts = [add_task(settings, office="NYC", opened_days_ago=100 - i) for i in range(27)]
    add_task(settings, office="IOE")
    sign_in(client, OFFICER.email, OFFICER.password)
    first = client.get("/officer/queues/review?office=NYC&sort=age")
    assert receipts_in(first.text) == receipts[:25]
    assert "27 cases" in first.text and "page 1 of 2" in first.text
    assert 'href="/officer/queues/review?office=NYC&amp;page=2"' in first.text
    assert 'hx-get="/officer/queues/review?office=NYC&amp;page=2"' in first.text
    second = client.get("/officer/queues/review?office=NYC&page=2")
    assert receipts_in(second.text) == receipts[25:]
    assert 'href="/officer/queues/review?office=NYC"' in second.text  # back to page 1
    beyond = client.get("/officer/queues/review?office=NYC&page=40")
    assert receipts_in(beyond.text) == receipts[25:]
    zero = client.get("/officer/queues/review?office=NYC&page=0")
    assert receipts_in(zero.text) == receipts[:25]


def test_htmx_gets_the_table_block_or_the_counts_block(client, settings):
    receipt = add_task(settings)
    sign_in(client, OFFICER.email, OFFICER.password)
    whole = client.get("/officer/queues/review")
    assert "<html" in whole.text and 'hx-push-url="true"' in whole.text
    assert 'hx-get="/officer/queues/review"' in whole.text  # the filter form: a relative URL
    assert 'method="get" action="/officer/queues/review"' in whole.text  # works without JavaScript
    table = client.get("/officer/queues/review?assignment=unassigned", headers={"HX-Request": "true"})
    assert table.status_code == 200 and "<html" not in table.text
    assert table.text.lstrip().startswith('<div id="queue-results">') and receipts_in(table.text) == [receipt]
    counts = client.get(
        "/officer/queues/review?office=IOE", headers={"HX-Request": "true", "HX-Target": "queue-counts"}
    )
    assert counts.text.lstrip().startswith('<div id="queue-counts"') and "<table" not in counts.text
    assert "1 case waiting" in counts.text and 'hx-get="/officer/queues/review?office=IOE"' in counts.text
    assert "HX-Target" in counts.headers["vary"]
    boosted = client.get("/officer/queues/review", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.text
    # Back after hx-push-url: htmx asks for the pushed address again and needs the whole page.
    restored = client.get(
        "/officer/queues/review?assignment=unassigned",
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    assert "<html" in restored.text and receipts_in(restored.text) == [receipt]
    restored_overview = client.get("/officer", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in restored_overview.text


# --- next case ------------------------------------------------------------------------------------


class FakeHandle:
    def __init__(self, client: FakeClient, receipt: str) -> None:
        self.client, self.receipt = client, receipt

    async def execute_update(self, update: Any, arg: Any, *, id: str) -> Any:
        self.client.calls.append((self.receipt, update, arg, id))
        if self.receipt in self.client.refuse:
            raise WorkflowUpdateFailedError(ApplicationError("Another officer has this case.", type=INVALID_ACTION))
        return None


class FakeClient:
    def __init__(self, refuse: set[str]) -> None:
        self.refuse = refuse
        self.calls: list[tuple[str, Any, Any, str]] = []

    def get_workflow_handle(self, workflow_id: str) -> FakeHandle:
        return FakeHandle(self, workflow_id)


class FakeTemporal:
    def __init__(self, client: FakeClient) -> None:
        self.client = client

    async def get(self) -> FakeClient:
        return self.client


def fake_temporal(client, *, refuse: set[str] = frozenset()) -> FakeClient:  # type: ignore[assignment]
    fake = FakeClient(set(refuse))
    client.app.state.temporal = FakeTemporal(fake)
    return fake


def next_case(client, path: str = "/officer/queues/review/next", *, queue: str = "/officer/queues/review"):
    token = csrf_from(client.get(queue).text)
    return client.post(path, data={"csrf_token": token})


def test_next_case_claims_the_expedited_case_first_and_skips_a_refused_one(client, settings):
    officer = user_id(settings, OFFICER.email)
    supervisor = user_id(settings, SUPERVISOR.email)
    add_task(settings, due_in_days=1)
    add_task(settings, due_in_days=-30, expedited=True, overdue=True, assigned=supervisor)  # someone else's
    taken = add_task(settings, due_in_days=2, expedited=True)
    wanted = add_task(settings, due_in_days=9, expedited=True)
    fake = fake_temporal(client, refuse={taken})
    sign_in(client, OFFICER.email, OFFICER.password)

    response = next_case(client)
    assert response.status_code == 303
    assert response.headers["location"] == f"/officer/cases/{wanted}"
    assert [receipt for receipt, *_ in fake.calls] == [taken, wanted]
    for _, update, arg, update_id in fake.calls:
        assert update == CaseWorkflow.claim
        assert arg == ClaimInput(actor_id=officer, actor_role="officer")
        assert re.fullmatch(r"claim:[0-9a-f-]{36}", update_id)
    assert fake.calls[0][3] != fake.calls[1][3]


def test_next_case_from_htmx_redirects_the_whole_page(client, settings):
    receipt = add_task(settings)
    fake_temporal(client)
    sign_in(client, OFFICER.email, OFFICER.password)
    token = csrf_from(client.get("/officer/queues/review").text)
    response = client.post(
        "/officer/queues/review/next", data={"csrf_token": token}, headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert response.status_code == 204 and response.headers["hx-redirect"] == f"/officer/cases/{receipt}"


def test_next_case_keeps_to_the_office_filter(client, settings):
    add_task(settings, office="IOE", due_in_days=1, expedited=True)
    nyc = add_task(settings, office="NYC", due_in_days=20)
    fake = fake_temporal(client)
    sign_in(client, OFFICER.email, OFFICER.password)
    page = client.get("/officer/queues/review?office=NYC")
    assert 'action="/officer/queues/review/next?office=NYC"' in page.text
    response = client.post("/officer/queues/review/next?office=NYC", data={"csrf_token": csrf_from(page.text)})
    assert response.headers["location"] == f"/officer/cases/{nyc}"
    assert [receipt for receipt, *_ in fake.calls] == [nyc]


def test_next_case_when_every_candidate_is_refused(client, settings):
    first, second = add_task(settings, due_in_days=1), add_task(settings, due_in_days=2)
    fake = fake_temporal(client, refuse={first, second})
    sign_in(client, OFFICER.email, OFFICER.password)
    response = next_case(client)
    assert response.status_code == 409
    assert "Other officers took the cases that were waiting" in response.text
    assert receipts_in(response.text) == [first, second]  # the queue is shown again
    assert [receipt for receipt, *_ in fake.calls] == [first, second]


def test_next_case_in_an_empty_queue(client, settings):
    supervisor = user_id(settings, SUPERVISOR.email)
    add_task(settings, assigned=supervisor)  # not offered: another officer's
    fake = fake_temporal(client)
    sign_in(client, OFFICER.email, OFFICER.password)
    response = next_case(client)
    assert response.status_code == 200
    assert 'class="usa-alert usa-alert--info usa-alert--slim"' in response.text
    assert "No case is waiting in this queue." in response.text
    assert fake.calls == []


def test_next_case_needs_the_csrf_token_and_the_right_queue(client, settings):
    add_task(settings)
    fake = fake_temporal(client)
    sign_in(client, OFFICER.email, OFFICER.password)
    assert client.post("/officer/queues/review/next").status_code == 403
    token = csrf_from(client.get("/officer/queues/review").text)
    assert client.post("/officer/queues/blocked/next", data={"csrf_token": token}).status_code == 404
    assert client.post("/officer/queues/nonsense/next", data={"csrf_token": token}).status_code == 404
    assert fake.calls == []
