"""ingest: a record refused by several consumers (one written straight to an internal topic that the
ledger and alerts both read) is one dead letter; the others that refused it are noted on it.

Revision ID: ingest_0004
Revises: ingest_0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "ingest_0004"
down_revision = "ingest_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ingest_deadletters") as batch:
        batch.add_column(sa.Column("also_refused_by", sa.Text, nullable=True))
    op.create_index("ix_ingest_deadletters_source", "ingest_deadletters",
                    ["source_topic", "source_partition", "source_offset"])


def downgrade() -> None:
    op.drop_index("ix_ingest_deadletters_source", "ingest_deadletters")
    with op.batch_alter_table("ingest_deadletters") as batch:
        batch.drop_column("also_refused_by")
