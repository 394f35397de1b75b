"""Intelligent search (智能检索): document numbers and project-name keywords → indicators,
transfers, projects and payments, inside the caller's region scope.

Every keyword must occur in the text (substring, so Chinese needs no word segmentation); on
PostgreSQL a text similar to the whole query also matches (pg_trgm word similarity, GIN
trigram indexes from the migration) and results are ranked by that similarity. On SQLite the
match is substring only (LIKE) and shorter texts rank first."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, literal, or_, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.types import region_prefix
from services.ledger import schema as s
from services.ledger.bulk import is_postgres

_trigram: dict[str, bool] = {}
# Chinese names have no word boundaries and few trigrams: pg_trgm's default word-similarity
# threshold (0.6) misses near matches such as 槐树村道路硬化工程 → …槐树村道路硬化项目 (0.5).
WORD_SIMILARITY = 0.4
CANDIDATES = 500  # matches ranked per kind: an unselective keyword (a county name) matches thousands


async def has_trigram(conn: AsyncConnection) -> bool:
    if not is_postgres(conn):
        return False
    key = str(conn.engine.url)
    if key not in _trigram:
        found = (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))).first()
        _trigram[key] = found is not None
    return _trigram[key]


def _escape(keyword: str) -> str:
    return keyword.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@dataclass
class Matcher:
    query: str
    keywords: list[str]
    trigram: bool

    def match(self, *columns):
        """Any of the columns contains every keyword (or, with pg_trgm, is similar to the query)."""
        conds = [and_(*[c.ilike(f"%{_escape(k)}%", escape="\\") for k in self.keywords]) for c in columns]
        if self.trigram:
            conds += [c.op("%>")(self.query) for c in columns]
        return or_(*conds)

    def rank(self, column):
        if self.trigram:
            return func.word_similarity(literal(self.query), func.coalesce(column, "")).desc()
        return func.length(column).asc()


@dataclass
class Found:
    indicators: list[dict]
    transfers: list[dict]
    projects: list[dict]
    payments: list[dict]


def _scope(column, region: str):
    """Scope filter written so that no region index competes with the trigram index: the text
    match selects few rows, the scope is checked on those."""
    prefix = region_prefix(region)
    return func.substr(column, 1, len(prefix)) == prefix if prefix else true()


async def search(conn: AsyncConnection, query: str, region: str, *, limit: int = 20) -> Found:
    keywords = query.split()
    if not keywords:
        return Found([], [], [], [])
    # a query of one or two characters (a surname, 高鹏) has no trigram: the index would hand every row
    # back to recheck and similarity would be computed for each (1–3 s over 50,000 projects); it is
    # matched as a substring by a plain scan (30 ms)
    m = Matcher(query.strip(), keywords, len(query.strip()) >= 3 and await has_trigram(conn))
    if m.trigram:  # settings for this transaction only
        for name, value in (("pg_trgm.word_similarity_threshold", str(WORD_SIMILARITY)),
                            # the planner prices trigram matching of Chinese text far too low and
                            # scans sequentially (200–400 ms over 50,000 projects; 5–10 ms by the index)
                            ("enable_seqscan", "off"),
                            # a generic plan for the IN lists below measured 1–2 s against < 1 ms
                            ("plan_cache_mode", "force_custom_plan")):
            await conn.execute(select(func.set_config(name, value, True)))
    i, t, p, pay, a = s.indicators, s.transfers, s.projects, s.payments, s.allocations

    async def ranked(table, where, rank_by, key) -> list[dict]:
        candidates = select(table).where(*where).limit(CANDIDATES).subquery()
        c = candidates.c
        q = select(candidates).order_by(m.rank(c[rank_by]), c[key]).limit(limit)
        return [dict(r) for r in (await conn.execute(q)).mappings()]

    inds = await ranked(i, (_scope(i.c.region, region), m.match(i.c.doc_no, i.c.budget_project)), "doc_no",
                        "indicator_id")
    trs = await ranked(t, (or_(_scope(t.c.issuer_region, region), _scope(t.c.to_region, region)),
                           m.match(t.c.doc_no)), "doc_no", "transfer_id")
    projs = await ranked(p, (_scope(p.c.region, region), m.match(p.c.name)), "name", "project_code")

    # payments: under the matched projects, under indicators whose document number is the query
    # itself (similar document numbers are many and say nothing about payments), and a payment id
    # given verbatim — one index-bound query each (an OR of them makes the planner walk the whole
    # payments index in order: 1.5 s at a million payments)
    if m.trigram:  # the text matching is done: let the planner weigh plain index scans again
        await conn.execute(select(func.set_config("enable_seqscan", "on", True)))
    parts = []
    codes = [r["project_code"] for r in projs]
    if codes:
        pairs = (await conn.execute(select(a.c.indicator_id, a.c.project_code).where(a.c.project_code.in_(codes))
                                    .distinct())).all()
        if pairs:
            parts.append(and_(pay.c.indicator_id.in_({x for x, _ in pairs}), pay.c.project_code.in_(codes)))
    exact = [r["indicator_id"] for r in inds if r["doc_no"] == m.query]
    if exact:
        parts.append(pay.c.indicator_id.in_(exact))
    if len(keywords) == 1:
        parts.append(pay.c.payment_id == keywords[0])
    payments: dict[str, dict] = {}
    for cond in parts:
        if len(payments) >= limit:
            break
        q = (select(pay).where(cond, _scope(pay.c.region, region))
             .order_by(pay.c.indicator_id, pay.c.project_code).limit(limit - len(payments)))
        for r in (await conn.execute(q)).mappings():
            payments.setdefault(r["payment_id"], dict(r))
    return Found(inds, trs, projs, sorted(payments.values(), key=lambda r: (r["indicator_id"], r["payment_id"])))
