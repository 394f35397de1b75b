"""ingest: table-import jobs — the progress of each upload (rows read, events checked, events
published) and where an interrupted one stopped, so the same file again publishes only the rest.

Revision ID: ingest_0003
Revises: ingest_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ingest_0003"
down_revision = "ingest_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_import_jobs",
        sa.Column("job_id", sa.String(32), primary_key=True),
        sa.Column("template", sa.String(40), nullable=False),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("events_checked", sa.Integer, nullable=False),
        sa.Column("events_total", sa.Integer, nullable=True),
        sa.Column("events_published", sa.Integer, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("errors", sa.Text, nullable=True),
        sa.Column("detail", sa.Text, nullable=True),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_import_jobs")
