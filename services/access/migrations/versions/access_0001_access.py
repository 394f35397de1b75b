"""access schema: users, refresh tokens, permission applications (art. 22), the append-only audit
log (triggers refuse UPDATE and DELETE, and TRUNCATE on PostgreSQL), projection tracking and outbox.

Revision ID: access_0001
Revises:
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "access_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "access_tracking",
        sa.Column("topic", sa.String(200), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "access_outbox",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "access_users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(60), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("roles", sa.String(100), nullable=False),
        sa.Column("groups", sa.String(400), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_access_users_region", "access_users", ["region"])
    op.create_table(
        "access_refresh_tokens",
        sa.Column("token_id", sa.String(16), primary_key=True),
        sa.Column("family_id", sa.String(32), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime, nullable=False),
        sa.Column("expires_at", sa.DateTime, nullable=False),
        sa.Column("revoked_at", sa.DateTime, nullable=True),
        sa.Column("replaced_by", sa.String(16), nullable=True),
    )
    op.create_index("ix_access_refresh_tokens_family_id", "access_refresh_tokens", ["family_id"])
    op.create_index("ix_access_refresh_tokens_username", "access_refresh_tokens", ["username"])
    op.create_table(
        "access_applications",
        sa.Column("application_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("unit", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested", sa.Text, nullable=True),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("applied_by", sa.String(64), nullable=False),
        sa.Column("applied_at", sa.DateTime, nullable=False),
        sa.Column("confirmed_by", sa.String(64), nullable=True),
        sa.Column("confirmed_at", sa.DateTime, nullable=True),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime, nullable=True),
        sa.Column("note", sa.Text, nullable=True),
        sa.Column("history", sa.Text, nullable=False),
    )
    op.create_index("ix_access_applications_username", "access_applications", ["username"])
    op.create_index("ix_access_applications_region", "access_applications", ["region"])
    op.create_table(
        "access_audit",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(100), nullable=False, unique=True),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("region", sa.String(12), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_kind", sa.String(20), nullable=False),
        sa.Column("action", sa.String(60), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("client_ip", sa.String(64), nullable=True),
        sa.Column("service", sa.String(20), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index("ix_access_audit_region_at", "access_audit", ["region", "at"])
    op.create_index("ix_access_audit_action", "access_audit", ["action"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION access_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'access_audit is append-only: % refused', TG_OP;
            END $$""")
        op.execute("CREATE TRIGGER access_audit_no_change BEFORE UPDATE OR DELETE ON access_audit "
                   "FOR EACH ROW EXECUTE FUNCTION access_audit_append_only()")
        op.execute("CREATE TRIGGER access_audit_no_truncate BEFORE TRUNCATE ON access_audit "
                   "FOR EACH STATEMENT EXECUTE FUNCTION access_audit_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER access_audit_no_{verb.lower()} BEFORE {verb} ON access_audit "
                       f"BEGIN SELECT RAISE(ABORT, 'access_audit is append-only: {verb} refused'); END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS access_audit_no_change ON access_audit")
        op.execute("DROP TRIGGER IF EXISTS access_audit_no_truncate ON access_audit")
        op.execute("DROP FUNCTION IF EXISTS access_audit_append_only()")
    for table in ("access_audit", "access_applications", "access_refresh_tokens", "access_users",
                  "access_outbox", "access_tracking"):
        op.drop_table(table)
