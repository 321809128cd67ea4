"""Serving documents: who may open them, the headers a hostile file cannot get around, reading
uploads with a hard limit, and the upload and document-list templates."""

from __future__ import annotations

import io
from types import SimpleNamespace
from typing import Annotated
from urllib.parse import quote

import pytest
from fastapi import File, UploadFile
from starlette.testclient import TestClient

from cli import DEMO_ACCOUNTS
from models.accounts import create_user, get_user_by_email
from models.db import session_scope
from models.documents import MAX_UPLOAD_BYTES, LocalDocumentStore, UploadRejected, store_upload
from models.tables import Document, utcnow
from tests.helpers import PDF, PNG, file_i765
from tests.web.conftest import csrf, sign_in
from web.routers.documents import DOCUMENT_CSP, content_disposition
from web.templating import env
from web.uploads import CHUNK_BYTES, DocumentStoreDep, read_upload

APPLICANT, OFFICER, SUPERVISOR = DEMO_ACCOUNTS
OTHER_EMAIL, OTHER_PASSWORD = "other@example.com", "another long password"


def another_client(client: TestClient) -> TestClient:
    """A second browser on the same app (its own cookies)."""
    return TestClient(client.app, base_url="http://testserver", follow_redirects=False)


def add_document(
    settings, *, owner: str = APPLICANT.email, data: bytes = PDF, raw_name: str = "passport.pdf",
    on_case: bool = True, kind: str = "evidence",
) -> tuple[str, str | None]:
    """A filing of the demo applicant (when ``on_case``) and a document on it; returns (document id, receipt)."""
    with session_scope(settings.database_url) as db:
        applicant = get_user_by_email(db, email=APPLICANT.email)
        uploader = get_user_by_email(db, email=owner)
        receipt = file_i765(db, applicant_id=applicant.id, office="IOE").receipt_number if on_case else None
        document = store_upload(
            db, LocalDocumentStore(settings.documents_dir), data=data, raw_name=raw_name, owner_id=uploader.id,
            kind=kind, receipt_number=receipt, draft_id=None if on_case else "d" * 36,
        )
        return document.id, receipt


@pytest.fixture
def other_applicant(settings) -> None:
    with session_scope(settings.database_url) as db:
        create_user(db, email=OTHER_EMAIL, password=OTHER_PASSWORD, full_name="Other Person")


# --- serving ------------------------------------------------------------------------------------


def test_owner_opens_their_document_inline_with_safe_headers(client, settings):
    document_id, _ = add_document(settings)
    sign_in(client, APPLICANT.email, APPLICANT.password)
    response = client.get(f"/documents/{document_id}")
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == "inline; filename=\"passport.pdf\"; filename*=UTF-8''passport.pdf"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "private, no-store"
    # The route's own policy, not the app's page policy (which the middleware only fills in when absent).
    csp = response.headers["content-security-policy"]
    assert csp == DOCUMENT_CSP
    assert "default-src 'none'" in csp and "sandbox" in csp.split("; ") and "script-src" not in csp
    assert response.headers["x-frame-options"] == "DENY"  # the rest of the global headers still apply
    assert response.headers["content-length"] == str(len(PDF))


def test_download_asks_for_an_attachment(client, settings):
    document_id, _ = add_document(settings, data=PNG, raw_name="photo of me.png")
    sign_in(client, APPLICANT.email, APPLICANT.password)
    response = client.get(f"/documents/{document_id}?download=1")
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"photo of me.png\"; filename*=UTF-8''photo%20of%20me.png"
    )
    assert client.get(f"/documents/{document_id}?download=0").headers["content-disposition"].startswith("inline;")
    assert client.get(f"/documents/{document_id}?download=nonsense").status_code == 422


def test_the_applicant_reads_a_notice_someone_else_put_on_their_case(client, settings):
    document_id, _ = add_document(settings, owner=OFFICER.email, raw_name="approval notice.pdf", kind="notice")
    sign_in(client, APPLICANT.email, APPLICANT.password)
    assert client.get(f"/documents/{document_id}").content == PDF


