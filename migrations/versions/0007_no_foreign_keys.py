"""records, their results and reasons without foreign keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04

PostgreSQL checks a foreign key with a query for every row written: as much
as writing the row, three or four times per record. Ingest writes a report
and everything that is part of it in one transaction, with ids it takes
itself, and deleting reports (prune) deletes their records, results and
reasons by name now, instead of by ON DELETE CASCADE. The indexes on the
ids stay. On SQLite each table is copied once, as SQLite cannot drop a
constraint in place.
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (table, its column, the table it points at)
_REFERENCES = [
    ("records", "report_pk", "reports"),
    ("dkim_results", "record_pk", "records"),
    ("spf_results", "record_pk", "records"),
    ("override_reasons", "record_pk", "records"),
]


def upgrade() -> None:
    for table, column, parent in _REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(
                f"fk_{table}_{column}_{parent}", type_="foreignkey"
            )


def downgrade() -> None:
    for table, column, parent in _REFERENCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_foreign_key(
                f"fk_{table}_{column}_{parent}",
                parent,
                [column],
                ["id"],
                ondelete="CASCADE",
            )
