"""rule configurations per region scope, and their history.

Revision ID: alerts_0002
Revises: alerts_0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "alerts_0002"
down_revision = "alerts_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts_rule_configs_scoped",
        sa.Column("rule_id", sa.String(20), primary_key=True),
        sa.Column("budget_year", sa.Integer, primary_key=True),
        sa.Column("scope", sa.String(12), primary_key=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.execute("INSERT INTO alerts_rule_configs_scoped (rule_id, budget_year, scope, payload, updated_at) "
               "SELECT rule_id, budget_year, '000000', payload, updated_at FROM alerts_rule_configs")
    op.drop_table("alerts_rule_configs")
    op.rename_table("alerts_rule_configs_scoped", "alerts_rule_configs")
    op.create_table(
        "alerts_rule_config_history",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(20), nullable=False, index=True),
        sa.Column("budget_year", sa.Integer, nullable=False),
        sa.Column("scope", sa.String(12), nullable=False),
        sa.Column("set_by", sa.String(60), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alerts_rule_config_history")
