"""ingest: the dead letters of every consumer, read off the dead-letter topic, and their replays;
the files imported from tables (each once).

Revision ID: ingest_0002
Revises: ingest_0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ingest_0002"
down_revision = "ingest_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_deadletters",
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("offset", sa.Integer, primary_key=True),
        sa.Column("consumer", sa.String(100), nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("source_topic", sa.String(200), nullable=False),
        sa.Column("source_partition", sa.Integer, nullable=False),
        sa.Column("source_offset", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("region", sa.String(12), nullable=True),
        sa.Column("client_id", sa.String(64), nullable=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("redacted", sa.Boolean, nullable=False),
        sa.Column("replayed_at", sa.DateTime, nullable=True),
        sa.Column("replayed_by", sa.String(100), nullable=True),
        sa.Column("replayed_ids", sa.Text, nullable=True),
    )
    op.create_table(
        "ingest_imports",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_imports")
    op.drop_table("ingest_deadletters")
