"""The audit log (seed 000 art. 25): one `audit.recorded` event per thing worth answering for —
dispositions, rule changes, user and permission changes, client credential use, failed
authentication. Every service publishes them (services.runtime.audit); the access service keeps
them in an append-only table that auditors query, scoped by the envelope's region."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from contracts.base import Data


class ActorKind(StrEnum):
    user = "user"  # a person, by token
    client = "client"  # an upstream system, by API key
    anonymous = "anonymous"  # no (valid) credential
    system = "system"  # the platform itself (CLI, supervisor)


class Outcome(StrEnum):
    ok = "ok"
    refused = "refused"  # authentication or authorisation said no, or an illegal step


class AuditRecorded(Data):
    """Who did what, from where, and how it ended; when is the envelope's `time`, the scope its `region`."""

    actor: str = Field(min_length=1, max_length=100, description="user name, client id, or 'anonymous'")
    actor_kind: ActorKind
    action: str = Field(pattern=r"^[a-z][a-z_]*(\.[a-z][a-z_]*)*$", max_length=60,
                        description="e.g. disposition.filed, rule.configured, user.granted, client.used, auth.failed")
    outcome: Outcome = Outcome.ok
    target: str | None = Field(None, max_length=200, description="what it was done to (alert id, user, client …)")
    reason: str | None = Field(None, max_length=500, description="why it was refused, or a note")
    client_ip: str | None = Field(None, max_length=64, description="where the request came from")
    service: str = Field(min_length=1, max_length=20, description="which service recorded it")
    details: dict[str, str] = Field(default_factory=dict, max_length=20)
