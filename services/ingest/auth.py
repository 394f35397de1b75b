"""Who is posting: the upstream client behind the API key of a request (`Authorization: Bearer
fwk_…`), or 401 naming why not — no key, a user's token instead of a key, a malformed, unknown,
revoked or expired key, a revoked client. One indexed read per request (a batch of up to 5,000
events), so a revocation takes effect with the next request. Every refusal is audited."""

from __future__ import annotations

import datetime as dt

from fastapi import HTTPException, Request, status
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.audit import ActorKind, Outcome
from contracts.types import CENTRAL
from services.ingest import store
from services.ingest.clients import FAMILIES, Client, check_key, key_id_of
from services.runtime import audit
from services.runtime.auth import Role, TokenError, verify_token

UPLOADERS = (Role.treasury, Role.member)
"""Who uploads a filled table with a user's login (the console): 国库组 and 业务组, in their region."""


class Refused(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": 'Bearer realm="ingest"'})


def _presented(request: Request) -> str:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    if not scheme:
        raise Refused("missing API key: send 'Authorization: Bearer fwk_…' (the key of your registered client)")
    if scheme.lower() != "bearer" or not credential:
        raise Refused("Authorization must be 'Bearer fwk_…' (the key of your registered client)")
    if credential.count(".") == 2:
        raise Refused("a user's access token is not an ingest credential: upstream systems send their client's API key")
    return credential


async def authenticate(request: Request, engine: AsyncEngine) -> Client:
    """The active client whose key the request presents."""
    key_id = None
    region = CENTRAL
    try:
        presented = _presented(request)
        key_id = key_id_of(presented)
        if key_id is None:
            raise Refused("malformed API key (expected fwk_<12 hex>_<43 characters>)")
        async with engine.connect() as conn:
            found = await store.lookup(conn, key_id)
        key, client = found if found else (None, None)
        region = client.scope if client else CENTRAL
        reason = check_key(presented, key, client, dt.datetime.now(dt.UTC))
        if reason:
            raise Refused(reason)
        assert client is not None
        return client
    except Refused as refused:
        await audit.record(request, "auth.failed", actor=f"key {key_id}" if key_id else "anonymous",
                           actor_kind=ActorKind.anonymous, outcome=Outcome.refused, region=region,
                           reason=str(refused.detail), target=request.url.path)
        raise


async def authenticate_uploader(request: Request, engine: AsyncEngine) -> Client:
    """A table upload's sender: an upstream client's API key, or a signed-in user's access token
    (the console's 数据导入) — then the user of a role in `UPLOADERS`, scoped to the user's region,
    stamped `authtype: user`, `authid: user:<name>`."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or credential.strip().count(".") != 2:
        return await authenticate(request, engine)
    try:
        principal = verify_token(request.app.state.settings, credential.strip())
    except TokenError as exc:
        await audit.record(request, "auth.failed", actor="anonymous", actor_kind=ActorKind.anonymous,
                           outcome=Outcome.refused, region=CENTRAL, reason=str(exc), target=request.url.path)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    if not principal.has_role(*UPLOADERS):
        reason = f"this needs the role {' or '.join(r.value for r in UPLOADERS)}"
        await audit.record(request, "auth.denied", actor=principal.user, actor_kind=ActorKind.user,
                           outcome=Outcome.refused, region=principal.region, reason=reason, target=request.url.path)
        raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
    return Client(client_id=f"user:{principal.user}"[:64], name=principal.user, scope=principal.region,
                  families=FAMILIES, created_at=dt.datetime.now(dt.UTC), created_by=principal.user, authtype="user")
