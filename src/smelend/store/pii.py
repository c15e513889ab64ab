"""PII encrypted at rest: AES-GCM with key ids (so keys can rotate) and a keyed hash for look-ups.

A stored value reads ``v1:<key_id>:<base64(nonce | ciphertext+tag)>``. The associated data is the
column's name (``persons.resident_id``), so a value copied into another column fails to decrypt.
Equality look-ups go through :func:`lookup_hash` (HMAC-SHA256 with a separate lookup key), since the
ciphertext is randomised. Error messages name keys, files and columns, never values.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from smelend import settings

FORMAT_VERSION = "v1"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12  # the GCM standard nonce; random per value (2^32 values per key keeps collisions negligible)
TAG_BYTES = 16
MAX_KEYS = 100  # a keyring is a handful of keys; more means rotation without clean-up
MAX_PLAINTEXT_CHARS = 1000  # PII fields are short; a huge value is a bug, not a name
MAX_DOCUMENT_CHARS = 2_000_000  # a column declared to hold a whole document (a decision, a contract's HTML)
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")  # no ':' (the field separator)
LOOKUP_INFO = b"smelend lookup"


class KeyringError(RuntimeError):
    """The PII keyring is missing, malformed, unconfigured or lacks a key a stored value names."""


class DecryptError(RuntimeError):
    """A stored value failed authentication: wrong key material, tampering, or moved from another column."""


@dataclass(frozen=True)
class Keyring:
    """Encryption keys by id (old ones kept for reading), the active one for writing, and the lookup key.

    The lookup key does not rotate with the encryption keys: changing it would mean re-hashing every row.
    """

    active_key_id: str
    keys: Mapping[str, bytes] = field(repr=False)
    lookup_key: bytes = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", MappingProxyType(dict(self.keys)))
        if not 1 <= len(self.keys) <= MAX_KEYS:
            raise KeyringError(f"a keyring holds 1 to {MAX_KEYS} keys, got {len(self.keys)}")
        for key_id, key in self.keys.items():
            if not KEY_ID_PATTERN.fullmatch(key_id):
                raise KeyringError(f"key id {key_id!r} must match {KEY_ID_PATTERN.pattern}")
            if len(key) != KEY_BYTES:
                raise KeyringError(f"key {key_id} must be {KEY_BYTES} bytes, got {len(key)}")
        if self.active_key_id not in self.keys:
            raise KeyringError(f"active key {self.active_key_id!r} is not among the keys")
        if len(self.lookup_key) < KEY_BYTES:
            raise KeyringError(f"the lookup key must be at least {KEY_BYTES} bytes")


# --- encryption -------------------------------------------------------------------------------------


def encrypt(keyring: Keyring, plaintext: str, aad: str, max_chars: int = MAX_PLAINTEXT_CHARS) -> str:
    """Encrypt with the active key; ``aad`` binds the value to its column."""
    if len(plaintext) > max_chars:
        raise ValueError(f"{aad}: value longer than {max_chars} characters")
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(keyring.keys[keyring.active_key_id]).encrypt(nonce, plaintext.encode(), aad.encode())
    return f"{FORMAT_VERSION}:{keyring.active_key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"


def decrypt(keyring: Keyring, stored: str, aad: str) -> str:
    """Decrypt with whichever key the value names; raise a clear error when that key is not in the keyring."""
    version, key_id, body = _split(stored, aad)
    key = keyring.keys.get(key_id)
    if key is None:
        raise KeyringError(
            f"{aad}: value is encrypted with key {key_id!r}, which the keyring does not hold "
            f"(has: {', '.join(sorted(keyring.keys))})"
        )
    try:
        raw = base64.b64decode(body, validate=True)
    except binascii.Error:
        raise DecryptError(f"{aad}: stored value is not valid base64") from None
    if len(raw) < NONCE_BYTES + TAG_BYTES:
        raise DecryptError(f"{aad}: stored value is too short to be {version} ciphertext")
    try:
        plain = AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
    except InvalidTag:
        raise DecryptError(
            f"{aad}: authentication failed with key {key_id!r} (wrong key material, tampered, or copied from another column)"
        ) from None
    return plain.decode()


def key_id_of(stored: str) -> str:
    """The key id a stored value names (no decryption)."""
    return _split(stored, "value")[1]


def _split(stored: str, aad: str) -> tuple[str, str, str]:
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != FORMAT_VERSION:
        raise DecryptError(f"{aad}: stored value is not in the {FORMAT_VERSION}:<key_id>:<data> format")
    return parts[0], parts[1], parts[2]


def lookup_hash(value: str, purpose: str, keyring: Keyring | None = None) -> str:
    """Hex HMAC-SHA256 over ``purpose NUL normalised-value``: equal inputs match, and the hash of one
    column cannot be matched against another's. Normalisation: NFKC, trimmed, upper case."""
    ring = keyring or active_keyring()
    normalised = unicodedata.normalize("NFKC", value).strip().upper()
    message = purpose.encode() + b"\x00" + normalised.encode()
    return hmac.new(ring.lookup_key, message, hashlib.sha256).hexdigest()


