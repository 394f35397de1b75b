"""Console service: the operator web pages on their own port (no store, no broker: the pages
read and write through the other services' APIs)."""

from __future__ import annotations

import asyncio

from services.console.app import create_app
from services.runtime.service import serve
from services.runtime.settings import Settings


def main(settings: Settings) -> int:
    asyncio.run(serve(create_app(settings), settings.host, settings.console_port, []))
    return 0
