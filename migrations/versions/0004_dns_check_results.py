"""dns check results

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03

One row per finding of each `dns check` run, so that a record's history
tells when it broke and when it was mended.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dns_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("selector", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dns_checks")),
    )
    with op.batch_alter_table("dns_checks", schema=None) as batch_op:
        batch_op.create_index("ix_dns_checks_checked_at", ["checked_at"])
        batch_op.create_index("ix_dns_checks_name_checked_at", ["name", "checked_at"])


def downgrade() -> None:
    with op.batch_alter_table("dns_checks", schema=None) as batch_op:
        batch_op.drop_index("ix_dns_checks_name_checked_at")
        batch_op.drop_index("ix_dns_checks_checked_at")

    op.drop_table("dns_checks")