# --- module state used by the column type ------------------------------------------------------------

_configured: Keyring | None = None


def configure(keyring: Keyring | None) -> None:
    """Set the keyring the :class:`EncryptedText` columns use (``open_store`` does this); None clears it."""
    global _configured
    _configured = keyring


def active_keyring() -> Keyring:
    if _configured is None:
        raise KeyringError("PII keyring not configured: call smelend.store.open_store() (or pii.configure) first")
    return _configured


class EncryptedText(TypeDecorator[str]):
    """A text column holding AES-GCM ciphertext; Python sees plaintext.

    Encrypts on write with the active key; decrypts on read with the key the value names. Equality
    comparisons in SQL cannot work on it (the ciphertext is randomised): query through a lookup hash.
    """

    impl = Text
    cache_ok = True

    def __init__(self, aad: str, max_chars: int = MAX_PLAINTEXT_CHARS) -> None:
        super().__init__()
        assert re.fullmatch(r"[a-z_]+\.[a-z_]+", aad), f"aad must be 'table.column', got {aad!r}"
        self.aad = aad
        self.max_chars = max_chars  # PII values are short; document columns declare MAX_DOCUMENT_CHARS

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise TypeError(f"{self.aad}: expected str, got {type(value).__name__}")
        return encrypt(active_keyring(), value, self.aad, self.max_chars)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return decrypt(active_keyring(), value, self.aad)

    def __repr__(self) -> str:
        return f"EncryptedText(aad={self.aad!r})"


# --- where keys come from -----------------------------------------------------------------------------


def load_keyring(*, warn: bool = True) -> Keyring:
    """The keyring from ``$SMELEND_PII_KEY``, else the key file; creates a development key file if neither exists.

    The development fallback keeps ``make demo`` and the tests working out of the box; it is announced
    with one warning line on stderr, so nobody mistakes it for production set-up.
    """
    env = settings.pii_key()
    if env is not None:
        return keyring_from_env(env)
    path = settings.pii_key_file()
    if not path.exists():
        if create_key_file(path) and warn:
            print(f"warning: no {settings.PII_KEY_ENV}; created a development PII key at {path}", file=sys.stderr)
    return read_key_file(path)


def keyring_from_env(value: str) -> Keyring:
    """``SMELEND_PII_KEY``: a JSON keyring document, or one url-safe base64 32-byte key."""
    name = settings.PII_KEY_ENV
    if value.lstrip().startswith("{"):
        try:
            document = json.loads(value)
        except json.JSONDecodeError as exc:
            raise KeyringError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
        return _from_document(document, name)
    try:
        key = _b64_key(value, name)
    except KeyringError as exc:
        raise KeyringError(f"{exc} (expected a JSON keyring document or one url-safe base64 32-byte key)") from None
    key_id = "env-" + hashlib.sha256(key).hexdigest()[:8]
    lookup = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=LOOKUP_INFO).derive(key)
    return Keyring(key_id, {key_id: key}, lookup)


def read_key_file(path: Path) -> Keyring:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyringError(f"{path}: cannot read the PII key file ({exc.strerror})") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KeyringError(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})") from None
    return _from_document(document, str(path))


