"""findings in Chinese on alerts and transitions; disposition attachments kept in the database.

Revision ID: alerts_0003
Revises: alerts_0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerts_0003"
down_revision = "alerts_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts_alerts") as batch:
        batch.add_column(sa.Column("findings_zh", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("alerts_transitions") as batch:
        batch.add_column(sa.Column("findings_zh", sa.Text, nullable=False, server_default=""))
    op.create_table(
        "alerts_attachments",
        sa.Column("attachment_id", sa.String(40), primary_key=True),
        sa.Column("alert_id", sa.String(100), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("disposition_id", sa.String(100)),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("uploaded_by", sa.String(60), nullable=False),
        sa.Column("uploaded_at", sa.DateTime, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_alerts_attachments_alert", "alerts_attachments", ["alert_id"])


def downgrade() -> None:
    op.drop_index("ix_alerts_attachments_alert", "alerts_attachments")
    op.drop_table("alerts_attachments")
    with op.batch_alter_table("alerts_transitions") as batch:
        batch.drop_column("findings_zh")
    with op.batch_alter_table("alerts_alerts") as batch:
        batch.drop_column("findings_zh")
