"""The S3 document store against a real S3 API (moto's server, over HTTP), and the contract it
shares with the local store."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.exceptions
import pytest
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from models.documents import DocumentMissing, DocumentStore, LocalDocumentStore
from models.s3store import S3DocumentStore, make_s3_client, store_from_settings
from settings import Settings
from tests.conftest import free_port

ACCESS_KEY = "caseline-test-key"
SECRET_KEY = "caseline-test-secret"
PDF = b"%PDF-1.7\n" + b"evidence " * 500 + b"\n%%EOF\n"
MALFORMED = [
    "",
    "abc",
    hashlib.sha256(b"x").hexdigest().upper(),  # upper case is not the name the store gives
    hashlib.sha256(b"x").hexdigest()[:63],
    hashlib.sha256(b"x").hexdigest() + "0",
    hashlib.sha256(b"x").hexdigest() + "\n",
    "../" + hashlib.sha256(b"x").hexdigest()[3:],
    "ab/cd/" + hashlib.sha256(b"x").hexdigest()[6:],
    "g" * 64,
]


# --- a real S3 API server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str) -> Any:
    return make_s3_client(
        endpoint_url=s3_endpoint, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, path_style=True
    )


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"caseline-{uuid.uuid4().hex[:16]}"
    s3_client.create_bucket(Bucket=name)
    return name


def keys_in(client: Any, bucket: str) -> list[str]:
    response = client.list_objects_v2(Bucket=bucket)
    return sorted(item["Key"] for item in response.get("Contents", []))


class Calls:
    """The S3 operations a client sent, with the headers of each request as it went on the wire."""

    def __init__(self, client: Any) -> None:
        self.sent: list[tuple[str, dict[str, str], str]] = []
        client.meta.events.register("before-send.s3.*", self._record)

    def _record(self, request: Any, event_name: str, **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        headers = {k.lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        self.sent.append((operation, headers, request.url))

    def operations(self) -> list[str]:
        return [operation for operation, _, _ in self.sent]

    def headers(self, operation: str) -> list[dict[str, str]]:
        return [headers for op, headers, _ in self.sent if op == operation]


def recording_store(endpoint: str, bucket: str, **kwargs: Any) -> tuple[S3DocumentStore, Calls]:
    """A store on its own client, so recording its requests sees nobody else's."""
    client = make_s3_client(
        endpoint_url=endpoint, access_key_id=ACCESS_KEY, secret_access_key=SECRET_KEY, path_style=True
    )
    return S3DocumentStore(bucket, client=client, **kwargs), Calls(client)


# --- S3DocumentStore -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"x", PDF, os.urandom(2 * 1024 * 1024 + 17)], ids=["empty", "1B", "pdf", "2MB"])
def test_round_trip(s3_client: Any, bucket: str, data: bytes) -> None:
    store = S3DocumentStore(bucket, client=s3_client)
    name = store.put(data)
    assert name == hashlib.sha256(data).hexdigest()
    assert store.exists(name)
    assert store.get(name) == data
    assert keys_in(s3_client, bucket) == [f"documents/{name[:2]}/{name[2:4]}/{name}"]


