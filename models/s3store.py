"""The document store on S3-compatible object storage (AWS S3, MinIO, Ceph RGW, ...).

Same contract as ``models.documents.LocalDocumentStore``: content is kept under its SHA-256 at
``{prefix}ab/cd/<sha256>``, the same bytes twice are uploaded once (a HEAD comes first), and what is
read back is checked against its name, so damaged content is reported as missing, never served.

Every upload carries an integrity check the server verifies before it keeps the object: the
SHA-256 we already computed (``x-amz-checksum-sha256``, the default) or, for older endpoints that do
not know the flexible checksums, ``Content-MD5``. Server-side encryption (``AES256`` or ``aws:kms``
with an optional key id) is passed through when set.

``store_from_settings`` picks the local or the S3 store from ``Settings``. No web imports.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any, Literal

from models.documents import DocumentMissing, DocumentStore, LocalDocumentStore, is_sha256

CONTENT_TYPE = "application/octet-stream"
SSE_MODES = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})
CHECKSUM_MODES = frozenset({"sha256", "md5"})

# Error codes S3 (and look-alikes) answer for "no such object". A HEAD has no body, so only its
# HTTP status is there ("404", which a missing bucket answers too); a GET says NoSuchKey, and a
# missing bucket (NoSuchBucket) is a configuration error, raised as it is.
_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def _is_missing(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    return code in _MISSING_CODES


def _secret(value: Any) -> str:
    """A plain string from a ``str`` or a pydantic ``SecretStr`` (``None`` → ``""``)."""
    if value is None:
        return ""
    getter = getattr(value, "get_secret_value", None)
    return str(getter() if callable(getter) else value)


def make_s3_client(
    *,
    endpoint_url: str = "",
    region: str = "us-east-1",
    access_key_id: str = "",
    secret_access_key: str = "",
    path_style: bool = False,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
    max_attempts: int = 5,
) -> Any:
    """A boto3 S3 client. ``endpoint_url`` empty means AWS; empty keys mean the default AWS
    credential chain (environment, shared config, instance or task role, web identity).

    Checksums are only computed when an operation requires them: the store sends its own
    (SHA-256 or Content-MD5), and third-party endpoints that predate the flexible checksums are
    not sent trailers they cannot read."""
    import boto3
    from botocore.config import Config

    if bool(access_key_id) != bool(secret_access_key):
        raise ValueError("set both the S3 access key id and the secret access key, or neither (default AWS credentials)")
    config = Config(
        region_name=region or None,
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    kwargs: dict[str, Any] = {"config": config}
    if endpoint_url:
        kwargs["endpoint_url"] = endpoint_url
    if access_key_id:
        kwargs["aws_access_key_id"] = access_key_id
        kwargs["aws_secret_access_key"] = secret_access_key
    session = boto3.session.Session(region_name=region or None)
    return session.client("s3", **kwargs)


class S3DocumentStore:
    """Objects at ``s3://bucket/{prefix}ab/cd/<sha256>`` (see ``models.documents.DocumentStore``).

    ``client`` is a boto3 S3 client (``make_s3_client`` builds one when ``None``); ``checksum``
    says which integrity check uploads carry (``"sha256"``, or ``"md5"`` for endpoints without
    flexible checksums); ``sse`` is ``""``, ``"AES256"`` or ``"aws:kms"`` (with ``kms_key_id``, or
    the bucket's default KMS key)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "documents/",
        client: Any | None = None,
        *,
        sse: str = "",
        kms_key_id: str = "",
        checksum: Literal["sha256", "md5"] = "sha256",
    ) -> None:
        if not bucket:
            raise ValueError("an S3 document store needs a bucket name")
        if sse and sse not in SSE_MODES:
            raise ValueError(f"unknown server-side encryption {sse!r}; use one of {sorted(SSE_MODES)} or nothing")
        if kms_key_id and not sse.startswith("aws:kms"):
            raise ValueError("a KMS key id needs server-side encryption 'aws:kms'")
        if checksum not in CHECKSUM_MODES:
            raise ValueError(f"unknown upload checksum {checksum!r}; use 'sha256' or 'md5'")
        prefix = (prefix or "").lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        self.bucket = bucket
        self.prefix = prefix
        self.client = client if client is not None else make_s3_client()
        self.sse = sse
        self.kms_key_id = kms_key_id
        self.checksum = checksum

    def key_for(self, sha256: str) -> str:
        if not is_sha256(sha256):
            raise ValueError("a document is named by 64 lowercase hex digits")
        return f"{self.prefix}{sha256[:2]}/{sha256[2:4]}/{sha256}"

    def _head(self, key: str) -> dict[str, Any] | None:
        """The object's metadata, ``None`` when there is none. Anything else (no permission, the
        endpoint down, a missing bucket) is raised: it says nothing about the object."""
        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:  # botocore.exceptions.ClientError
            if _is_missing(error):
                return None
            raise

    def put(self, data: bytes) -> str:
        data = bytes(data)
        digest = hashlib.sha256(data).digest()
        name = digest.hex()
        key = self.key_for(name)
        head = self._head(key)
        if head is not None and head.get("ContentLength") == len(data):
            return name  # content-addressed: these bytes are already kept
        # Absent, or present with the wrong size (damaged): upload, with a check the server verifies.
        params: dict[str, Any] = {
            "Bucket": self.bucket,
            "Key": key,
            "Body": data,
            "ContentLength": len(data),
            "ContentType": CONTENT_TYPE,
        }
        if self.checksum == "sha256":
            params["ChecksumAlgorithm"] = "SHA256"
            params["ChecksumSHA256"] = base64.b64encode(digest).decode("ascii")
        else:
            params["ContentMD5"] = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")
        if self.sse:
            params["ServerSideEncryption"] = self.sse
            if self.kms_key_id:
                params["SSEKMSKeyId"] = self.kms_key_id
        self.client.put_object(**params)
        return name

    def get(self, sha256: str) -> bytes:
        key = self.key_for(sha256)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:  # botocore.exceptions.ClientError
            if _is_missing(error):
                raise DocumentMissing(sha256) from None
            raise
        body = response["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise DocumentMissing(f"{sha256} is damaged in s3://{self.bucket}/{key}")
        return data

    def exists(self, sha256: str) -> bool:
        """Whether content is kept under ``sha256``; never for a malformed name (nothing could be)."""
        return is_sha256(sha256) and self._head(self.key_for(sha256)) is not None

    def check(self) -> None:
        """Raise when the bucket cannot be reached with these credentials (call at start-up, so a
        misconfigured deployment fails at once rather than on the first upload)."""
        self.client.head_bucket(Bucket=self.bucket)

    def __repr__(self) -> str:
        return f"S3DocumentStore(bucket={self.bucket!r}, prefix={self.prefix!r})"


def store_from_settings(settings: Any) -> DocumentStore:
    """The document store ``settings`` ask for: ``document_store = "local"`` (the default, files
    under ``settings.documents_dir``) or ``"s3"`` (``s3_*`` settings; an empty endpoint is AWS,
    empty keys use the default AWS credential chain)."""
    kind = str(getattr(settings, "document_store", "local") or "local").strip().lower()
    if kind == "local":
        return LocalDocumentStore(settings.documents_dir)
    if kind == "s3":
        bucket = str(getattr(settings, "s3_bucket", "") or "").strip()
        if not bucket:
            raise ValueError("CASELINE_DOCUMENT_STORE=s3 needs CASELINE_S3_BUCKET")
        client = make_s3_client(
            endpoint_url=str(getattr(settings, "s3_endpoint_url", "") or ""),
            region=str(getattr(settings, "s3_region", "us-east-1") or "us-east-1"),
            access_key_id=_secret(getattr(settings, "s3_access_key_id", "")),
            secret_access_key=_secret(getattr(settings, "s3_secret_access_key", "")),
            path_style=bool(getattr(settings, "s3_path_style", False)),
        )
        prefix = getattr(settings, "s3_prefix", "documents/")
        return S3DocumentStore(
            bucket,
            "documents/" if prefix is None else str(prefix),
            client,
            sse=str(getattr(settings, "s3_sse", "") or ""),
            kms_key_id=str(getattr(settings, "s3_kms_key_id", "") or ""),
            checksum=str(getattr(settings, "s3_checksum", "sha256") or "sha256").lower(),  # type: ignore[arg-type]
        )
    raise ValueError(f"unknown document store {kind!r} (CASELINE_DOCUMENT_STORE): use 'local' or 's3'")


__all__ = ["S3DocumentStore", "make_s3_client", "store_from_settings"]
