"""daily totals per source and per result, for the analysis

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Revision 0006 replaced these tables, and counts the reports stored before
it into its own; the counting that was done here went with the code it
used.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SOURCE_KEY = [
    "day",
    "domain",
    "source_ip",
    "header_from",
    "dkim_pass",
    "spf_pass",
    "dkim_outcome",
    "spf_outcome",
    "forwarded",
    "signed",
    "treewalk",
]
RESULT_KEY = [
    "day",
    "domain",
    "source_ip",
    "header_from",
    "dkim_pass",
    "kind",
    "result",
    "result_domain",
    "detail",
]


def upgrade() -> None:
    op.create_table(
        "source_days",
        sa.Column("id", sa.Integer(), nullable=False),
        *_key_columns(),
        sa.Column("spf_pass", sa.Boolean(), nullable=False),
        sa.Column("dkim_outcome", sa.Text(), nullable=False),
        sa.Column("spf_outcome", sa.Text(), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("treewalk", sa.Boolean(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("first_begin", sa.DateTime(), nullable=False),
        sa.Column("last_end", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_days")),
        sa.UniqueConstraint(*SOURCE_KEY, name="uq_source_days_key"),
    )
    op.create_table(
        "result_days",
        sa.Column("id", sa.Integer(), nullable=False),
        *_key_columns(),
        sa.Column("kind", sa.String(length=4), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.Column("result_domain", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_result_days")),
        sa.UniqueConstraint(*RESULT_KEY, name="uq_result_days_key"),
    )


def downgrade() -> None:
    op.drop_table("result_days")
    op.drop_table("source_days")


def _key_columns() -> list[sa.Column]:
    return [
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("header_from", sa.Text(), nullable=False),
        sa.Column("dkim_pass", sa.Boolean(), nullable=False),
    ]