def test_same_bytes_are_uploaded_once(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store, calls = recording_store(s3_endpoint, bucket)
    first = store.put(PDF)
    second = store.put(PDF)
    assert first == second
    assert calls.operations() == ["HeadObject", "PutObject", "HeadObject"]  # HEAD first, PUT once
    assert keys_in(s3_client, bucket) == [store.key_for(first)]
    other = store.put(PDF + b" ")
    assert other != first
    assert len(keys_in(s3_client, bucket)) == 2


def test_unknown_document_is_missing(s3_client: Any, bucket: str) -> None:
    store = S3DocumentStore(bucket, client=s3_client)
    name = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(name)
    with pytest.raises(DocumentMissing):
        store.get(name)


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_names_never_reach_the_server(s3_endpoint: str, bucket: str, name: str) -> None:
    store, calls = recording_store(s3_endpoint, bucket)
    with pytest.raises(ValueError):
        store.get(name)
    assert store.exists(name) is False
    with pytest.raises(ValueError):
        store.key_for(name)
    assert calls.operations() == []


def test_damaged_object_is_missing_and_put_repairs_a_wrong_size(s3_client: Any, bucket: str) -> None:
    store = S3DocumentStore(bucket, client=s3_client)
    name = store.put(PDF)
    s3_client.put_object(Bucket=bucket, Key=store.key_for(name), Body=b"%PDF- not what was uploaded")
    with pytest.raises(DocumentMissing, match="damaged"):
        store.get(name)
    assert store.exists(name)  # an object is there, but it is not this content
    # Uploading the right bytes again replaces an object of the wrong size.
    assert store.put(PDF) == name
    assert store.get(name) == PDF


def test_damage_of_the_same_size_is_caught_on_read(s3_client: Any, bucket: str) -> None:
    store = S3DocumentStore(bucket, client=s3_client)
    name = store.put(PDF)
    flipped = bytearray(PDF)
    flipped[100] ^= 0x01
    s3_client.put_object(Bucket=bucket, Key=store.key_for(name), Body=bytes(flipped))
    with pytest.raises(DocumentMissing):
        store.get(name)


def test_prefix_is_respected_and_stores_with_other_prefixes_are_separate(s3_client: Any, bucket: str) -> None:
    evidence = S3DocumentStore(bucket, prefix="tenant-a/evidence", client=s3_client)
    notices = S3DocumentStore(bucket, prefix="/tenant-b/notices/", client=s3_client)
    root = S3DocumentStore(bucket, prefix="", client=s3_client)
    assert (evidence.prefix, notices.prefix, root.prefix) == ("tenant-a/evidence/", "tenant-b/notices/", "")
    name = evidence.put(PDF)
    assert keys_in(s3_client, bucket) == [f"tenant-a/evidence/{name[:2]}/{name[2:4]}/{name}"]
    assert not notices.exists(name)
    with pytest.raises(DocumentMissing):
        notices.get(name)
    assert not root.exists(name)
    root.put(PDF)
    assert f"{name[:2]}/{name[2:4]}/{name}" in keys_in(s3_client, bucket)


def test_default_upload_carries_the_sha256_the_server_keeps(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store, calls = recording_store(s3_endpoint, bucket)
    name = store.put(PDF)
    expected = base64.b64encode(hashlib.sha256(PDF).digest()).decode()
    (headers,) = calls.headers("PutObject")
    assert headers["x-amz-checksum-sha256"] == expected
    assert "content-md5" not in headers
    assert not any(h.startswith("x-amz-checksum-") and h != "x-amz-checksum-sha256" for h in headers)
    assert "aws-chunked" not in headers.get("content-encoding", "")  # a plain body: MinIO/Ceph friendly
    head = s3_client.head_object(Bucket=bucket, Key=store.key_for(name), ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == expected


def test_md5_upload_for_endpoints_without_flexible_checksums(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store, calls = recording_store(s3_endpoint, bucket, checksum="md5")
    name = store.put(PDF)
    (headers,) = calls.headers("PutObject")
    assert headers["content-md5"] == base64.b64encode(hashlib.md5(PDF).digest()).decode()
    assert not any(h.startswith("x-amz-checksum-") for h in headers)
    assert store.get(name) == PDF
    assert s3_client.head_object(Bucket=bucket, Key=store.key_for(name))["ETag"].strip('"') == hashlib.md5(PDF).hexdigest()


def test_server_side_encryption_is_passed_through(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    aes, aes_calls = recording_store(s3_endpoint, bucket, sse="AES256")
    name = aes.put(PDF)
    assert aes_calls.headers("PutObject")[0]["x-amz-server-side-encryption"] == "AES256"
    assert s3_client.head_object(Bucket=bucket, Key=aes.key_for(name))["ServerSideEncryption"] == "AES256"
    assert aes.get(name) == PDF

    kms = S3DocumentStore(bucket, prefix="kms/", client=s3_client, sse="aws:kms", kms_key_id="alias/caseline-documents")
    name = kms.put(b"%PDF-kms")
    head = s3_client.head_object(Bucket=bucket, Key=kms.key_for(name))
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"].endswith("alias/caseline-documents")

    plain, plain_calls = recording_store(s3_endpoint, bucket)
    plain.put(b"%PDF-plain")
    assert "x-amz-server-side-encryption" not in plain_calls.headers("PutObject")[0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sse": "aes256"}, "server-side encryption"),
        ({"sse": "AES256", "kms_key_id": "alias/k"}, "KMS key id"),
        ({"checksum": "crc32"}, "checksum"),
    ],
)
def test_bad_options_are_refused(s3_client: Any, kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        S3DocumentStore("caseline-docs", client=s3_client, **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bucket"):
        S3DocumentStore("", client=s3_client)


def test_a_missing_bucket_is_an_error_not_a_missing_document(s3_client: Any, bucket: str) -> None:
    store = S3DocumentStore(f"{bucket}-absent", client=s3_client)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        store.get(hashlib.sha256(b"x").hexdigest())
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"
    with pytest.raises(botocore.exceptions.ClientError):
        store.check()
    S3DocumentStore(bucket, client=s3_client).check()


def test_access_denied_is_raised_not_taken_for_absent() -> None:
    """Without s3:ListBucket, S3 answers a HEAD for an absent key with 403: that must not read as
    "absent" (exists) nor lead to an upload that would fail or overwrite blindly (put)."""
    client = make_s3_client(endpoint_url="http://127.0.0.1:9", access_key_id="k", secret_access_key="s")
    store = S3DocumentStore("caseline-docs", client=client)
    name = hashlib.sha256(PDF).hexdigest()
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(botocore.exceptions.ClientError):
            store.exists(name)
        stub.add_client_error("head_object", service_error_code="403", http_status_code=403)
        with pytest.raises(botocore.exceptions.ClientError):
            store.put(PDF)
        stub.add_client_error("get_object", service_error_code="AccessDenied", http_status_code=403)
        with pytest.raises(botocore.exceptions.ClientError):
            store.get(name)
        stub.assert_no_pending_responses()


# --- store_from_settings ---------------------------------------------------------------------------


def s3_settings(endpoint: str, bucket: str, **overrides: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "document_store": "s3",
        "s3_bucket": bucket,
        "s3_endpoint_url": endpoint,
        "s3_region": "eu-central-1",
        "s3_access_key_id": ACCESS_KEY,
        "s3_secret_access_key": SECRET_KEY,
        "s3_path_style": True,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def test_settings_default_to_the_local_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    store = store_from_settings(settings)
    assert isinstance(store, LocalDocumentStore)
    assert store.root == settings.documents_dir
    name = store.put(PDF)
    assert (settings.documents_dir / name[:2] / name[2:4] / name).read_bytes() == PDF

    explicit = store_from_settings(SimpleNamespace(document_store="local", documents_dir=tmp_path / "docs"))
    assert isinstance(explicit, LocalDocumentStore) and explicit.root == tmp_path / "docs"


def test_settings_choose_s3(s3_endpoint: str, s3_client: Any, bucket: str) -> None:
    store = store_from_settings(s3_settings(s3_endpoint, bucket, s3_prefix="caseline/docs/", s3_sse="AES256"))
    assert isinstance(store, S3DocumentStore)
    assert isinstance(store, DocumentStore)
    assert (store.bucket, store.prefix, store.sse) == (bucket, "caseline/docs/", "AES256")
    assert store.client.meta.region_name == "eu-central-1"
    assert store.client.meta.config.s3["addressing_style"] == "path"
    assert store.client.meta.endpoint_url == s3_endpoint
    calls = Calls(store.client)
    name = store.put(PDF)
    assert store.get(name) == PDF
    assert keys_in(s3_client, bucket) == [f"caseline/docs/{name[:2]}/{name[2:4]}/{name}"]
    assert s3_client.head_object(Bucket=bucket, Key=store.key_for(name))["ServerSideEncryption"] == "AES256"
    _, headers, url = calls.sent[0]
    assert url.startswith(f"{s3_endpoint}/{bucket}/caseline/docs/")  # path-style addressing
    assert f"Credential={ACCESS_KEY}/" in headers["authorization"]
    assert "/eu-central-1/s3/" in headers["authorization"]


def test_settings_s3_defaults(s3_endpoint: str, bucket: str) -> None:
    settings = SimpleNamespace(
        document_store="S3 ",
        s3_bucket=bucket,
        s3_endpoint_url=s3_endpoint,
        s3_access_key_id=ACCESS_KEY,
        s3_secret_access_key=SECRET_KEY,
    )
    store = store_from_settings(settings)
    assert isinstance(store, S3DocumentStore)
    assert (store.prefix, store.sse, store.checksum) == ("documents/", "", "sha256")
    assert store.client.meta.region_name == "us-east-1"
    assert store.client.meta.config.s3["addressing_style"] == "auto"


def test_settings_without_keys_use_the_default_credential_chain(
    s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-the-environment")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-from-the-environment")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    store = store_from_settings(s3_settings(s3_endpoint, bucket, s3_access_key_id="", s3_secret_access_key=""))
    calls = Calls(store.client)
    assert store.exists(store.put(b"%PDF-chain"))
    assert "Credential=from-the-environment/" in calls.sent[0][1]["authorization"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"document_store": "gcs"}, "unknown document store 'gcs'"),
        ({"s3_bucket": ""}, "CASELINE_S3_BUCKET"),
        ({"s3_secret_access_key": ""}, "both"),
        ({"s3_access_key_id": ""}, "both"),
        ({"s3_sse": "rot13"}, "server-side encryption"),
    ],
)
def test_settings_mistakes_are_refused_clearly(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        store_from_settings(s3_settings("http://127.0.0.1:9", "caseline-docs", **overrides))


# --- the contract both stores keep -----------------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def store_and_damage(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[DocumentStore, Callable[[str, bytes], None]]:
    """A store, and a way to overwrite what it keeps under a name behind its back."""
    if request.param == "local":
        local = LocalDocumentStore(tmp_path / "documents")

        def damage_local(name: str, data: bytes) -> None:
            local.path_for(name).write_bytes(data)

        return local, damage_local
    client = request.getfixturevalue("s3_client")
    s3 = S3DocumentStore(request.getfixturevalue("bucket"), client=client)

    def damage_s3(name: str, data: bytes) -> None:
        client.put_object(Bucket=s3.bucket, Key=s3.key_for(name), Body=data)

    return s3, damage_s3


def test_contract(store_and_damage: tuple[DocumentStore, Callable[[str, bytes], None]]) -> None:
    store, damage = store_and_damage
    assert isinstance(store, DocumentStore)

    name = store.put(PDF)
    assert name == hashlib.sha256(PDF).hexdigest()
    assert store.put(PDF) == name
    assert store.exists(name)
    assert store.get(name) == PDF
    assert store.get(store.put(b"")) == b""

    absent = hashlib.sha256(b"absent").hexdigest()
    assert store.exists(absent) is False
    with pytest.raises(DocumentMissing):
        store.get(absent)
    assert issubclass(DocumentMissing, LookupError)

    for malformed in MALFORMED:
        assert store.exists(malformed) is False
        with pytest.raises(ValueError):
            store.get(malformed)

    damage(name, b"%PDF- something else")
    with pytest.raises(DocumentMissing):
        store.get(name)
