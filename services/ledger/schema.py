"""Ledger tables. Money is integer fen; balances are debit-positive, one column per account.

The journal (`ledger_journal`) stores each posting as moves: every row debits one account and
credits another with the same positive amount (CHECKs), so no unbalanced posting can be
written; rows are append-only (triggers, see the migration) and hash-chained (`audit.py`)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
)

from services.ledger.postings import CHART
from services.runtime.projection import outbox_table, tracking_table

metadata = MetaData()

tracking = tracking_table(metadata, "ledger")
outbox = outbox_table(metadata, "ledger")


def column_of(account: str) -> str:
    """Balance column of an account: 500201 → a500201."""
    return f"a{account}"


BALANCE_COLUMNS = tuple(column_of(a) for a in CHART)


def _balance_columns() -> list[Column]:
    return [Column(c, BigInteger, nullable=False, server_default="0") for c in BALANCE_COLUMNS]


_CHART_SQL = ", ".join(f"'{a}'" for a in CHART)

applied = Table(
    "ledger_applied",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("event_type", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("subject", String(100)),  # payment / allocation / indicator / transfer … the event is about
    Column("journal_from", BigInteger),  # first journal seq the event wrote
    Column("journal_n", Integer, nullable=False, server_default="0"),
    Column("corrects", String(100)),  # a correction: the original event it corrects
    Column("effective", String(100)),  # an original: the event whose re-post is now in force
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

journal = Table(
    "ledger_journal",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("posting_id", String(120), nullable=False),
    Column("move_no", SmallInteger, nullable=False),
    Column("event_id", String(100), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("region", String(12), nullable=False),
    Column("indicator_id", String(100), nullable=False),
    Column("project_code", String(40)),
    Column("fund_code", String(40)),
    Column("budget_year", Integer),
    Column("debit", String(6), nullable=False),
    Column("credit", String(6), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("booked_on", Date, nullable=False),
    Column("red_ink", Boolean, nullable=False),
    Column("reverses", String(120)),
    Column("hash", String(64), nullable=False),
    CheckConstraint("amount_fen > 0", name="ck_journal_positive"),
    CheckConstraint("debit <> credit", name="ck_journal_two_sides"),
    CheckConstraint(f"debit IN ({_CHART_SQL}) AND credit IN ({_CHART_SQL})", name="ck_journal_chart"),
    Index("ix_ledger_journal_indicator", "indicator_id", "seq"),
)

chain = Table(
    "ledger_chain",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_chain_single_row"),
)

counters = Table(
    "ledger_counters",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

indicators = Table(
    "ledger_indicators",
    metadata,
    Column("indicator_id", String(100), primary_key=True),
    Column("region", String(12), nullable=False, index=True),
    Column("registered", Boolean, nullable=False, server_default="0"),  # false: only postings seen so far
    Column("fund_code", String(40)),
    Column("budget_year", Integer),
    Column("compiled_year", Integer),  # advance issue (提前下达) compiled into this year
    Column("doc_no", String(120)),
    Column("doc_date", Date),
    Column("registered_on", Date),
    Column("functional_class", String(7)),
    Column("economic_class", String(7)),
    Column("budget_project", String(200)),
    Column("source", String(20)),
    Column("upper_indicator_id", String(100), index=True),  # the upper transfer it was received from
    Column("upper_region", String(12)),
    Column("advance_issue", Boolean, nullable=False, server_default="0"),
    Column("amount_fen", BigInteger, nullable=False, server_default="0"),
    Column("event_id", String(100)),
    *_balance_columns(),
)

project_balances = Table(
    "ledger_project_balances",
    metadata,
    Column("indicator_id", String(100), primary_key=True),
    Column("project_code", String(40), primary_key=True),
    Column("region", String(12), nullable=False),
    *_balance_columns(),
)

transfers = Table(
    "ledger_transfers",
    metadata,
    Column("transfer_id", String(100), primary_key=True),
    Column("issuer_region", String(12)),
    Column("from_indicator_id", String(100), index=True),
    Column("to_region", String(12), nullable=False),
    Column("fund_code", String(40)),
    Column("budget_year", Integer),
    Column("doc_no", String(120)),
    Column("doc_date", Date),
    Column("issued_on", Date),
    Column("advance_issue", Boolean, nullable=False, server_default="0"),
    Column("issued_fen", BigInteger),  # null until the issuer's event is projected
    Column("received_fen", BigInteger, nullable=False, server_default="0"),
    Column("receipts", Integer, nullable=False, server_default="0"),
    Column("first_received_on", Date),
    Column("state", String(12)),
    Column("event_id", String(100)),
)

allocations = Table(
    "ledger_allocations",
    metadata,
    Column("allocation_id", String(100), primary_key=True),
    Column("event_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("indicator_id", String(100), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("project_code", String(40), index=True),
    Column("project_name", String(200)),
    Column("to_region", String(12)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("allocated_on", Date, nullable=False),
)

plans = Table(
    "ledger_plans",
    metadata,
    Column("plan_id", String(100), primary_key=True),
    Column("event_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("indicator_id", String(100), nullable=False, index=True),
    Column("amount_fen", BigInteger, nullable=False),
    Column("planned_on", Date, nullable=False),
)

payments = Table(
    "ledger_payments",
    metadata,
    Column("payment_id", String(100), primary_key=True),
    Column("event_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("indicator_id", String(100), nullable=False),
    Column("project_code", String(40)),
    Column("plan_id", String(100)),
    Column("amount_fen", BigInteger, nullable=False),
    Column("returned_fen", BigInteger, nullable=False, server_default="0"),
    Column("payment_date", Date),
    Column("status", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("settlement", String(10), nullable=False),
    Column("payer_unit_code", String(40), nullable=False),
    Column("payer_unit_name", String(120), nullable=False),
    Column("payee_kind", String(12), nullable=False),
    Column("payee_name", String(120), nullable=False),
    Column("payee_account_hash", String(32), nullable=False),
    Column("payee_account_masked", String(40), nullable=False),
    Column("purpose", String(300), nullable=False),
    Column("economic_class", String(7)),
    Index("ix_ledger_payments_indicator", "indicator_id", "project_code"),
    # the console's lists (migration ledger_0003): a scope's payments in date order, read from an index
    Index("ix_ledger_payments_region", "region", "payment_date", "payment_id",
          postgresql_ops={"region": "varchar_pattern_ops"}),
    Index("ix_ledger_payments_date", "payment_date", "payment_id", "region"),
)

payment_months = Table(
    "ledger_payment_months",
    metadata,
    Column("indicator_id", String(100), primary_key=True),
    Column("region", String(12), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM of the payment date
    Column("payments", BigInteger, nullable=False),
    Column("paid_fen", BigInteger, nullable=False),  # amount net of returns
)
"""Counted payments per indicator, region and month, kept by the recorder with the payments (the
month-by-month trend of the overview: a million payments aggregated per request cost 0.7 s)."""

returns = Table(
    "ledger_returns",
    metadata,
    Column("return_id", String(100), primary_key=True),
    Column("event_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("payment_id", String(100), nullable=False, index=True),
    Column("indicator_id", String(100), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("returned_on", Date, nullable=False),
    Column("reason", String(300), nullable=False),
)

parked = Table(
    "ledger_parked",
    metadata,
    Column("event_id", String(100), primary_key=True),
    Column("waits_for", String(120), nullable=False, index=True),  # 'event:<id>' | 'payment:<payment id>'
    Column("event_type", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),  # the event's wire form (personal data already hashed)
    Column("parked_at", DateTime(timezone=True), nullable=False),
)
"""Events that cannot be booked before another one (a red-ink correction before the event it
corrects, a return before its payment): applied in the batch that applies what they wait for."""

# ------------------------------------------------------------------ reference data the ledger keeps

regions = Table(
    "ledger_regions",
    metadata,
    Column("code", String(12), primary_key=True),
    Column("name", String(60), nullable=False),
    Column("level", String(10), nullable=False),
    Column("parent", String(12), index=True),
)

funds = Table(
    "ledger_funds",
    metadata,
    Column("fund_code", String(40), primary_key=True),
    Column("name", String(120), nullable=False),
    Column("level", String(12), nullable=False),
    Column("region", String(12), nullable=False),
    Column("upper_fund_code", String(40)),  # the designated upper fund (指定关联)
    Column("group_code", String(40)),
    Column("for_households", Boolean, nullable=False, server_default="0"),
    Column("functional_classes", Text, nullable=False, server_default="[]"),
)

fund_links = Table(
    "ledger_fund_links",
    metadata,
    Column("fund_code", String(40), primary_key=True),
    Column("upper_fund_code", String(40), primary_key=True),
    Column("event_id", String(100), nullable=False),
    Column("region", String(12), nullable=False),
    Column("linked_at", DateTime(timezone=True)),  # event time: the earliest link is the designated one
)

projects = Table(
    "ledger_projects",
    metadata,
    Column("project_code", String(40), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("fund_code", String(40)),
    Column("region", String(12), nullable=False, index=True),
    Column("category", String(40)),
    Column("implementing_unit", String(120)),
    Column("start_date", Date),
    Column("end_date", Date),
    Column("in_library", Boolean, nullable=False),  # false: only named by an allocation (ALC-04)
)

groups = Table(
    "ledger_groups",
    metadata,
    Column("group_code", String(40), primary_key=True),
    Column("group_name", String(60), nullable=False),
    Column("region", String(12), nullable=False),
    Column("department", String(60)),
    Column("fund_codes", Text, nullable=False, server_default="[]"),  # JSON list; empty = every fund
)

accounts = Table(
    "ledger_accounts",
    metadata,
    Column("account_hash", String(32), primary_key=True),
    Column("masked", String(40), nullable=False),
    Column("holder_name", String(120), nullable=False),
    Column("kind", String(12), nullable=False),
    Column("status", String(10), nullable=False),
    Column("unit_code", String(40)),
    Column("region", String(12), nullable=False),
    Column("was_special", Boolean, nullable=False, server_default="0"),  # ever registered a special account (财政专户)
)

# Columns searched by similarity on PostgreSQL (pg_trgm GIN indexes, created by the migration).
TRIGRAM_COLUMNS = (
    ("ledger_indicators", "doc_no"),
    ("ledger_indicators", "budget_project"),
    ("ledger_transfers", "doc_no"),
    ("ledger_projects", "name"),
    ("ledger_payments", "purpose"),  # ledger_0003
    ("ledger_payments", "payee_name"),
)
