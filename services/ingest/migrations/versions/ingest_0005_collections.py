"""ingest: report-collection tasks (定制报表采集任务, seed 004) and the forms the lower regions submit.

Revision ID: ingest_0005
Revises: ingest_0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ingest_0005"
down_revision = "ingest_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ingest_collection_tasks",
        sa.Column("task_id", sa.String(40), primary_key=True),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("region", sa.String(12), nullable=False, index=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "ingest_collection_forms",
        sa.Column("task_id", sa.String(40), primary_key=True),
        sa.Column("region", sa.String(12), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("records", sa.Text, nullable=False),
        sa.Column("submitted_at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_collection_forms")
    op.drop_table("ingest_collection_tasks")
