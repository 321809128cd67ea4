"""The payload codec: AES-GCM with key ids, rotation, refusals, pass-through of payloads recorded
before it, failure messages moved into the encrypted attributes, and the key setting's checks."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload
from temporalio.api.failure.v1 import Failure
from temporalio.exceptions import ApplicationError

from settings import Settings
from workflows.client import DATA_CONVERTER, data_converter
from workflows.codec import DEV_PAYLOAD_KEYS, ENCODING, KEY_ID, EncryptionCodec, PayloadKeyError, new_key_setting, parse_keys

PERSONAL = "Thị Ngọc Nguyễn-Müller, born 1990-04-27, 12 Oak Street, Columbus OH"
K1 = "k1:" + base64.b64encode(b"1" * 32).decode()
K2 = "k2:" + base64.b64encode(b"2" * 32).decode()


def plain(text: str = PERSONAL) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'"{text}"'.encode())


async def test_a_payload_is_encrypted_under_the_active_key_and_comes_back_whole() -> None:
    codec = EncryptionCodec(f"{K2},{K1}")
    [sealed] = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k2"
    assert PERSONAL.encode() not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain()]


async def test_each_encryption_uses_a_fresh_nonce() -> None:
    codec = EncryptionCodec(K1)
    first, second = await codec.encode([plain(), plain()])
    assert first.data[:12] != second.data[:12] and first.data != second.data


async def test_rotation_old_payloads_still_decode_after_a_new_key_is_put_first() -> None:
    [old] = await EncryptionCodec(K1).encode([plain()])
    rotated = EncryptionCodec(f"{K2},{K1}")
    assert await rotated.decode([old]) == [plain()]
    [new] = await rotated.encode([plain()])
    assert new.metadata[KEY_ID] == b"k2"
    with pytest.raises(PayloadKeyError, match="'k2', which is not configured"):
        await EncryptionCodec(K1).decode([new])  # a client that was not given the new key


async def test_a_damaged_or_relabelled_payload_is_refused() -> None:
    codec = EncryptionCodec(f"{K1},{K2}")
    [sealed] = await codec.encode([plain()])
    damaged = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(PayloadKeyError, match="damaged or forged"):
        await codec.decode([damaged])
    # The key id is the associated data: the same bytes labelled with another key do not decrypt.
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k2"}, data=sealed.data)
    with pytest.raises(PayloadKeyError, match="damaged or forged"):
        await codec.decode([relabelled])


async def test_payloads_recorded_before_the_codec_pass_through() -> None:
    assert await EncryptionCodec(K1).decode([plain()]) == [plain()]


async def test_failure_messages_and_stack_traces_are_encrypted_too() -> None:
    failure = Failure()
    DATA_CONVERTER.failure_converter.to_failure(ApplicationError(f"could not reach {PERSONAL}"), DATA_CONVERTER.payload_converter, failure)
    await DATA_CONVERTER.payload_codec.encode_failure(failure)
    assert failure.message == "Encoded failure"
    assert PERSONAL.encode() not in failure.SerializeToString()
    await DATA_CONVERTER.payload_codec.decode_failure(failure)
    decoded = DATA_CONVERTER.failure_converter.from_failure(failure, DATA_CONVERTER.payload_converter)
    assert PERSONAL in str(decoded)


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("", "at least one payload key"),
        ("k1", "id:base64"),
        ("bad id:" + base64.b64encode(b"1" * 32).decode(), "id:base64"),
        ("k1:not base64!", "not valid base64"),
        ("k1:" + base64.b64encode(b"short").decode(), "must be 32 bytes"),
        (f"{K1},{K1}", "given twice"),
    ],
)
def test_malformed_key_settings_are_refused(setting: str, problem: str) -> None:
    with pytest.raises(PayloadKeyError, match=problem):
        parse_keys(setting)


def test_new_keys_are_random_and_usable() -> None:
    first, second = new_key_setting("2026-11"), new_key_setting("2026-11")
    assert first != second
    assert parse_keys(first)[0] == "2026-11"
    with pytest.raises(PayloadKeyError):
        new_key_setting("no spaces")


def test_settings_refuse_the_development_key_outside_dev_and_any_malformed_setting() -> None:
    secret = "s" * 40
    with pytest.raises(ValidationError, match="CASELINE_PAYLOAD_KEYS"):
        Settings(_env_file=None, env="production", secret_key=secret)
    with pytest.raises(ValidationError, match="CASELINE_PAYLOAD_KEYS"):
        Settings(_env_file=None, env="production", secret_key=secret, payload_keys=f"{K1},{DEV_PAYLOAD_KEYS}")
    with pytest.raises(ValidationError, match="must be 32 bytes"):
        Settings(_env_file=None, env="dev", payload_keys="k1:" + base64.b64encode(b"x").decode())
    assert Settings(_env_file=None, env="production", secret_key=secret, payload_keys=K1).payload_keys == K1


def test_every_client_shares_one_converter_per_key_setting() -> None:
    assert data_converter(K1) is data_converter(K1)
    assert data_converter(DEV_PAYLOAD_KEYS) is DATA_CONVERTER
