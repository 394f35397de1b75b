"""The access service's CLI operations, run on the platform database without the service."""

from __future__ import annotations

import asyncio

from services.access import service
from services.access.domain import User
from services.runtime.auth import Role
from services.runtime.db import make_engine, migrate
from services.runtime.settings import Settings


def create_admin(settings: Settings, username: str, display_name: str, region: str, password: str,
                 force: bool = False, role: Role = Role.sysadmin) -> User:
    """`fundwatch user create-admin`: the first system administrator — or the first treasury
    operator, without whom no application can be confirmed (raises service.Denied)."""
    migrate(settings.database_url, "access")

    async def go() -> User:
        engine = make_engine(settings.database_url)
        try:
            async with engine.begin() as conn:
                return await service.create_admin(conn, settings, username, display_name, region, password,
                                                  force=force, role=role)
        finally:
            await engine.dispose()

    return asyncio.run(go())