def test_another_applicant_gets_the_same_404_as_for_nothing(client, settings, other_applicant):
    document_id, _ = add_document(settings)
    sign_in(client, OTHER_EMAIL, OTHER_PASSWORD)
    theirs = client.get(f"/documents/{document_id}")
    unknown_id = "00000000-0000-4000-8000-000000000000"
    nothing = client.get(f"/documents/{unknown_id}")
    assert theirs.status_code == nothing.status_code == 404
    assert PDF not in theirs.content
    # The same page (it links back to its own address, so the ids differ there only).
    assert theirs.text.replace(document_id, "ID") == nothing.text.replace(unknown_id, "ID")
    assert theirs.headers["content-type"].startswith("text/html")
    assert theirs.headers["content-security-policy"] != DOCUMENT_CSP  # an ordinary error page
    assert client.get(f"/documents/{document_id}?download=1").status_code == 404


def test_officer_and_supervisor_see_case_documents(client, settings):
    document_id, _ = add_document(settings)
    sign_in(client, OFFICER.email, OFFICER.password)
    response = client.get(f"/documents/{document_id}")
    assert response.status_code == 200 and response.content == PDF
    assert response.headers["content-security-policy"] == DOCUMENT_CSP
    supervisor = another_client(client)
    sign_in(supervisor, SUPERVISOR.email, SUPERVISOR.password)
    assert supervisor.get(f"/documents/{document_id}").content == PDF


def test_a_document_on_a_draft_is_only_its_uploaders(client, settings, other_applicant):
    document_id, _ = add_document(settings, on_case=False)
    sign_in(client, OFFICER.email, OFFICER.password)
    assert client.get(f"/documents/{document_id}").status_code == 404
    other = another_client(client)
    sign_in(other, OTHER_EMAIL, OTHER_PASSWORD)
    assert other.get(f"/documents/{document_id}").status_code == 404
    owner = another_client(client)
    sign_in(owner, APPLICANT.email, APPLICANT.password)
    assert owner.get(f"/documents/{document_id}").content == PDF


def test_signed_out_visitors_are_sent_to_sign_in(client, settings):
    document_id, _ = add_document(settings)
    response = client.get(f"/documents/{document_id}")
    assert response.status_code == 303 and response.headers["location"].startswith("/sign-in")
    assert PDF not in response.content


def test_malformed_ids_are_404(client, settings):
    document_id, _ = add_document(settings)
    with session_scope(settings.database_url) as db:
        sha256 = db.get(Document, document_id).sha256
    sign_in(client, APPLICANT.email, APPLICANT.password)
    for bad in [
        "nope",
        document_id.upper(),
        document_id + "0",
        document_id[:-1],
        document_id.replace("-", ""),
        sha256,
        quote("../../etc/passwd", safe=""),
        "..%2f..%2fetc%2fpasswd",
        quote(f"{document_id}\x00", safe=""),
        quote(f" {document_id}", safe=""),
        "%E2%80%AE" + document_id,
        "x" * 5000,
        "1' OR '1'='1",
    ]:
        response = client.get(f"/documents/{bad}")
        assert response.status_code == 404, bad
        assert PDF not in response.content


def test_a_document_whose_content_is_gone_is_a_404_not_a_500(client, settings):
    document_id, _ = add_document(settings)
    with session_scope(settings.database_url) as db:
        sha256 = db.get(Document, document_id).sha256
    (settings.documents_dir / sha256[:2] / sha256[2:4] / sha256).unlink()
    sign_in(client, APPLICANT.email, APPLICANT.password)
    assert client.get(f"/documents/{document_id}").status_code == 404


