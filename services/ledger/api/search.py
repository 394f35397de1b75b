"""Intelligent search (智能检索) by document number and project-name keywords."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.ledger.api.deps import Conn, CurrentPrincipal, RegionQ
from services.ledger.api.models import IndicatorOut, PaymentOut, ProjectOut, SearchHits, TransferOut
from services.ledger.queries.search import search as run_search

router = APIRouter(prefix="/v1", tags=["search"])


@router.get("/search", response_model=SearchHits)
async def search(principal: CurrentPrincipal, conn: Conn,
                 q: Annotated[str, Query(min_length=1, max_length=100, description="文号 or project-name keywords")],
                 region: RegionQ = None, limit: Annotated[int, Query(ge=1, le=100)] = 20):
    """Indicators and transfers by document number (文号), projects by name keywords (substring; on
    PostgreSQL also trigram similarity), and the payments under them — all inside your scope."""
    found = await run_search(conn, q, principal.scope(region), limit=limit)
    return SearchHits(query=q, indicators=[IndicatorOut.of(r) for r in found.indicators],
                      transfers=[TransferOut.of(r) for r in found.transfers],
                      projects=[ProjectOut(**r) for r in found.projects],
                      payments=[PaymentOut.of(r) for r in found.payments])
