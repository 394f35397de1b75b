"""ingest schema: upstream clients, their API keys (hashed), the outbox of audit records.

Revision ID: ingest_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ingest_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("scope", sa.String(12), nullable=False),
        sa.Column("families", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.Column("revoked_by", sa.String(100), nullable=True),
    )
    op.create_table(
        "ingest_client_keys",
        sa.Column("key_id", sa.String(12), primary_key=True),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("ingest_clients.client_id"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=True),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_ingest_client_keys_client_id", "ingest_client_keys", ["client_id"])
    op.create_table(
        "ingest_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("ingest_outbox", "ingest_client_keys", "ingest_clients"):
        op.drop_table(table)