def test_unusual_names_reach_the_browser_safely(client, settings):
    document_id, _ = add_document(settings, raw_name='C:\\Users\\José\\Acta "nacimiento"\u202e.exe')
    sign_in(client, APPLICANT.email, APPLICANT.password)
    disposition = client.get(f"/documents/{document_id}").headers["content-disposition"]
    assert disposition == "inline; filename=\"Acta nacimiento.pdf\"; filename*=UTF-8''Acta%20nacimiento.pdf"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("passport.pdf", "inline; filename=\"passport.pdf\"; filename*=UTF-8''passport.pdf"),
        ("José Núñez.pdf", "inline; filename=\"Jose Nunez.pdf\"; filename*=UTF-8''Jos%C3%A9%20N%C3%BA%C3%B1ez.pdf"),
        ("出生证明.pdf", "inline; filename=\"document.pdf\"; filename*=UTF-8''%E5%87%BA%E7%94%9F%E8%AF%81%E6%98%8E.pdf"),
        ('a"b\\c;d%e.pdf', "inline; filename=\"abcde.pdf\"; filename*=UTF-8''a%22b%5Cc%3Bd%25e.pdf"),
    ],
)
def test_content_disposition_has_an_ascii_name_and_the_real_one(name: str, expected: str):
    assert content_disposition("inline", name) == expected


# --- reading uploads -----------------------------------------------------------------------------


