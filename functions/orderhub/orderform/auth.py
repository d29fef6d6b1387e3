"""Managers' passwords, session cookies, CSRF tokens and the sign-in backoff policy.

* Passwords are kept as ``scrypt$n$r$p$salt$hash`` (hashlib.scrypt, 16-byte random salt);
  verifying an unknown manager still costs one scrypt, so timing does not tell who exists.
* A session is an itsdangerous-signed, timestamped value ``{manager, sid, fingerprint}``;
  the fingerprint comes from the stored password hash, so changing a manager's password
  (or removing the manager) ends every session they had.
* CSRF tokens are HMACs of the session id (or, before sign-in, of a nonce cookie), so
  they need no storage and a token from one session is worthless in another.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")

#: Failures allowed before each further one doubles the wait, and the longest wait.
FREE_FAILURES = {"manager": 3, "ip": 10}
MAX_DELAY_S = 15 * 60


def manager_id(name: str) -> str:
    """The manager's sign-in name as stored: lower case, ``[a-z0-9._-]``, at most 40."""
    ident = name.strip().lower()
    if not _ID.match(ident):
        raise ValueError("a manager name is 1-40 characters: letters, digits, '.', '_' or '-'")
    return ident


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=SCRYPT_N,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str | None) -> bool:
    """Constant-time check; ``encoded=None`` (no such manager) burns the same time."""
    target = encoded or _dummy_hash()
    try:
        scheme, n, r, p, salt, digest = target.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            maxmem=SCRYPT_MAXMEM,
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected) and encoded is not None


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def new_password() -> str:
    """A password to hand a new manager: 16 random URL-safe characters."""
    return secrets.token_urlsafe(12)


def fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode("ascii")).hexdigest()[:16]


def delay_after(failures: int, kind: str) -> float:
    """Seconds a sign-in must wait after ``failures`` consecutive failures: none for the
    first few, then 1, 2, 4, ... up to ``MAX_DELAY_S``."""
    extra = failures - FREE_FAILURES[kind]
    if extra < 0:
        return 0.0
    return float(min(2**extra, MAX_DELAY_S))


@dataclass(frozen=True)
class Session:
    manager: str
    sid: str
    fingerprint: str
    issued_ms: int = 0  # when it was signed in (epoch ms); 0 for cookies made before this field


class Signer:
    """Signs sessions and derives CSRF tokens from one secret (``ORDER_FORM_SESSION_SECRET``)."""

    def __init__(self, secret: str) -> None:
        from itsdangerous import URLSafeTimedSerializer

        self._key = hashlib.sha256(b"orderhub-csrf\0" + secret.encode("utf-8")).digest()
        self._sessions = URLSafeTimedSerializer(secret, salt="orderhub-order-form-session")

    def issue(self, manager: str, password_hash: str, *, now: datetime) -> tuple[str, Session]:
        issued_ms = int(now.timestamp() * 1000)
        session = Session(manager, secrets.token_urlsafe(16), fingerprint(password_hash), issued_ms)
        value = self._sessions.dumps(
            {"m": session.manager, "s": session.sid, "f": session.fingerprint, "t": issued_ms}
        )
        return value, session

    def read(self, value: str | None, *, max_age_s: int) -> Session | None:
        """The session in a cookie, or ``None`` if missing, forged, malformed or expired."""
        from itsdangerous import BadSignature

        if not value:
            return None
        try:
            data = self._sessions.loads(value, max_age=max_age_s)
        except BadSignature:  # also SignatureExpired
            return None
        if not isinstance(data, dict) or not all(
            isinstance(data.get(k), str) for k in ("m", "s", "f")
        ):
            return None
        issued = data.get("t", 0)
        return Session(data["m"], data["s"], data["f"], issued if isinstance(issued, int) else 0)

    def csrf(self, purpose: str, binding: str) -> str:
        mac = hmac.new(self._key, f"{purpose}\0{binding}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")

    def check_csrf(self, purpose: str, binding: str | None, token: str | None) -> bool:
        if not binding or not token:
            return False
        return hmac.compare_digest(self.csrf(purpose, binding).encode(), token.encode())
