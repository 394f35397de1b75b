"""Upstream clients (pure: plain data in, plain data out, no I/O).

Each upstream system (a county's budget-execution system, the province's subsidy-card system …)
is a registered client bound to a region scope and the event families it may send, holding
API keys: `fwk_<key id>_<secret>`, 32 random bytes of secret, shown once when made and stored
only as a SHA-256 hash under its key id. A random 256-bit key needs no slow password hash
(argon2 defends guessable passwords; nobody guesses 2^256), and one hash per request keeps
ingest fast. Why API keys and not OAuth2 client credentials: see docs/security.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from contracts.envelope import Envelope
from contracts.topics import INPUT_FAMILIES
from contracts.types import parse_region, region_within

FAMILIES = tuple(f.value for f in INPUT_FAMILIES)
KEY_PREFIX = "fwk"
_KEY_RE = re.compile(r"fwk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}", re.ASCII)
_CLIENT_ID_RE = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}", re.ASCII)
MAX_GRACE = dt.timedelta(days=7)


@dataclass(frozen=True)
class Client:
    client_id: str
    name: str
    scope: str
    families: tuple[str, ...]
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None = None
    revoked_by: str | None = None
    authtype: str = "api_key"  # CloudEvents Auth Context: "user" for a signed-in user's table upload

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    client_id: str
    key_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime | None = None  # set when rotated with a grace period
    revoked_at: dt.datetime | None = None

    def usable(self, now: dt.datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True)
class NewKey:
    """A key as made: the clear `api_key` is shown once and then only its hash exists."""

    key: ApiKey
    api_key: str


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def new_key(client_id: str, now: dt.datetime) -> NewKey:
    key_id = secrets.token_hex(6)
    api_key = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return NewKey(ApiKey(key_id, client_id, hash_key(api_key), now), api_key)


def key_id_of(presented: str) -> str | None:
    """The key id of something shaped like an API key, else None."""
    m = _KEY_RE.fullmatch(presented)
    return m.group(1) if m else None


def key_matches(presented: str, key: ApiKey) -> bool:
    return hmac.compare_digest(hash_key(presented), key.key_hash)


def check_key(presented: str, key: ApiKey | None, client: Client | None, now: dt.datetime) -> str | None:
    """Why `presented` does not authenticate (None: it does)."""
    if key is None or client is None or not key_matches(presented, key):
        return "unknown API key"
    if key.revoked_at is not None:
        return f"API key {key.key_id} was revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    if not key.usable(now):
        return f"API key {key.key_id} expired at {key.expires_at:%Y-%m-%d %H:%M:%S} UTC (rotated)"
    if not client.active:
        return f"client {client.client_id} was revoked"
    return None


def make_client(client_id: str, name: str, scope: str, families: Iterable[str], created_by: str,
                now: dt.datetime) -> Client:
    """A new client, or ValueError naming what is wrong."""
    if not _CLIENT_ID_RE.fullmatch(client_id):
        raise ValueError("client_id: 3–64 of a-z 0-9 . _ -, starting with a letter or digit")
    if not name.strip() or len(name) > 120:
        raise ValueError("name: 1–120 characters")
    parse_region(scope)
    wanted = tuple(dict.fromkeys(families))
    unknown = [f for f in wanted if f not in FAMILIES]
    if unknown or not wanted:
        raise ValueError(f"families: some of {', '.join(FAMILIES)} (not {', '.join(unknown) or 'none'})")
    return Client(client_id, name.strip(), scope, wanted, now, created_by)


def rotation(keys: Sequence[ApiKey], now: dt.datetime, grace: dt.timedelta) -> list[ApiKey]:
    """The client's usable keys after a rotation: revoked now, or expiring after `grace`."""
    if not dt.timedelta(0) <= grace <= MAX_GRACE:
        raise ValueError(f"grace: between 0 and {MAX_GRACE.days} days")
    changed = []
    for key in keys:
        if not key.usable(now):
            continue
        if grace:
            changed.append(ApiKey(key.key_id, key.client_id, key.key_hash, key.created_at, now + grace, None))
        else:
            changed.append(ApiKey(key.key_id, key.client_id, key.key_hash, key.created_at, key.expires_at, now))
    return changed


def refusals(client: Client, events: Sequence[tuple[int, Envelope]]) -> list[dict]:
    """Every (row, event) the client may not send — outside its region scope or of a family it
    is not registered for — as {row, field, message, type} errors."""
    errors = []
    for row, event in events:
        if not region_within(event.region, client.scope):
            errors.append({"row": row, "field": "region", "type": "forbidden_region",
                           "message": f"region {event.region} is outside the scope {client.scope} of client "
                                      f"{client.client_id}"})
        if event.family.value not in client.families:
            errors.append({"row": row, "field": "type", "type": "forbidden_family",
                           "message": f"client {client.client_id} may not send {event.family.value} events "
                                      f"(it sends {', '.join(client.families)})"})
    return errors
