"""The Web UI's remote codec, /codec/decode: supervisors only, the Web UI's origin only, no encode."""

from __future__ import annotations

import base64
import json

import pytest
from sqlmodel import select

from cli import DEMO_ACCOUNTS
from models.db import session_scope
from models.tables import AuditEvent
from tests.web.conftest import sign_in
from workflows.client import DATA_CONVERTER

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS
UI = "http://localhost:8233"  # Settings.temporal_ui_url's origin
SECRET = "Maria Lopez, 1990-04-27"


async def encrypted_body(text: str = SECRET) -> dict:
    [payload] = await DATA_CONVERTER.encode([text])
    return {"payloads": [{"metadata": {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()},
                          "data": base64.b64encode(payload.data).decode()}]}


def decode(client, body, *, origin: str | None = UI):
    headers = {"Content-Type": "application/json", "X-Namespace": "default"}
    if origin:
        headers["Origin"] = origin
    return client.post("/codec/decode", content=json.dumps(body) if not isinstance(body, bytes) else body, headers=headers)


def decoded_texts(response) -> list[str]:
    return [json.loads(base64.b64decode(p["data"])) for p in response.json()["payloads"]]


async def test_a_signed_in_supervisor_gets_the_payloads_decoded_for_the_web_ui(client, settings) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    answer = decode(client, await encrypted_body())
    assert answer.status_code == 200, answer.text
    assert decoded_texts(answer) == [SECRET]
    assert answer.headers["access-control-allow-origin"] == UI
    assert answer.headers["access-control-allow-credentials"] == "true"
    with session_scope(settings.database_url) as db:
        [event] = db.exec(select(AuditEvent).where(AuditEvent.action == "payloads_decoded")).all()
    assert event.detail == "1 payload(s) in namespace default"


async def test_the_preflight_names_the_web_ui_origin_with_credentials(client) -> None:
    answer = client.options("/codec/decode", headers={
        "Origin": UI, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace",
    })
    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == UI
    assert answer.headers["access-control-allow-credentials"] == "true"
    assert "POST" in answer.headers["access-control-allow-methods"]


@pytest.mark.parametrize("origin", ["https://evil.example", "http://localhost:8000", "http://localhost:82330"])
async def test_any_other_origin_is_refused_without_cors_headers(client, origin: str) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    answer = decode(client, await encrypted_body(), origin=origin)
    assert answer.status_code == 403
    assert "access-control-allow-origin" not in answer.headers
    assert SECRET not in answer.text
    preflight = client.options("/codec/decode", headers={"Origin": origin, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize("account", [None, APPLICANT, OFFICER])
async def test_nobody_but_a_supervisor_gets_anything_decoded(client, settings, account) -> None:
    if account is not None:
        sign_in(client, account.email, account.password)
    answer = decode(client, await encrypted_body())
    assert answer.status_code == (401 if account is None else 403)
    assert SECRET not in answer.text and "error" in answer.json()
    with session_scope(settings.database_url) as db:
        assert db.exec(select(AuditEvent).where(AuditEvent.action == "payloads_decoded")).all() == []


@pytest.mark.parametrize("body", [b"not json", {"payloads": "nope"}, {"payloads": [{"metadata": "x"}]}, [1, 2]])
async def test_a_malformed_body_is_a_clear_400(client, body) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    answer = decode(client, body)
    assert answer.status_code == 400
    assert "codec protocol" in answer.json()["error"]


async def test_a_payload_under_an_unknown_key_is_a_clear_400(client) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    body = await encrypted_body()
    body["payloads"][0]["metadata"]["encryption-key-id"] = base64.b64encode(b"retired-key").decode()
    answer = decode(client, body)
    assert answer.status_code == 400
    assert "'retired-key', which is not configured" in answer.json()["error"]


async def test_there_is_no_encode_endpoint(client) -> None:
    sign_in(client, SUPERVISOR.email, SUPERVISOR.password)
    answer = client.post("/codec/encode", content=json.dumps({"payloads": []}),
                         headers={"Content-Type": "application/json", "Origin": UI})
    assert answer.status_code in (403, 404)  # no such route (a POST without a CSRF token is refused first)
    assert "payloads" not in answer.text