def create_key_file(path: Path) -> bool:
    """Write a fresh keyring to ``path`` (mode 0600) unless a file is already there; True if this call made it.

    Written to a temporary file and hard-linked into place, so a concurrent reader never sees half a file
    and two processes starting at once agree on one keyring.
    """
    key_id = new_key_id()
    document = _to_document(Keyring(key_id, {key_id: AESGCM.generate_key(bit_length=256)}, secrets.token_bytes(KEY_BYTES)))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_private(path.parent, document)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink()
    except OSError as exc:
        raise KeyringError(f"{path}: cannot create a development PII key file ({exc.strerror})") from None
    return True


def rotate_key(path: Path | None = None) -> str:
    """Add a new key to the key file and make it active; old keys stay for reading. Returns the new key id.

    Rows keep their old key until :func:`reencrypt` rewrites them. Callers re-run ``open_store`` (or
    ``configure(load_keyring())``) to start writing with the new key.
    """
    if path is None:
        if settings.pii_key() is not None:
            raise KeyringError(
                f"{settings.PII_KEY_ENV} is set, so the key file is not in use: rotate where that value comes from "
                "(add a key to the JSON keyring and make it active)"
            )
        path = settings.pii_key_file()
    if not path.exists():
        raise KeyringError(f"{path}: no PII key file to rotate")
    old = read_key_file(path)
    if len(old.keys) >= MAX_KEYS:
        raise KeyringError(f"{path}: already holds {MAX_KEYS} keys; re-encrypt and retire old keys first")
    key_id = new_key_id()
    while key_id in old.keys:
        key_id = new_key_id()
    new = Keyring(key_id, {**old.keys, key_id: AESGCM.generate_key(bit_length=256)}, old.lookup_key)
    try:
        os.replace(_write_private(path.parent, _to_document(new)), path)
    except OSError as exc:
        raise KeyringError(f"{path}: cannot write the rotated key file ({exc.strerror})") from None
    return key_id


def new_key_id() -> str:
    return f"k-{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(3)}"


def _write_private(folder: Path, document: dict[str, Any]) -> Path:
    tmp = folder / f".pii-keyring-{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(document, out, indent=2)
        out.write("\n")
        out.flush()
        os.fsync(out.fileno())
    return tmp


def _to_document(keyring: Keyring) -> dict[str, Any]:
    return {
        "active": keyring.active_key_id,
        "keys": {key_id: _b64(key) for key_id, key in keyring.keys.items()},
        "lookup_key": _b64(keyring.lookup_key),
    }


def _from_document(document: object, source: str) -> Keyring:
    if not isinstance(document, dict):
        raise KeyringError(f"{source}: a keyring must be a JSON object with active, keys and lookup_key")
    missing = [name for name in ("active", "keys", "lookup_key") if name not in document]
    if missing:
        raise KeyringError(f"{source}: keyring lacks {', '.join(missing)}")
    keys = document["keys"]
    if not isinstance(keys, dict) or not keys:
        raise KeyringError(f"{source}: keys must be a non-empty object of key id -> base64 key")
    active = document["active"]
    if not isinstance(active, str) or active not in keys:
        raise KeyringError(f"{source}: active key {active!r} is not among the keys")
    decoded = {str(key_id): _b64_key(key, f"{source}: keys.{key_id}") for key_id, key in keys.items()}
    lookup = _b64_bytes(document["lookup_key"], f"{source}: lookup_key")
    try:
        return Keyring(active, decoded, lookup)
    except KeyringError as exc:
        raise KeyringError(f"{source}: {exc}") from None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _b64_bytes(value: object, where: str) -> bytes:
    """Decode url-safe or standard base64, padding optional."""
    if not isinstance(value, str) or not value.strip():
        raise KeyringError(f"{where}: expected a base64 string")
    text = value.strip().replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        raise KeyringError(f"{where}: not valid base64") from None


def _b64_key(value: object, where: str) -> bytes:
    key = _b64_bytes(value, where)
    if len(key) != KEY_BYTES:
        raise KeyringError(f"{where}: a key must be {KEY_BYTES} bytes of base64, got {len(key)} bytes")
    return key
