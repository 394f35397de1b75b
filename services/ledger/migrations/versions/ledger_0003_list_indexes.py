"""indexes for the console's lists at a million payments: payments in date order (whole scope
or one region prefix, so a page and its count are read from an index) and, on PostgreSQL,
trigram GIN indexes on payment purpose and payee name (substring search without a scan), on SQLite
an FTS5 trigram index of them kept by triggers; the
counted payments per indicator, region and month (the overview's trend), filled from the payments

Revision ID: ledger_0003
Revises: ledger_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "ledger_0003"
down_revision = "ledger_0002"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
TRIGRAM = (("ledger_payments", "purpose"), ("ledger_payments", "payee_name"))


def _has_trigram() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and bind.exec_driver_sql(
        "SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").first() is not None


def _payment_months() -> None:
    op.create_table(
        "ledger_payment_months",
        sa.Column("indicator_id", sa.String(100), primary_key=True),
        sa.Column("region", sa.String(12), primary_key=True),
        sa.Column("month", sa.String(7), primary_key=True),
        sa.Column("payments", sa.BigInteger, nullable=False),
        sa.Column("paid_fen", sa.BigInteger, nullable=False),
    )
    month = ("to_char(payment_date, 'YYYY-MM')" if op.get_bind().dialect.name == "postgresql"
             else "strftime('%Y-%m', payment_date)")
    op.execute(f"INSERT INTO ledger_payment_months (indicator_id, region, month, payments, paid_fen) "
               f"SELECT indicator_id, region, {month}, count(*), sum(amount_fen - returned_fen) FROM ledger_payments "
               f"WHERE status = 'counted' AND payment_date IS NOT NULL GROUP BY indicator_id, region, {month}")


FTS = "ledger_payments_text"


def _sqlite_text_index() -> None:
    """FTS5 with the trigram tokenizer (SQLite 3.34+): a phrase query is a substring match of
    three characters or more, answered from the index; external content, kept by triggers."""
    op.execute(f"CREATE VIRTUAL TABLE {FTS} USING fts5(purpose, payee_name, content='ledger_payments', "
               "content_rowid='rowid', tokenize='trigram')")
    op.execute(f"INSERT INTO {FTS}({FTS}) VALUES ('rebuild')")
    new = f"INSERT INTO {FTS}(rowid, purpose, payee_name) VALUES (new.rowid, new.purpose, new.payee_name);"
    old = (f"INSERT INTO {FTS}({FTS}, rowid, purpose, payee_name) "
           "VALUES ('delete', old.rowid, old.purpose, old.payee_name);")
    op.execute(f"CREATE TRIGGER {FTS}_insert AFTER INSERT ON ledger_payments BEGIN {new} END")
    op.execute(f"CREATE TRIGGER {FTS}_delete AFTER DELETE ON ledger_payments BEGIN {old} END")
    op.execute(f"CREATE TRIGGER {FTS}_update AFTER UPDATE OF purpose, payee_name ON ledger_payments "
               f"BEGIN {old} {new} END")


def upgrade() -> None:
    _payment_months()
    if op.get_bind().dialect.name == "sqlite":
        import sqlite3

        if sqlite3.sqlite_version_info >= (3, 34):
            _sqlite_text_index()
        else:
            log.warning("SQLite %s has no FTS5 trigram tokenizer: payment search scans the payments",
                        sqlite3.sqlite_version)
    if op.get_bind().dialect.name == "postgresql":
        # varchar_pattern_ops: `region LIKE '411624%'` (a scope) uses the index whatever the collation
        op.execute("CREATE INDEX ix_ledger_payments_region ON ledger_payments "
                   "(region varchar_pattern_ops, payment_date, payment_id)")
    else:
        op.create_index("ix_ledger_payments_region", "ledger_payments", ["region", "payment_date", "payment_id"])
    # region last: a page deep in the province's list is skipped to inside the index (index-only)
    op.create_index("ix_ledger_payments_date", "ledger_payments", ["payment_date", "payment_id", "region"])
    if _has_trigram():
        for table, column in TRIGRAM:
            op.execute(f"CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin ({column} gin_trgm_ops)")
    elif op.get_bind().dialect.name == "postgresql":
        log.warning("pg_trgm unavailable: payment search scans the payments")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS {FTS}_{trigger}")
        op.execute(f"DROP TABLE IF EXISTS {FTS}")
    op.drop_table("ledger_payment_months")
    for table, column in TRIGRAM:
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
    op.drop_index("ix_ledger_payments_date", "ledger_payments")
    op.drop_index("ix_ledger_payments_region", "ledger_payments")
