"""records without a source_ip index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

The analysis reads the daily totals, and nothing looks records up by source
IP any more: the index only slowed every insert. (This revision also counted
again the days whose totals held names that are not ASCII; revision 0006
replaced those tables and counts every report into its own.)
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_source_ip")


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_source_ip", ["source_ip"], unique=False)
