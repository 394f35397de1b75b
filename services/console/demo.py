"""Demo logins for the console, one per role, opened by the art. 22 procedure itself: applied
for by the demo's set-up, confirmed by the treasury operator `guoku`, granted by the administrator
`admin` (three different actors, as the procedure requires); the one-time passwords are returned."""

from __future__ import annotations

import asyncio

from services.access import service
from services.access.domain import Access, Actor, Kind, Step
from services.runtime.auth import Role
from services.runtime.db import make_engine
from services.runtime.settings import Settings

COUNTY, GROUPS = "410324", ("agri-410324", "social-410324", "edu-410324", "econ-410324")
WANTED = (  # username, display name, region, roles, groups, unit
    ("yewu", "栾川县财政局业务组", COUNTY, (Role.member,), GROUPS, "栾川县财政局"),
    ("guize", "河南省财政厅规则管理员", "410000", (Role.rule_admin,), (), "河南省财政厅"),
    ("shenji", "河南省审计员", "410000", (Role.auditor,), (), "河南省审计厅"),
    ("xianguoku", "栾川县国库组", COUNTY, (Role.treasury,), (), "栾川县财政局国库股"),
)
SETUP = Actor("make-run", "000000", (Role.treasury,))
TREASURY = Actor("guoku", "410000", (Role.treasury,))
ADMIN = Actor("admin", "000000", (Role.sysadmin,))


def open_demo_users(settings: Settings) -> dict[str, str]:
    """Password by user name of each demo user opened (apply → confirm → grant)."""
    async def go() -> dict[str, str]:
        engine = make_engine(settings.database_url)
        made: dict[str, str] = {}
        try:
            for username, name, region, roles, groups, unit in WANTED:
                async with engine.begin() as tx:
                    form = service.new_application(Kind.open, username, unit, "演示账号（make run）",
                                                   Access(name, region, roles, groups), SETUP)
                    a = await service.apply(tx, settings, SETUP, form, None)
                    await service.take_step(tx, settings, TREASURY, a.application_id, Step.confirm, None, None)
                    _, password = await service.take_step(tx, settings, ADMIN, a.application_id, Step.grant, None, None)
                made[username] = password or ""
        finally:
            await engine.dispose()
        return made

    return asyncio.run(go())
