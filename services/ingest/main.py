"""Ingest service entry point."""

from __future__ import annotations

import asyncio

from services.ingest.api import create_app
from services.runtime.service import serve
from services.runtime.settings import Settings


async def run(settings: Settings, stop: asyncio.Event | None = None) -> None:
    await serve(create_app(settings), settings.host, settings.ingest_port, [], stop)


def main(settings: Settings) -> int:
    asyncio.run(run(settings))
    return 0
