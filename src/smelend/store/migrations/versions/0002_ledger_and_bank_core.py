"""The ledger (journal entries, postings, account balances) and the simulated bank core's transfers.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-01

Journal entries and postings are append-only: triggers refuse UPDATE and DELETE on both backends (and
TRUNCATE on PostgreSQL), so a correction is always a new, reversing entry. A later migration that
alters either table in batch mode on SQLite (copy, drop, rename) drops its triggers with the old
table and must create them again. Written out in full (not imported from smelend.store.tables): a
migration is frozen in time.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY_TABLES = ("journal_entries", "postings")
PG_FUNCTION = "smelend_refuse_ledger_change"


def upgrade() -> None:
    op.create_table(
        "journal_entries",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=True),  # no FK yet: loans arrive in a later migration
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.current_timestamp()),
        sa.PrimaryKeyConstraint("id", name="pk_journal_entries"),
        sa.UniqueConstraint("idempotency_key", name="uq_journal_entries_idempotency_key"),
    )
    op.create_index("ix_journal_entries_loan_id", "journal_entries", ["loan_id"])
    op.create_table(
        "postings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),  # signed: debit > 0, credit < 0
        sa.Column("loan_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_postings"),
        sa.ForeignKeyConstraint(["entry_id"], ["journal_entries.id"], name="fk_postings_entry_id_journal_entries"),
        sa.CheckConstraint("amount_fen <> 0", name=op.f("ck_postings_amount_nonzero")),
    )
    op.create_index("ix_postings_entry_id", "postings", ["entry_id"])
    op.create_index("ix_postings_account", "postings", ["account"])
    op.create_index("ix_postings_loan_id", "postings", ["loan_id"])
    op.create_table(
        "account_balances",
        sa.Column("account", sa.String(40), nullable=False),
        sa.Column("balance_fen", sa.BigInteger(), nullable=False, server_default="0"),  # debit-positive
        sa.Column("postings_count", sa.BigInteger(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("account", name="pk_account_balances"),
    )
    op.create_table(
        "bank_core_transfers",
        sa.Column("instruction_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("loan_id", sa.Integer(), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reason", sa.String(200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("instruction_id", name="pk_bank_core_transfers"),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_bank_core_transfers_amount_positive")),
        sa.CheckConstraint("status IN ('settled', 'failed')", name=op.f("ck_bank_core_transfers_status_known")),
    )
    op.create_index("ix_bank_core_transfers_business_date", "bank_core_transfers", ["business_date"])
    _create_append_only_triggers()


def downgrade() -> None:
    _drop_append_only_triggers()
    op.drop_index("ix_bank_core_transfers_business_date", table_name="bank_core_transfers")
    op.drop_table("bank_core_transfers")
    op.drop_table("account_balances")
    for name in ("ix_postings_loan_id", "ix_postings_account", "ix_postings_entry_id"):
        op.drop_index(name, table_name="postings")
    op.drop_table("postings")
    op.drop_index("ix_journal_entries_loan_id", table_name="journal_entries")
    op.drop_table("journal_entries")


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # SQLSTATE 23000 (integrity_constraint_violation): drivers raise IntegrityError, as SQLite's RAISE(ABORT) does.
        op.execute(
            f"""
            CREATE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                    USING ERRCODE = 'integrity_constraint_violation';
            END
            $$
            """
        )
        for table in APPEND_ONLY_TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()"
            )
        return
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {operation} refused'); END"
            )


def _drop_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
        return
    for table in APPEND_ONLY_TABLES:
        for operation in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")
