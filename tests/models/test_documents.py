"""The document store and uploads: content addressing, sniffing, limits, names, who may see what."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from models.db import get_engine, session_scope
from models.documents import (
    ACCEPTED_TYPES,
    MAX_UPLOAD_BYTES,
    DocumentMissing,
    DocumentStore,
    LocalDocumentStore,
    UploadRejected,
    check_upload,
    document_store,
    documents_for_case,
    safe_display_name,
    sniff_content_type,
    store_upload,
    visible_document,
)
from models.domain import Role
from models.tables import Document, User, utcnow
from settings import Settings
from tests.helpers import PDF, PNG, WINDOWS_EXE, file_i765

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
TIFF_LE = b"II*\x00\x08\x00\x00\x00" + b"\x00" * 32
TIFF_BE = b"MM\x00*\x00\x00\x00\x08" + b"\x00" * 32
LINUX_ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> LocalDocumentStore:
    return LocalDocumentStore(tmp_path / "store")


def add_people(url: str) -> dict:
    """Accounts that never sign in (no password hashing) and one filed case of the applicant."""
    with session_scope(url) as db:
        ids = {}
        for who, role in [("applicant", Role.APPLICANT), ("other", Role.APPLICANT), ("officer", Role.OFFICER),
                          ("supervisor", Role.SUPERVISOR), ("admin", Role.ADMIN)]:
            user = User(email=f"{who}@example.com", full_name=who.title(), role=role, password_hash="unused")
            db.add(user)
            db.flush()
            ids[who] = user.id
        ids["receipt"] = file_i765(db, applicant_id=ids["applicant"], office="IOE").receipt_number
        return ids


@pytest.fixture
def people(database_url: str) -> dict:
    """On SQLite and PostgreSQL, for what the database does."""
    return add_people(database_url)


@pytest.fixture
def sqlite_people(sqlite_url: str) -> dict:
    """On SQLite only, for checks of the upload itself."""
    return add_people(sqlite_url)


# --- the store ----------------------------------------------------------------------------------


def test_store_round_trip_is_content_addressed_and_keeps_one_copy(store: LocalDocumentStore):
    assert isinstance(store, DocumentStore)
    digest = store.put(PDF)
    assert digest == hashlib.sha256(PDF).hexdigest()
    assert store.root / digest[:2] / digest[2:4] / digest == files_under(store.root)[0]
    assert store.get(digest) == PDF
    assert store.exists(digest)
    assert store.put(PDF) == digest
    assert files_under(store.root) == [store.root / digest[:2] / digest[2:4] / digest]  # no temp files left
    other = store.put(PNG)
    assert other != digest and store.get(other) == PNG
    assert len(files_under(store.root)) == 2


def test_store_creates_its_directories_and_empty_content_works(tmp_path: Path):
    store = document_store(tmp_path / "a" / "b" / "documents")
    digest = store.put(b"")
    assert store.get(digest) == b""


def test_settings_keep_documents_under_the_data_dir(tmp_path: Path):
    settings = Settings(env="test", data_dir=tmp_path, database_url="sqlite://")
    assert settings.documents_dir == tmp_path / "documents"
    store = document_store(settings.documents_dir)
    digest = store.put(PDF)
    assert (tmp_path / "documents" / digest[:2] / digest[2:4] / digest).read_bytes() == PDF


@pytest.mark.parametrize(
    "bad",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "..",
        "",
        "abc",
        "g" * 64,
        "A" * 64,  # upper case is not how the store names anything
        "a" * 63,
        "a" * 65,
        "a" * 64 + "\n",
        "a" * 62 + "/.",
        "..\\" + "a" * 61,
    ],
)
def test_get_refuses_anything_but_a_sha256(store: LocalDocumentStore, bad: str):
    store.put(PDF)
    with pytest.raises(ValueError):
        store.get(bad)
    assert store.exists(bad) is False


def test_get_of_unknown_or_damaged_content_is_missing(store: LocalDocumentStore):
    with pytest.raises(DocumentMissing):
        store.get("0" * 64)
    assert store.exists("0" * 64) is False
    digest = store.put(PDF)
    (store.root / digest[:2] / digest[2:4] / digest).write_bytes(b"%PDF-tampered")
    with pytest.raises(DocumentMissing):
        store.get(digest)


# --- what a file is -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (PDF, "application/pdf"),
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (TIFF_LE, "image/tiff"),
        (TIFF_BE, "image/tiff"),
        (WINDOWS_EXE, None),
        (LINUX_ELF, None),
        (b"", None),
        (b"%PDF", None),  # too short to be the signature
        (b"\xff\xd8", None),
        (b"GIF89a" + b"\x00" * 10, None),
        (b"PK\x03\x04" + b"\x00" * 10, None),
        (b"<html><script>alert(1)</script>", None),
        (b"  %PDF-1.4", None),  # the signature must come first
        (b"II*\x01", None),
    ],
)
def test_sniffing_uses_the_first_bytes_only(data: bytes, expected: str | None):
    assert sniff_content_type(data) == expected


# --- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "content_type", "expected"),
    [
        ("passport.pdf", "application/pdf", "passport.pdf"),
        ("../../etc/passwd", "application/pdf", "passwd.pdf"),
        ("C:\\evil\\a.pdf", "application/pdf", "a.pdf"),
        ("/var/www/../x/photo.JPG", "image/jpeg", "photo.jpg"),
        ("scan.tiff", "image/tiff", "scan.tif"),
        ("invoice.exe", "application/pdf", "invoice.pdf"),
        ("picture.pdf", "image/png", "picture.png"),
        ("Smith, J. birth certificate", "application/pdf", "Smith, J. birth certificate.pdf"),
        ("a\x00b\nc\r\td\x1b[31m.pdf", "application/pdf", "abcd[31m.pdf"),
        ("invoice\u202efdp.exe", "application/pdf", "invoicefdp.pdf"),
        ("zero\u200bwidth\ufeff.pdf", "application/pdf", "zerowidth.pdf"),
        ('say "hi"; rm -rf *.pdf', "application/pdf", "say hi rm -rf.pdf"),
        ("<script>alert(1)</script>.png", "image/png", "script.png"),  # "/" ends a path part
        ("<b onclick=alert(1)>.png", "image/png", "b onclickalert(1).png"),
        ("Acta de nacimiento – José Núñez.pdf", "application/pdf", "Acta de nacimiento José Núñez.pdf"),
        ("出生证明.pdf", "application/pdf", "出生证明.pdf"),
        ("", "application/pdf", "document.pdf"),
        ("   ", "image/png", "document.png"),
        ("...", "image/jpeg", "document.jpg"),
        (".pdf", "application/pdf", "document.pdf"),
        ("..", "application/pdf", "document.pdf"),
        ("folder/", "application/pdf", "document.pdf"),
        (".bashrc", "application/pdf", "bashrc.pdf"),
        ("CON.pdf", "application/pdf", "document.pdf"),
        ("nul", "image/png", "document.png"),
        ("\u202e\u202e", "application/pdf", "document.pdf"),
        ("report", None, "report"),
        ("", None, "document"),
    ],
)
def test_display_names(raw: str, content_type: str | None, expected: str):
    assert safe_display_name(raw, content_type) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "../../etc/passwd",
        "C:\\evil\\a.pdf",
        "a\x00\x01\x7f\x85b.pdf",
        "\u202egnp.exe",
        "x" * 500,
        "y" * 300 + ".pdf",
        "/" * 500,
        "é" * 500,
        "e\u0301" * 300,  # decomposed: NFC makes each pair one character
        "",
        "\n",
    ],
)
@pytest.mark.parametrize("content_type", sorted(ACCEPTED_TYPES))
def test_every_display_name_is_short_clean_and_typed(raw: str, content_type: str):
    name = safe_display_name(raw, content_type)
    assert 0 < len(name) <= 120
    assert name.endswith(ACCEPTED_TYPES[content_type])
    assert not name.startswith((".", " "))
    assert "/" not in name and "\\" not in name
    assert all(unicodedata.category(c)[0] not in "CZ" or c == " " for c in name)
    assert name == unicodedata.normalize("NFC", name)


# --- uploads ------------------------------------------------------------------------------------


UPLOADS = [
    ("passport.pdf", PDF, "application/pdf", "passport.pdf"),
    ("photo.jpeg", JPEG, "image/jpeg", "photo.jpg"),
    ("Photo.PNG", PNG, "image/png", "Photo.png"),
    ("scan.tif", TIFF_BE, "image/tiff", "scan.tif"),
    ("scan from the office", TIFF_LE, "image/tiff", "scan from the office.tif"),
]


def test_store_upload_keeps_bytes_and_row(database_url, people, store):
    with session_scope(database_url) as db:
        ids = [
            store_upload(
                db, store, data=data, raw_name=raw_name, owner_id=people["applicant"], kind="evidence",
                receipt_number=people["receipt"], evidence_item="identity",
            ).id
            for raw_name, data, _, _ in UPLOADS
        ]
    with session_scope(database_url) as db:
        for document_id, (_, data, content_type, display_name) in zip(ids, UPLOADS, strict=True):
            row = db.get(Document, document_id)
            assert row is not None
            assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", row.id)
            assert (row.content_type, row.display_name, row.size) == (content_type, display_name, len(data))
            assert (row.receipt_number, row.owner_id, row.kind, row.evidence_item, row.draft_id) == (
                people["receipt"], people["applicant"], "evidence", "identity", None,
            )
            assert row.uploaded_at.tzinfo is not None
            assert row.sha256 == hashlib.sha256(data).hexdigest()
            assert store.get(row.sha256) == data


def test_store_upload_flushes_but_does_not_commit(database_url, people, store):
    with Session(get_engine(database_url), expire_on_commit=False) as db:
        document = store_upload(db, store, data=PDF, raw_name="a.pdf", owner_id=people["applicant"], kind="evidence")
        assert db.get(Document, document.id) is document
        db.rollback()
    with session_scope(database_url) as db:
        assert db.exec(select(Document)).all() == []


def test_the_same_file_twice_is_two_documents_and_one_stored_copy(database_url, people, store):
    with session_scope(database_url) as db:
        first = store_upload(db, store, data=PDF, raw_name="a.pdf", owner_id=people["applicant"], kind="evidence")
        second = store_upload(db, store, data=PDF, raw_name="b.pdf", owner_id=people["other"], kind="evidence")
    assert first.id != second.id and first.sha256 == second.sha256
    assert len(files_under(store.root)) == 1


@pytest.mark.parametrize(
    ("data", "raw_name", "code"),
    [
        (WINDOWS_EXE, "invoice.pdf", "type"),
        (LINUX_ELF, "passport.pdf", "type"),
        (LINUX_ELF, "photo.jpg", "type"),
        (b"<html><script>alert(document.cookie)</script></html>", "page.pdf", "type"),
        (b"GIF89a" + b"\x00" * 20, "photo.png", "type"),
        (b"", "empty.pdf", "empty"),
        (b"%PDF-" + b"0" * (MAX_UPLOAD_BYTES - 4), "big.pdf", "too_large"),
    ],
)
def test_refused_uploads_store_nothing(sqlite_url, sqlite_people, store, data: bytes, raw_name: str, code: str):
    with session_scope(sqlite_url) as db:
        with pytest.raises(UploadRejected) as refused:
            store_upload(db, store, data=data, raw_name=raw_name, owner_id=sqlite_people["applicant"], kind="evidence")
        assert db.exec(select(Document)).all() == []
    assert refused.value.code == code
    assert isinstance(refused.value, ValueError)
    assert str(refused.value) == refused.value.message
    assert files_under(store.root) == []


def test_refusal_messages_say_what_to_do():
    messages = {}
    for data in [b"", WINDOWS_EXE, b"%PDF-" + bytes(MAX_UPLOAD_BYTES)]:
        try:
            check_upload(data)
        except UploadRejected as refused:
            messages[refused.code] = refused.message
    assert "empty" in messages["empty"]
    assert "6 MB" in messages["too_large"]
    assert all(kind in messages["type"] for kind in ("PDF", "JPEG", "PNG", "TIFF"))


def test_limit_is_six_megabytes_exactly(database_url, people, store):
    exactly = b"%PDF-1.7\n" + b"0" * (MAX_UPLOAD_BYTES - 9)
    assert len(exactly) == MAX_UPLOAD_BYTES == 6 * 1024 * 1024
    with session_scope(database_url) as db:
        document = store_upload(db, store, data=exactly, raw_name="big.pdf", owner_id=people["applicant"], kind="evidence")
        assert document.size == MAX_UPLOAD_BYTES
        with pytest.raises(UploadRejected) as refused:
            store_upload(db, store, data=exactly + b"0", raw_name="big.pdf", owner_id=people["applicant"], kind="evidence")
    assert refused.value.code == "too_large"
    assert store.get(document.sha256) == exactly


@pytest.mark.parametrize(
    "raw_name",
    ["../../etc/passwd", "C:\\evil\\a.pdf", "../" * 50 + "x.pdf", "a\x00b.pdf", "\u202efdp.exe", "n" * 500, ""],
)
def test_odd_names_never_escape_the_store(sqlite_url, sqlite_people, tmp_path: Path, raw_name: str):
    area = tmp_path / "area"  # the store's root and everything around it
    root = area / "documents" / "store"
    store = LocalDocumentStore(root)
    with session_scope(sqlite_url) as db:
        document = store_upload(db, store, data=PDF, raw_name=raw_name, owner_id=sqlite_people["applicant"], kind="evidence")
    assert set(files_under(area)) == {root / document.sha256[:2] / document.sha256[2:4] / document.sha256}
    assert not any(p.name in ("passwd", "a.pdf", "x.pdf") for p in tmp_path.rglob("*"))
    assert HEX64.match(document.sha256)
    assert len(document.display_name) <= 120 and document.display_name.endswith(".pdf")
    assert "/" not in document.display_name and "\\" not in document.display_name


def test_programming_mistakes_are_not_upload_refusals(sqlite_url, sqlite_people, store):
    with session_scope(sqlite_url) as db:
        for bad in [dict(kind="selfie"), dict(kind="evidence", receipt_number="../IOE")]:
            with pytest.raises(ValueError) as raised:
                store_upload(db, store, data=PDF, raw_name="a.pdf", owner_id=sqlite_people["applicant"], **bad)
            assert not isinstance(raised.value, UploadRejected)


# --- listing and seeing -------------------------------------------------------------------------


def test_documents_for_case_newest_first_and_only_that_case(database_url, people, store):
    now = utcnow()
    with session_scope(database_url) as db:
        other_filing = file_i765(db, applicant_id=people["other"], office="IOE")
        for age, name in [(3, "oldest.pdf"), (1, "newest.pdf"), (2, "middle.pdf")]:
            document = store_upload(
                db, store, data=PDF + name.encode(), raw_name=name, owner_id=people["applicant"], kind="evidence",
                receipt_number=people["receipt"],
            )
            document.uploaded_at = now - timedelta(hours=age)
        store_upload(db, store, data=PNG, raw_name="theirs.png", owner_id=people["other"], kind="evidence",
                     receipt_number=other_filing.receipt_number)
        store_upload(db, store, data=JPEG, raw_name="draft.jpg", owner_id=people["applicant"], kind="evidence",
                     draft_id="d" * 36)
    with session_scope(database_url) as db:
        listed = documents_for_case(db, people["receipt"])
        assert [d.display_name for d in listed] == ["newest.pdf", "middle.pdf", "oldest.pdf"]
        assert documents_for_case(db, "IOE0000000000") == []


def test_who_may_see_a_document(database_url, people, store):
    with session_scope(database_url) as db:
        on_case = store_upload(db, store, data=PDF, raw_name="a.pdf", owner_id=people["applicant"], kind="evidence",
                               receipt_number=people["receipt"]).id
        on_draft = store_upload(db, store, data=PNG, raw_name="b.png", owner_id=people["applicant"], kind="evidence",
                                draft_id="d" * 36).id
        # A notice the system put on the case (not uploaded by the applicant) is still the applicant's to read.
        notice = store_upload(db, store, data=PDF + b"notice", raw_name="notice.pdf", owner_id=people["officer"],
                              kind="notice", receipt_number=people["receipt"]).id
    with session_scope(database_url) as db:
        def seen(who: str, document_id: str) -> bool:
            return visible_document(db, document_id, db.get(User, people[who])) is not None

        assert [seen(w, on_case) for w in ("applicant", "officer", "supervisor", "other", "admin")] == [
            True, True, True, False, False,
        ]
        assert [seen(w, on_draft) for w in ("applicant", "officer", "supervisor", "other", "admin")] == [
            True, False, False, False, False,
        ]
        assert seen("applicant", notice) and seen("officer", notice) and not seen("other", notice)
        for malformed in ["", "nope", "../../etc/passwd", on_case.upper(), on_case + " ", "0" * 36]:
            assert visible_document(db, malformed, db.get(User, people["applicant"])) is None
        assert visible_document(db, "00000000-0000-4000-8000-000000000000", db.get(User, people["applicant"])) is None