class CountingFile(io.BytesIO):
    """An uploaded file that remembers how much was read from it, and how."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.served = 0
        self.requests: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.requests.append(-1 if size is None else size)
        chunk = super().read(size)
        self.served += len(chunk)
        return chunk


async def test_read_upload_returns_the_bytes_and_the_raw_name():
    data, name = await read_upload(UploadFile(CountingFile(PDF), filename="../my passport.pdf"))
    assert (data, name) == (PDF, "../my passport.pdf")


async def test_read_upload_accepts_exactly_six_megabytes():
    exactly = b"%PDF-" + b"0" * (MAX_UPLOAD_BYTES - 5)
    source = CountingFile(exactly)
    data, _ = await read_upload(UploadFile(source, filename="big.pdf"))
    assert data == exactly and len(data) == 6 * 1024 * 1024
    assert all(0 < size <= CHUNK_BYTES for size in source.requests)


@pytest.mark.parametrize("size", [MAX_UPLOAD_BYTES + 1, 50 * 1024 * 1024])
async def test_read_upload_stops_one_byte_past_the_limit(size: int):
    source = CountingFile(b"%PDF-" + b"0" * (size - 5))
    with pytest.raises(UploadRejected) as refused:
        await read_upload(UploadFile(source, filename="big.pdf"))
    assert refused.value.code == "too_large" and "6 MB" in refused.value.message
    assert source.served == MAX_UPLOAD_BYTES + 1  # never the whole stream
    assert all(0 < size <= CHUNK_BYTES for size in source.requests)


@pytest.mark.parametrize("upload", [None, "", "a plain text field", UploadFile(io.BytesIO(b""), filename="")])
async def test_read_upload_without_a_file(upload):
    with pytest.raises(UploadRejected) as refused:
        await read_upload(upload)
    assert refused.value.code == "missing"


async def test_an_empty_named_file_is_left_to_the_checks_of_store_upload():
    data, name = await read_upload(UploadFile(io.BytesIO(b""), filename="empty.pdf"))
    assert (data, name) == (b"", "empty.pdf")


def test_a_multipart_form_through_the_app(client, settings):
    """A route written as web/uploads.py describes: real multipart parsing, CSRF, the limits."""
    outcomes: list[str] = []

    async def upload_route(store: DocumentStoreDep, file: Annotated[UploadFile | None, File()] = None) -> dict:
        try:
            data, name = await read_upload(file)
            with session_scope(settings.database_url) as db:
                owner = get_user_by_email(db, email=APPLICANT.email)
                document = store_upload(db, store, data=data, raw_name=name, owner_id=owner.id, kind="evidence")
                outcomes.append(document.display_name)
        except UploadRejected as refused:
            outcomes.append(refused.code)
        return {}

    client.app.add_api_route("/test-only/upload", upload_route, methods=["POST"])
    sign_in(client, APPLICANT.email, APPLICANT.password)
    token = csrf(client, "/account")
    cases = [
        ("../../passport.pdf", PDF),
        ("photo.pdf", PNG),
        ("setup.pdf", b"MZ\x90\x00" + b"\x00" * 60),
        ("big.pdf", b"%PDF-" + b"0" * (MAX_UPLOAD_BYTES - 4)),
        ("", b""),
    ]
    for filename, data in cases:
        response = client.post(
            "/test-only/upload", data={"csrf_token": token}, files={"file": (filename, data, "application/pdf")}
        )
        assert response.status_code == 200
    assert client.post("/test-only/upload", data={"csrf_token": token}).status_code == 200  # no file part at all
    assert outcomes == ["passport.pdf", "photo.png", "type", "too_large", "missing", "missing"]
    forged = client.post("/test-only/upload", data={"csrf_token": "forged"}, files={"file": ("a.pdf", PDF)})
    assert forged.status_code == 403


# --- templates ------------------------------------------------------------------------------------


def render_macro(source: str, **context) -> str:
    return env.from_string('{% from "_upload.html" import file_input, document_list with context %}' + source).render(
        {"lang": "en", **context}
    )


def test_file_input_works_without_javascript_and_ties_hint_and_error():
    html = render_macro('{{ file_input("evidence", "Your passport", "The page with your photo.", {}) }}')
    assert 'type="file"' in html and 'name="evidence"' in html and 'id="evidence"' in html
    assert '<label class="usa-label" for="evidence">Your passport</label>' in html
    assert 'class="usa-file-input"' in html
    assert 'aria-describedby="evidence-hint"' in html
    assert "The page with your photo." in html and "6 MB" in html and "PDF, JPEG, PNG or TIFF" in html
    assert 'accept=".pdf,.jpg,.jpeg,.png,.tif,.tiff,application/pdf,image/jpeg,image/png,image/tiff"' in html
    assert "usa-error-message" not in html and "aria-invalid" not in html

    errors = {"evidence": "The selected file must be 6 MB or smaller"}
    html = render_macro('{{ file_input("evidence", "Your passport", None, errors, ".pdf") }}', errors=errors)
    assert 'aria-describedby="evidence-hint evidence-error"' in html and 'aria-invalid="true"' in html
    assert '<span class="usa-error-message" id="evidence-error" role="alert">The selected file must be 6 MB or smaller</span>' in html
    assert "usa-form-group--error" in html and 'accept=".pdf"' in html


def test_document_list_links_sizes_dates_and_escapes():
    uploaded_at = utcnow()
    documents = [
        SimpleNamespace(id="11111111-1111-4111-8111-111111111111", display_name="passport.pdf",
                        content_type="application/pdf", size=2_621_440, uploaded_at=uploaded_at),
        SimpleNamespace(id="22222222-2222-4222-8222-222222222222", display_name="<b>photo</b>.png",
                        content_type="image/png", size=1500, uploaded_at=uploaded_at),
        SimpleNamespace(id="33333333-3333-4333-8333-333333333333", display_name="tiny.tif",
                        content_type="image/tiff", size=10, uploaded_at=uploaded_at),
    ]
    html = render_macro("{{ document_list(documents, lang) }}", documents=documents)
    assert 'href="/documents/11111111-1111-4111-8111-111111111111"' in html
    assert 'href="/documents/11111111-1111-4111-8111-111111111111?download=1"' in html
    assert "2.5 MB" in html and "2 KB" in html and "1 KB" in html
    assert "PDF" in html and "PNG image" in html and "TIFF image" in html
    assert "&lt;b&gt;photo&lt;/b&gt;.png" in html and "<b>photo</b>" not in html
    assert f'datetime="{uploaded_at.isoformat()}"' in html
    spanish = render_macro("{{ document_list(documents, lang) }}", documents=documents, lang="es")
    assert "2,5 MB" in spanish
    assert "No documents yet." in render_macro("{{ document_list([], lang) }}")
