"""Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP: HMAC-SHA1, 30-second steps,
6 digits: what authenticator apps use by default) and recovery codes, for operators' second factor.

Pure functions: the models and the login steps live in ``platform_core.models`` and
``platform_core.operator_auth``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
# A code of the previous or the next step is accepted too (clocks drift, typing takes time).
WINDOW = 1
RECOVERY_CODES = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    """160 random bits, base32 without padding (what authenticator apps expect)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def hotp(secret: str, counter: int) -> str:
    digest = hmac.new(_key(secret), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_at(when: float | None = None) -> int:
    return int((time.time() if when is None else when) // STEP_SECONDS)


def code_at(secret: str, when: float | None = None) -> str:
    return hotp(secret, step_at(when))


def normalise_code(code: str) -> str:
    return "".join(ch for ch in (code or "") if not ch.isspace() and ch != "-")


def matching_step(secret: str, code: str, *, after_step: int | None = None, when: float | None = None) -> int | None:
    """The time step ``code`` belongs to (within the window), or None. A step at or before
    ``after_step`` (the last one used) is refused: each code is good once."""
    code = normalise_code(code)
    if len(code) != DIGITS or not code.isascii() or not code.isdigit():
        return None
    now = step_at(when)
    for step in range(now - WINDOW, now + WINDOW + 1):
        if after_step is not None and step <= after_step:
            continue
        if hmac.compare_digest(hotp(secret, step), code):
            return step
    return None


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    label = quote(f"{issuer}:{account}", safe="@:")
    query = urlencode({"secret": secret, "issuer": issuer, "digits": DIGITS, "period": STEP_SECONDS})
    return f"otpauth://totp/{label}?{query}"


def new_recovery_codes(count: int = RECOVERY_CODES) -> list[str]:
    """Codes like ``k7mq-x2rd-p9ft`` (about 64 bits each)."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def hash_recovery_code(code: str) -> str:
    """Recovery codes carry ~64 random bits, so a keyed hash is enough to store them (no slow
    password hash needed: nothing to guess from a dictionary)."""
    normalised = normalise_code(code).lower()
    return hashlib.sha256(b"fenxiao.recovery-code:" + normalised.encode("utf-8")).hexdigest()


def looks_like_recovery_code(code: str) -> bool:
    normalised = normalise_code(code).lower()
    return len(normalised) == 12 and all(ch in _RECOVERY_ALPHABET for ch in normalised)
