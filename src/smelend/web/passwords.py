"""Password hashing for dashboard logins: scrypt from the standard library, never our own construction.

A stored hash reads ``scrypt$<n>$<r>$<p>$<salt>$<key>`` (salt and key in unpadded url-safe base64), so
the work factor can be raised later while old hashes still verify (:func:`needs_rehash` says when a
hash should be replaced at the next successful login). n = 2**15, r = 8 costs about 32 MiB and some tens
of milliseconds per guess; OWASP's minimum for scrypt is n = 2**17 with r = 8, p = 1 *or* an equivalent
trade-off, which 2**15 with a login lock-out (:mod:`smelend.store.web_sessions`) is for this use.

>>> stored = hash_password("correct horse battery", n=2**10)
>>> verify_password("correct horse battery", stored), verify_password("wrong horse battery", stored)
(True, False)
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

from smelend.errors import InvalidInput

SCHEME = "scrypt"
N = 2**15
R = 8
P = 1
SALT_BYTES = 16
KEY_BYTES = 32
MIN_CHARS = 12  # NIST SP 800-63B asks for at least 8; staff passwords guard borrowers' data
MAX_CHARS = 256  # bounds the work an attacker can ask for


def check_password(password: str, field: str = "password") -> str:
    """The password if acceptable, else InvalidInput naming ``field`` (length only: passphrases welcome)."""
    if not isinstance(password, str) or len(password) < MIN_CHARS:
        raise InvalidInput.one(field, f"must be at least {MIN_CHARS} characters")
    if len(password) > MAX_CHARS:
        raise InvalidInput.one(field, f"must be at most {MAX_CHARS} characters")
    if password != password.strip():
        raise InvalidInput.one(field, "must not start or end with spaces")
    return password


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    memory = 128 * r * (n + p + 2)
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES, maxmem=memory + 2**20)


def hash_password(password: str, *, n: int | None = None, r: int = R, p: int = P) -> str:
    """A fresh salted scrypt hash of ``password`` in the stored format (``n`` defaults to :data:`N`)."""
    n = N if n is None else n
    salt = secrets.token_bytes(SALT_BYTES)
    return f"{SCHEME}${n}${r}${p}${_b64(salt)}${_b64(_derive(password, salt, n, r, p))}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored`` (constant-time comparison); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != SCHEME:
            return False
        expected = _unb64(key)
        found = _derive(password[:MAX_CHARS + 1], _unb64(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(found, expected)


def needs_rehash(stored: str) -> bool:
    """True when ``stored`` was made with other parameters than today's."""
    parts = stored.split("$")
    return len(parts) != 6 or parts[0] != SCHEME or (int(parts[1]), int(parts[2]), int(parts[3])) != (N, R, P)


@functools.cache
def dummy_hash() -> str:
    """A hash to verify against for unknown logins, so they take as long as known ones."""
    return hash_password(secrets.token_urlsafe(24))
