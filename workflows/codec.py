"""Encrypting every payload Temporal stores: workflow and activity inputs and results, signals,
updates, queries, memos, and (with ``DefaultFailureConverterWithEncodedAttributes``) failure
messages and stack traces.

AES-256-GCM from ``cryptography``. Each payload is the serialised original ``Payload`` encrypted
under the active key with a fresh 96-bit nonce; the key's id is in the metadata (and is the
associated data, so a payload cannot be passed off as another key's). Keys are configured as
``CASELINE_PAYLOAD_KEYS="k2:<base64 of 32 bytes>,k1:<...>"``: the first encrypts, all of them
decrypt, so a key is rotated by putting a new one first and dropping the old one once no open
case's history needs it. Payloads without the encrypted encoding (histories recorded before the
codec) pass through unchanged.

The codec runs in every client (web, worker, CLI, tests) and in the web app's ``/codec/decode``
endpoint, which the Temporal Web UI calls for signed-in supervisors only.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_BYTES = 32
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")

# Development and tests only: Settings refuses it outside dev (like the dev secret key).
DEV_PAYLOAD_KEYS = "dev1:" + base64.b64encode(b"caseline-dev-only-payload-key-32").decode()


class PayloadKeyError(ValueError):
    """The key setting is malformed, or a payload names a key this codec does not have."""


def parse_keys(setting: str) -> tuple[str, dict[str, bytes]]:
    """``"id:base64,id:base64"`` -> (the active key id, every key by id)."""
    keys: dict[str, bytes] = {}
    order: list[str] = []
    for item in (part.strip() for part in setting.split(",")):
        if not item:
            continue
        key_id, sep, encoded = item.partition(":")
        if not sep or not _KEY_ID_RE.match(key_id):
            raise PayloadKeyError("each payload key is written id:base64, the id of letters, digits, '.', '_' or '-'")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"payload key {key_id!r} is not valid base64") from None
        if len(key) != KEY_BYTES:
            raise PayloadKeyError(f"payload key {key_id!r} must be {KEY_BYTES} bytes (AES-256), not {len(key)}")
        if key_id in keys:
            raise PayloadKeyError(f"payload key {key_id!r} is given twice")
        keys[key_id] = key
        order.append(key_id)
    if not order:
        raise PayloadKeyError("at least one payload key is needed")
    return order[0], keys


def new_key_setting(key_id: str) -> str:
    """A fresh key for ``CASELINE_PAYLOAD_KEYS`` (``caseline new-payload-key``)."""
    if not _KEY_ID_RE.match(key_id):
        raise PayloadKeyError("a key id is 1-32 letters, digits, '.', '_' or '-'")
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    def __init__(self, setting: str) -> None:
        self.active_key_id, keys = parse_keys(setting)
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}

    @property
    def key_ids(self) -> list[str]:
        return list(self._ciphers)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.active_key_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # not encrypted (recorded before the codec): as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode("ascii", "replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadKeyError(f"this payload was encrypted with key {key_id!r}, which is not configured")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadKeyError(f"this payload does not decrypt with key {key_id!r}: damaged or forged") from None
        return Payload.FromString(plain)


__all__ = ["DEV_PAYLOAD_KEYS", "ENCODING", "EncryptionCodec", "KEY_ID", "PayloadKeyError", "new_key_setting", "parse_keys"]
