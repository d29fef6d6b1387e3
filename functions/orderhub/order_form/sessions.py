"""Managers' passwords, session cookies, CSRF tokens and the sign-in backoff policy.

* Passwords are kept as ``scrypt$n$r$p$salt$hash`` (hashlib.scrypt, 16-byte random salt)
  at OWASP's current scrypt guidance (Password Storage Cheat Sheet: N=2^17, r=8, p=1,
  128 MiB); a hash made with older, cheaper parameters still verifies and is replaced on
  the manager's next sign-in (``needs_rehash``). Verifying an unknown manager still costs
  one scrypt, so timing does not tell who exists. The test command's local stacks hash at
  a lower N (``LOCAL_SCRYPT_N_ENV``, honoured only against the Firestore emulator, as
  Django's docs advise a fast hasher for tests): their sign-ins cost 1/32 of the CPU.
* A session is an itsdangerous-signed, timestamped value ``{manager, sid, fingerprint}``;
  the fingerprint comes from the stored password hash, so changing a manager's password
  (or removing the manager) ends every session they had.
* CSRF tokens are HMACs of the session id (or, before sign-in, of a nonce cookie), so
  they need no storage and a token from one session is worthless in another.
* A device cookie (signed, long-lived) marks a browser where a manager has signed in
  before. Failures counted per manager name, from every address, slow down only sign-ins
  from browsers without it: a stranger guessing a name cannot lock the manager out.
* Typed sign-in names reach the logs only as a keyed digest (``Signer.log_digest``).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
#: The variable that lowers N for a local stack's managers; ignored unless
#: ``FIRESTORE_EMULATOR_HOST`` is set too, so no real manager's hash can ever be made
#: with it, and a hash made with it is replaced on sign-in where it is unset.
LOCAL_SCRYPT_N_ENV = "ORDERHUB_LOCAL_SCRYPT_N"
#: scrypt needs 128 * r * N bytes (128 MiB here); hashlib refuses more than ``maxmem``.
SCRYPT_MAXMEM = 256 * 1024 * 1024
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,39}$")

#: Failures allowed before each further one doubles the wait, and the longest wait.
#: ``manager`` counts a name at one client address, ``ip`` an address (an IPv6 /64),
#: ``name`` a name from every address, for browsers without the manager's device cookie:
#: it only slows such guessing down (at most a minute a try), it never locks anyone out.
FREE_FAILURES = {"manager": 3, "ip": 10, "name": 10}
MAX_DELAY_S = 15 * 60
MAX_DELAYS_S = {"name": 60}
#: How long a browser stays known for a manager after signing in there.
DEVICE_DAYS = 180


def manager_id(name: str) -> str:
    """The manager's sign-in name as stored: lower case, ``[a-z0-9._-]``, at most 40."""
    ident = name.strip().lower()
    if not _ID.match(ident):
        raise ValueError("a manager name is 1-40 characters: letters, digits, '.', '_' or '-'")
    return ident


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def scrypt_n() -> int:
    """N for new hashes: OWASP's ``SCRYPT_N``, or a local stack's (``LOCAL_SCRYPT_N_ENV``,
    a power of two from 2^10 up, read only while Firestore is the emulator)."""
    local = os.environ.get(LOCAL_SCRYPT_N_ENV, "")
    if not local or not os.environ.get("FIRESTORE_EMULATOR_HOST"):
        return SCRYPT_N
    n = int(local)
    if n < 2**10 or n & (n - 1):
        raise ValueError(f"{LOCAL_SCRYPT_N_ENV}={local}: a power of two, at least 1024")
    return n


def hash_password(password: str, *, salt: bytes | None = None, n: int | None = None) -> str:
    """``scrypt$n$r$p$salt$hash`` at ``scrypt_n()``, or at ``n`` (a local stack's set-up,
    which hashes for its functions' environment rather than its own)."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    n = n or scrypt_n()
    digest = hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=SCRYPT_R,
        p=SCRYPT_P,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )
    return f"scrypt${n}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def needs_rehash(encoded: str) -> bool:
    """True if ``encoded`` was made with other scrypt parameters than today's."""
    parts = encoded.split("$")
    return len(parts) != 6 or parts[:4] != ["scrypt", str(scrypt_n()), str(SCRYPT_R), str(SCRYPT_P)]


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


def sid_digest(sid: str) -> str:
    """A session id as kept when that one session is signed out (not the id itself); a
    plain identifier, so it is a Firestore field name as it is."""
    return "s" + hashlib.sha256(b"orderhub-session\0" + sid.encode("ascii")).hexdigest()[:31]


def delay_after(failures: int, kind: str) -> float:
    """Seconds a sign-in must wait after ``failures`` consecutive failures: none for the
    first few, then 1, 2, 4, ... up to ``MAX_DELAY_S``."""
    extra = failures - FREE_FAILURES[kind]
    if extra < 0:
        return 0.0
    return float(min(2 ** min(extra, 30), MAX_DELAYS_S.get(kind, MAX_DELAY_S)))


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
        self._log_key = hashlib.sha256(b"orderhub-log-names\0" + secret.encode("utf-8")).digest()
        self._sessions = URLSafeTimedSerializer(secret, salt="orderhub-order-form-session")
        self._devices = URLSafeTimedSerializer(secret, salt="orderhub-order-form-device")

    def device(self, manager: str) -> str:
        """A device cookie's value: this browser has signed in as ``manager``."""
        return str(self._devices.dumps({"m": manager, "d": secrets.token_urlsafe(9)}))

    def device_manager(self, value: str | None) -> str | None:
        """The manager a genuine, unexpired device cookie names, else ``None``."""
        from itsdangerous import BadSignature

        if not value:
            return None
        try:
            data = self._devices.loads(value, max_age=DEVICE_DAYS * 86400)
        except BadSignature:
            return None
        manager = data.get("m") if isinstance(data, dict) else None
        return manager if isinstance(manager, str) else None

    def log_digest(self, typed: str) -> str | None:
        """A keyed digest of what was typed as a name, to correlate failures in the logs
        without logging it: without the secret it cannot be tested against guesses (it
        may be a password typed into the wrong field)."""
        if not typed:
            return None
        return hmac.new(self._log_key, typed.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

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
