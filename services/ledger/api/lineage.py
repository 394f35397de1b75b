"""Flow tracing (流程追溯): indicators with their whole chain, transfers and their interlock,
payments traced back to the top document, an account's journal, the fund catalogue."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from services.ledger.api.deps import Conn, CurrentPrincipal, Limit, Offset, RegionQ, YearQ, visible_or_404
from services.ledger.api.models import (
    AllocationOut,
    ChainLevel,
    Downstream,
    FundOut,
    IndicatorDetail,
    IndicatorOut,
    Journal,
    JournalEntry,
    Page,
    PaymentOut,
    ProjectBalance,
    ProjectOut,
    Receipt,
    ReturnOut,
    StatusSummary,
    Trace,
    TransferOut,
    yuan,
)
from services.ledger.postings import ACCOUNTS, CHART
from services.ledger.queries import lineage, lists
from services.ledger.queries.lists import natural_balances
from services.runtime.auth import Principal

router = APIRouter(prefix="/v1", tags=["lineage"])
Account = Literal["1001", "4001", "5001", "500201", "500202", "500203", "5101", "5201"]


def _page(p: lists.Page, of) -> Page:
    return Page(items=[of(r) for r in p.items], total=p.total, limit=p.limit, offset=p.offset)


def _level(link: lineage.Link) -> ChainLevel:
    r = link.row
    if link.kind == "transfer":
        return ChainLevel(kind="transfer", id=r["transfer_id"], region=r.get("issuer_region"), doc_no=r.get("doc_no"),
                          doc_date=r.get("doc_date"), date=r.get("issued_on"), amount=yuan(r.get("issued_fen")),
                          fund_code=r.get("fund_code"), missing=bool(r.get("missing")))
    return ChainLevel(kind="indicator", id=r["indicator_id"], region=r["region"], doc_no=r["doc_no"],
                      doc_date=r["doc_date"], date=r["registered_on"], amount=yuan(r["amount_fen"]),
                      fund_code=r["fund_code"], source=r["source"])


def _downstream(nodes: list[lineage.Downstream], principal: Principal) -> list[Downstream]:
    out = []
    for n in nodes:
        t = n.transfer
        if not (principal.can_see(t["to_region"]) or (t["issuer_region"] and principal.can_see(t["issuer_region"]))):
            continue
        receipts = [Receipt(indicator=IndicatorOut.of(r), transfers=_downstream(n.below.get(r["indicator_id"], []),
                                                                                  principal))
                    for r in n.receipts if principal.can_see(r["region"])]
        out.append(Downstream(transfer=TransferOut.of(t), receipts=receipts))
    return out


async def _indicator(conn, principal: Principal, indicator_id: str) -> dict:
    row = await lineage.indicator(conn, indicator_id)
    visible_or_404(principal, row["region"] if row else None, what=f"indicator {indicator_id} not found")
    return row  # type: ignore[return-value]


@router.get("/indicators", response_model=Page[IndicatorOut])
async def list_indicators(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None, budget_year: YearQ = None,
                          fund_code: str | None = None, doc_no: str | None = None,
                          source: Literal["own_arrangement", "upper_transfer", "horizontal_transfer",
                                          "carry_over"] | None = None,
                          limit: Limit = 50, offset: Offset = 0):
    """Indicators in scope with their balances (per region × fund × indicator)."""
    p = await lists.indicators(conn, principal.scope(region), fund_code=fund_code, budget_year=budget_year,
                               source=source, doc_no=doc_no, limit=limit, offset=offset)
    return _page(p, IndicatorOut.of)


router.add_api_route("/balances", list_indicators, methods=["GET"], response_model=Page[IndicatorOut],
                     summary="Balances per indicator (alias of /v1/indicators)")


@router.get("/indicators/{indicator_id}", response_model=IndicatorDetail)
async def indicator_detail(principal: CurrentPrincipal, conn: Conn, indicator_id: Annotated[str, Path()],
                           payments_limit: Limit = 50, payments_offset: Offset = 0):
    """An indicator with its whole chain: up to the top (central) document, down to every lower
    indicator, its allocations and projects, and its payments (paginated)."""
    row = await _indicator(conn, principal, indicator_id)
    up = await lineage.upstream(conn, row)
    down = await lineage.downstream(conn, indicator_id)
    projects = await lineage.project_balances(conn, [indicator_id])
    payments = await lists.payments(conn, principal.region, indicator_id=indicator_id, limit=payments_limit,
                                    offset=payments_offset)
    return IndicatorDetail(
        indicator=IndicatorOut.of(row), upstream=[_level(x) for x in up], downstream=_downstream(down, principal),
        allocations=[AllocationOut.of(a) for a in await lineage.allocations(conn, indicator_id)],
        projects=[ProjectBalance(indicator_id=p["indicator_id"], project_code=p["project_code"],
                                 allocated=yuan(p["a500201"] + p["a5101"] + p["a5201"]), paid=yuan(p["a5201"]),
                                 balances={a: yuan(v) for a, v in natural_balances(p).items() if v})
                  for p in sorted(projects, key=lambda p: p["project_code"])],
        payment_summary=[StatusSummary(status=s["status"], payments=s["payments"], amount=yuan(s["amount_fen"]),
                                       returned=yuan(s["returned_fen"])) for s in await lineage.payment_summary(conn, indicator_id)],
        payments=_page(payments, PaymentOut.of),
    )


@router.get("/indicators/{indicator_id}/payments", response_model=Page[PaymentOut])
async def indicator_payments(principal: CurrentPrincipal, conn: Conn, indicator_id: str,
                             project_code: str | None = None, status_: Annotated[str | None, Query(alias="status")] = None,
                             limit: Limit = 50, offset: Offset = 0):
    await _indicator(conn, principal, indicator_id)
    p = await lists.payments(conn, principal.region, indicator_id=indicator_id, project_code=project_code,
                             status=status_, limit=limit, offset=offset)
    return _page(p, PaymentOut.of)


@router.get("/transfers", response_model=Page[TransferOut])
async def list_transfers(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None,
                         state: Literal["in_transit", "matched", "mismatch"] | None = None,
                         fund_code: str | None = None, limit: Limit = 50, offset: Offset = 0):
    """Upper transfers issued or received in scope: issued vs received vs in transit (咬合)."""
    p = await lists.transfers(conn, principal.scope(region), state=state, fund_code=fund_code, limit=limit,
                              offset=offset)
    return _page(p, TransferOut.of)


@router.get("/transfers/{transfer_id}", response_model=TransferOut)
async def transfer_detail(principal: CurrentPrincipal, conn: Conn, transfer_id: str):
    row = await lineage.transfer(conn, transfer_id)
    visible_or_404(principal, *((row["issuer_region"], row["to_region"]) if row else ()),
                   what=f"transfer {transfer_id} not found")
    return TransferOut.of(row)  # type: ignore[arg-type]


@router.get("/payments", response_model=Page[PaymentOut])
async def list_payments(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None,
                        indicator_id: str | None = None, project_code: str | None = None,
                        status_: Annotated[str | None, Query(alias="status")] = None,
                        q: Annotated[str | None, Query(min_length=1, max_length=100,
                                                       description="payment number, or words of payee or purpose")] = None,
                        limit: Limit = 50, offset: Offset = 0):
    p = await lists.payments(conn, principal.scope(region), indicator_id=indicator_id, project_code=project_code,
                             status=status_, text=q, limit=limit, offset=offset)
    return _page(p, PaymentOut.of)


@router.get("/payments/{payment_id}/trace", response_model=Trace)
async def trace(principal: CurrentPrincipal, conn: Conn, payment_id: str):
    """A payment back up the chain: its indicator, each upper transfer and indicator, up to the top
    (central) document, with document numbers and dates at every level."""
    pay = await lineage.payment(conn, payment_id)
    visible_or_404(principal, pay["region"] if pay else None, what=f"payment {payment_id} not found")
    assert pay is not None
    chain: list[ChainLevel] = []
    ind = await lineage.indicator(conn, pay["indicator_id"])
    if ind is not None:
        chain.append(_level(lineage.Link("indicator", ind)))
        chain += [_level(x) for x in await lineage.upstream(conn, ind)]
    top = chain[-1] if chain and chain[-1].kind == "indicator" else None
    project = await lineage.project(conn, pay["project_code"]) if pay["project_code"] else None
    postings = await lineage.postings_of(conn, pay["event_id"])
    return Trace(
        payment=PaymentOut.of(pay), project=ProjectOut(**project) if project else None,
        returns=[ReturnOut(return_id=r["return_id"], amount=yuan(r["amount_fen"]), returned_on=r["returned_on"],
                           reason=r["reason"]) for r in await lineage.returns_of(conn, payment_id)],
        postings=[_entry(p, "5201") for p in postings], chain=chain, top_document=top,
    )


def _entry(r: dict, account: str) -> JournalEntry:
    change = r.get("change_fen")
    if change is None:
        change = r["amount_fen"] if r["debit"] == account else -r["amount_fen"] if r["credit"] == account else 0
    return JournalEntry(seq=r["seq"], posting_id=r["posting_id"], event_id=r["event_id"], kind=r["kind"],
                        booked_on=r["booked_on"], red_ink=r["red_ink"], reverses=r["reverses"],
                        project_code=r["project_code"], debit=r["debit"], credit=r["credit"],
                        amount=yuan(r["amount_fen"]), change=yuan(change), balance=yuan(r.get("balance_fen")))


@router.get("/journal", response_model=Journal)
async def journal(principal: CurrentPrincipal, conn: Conn, indicator_id: str, account: Account,
                  project_code: str | None = None, limit: Limit = 100, offset: Offset = 0):
    """The journal of one account of an indicator (optionally one project): every posting in order
    with the running balance, red-ink (红字) reversals included."""
    if account not in CHART:
        raise HTTPException(422, f"unknown account {account}")
    await _indicator(conn, principal, indicator_id)
    p, closing = await lists.journal(conn, indicator_id, account, project_code=project_code, limit=limit, offset=offset)
    return Journal(indicator_id=indicator_id, account=account, account_name=ACCOUNTS[account],
                   project_code=project_code, balance=yuan(closing), entries=_page(p, lambda r: _entry(r, account)))


@router.get("/funds", response_model=Page[FundOut])
async def funds(principal: CurrentPrincipal, conn: Conn, region: RegionQ = None,
                level: Literal["central", "provincial", "city", "county"] | None = None,
                limit: Limit = 100, offset: Offset = 0):
    """The fund catalogue with designated links (指定关联); more than one linked upper fund is IND-07."""
    p = await lists.funds(conn, principal.scope(region), level=level, limit=limit, offset=offset)
    return _page(p, lambda r: FundOut(**{k: r[k] for k in FundOut.model_fields}))
