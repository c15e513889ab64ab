"""PII encryption and keyrings, without a database: formats, associated data, and where keys come from."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from smelend.store import pii

RESIDENT_ID = "11010519491231002X"


def _ring(key_id: str = "k-a", seed: bytes = b"a") -> pii.Keyring:
    return pii.Keyring(key_id, {key_id: hashlib.sha256(seed).digest()}, hashlib.sha256(b"lookup").digest())


def test_ciphertext_format_and_round_trip() -> None:
    ring = _ring()
    stored = pii.encrypt(ring, RESIDENT_ID, "persons.resident_id")
    version, key_id, body = stored.split(":", 2)
    assert (version, key_id) == ("v1", "k-a")
    assert RESIDENT_ID not in stored
    assert len(base64.b64decode(body)) == pii.NONCE_BYTES + len(RESIDENT_ID) + pii.TAG_BYTES
    assert pii.decrypt(ring, stored, "persons.resident_id") == RESIDENT_ID
    assert pii.encrypt(ring, RESIDENT_ID, "persons.resident_id") != stored  # random nonce


def test_a_value_copied_into_another_column_fails_to_decrypt() -> None:
    ring = _ring()
    stored = pii.encrypt(ring, RESIDENT_ID, "persons.resident_id")
    with pytest.raises(pii.DecryptError, match="persons.mobile: authentication failed"):
        pii.decrypt(ring, stored, "persons.mobile")


def test_wrong_key_material_and_unknown_key_id_give_clear_errors() -> None:
    stored = pii.encrypt(_ring("k-a", b"a"), RESIDENT_ID, "persons.resident_id")
    with pytest.raises(pii.DecryptError, match="authentication failed with key 'k-a'"):
        pii.decrypt(_ring("k-a", b"other"), stored, "persons.resident_id")
    with pytest.raises(pii.KeyringError, match="encrypted with key 'k-a', which the keyring does not hold") as info:
        pii.decrypt(_ring("k-b"), stored, "persons.resident_id")
    assert RESIDENT_ID not in str(info.value)
    with pytest.raises(pii.DecryptError, match="format"):
        pii.decrypt(_ring(), RESIDENT_ID, "persons.resident_id")


def test_lookup_hash_is_keyed_normalised_and_purpose_bound() -> None:
    ring = _ring()
    digest = pii.lookup_hash(RESIDENT_ID, "persons.resident_id", ring)
    assert len(digest) == 64 and RESIDENT_ID not in digest
    assert pii.lookup_hash(" 11010519491231002x ", "persons.resident_id", ring) == digest
    assert pii.lookup_hash(RESIDENT_ID, "persons.mobile", ring) != digest
    other = pii.Keyring("k-a", ring.keys, hashlib.sha256(b"another lookup key").digest())
    assert pii.lookup_hash(RESIDENT_ID, "persons.resident_id", other) != digest


def test_keyring_repr_shows_no_key_material() -> None:
    ring = _ring()
    assert repr(ring) == "Keyring(active_key_id='k-a')"


def test_unconfigured_keyring_is_a_clear_error() -> None:
    pii.configure(None)
    with pytest.raises(pii.KeyringError, match="not configured"):
        pii.EncryptedText("persons.name").process_bind_param("x", None)  # type: ignore[arg-type]


def test_dev_key_is_created_with_mode_0600_and_one_warning_on_stderr(
    smelend_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = smelend_env / "pii-keyring.json"
    ring = pii.load_keyring()
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"warning: no SMELEND_PII_KEY; created a development PII key at {path}\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["active"] == ring.active_key_id and set(document["keys"]) == {ring.active_key_id}
    assert pii.load_keyring() == ring  # read back, no second key, no second warning
    assert capsys.readouterr().err == ""


def test_env_single_key(smelend_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    monkeypatch.setenv("SMELEND_PII_KEY", base64.urlsafe_b64encode(key).decode().rstrip("="))
    ring = pii.load_keyring()
    expected_id = "env-" + hashlib.sha256(key).hexdigest()[:8]
    assert ring.active_key_id == expected_id and dict(ring.keys) == {expected_id: key}
    assert len(ring.lookup_key) == 32 and ring.lookup_key != key
    assert not (smelend_env / "pii-keyring.json").exists()  # the environment wins; no dev file


def test_env_json_keyring(smelend_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    b64 = lambda raw: base64.urlsafe_b64encode(raw).decode()  # noqa: E731
    document = {"active": "k-2", "keys": {"k-1": b64(b"1" * 32), "k-2": b64(b"2" * 32)}, "lookup_key": b64(b"L" * 32)}
    monkeypatch.setenv("SMELEND_PII_KEY", json.dumps(document))
    ring = pii.load_keyring()
    assert ring.active_key_id == "k-2" and set(ring.keys) == {"k-1", "k-2"} and ring.lookup_key == b"L" * 32


@pytest.mark.parametrize(
    "value",
    ["not-base64!!", base64.urlsafe_b64encode(b"short").decode(), '{"active": "k", "keys": {}}', "{not json"],
)
def test_malformed_env_key_names_the_variable(smelend_env: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SMELEND_PII_KEY", value)
    with pytest.raises(pii.KeyringError, match="^SMELEND_PII_KEY: "):
        pii.load_keyring()


@pytest.mark.parametrize(
    "content",
    [
        "{oops",
        '{"active": "k-1", "keys": {"k-1": "AAAA"}, "lookup_key": "AAAA"}',
        '{"active": "k-9", "keys": {"k-1": "' + base64.urlsafe_b64encode(b"1" * 32).decode() + '"}, "lookup_key": "x"}',
        "[]",
    ],
)
def test_malformed_key_file_names_the_file(smelend_env: Path, content: str) -> None:
    path = smelend_env / "pii-keyring.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(pii.KeyringError, match=f"^{path}: "):
        pii.load_keyring()


def test_rotate_key_adds_an_active_key_and_keeps_the_old_ones(smelend_env: Path) -> None:
    path = smelend_env / "pii-keyring.json"
    first = pii.load_keyring(warn=False)
    new_id = pii.rotate_key(path)
    second = pii.load_keyring()
    assert second.active_key_id == new_id != first.active_key_id
    assert set(second.keys) == {first.active_key_id, new_id}
    assert second.keys[first.active_key_id] == first.keys[first.active_key_id]
    assert second.lookup_key == first.lookup_key  # look-ups keep working
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_rotate_key_without_a_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(pii.KeyringError, match="no PII key file to rotate"):
        pii.rotate_key(tmp_path / "absent.json")


def test_rotate_key_refuses_the_default_file_when_keys_come_from_the_environment(
    smelend_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMELEND_PII_KEY", base64.urlsafe_b64encode(bytes(32)).decode())
    with pytest.raises(pii.KeyringError, match="^SMELEND_PII_KEY is set"):
        pii.rotate_key()
