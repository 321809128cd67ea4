"""GET /metrics: the request-latency histogram by route template, the cases per stage, and who may
read it (dev and test: anyone; with CASELINE_METRICS_TOKEN: that bearer token; otherwise 404)."""

from __future__ import annotations

import secrets

import structlog
from fastapi import Request
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from models.db import session_scope
from models.domain import Stage, StatusCode
from models.tables import Case
from settings import Settings
from tests.helpers import FILED_AT
from tests.web.conftest import DownTemporal
from web.app import create_app
from workflows.codec import new_key_setting

RECEIPT = "IOE2690123456"
HISTOGRAM = "caseline_http_request_duration_seconds"


def samples(text: str, name: str) -> dict[tuple, float]:
    return {
        tuple(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name
    }


def requests_counted(route: str, status: str, method: str = "GET") -> float:
    labels = {"method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value(f"{HISTOGRAM}_count", labels) or 0.0


def test_a_case_page_request_is_timed_under_its_route_template(client: TestClient) -> None:
    before = requests_counted("/cases/{receipt_number}", "303")
    unmatched_before = requests_counted("unmatched", "404")

    assert client.get(f"/cases/{RECEIPT}").status_code == 303  # signed out: to the sign-in page
    assert client.get("/no/such/page").status_code == 404
    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = samples(response.text, f"{HISTOGRAM}_count")
    assert counts[(("method", "GET"), ("route", "/cases/{receipt_number}"), ("status", "303"))] == before + 1
    assert counts[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == unmatched_before + 1
    assert RECEIPT not in response.text and "/no/such/page" not in response.text
    buckets = samples(response.text, f"{HISTOGRAM}_bucket")
    assert any(dict(labels)["route"] == "/cases/{receipt_number}" for labels in buckets)


def test_metrics_need_no_session_or_csrf_and_stay_out_of_the_api_schema(client: TestClient) -> None:
    client.cookies.clear()
    response = client.get("/metrics")
    assert response.status_code == 200 and "caseline_cases" in response.text
    assert "/metrics" not in client.get("/api/openapi.json").json()["paths"]


def test_the_cases_gauge_counts_this_apps_database(client: TestClient, settings: Settings, ids: dict[str, int]) -> None:
    stages = [Stage.REVIEW, Stage.REVIEW, Stage.INTERVIEW, Stage.CLOSED]
    with session_scope(settings.database_url) as db:
        for n, stage in enumerate(stages):
            db.add(Case(receipt_number=f"IOE26{n:08d}", applicant_id=ids["applicant"], form_type="I-765",
                        office="IOE", stage=stage, status_code=StatusCode.CASE_RECEIVED, status_changed_at=FILED_AT,
                        stage_entered_at=FILED_AT, filed_at=FILED_AT))

    cases = samples(client.get("/metrics").text, "caseline_cases")

    assert cases[(("stage", "review"),)] == 2
    assert cases[(("stage", "interview"),)] == 1
    assert cases[(("stage", "closed"),)] == 1
    assert cases[(("stage", "intake"),)] == 0
    assert len(cases) == len(Stage)


def production_client(settings: Settings, **overrides) -> TestClient:
    prod = settings.model_copy(update={"env": "production", "secret_key": secrets.token_hex(32),
                                       "payload_keys": new_key_setting("test"), **overrides})
    app = create_app(prod)
    app.state.temporal = DownTemporal()
    return TestClient(app, base_url="http://testserver", follow_redirects=False)


def test_in_production_without_a_token_there_are_no_metrics(settings: Settings) -> None:
    client = production_client(settings)
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer anything"}).status_code == 404


def test_with_a_token_only_that_bearer_token_reads_the_metrics(settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    client = production_client(settings, metrics_token=token)

    assert client.get("/metrics").status_code == 401
    wrong = client.get("/metrics", headers={"Authorization": f"Bearer {token}x"})
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/metrics", headers={"Authorization": token}).status_code == 401
    right = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status_code == 200 and "caseline_cases" in right.text and token not in right.text


def test_a_token_is_needed_in_development_too_once_it_is_set(settings: Settings) -> None:
    token = secrets.token_urlsafe(24)
    app = create_app(settings.model_copy(update={"metrics_token": token}))
    app.state.temporal = DownTemporal()
    client = TestClient(app)
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_a_case_route_puts_its_receipt_number_on_the_log_context(client: TestClient) -> None:
    app = client.app

    @app.get("/probe/{receipt_number}")
    def probe_sync(receipt_number: str) -> dict:  # a sync route runs in the thread pool
        return structlog.contextvars.get_contextvars()

    @app.get("/probe-async/{receipt_number}")
    async def probe_async(request: Request, receipt_number: str) -> dict:
        return structlog.contextvars.get_contextvars()

    assert client.get(f"/probe/{RECEIPT}").json() == {"receipt_number": RECEIPT, "workflow_id": RECEIPT}
    assert client.get(f"/probe-async/{RECEIPT}").json() == {"receipt_number": RECEIPT, "workflow_id": RECEIPT}
    assert client.get("/probe/not-a-receipt").json() == {}
    assert structlog.contextvars.get_contextvars() == {}  # nothing leaks out of the request
