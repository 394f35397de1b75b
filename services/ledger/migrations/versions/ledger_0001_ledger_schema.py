"""ledger schema: the double-entry indicator ledger (总台账), its lineage and reference data

The journal stores postings as moves (debit account, credit account, amount > 0): an
unbalanced posting cannot be written. Triggers make the journal append-only on both
dialects; on PostgreSQL pg_trgm GIN indexes serve the similarity search (skipped, with a
warning, when the extension cannot be created).

Revision ID: ledger_0001
Revises:
Create Date: 2026-11-23
"""
import logging

from alembic import op
import sqlalchemy as sa


revision = 'ledger_0001'
down_revision = None
branch_labels = None
depends_on = None

GENESIS = "0" * 64
TRIGRAM_COLUMNS = (
    ("ledger_indicators", "doc_no"),
    ("ledger_indicators", "budget_project"),
    ("ledger_transfers", "doc_no"),
    ("ledger_projects", "name"),
)
log = logging.getLogger("alembic.runtime.migration")


def _journal_is_append_only() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION ledger_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'ledger_journal is append-only: % refused', TG_OP;
            END $$""")
        op.execute("CREATE TRIGGER ledger_journal_append_only BEFORE UPDATE OR DELETE ON ledger_journal "
                   "FOR EACH ROW EXECUTE FUNCTION ledger_journal_append_only()")
        op.execute("CREATE TRIGGER ledger_journal_no_truncate BEFORE TRUNCATE ON ledger_journal "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ledger_journal_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER ledger_journal_no_{action.lower()} BEFORE {action} ON ledger_journal "
                       f"BEGIN SELECT RAISE(ABORT, 'ledger_journal is append-only: {action} refused'); END")


def _room_for_hot_updates() -> None:
    """Balances are updated in place every batch: leave room in each page so PostgreSQL can
    update them without touching the indexes (HOT updates)."""
    if op.get_bind().dialect.name == "postgresql":
        for table in ("ledger_indicators", "ledger_project_balances", "ledger_transfers"):
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 70)")


def _trigram_indexes() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return  # SQLite searches by substring (LIKE)
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        log.warning("pg_trgm unavailable (%s): search falls back to substring matching", exc.orig)
        return
    for table, column in TRIGRAM_COLUMNS:
        op.execute(f"CREATE INDEX ix_{table}_{column}_trgm ON {table} USING gin ({column} gin_trgm_ops)")


def _drop_dialect_objects() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ledger_journal_no_truncate ON ledger_journal")
        op.execute("DROP TRIGGER IF EXISTS ledger_journal_append_only ON ledger_journal")
        op.execute("DROP FUNCTION IF EXISTS ledger_journal_append_only()")
        for table, column in TRIGRAM_COLUMNS:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_{column}_trgm")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_journal_no_update")
        op.execute("DROP TRIGGER IF EXISTS ledger_journal_no_delete")


def upgrade() -> None:
    op.create_table('ledger_accounts',
    sa.Column('account_hash', sa.String(length=32), nullable=False),
    sa.Column('masked', sa.String(length=40), nullable=False),
    sa.Column('holder_name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('unit_code', sa.String(length=40), nullable=True),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.PrimaryKeyConstraint('account_hash')
    )
    op.create_table('ledger_allocations',
    sa.Column('allocation_id', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('project_code', sa.String(length=40), nullable=True),
    sa.Column('project_name', sa.String(length=200), nullable=True),
    sa.Column('to_region', sa.String(length=12), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('allocated_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('allocation_id')
    )
    with op.batch_alter_table('ledger_allocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_allocations_indicator_id'), ['indicator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_allocations_project_code'), ['project_code'], unique=False)

    op.create_table('ledger_applied',
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('event_type', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('subject', sa.String(length=100), nullable=True),
    sa.Column('journal_from', sa.BigInteger(), nullable=True),
    sa.Column('journal_n', sa.Integer(), server_default='0', nullable=False),
    sa.Column('corrects', sa.String(length=100), nullable=True),
    sa.Column('effective', sa.String(length=100), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id')
    )
    op.create_table('ledger_chain',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint('id = 1', name='ck_chain_single_row'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('ledger_counters',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    op.create_table('ledger_fund_links',
    sa.Column('fund_code', sa.String(length=40), nullable=False),
    sa.Column('upper_fund_code', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.PrimaryKeyConstraint('fund_code', 'upper_fund_code')
    )
    op.create_table('ledger_funds',
    sa.Column('fund_code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('level', sa.String(length=12), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('upper_fund_code', sa.String(length=40), nullable=True),
    sa.Column('group_code', sa.String(length=40), nullable=True),
    sa.Column('for_households', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('functional_classes', sa.Text(), server_default='[]', nullable=False),
    sa.PrimaryKeyConstraint('fund_code')
    )
    op.create_table('ledger_groups',
    sa.Column('group_code', sa.String(length=40), nullable=False),
    sa.Column('group_name', sa.String(length=60), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('department', sa.String(length=60), nullable=True),
    sa.Column('fund_codes', sa.Text(), server_default='[]', nullable=False),
    sa.PrimaryKeyConstraint('group_code')
    )
    op.create_table('ledger_indicators',
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('registered', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('fund_code', sa.String(length=40), nullable=True),
    sa.Column('budget_year', sa.Integer(), nullable=True),
    sa.Column('compiled_year', sa.Integer(), nullable=True),
    sa.Column('doc_no', sa.String(length=120), nullable=True),
    sa.Column('doc_date', sa.Date(), nullable=True),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('functional_class', sa.String(length=7), nullable=True),
    sa.Column('economic_class', sa.String(length=7), nullable=True),
    sa.Column('budget_project', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=20), nullable=True),
    sa.Column('upper_indicator_id', sa.String(length=100), nullable=True),
    sa.Column('upper_region', sa.String(length=12), nullable=True),
    sa.Column('advance_issue', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=True),
    sa.Column('a1001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a4001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500201', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500202', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500203', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5101', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5201', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('indicator_id')
    )
    with op.batch_alter_table('ledger_indicators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_indicators_region'), ['region'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_indicators_upper_indicator_id'), ['upper_indicator_id'], unique=False)

    op.create_table('ledger_journal',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('posting_id', sa.String(length=120), nullable=False),
    sa.Column('move_no', sa.SmallInteger(), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('project_code', sa.String(length=40), nullable=True),
    sa.Column('fund_code', sa.String(length=40), nullable=True),
    sa.Column('budget_year', sa.Integer(), nullable=True),
    sa.Column('debit', sa.String(length=6), nullable=False),
    sa.Column('credit', sa.String(length=6), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('red_ink', sa.Boolean(), nullable=False),
    sa.Column('reverses', sa.String(length=120), nullable=True),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.CheckConstraint("debit IN ('1001', '4001', '5001', '500201', '500202', '500203', '5101', '5201') AND credit IN ('1001', '4001', '5001', '500201', '500202', '500203', '5101', '5201')", name='ck_journal_chart'),
    sa.CheckConstraint('amount_fen > 0', name='ck_journal_positive'),
    sa.CheckConstraint('debit <> credit', name='ck_journal_two_sides'),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('ledger_journal', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_journal_indicator', ['indicator_id', 'seq'], unique=False)

    op.create_table('ledger_outbox',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('key', sa.LargeBinary(), nullable=False),
    sa.Column('value', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('ledger_payments',
    sa.Column('payment_id', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('project_code', sa.String(length=40), nullable=True),
    sa.Column('plan_id', sa.String(length=100), nullable=True),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('returned_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('payment_date', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('settlement', sa.String(length=10), nullable=False),
    sa.Column('payer_unit_code', sa.String(length=40), nullable=False),
    sa.Column('payer_unit_name', sa.String(length=120), nullable=False),
    sa.Column('payee_kind', sa.String(length=12), nullable=False),
    sa.Column('payee_name', sa.String(length=120), nullable=False),
    sa.Column('payee_account_hash', sa.String(length=32), nullable=False),
    sa.Column('payee_account_masked', sa.String(length=40), nullable=False),
    sa.Column('purpose', sa.String(length=300), nullable=False),
    sa.Column('economic_class', sa.String(length=7), nullable=True),
    sa.PrimaryKeyConstraint('payment_id')
    )
    with op.batch_alter_table('ledger_payments', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_payments_indicator', ['indicator_id', 'project_code'], unique=False)

    op.create_table('ledger_plans',
    sa.Column('plan_id', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('plan_id')
    )
    with op.batch_alter_table('ledger_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_plans_indicator_id'), ['indicator_id'], unique=False)

    op.create_table('ledger_project_balances',
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('project_code', sa.String(length=40), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('a1001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a4001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5001', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500201', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500202', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a500203', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5101', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('a5201', sa.BigInteger(), server_default='0', nullable=False),
    sa.PrimaryKeyConstraint('indicator_id', 'project_code')
    )

    op.create_table('ledger_projects',
    sa.Column('project_code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('fund_code', sa.String(length=40), nullable=True),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=True),
    sa.Column('implementing_unit', sa.String(length=120), nullable=True),
    sa.Column('start_date', sa.Date(), nullable=True),
    sa.Column('end_date', sa.Date(), nullable=True),
    sa.Column('in_library', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('project_code')
    )
    with op.batch_alter_table('ledger_projects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_projects_region'), ['region'], unique=False)

    op.create_table('ledger_regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent', sa.String(length=12), nullable=True),
    sa.PrimaryKeyConstraint('code')
    )
    with op.batch_alter_table('ledger_regions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_regions_parent'), ['parent'], unique=False)

    op.create_table('ledger_returns',
    sa.Column('return_id', sa.String(length=100), nullable=False),
    sa.Column('event_id', sa.String(length=100), nullable=False),
    sa.Column('region', sa.String(length=12), nullable=False),
    sa.Column('payment_id', sa.String(length=100), nullable=False),
    sa.Column('indicator_id', sa.String(length=100), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('returned_on', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.PrimaryKeyConstraint('return_id')
    )
    with op.batch_alter_table('ledger_returns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_returns_payment_id'), ['payment_id'], unique=False)

    op.create_table('ledger_tracking',
    sa.Column('topic', sa.String(length=200), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('next_offset', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('topic', 'partition')
    )
    op.create_table('ledger_transfers',
    sa.Column('transfer_id', sa.String(length=100), nullable=False),
    sa.Column('issuer_region', sa.String(length=12), nullable=True),
    sa.Column('from_indicator_id', sa.String(length=100), nullable=True),
    sa.Column('to_region', sa.String(length=12), nullable=False),
    sa.Column('fund_code', sa.String(length=40), nullable=True),
    sa.Column('budget_year', sa.Integer(), nullable=True),
    sa.Column('doc_no', sa.String(length=120), nullable=True),
    sa.Column('doc_date', sa.Date(), nullable=True),
    sa.Column('issued_on', sa.Date(), nullable=True),
    sa.Column('advance_issue', sa.Boolean(), server_default='0', nullable=False),
    sa.Column('issued_fen', sa.BigInteger(), nullable=True),
    sa.Column('received_fen', sa.BigInteger(), server_default='0', nullable=False),
    sa.Column('receipts', sa.Integer(), server_default='0', nullable=False),
    sa.Column('first_received_on', sa.Date(), nullable=True),
    sa.Column('state', sa.String(length=12), nullable=True),
    sa.Column('event_id', sa.String(length=100), nullable=True),
    sa.PrimaryKeyConstraint('transfer_id')
    )
    with op.batch_alter_table('ledger_transfers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_transfers_from_indicator_id'), ['from_indicator_id'], unique=False)

    _journal_is_append_only()
    _room_for_hot_updates()
    _trigram_indexes()
    op.execute("INSERT INTO ledger_chain (id, last_seq, last_hash) VALUES (1, 0, '" + GENESIS + "')")


def downgrade() -> None:
    _drop_dialect_objects()
    with op.batch_alter_table('ledger_transfers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_transfers_from_indicator_id'))

    op.drop_table('ledger_transfers')
    op.drop_table('ledger_tracking')
    with op.batch_alter_table('ledger_returns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_returns_payment_id'))

    op.drop_table('ledger_returns')
    with op.batch_alter_table('ledger_regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_regions_parent'))

    op.drop_table('ledger_regions')
    with op.batch_alter_table('ledger_projects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_projects_region'))

    op.drop_table('ledger_projects')
    op.drop_table('ledger_project_balances')
    with op.batch_alter_table('ledger_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_plans_indicator_id'))

    op.drop_table('ledger_plans')
    with op.batch_alter_table('ledger_payments', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_payments_indicator')

    op.drop_table('ledger_payments')
    op.drop_table('ledger_outbox')
    with op.batch_alter_table('ledger_journal', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_journal_indicator')

    op.drop_table('ledger_journal')
    with op.batch_alter_table('ledger_indicators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_indicators_upper_indicator_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_indicators_region'))

    op.drop_table('ledger_indicators')
    op.drop_table('ledger_groups')
    op.drop_table('ledger_funds')
    op.drop_table('ledger_fund_links')
    op.drop_table('ledger_counters')
    op.drop_table('ledger_chain')
    op.drop_table('ledger_applied')
    with op.batch_alter_table('ledger_allocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ledger_allocations_project_code'))
        batch_op.drop_index(batch_op.f('ix_ledger_allocations_indicator_id'))

    op.drop_table('ledger_allocations')
    op.drop_table('ledger_accounts')
