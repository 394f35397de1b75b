"""Credentials for tests: an upstream client's API key (registered in the test's database, as
`fundwatch client create` does) and user tokens of any region and role."""

from __future__ import annotations

import uuid

from contracts.audit import ActorKind
from services.ingest import registry
from services.ingest.clients import FAMILIES
from services.runtime.auth import Role, issue_token
from services.runtime.settings import Settings


async def register(conn, settings: Settings, scope: str = "000000", families: tuple[str, ...] = FAMILIES,
                   client_id: str | None = None) -> str:
    _client, made = await registry.create(conn, settings, client_id=client_id or f"test-{uuid.uuid4().hex[:10]}",
                                          name="test client", scope=scope, families=families, actor="tests",
                                          actor_kind=ActorKind.system)
    return made.api_key


def api_key(settings: Settings, scope: str = "000000", families: tuple[str, ...] = FAMILIES,
            client_id: str | None = None) -> str:
    """A new client's API key (from a synchronous test; `register` from an async one)."""
    return registry.run(settings, lambda conn: register(conn, settings, scope, families, client_id))


def key_header(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def token_header(settings: Settings, region: str = "000000", groups: tuple[str, ...] = (),
                 roles: tuple[Role, ...] | None = None, user: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_token(settings, user, region, groups, roles=roles)}"}
