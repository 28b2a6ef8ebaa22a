"""totals per sender by day and by month, with the results in the row

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04

The totals per source and per result (source_days, result_days) become one
row per way a sender was seen, its DKIM and SPF results in the row, kept
per day and per month, with messages per day and domain beside them. A
year is then read in twelve rows per sender. The reports already stored
are counted into the new tables here, with the code that counts each
report as it is stored.
"""

import sqlalchemy as sa
from alembic import op

from dmarc_analyzer.storage import totals

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("result_days")
    op.drop_table("source_days")
    for name in ("daily_totals", "monthly_totals"):
        _create_sender_totals(name)
    op.create_table(
        "domain_days",
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), nullable=False)
            for name in ("messages", "dmarc_pass", "dkim_pass", "spf_pass")
        ),
        sa.PrimaryKeyConstraint("period", "domain", name=op.f("pk_domain_days")),
    )

    totals.fill(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError(
        "the totals of revision 0005 are not kept: restore a backup instead"
    )


def _create_sender_totals(name: str) -> None:
    op.create_table(
        name,
        sa.Column("period", sa.Date(), nullable=False),
        sa.Column("domain", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.BigInteger(), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("header_from", sa.Text(), nullable=False),
        sa.Column("dkim_pass", sa.Boolean(), nullable=False),
        sa.Column("spf_pass", sa.Boolean(), nullable=False),
        sa.Column("dkim_outcome", sa.Text(), nullable=False),
        sa.Column("spf_outcome", sa.Text(), nullable=False),
        sa.Column("forwarded", sa.Boolean(), nullable=False),
        sa.Column("treewalk", sa.Boolean(), nullable=False),
        sa.Column("dkim_results", sa.Text(), nullable=False),
        sa.Column("spf_results", sa.Text(), nullable=False),
        sa.Column("messages", sa.BigInteger(), nullable=False),
        sa.Column("first_begin", sa.DateTime(), nullable=False),
        sa.Column("last_begin", sa.DateTime(), nullable=False),
        sa.Column("last_end", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "period", "domain", "key_hash", name=op.f(f"pk_{name}")
        ),
    )
