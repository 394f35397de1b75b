"""Passwords and refresh tokens. Passwords are low-entropy and chosen by people: argon2id
(pwdlib's recommended parameters), salted, slow on purpose. Refresh tokens are 256 random bits
made here: a SHA-256 hash is enough to store them (nobody guesses 2^256), as for API keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError

_HASHER = PasswordHash.recommended()
_DUMMY = _HASHER.hash("a password nobody has, verified when the user does not exist")
_REFRESH_RE = re.compile(r"fwr_([0-9a-f]{16})_[A-Za-z0-9_-]{43}", re.ASCII)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, stored: str | None) -> bool:
    """Constant work whether or not the user exists (no user enumeration by timing)."""
    if stored is None:
        _HASHER.verify(password, _DUMMY)
        return False
    try:
        return _HASHER.verify(password, stored)
    except UnknownHashError:  # a stored value no hasher knows: no login, not a 500
        return False


def new_refresh_token() -> tuple[str, str, str]:
    """(token id, the token shown once to the client, its hash)."""
    token_id = secrets.token_hex(8)
    token = f"fwr_{token_id}_{secrets.token_urlsafe(32)}"
    return token_id, token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def refresh_id_of(token: str) -> str | None:
    m = _REFRESH_RE.fullmatch(token)
    return m.group(1) if m else None


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), stored_hash)


def initial_password() -> str:
    """A one-time password for a newly granted user, handed over by the information centre."""
    return secrets.token_urlsafe(12)
