"""own alignment outcomes, reverse DNS cache, settings

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03

Records stored before this revision get their outcomes computed here, with
the alignment rules of dmarc_analyzer.alignment.
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from dmarc_analyzer.alignment import dkim_outcome, spf_outcome
from dmarc_analyzer.model import DkimResult, SpfResult

BATCH = 5000

reports = sa.table("reports", sa.column("id"), sa.column("adkim"), sa.column("aspf"))
records = sa.table(
    "records",
    sa.column("id"),
    sa.column("report_pk"),
    sa.column("header_from"),
    sa.column("dkim_outcome"),
    sa.column("spf_outcome"),
)
dkim_results = sa.table(
    "dkim_results",
    sa.column("record_pk"),
    sa.column("domain"),
    sa.column("selector"),
    sa.column("result"),
)
spf_results = sa.table(
    "spf_results",
    sa.column("record_pk"),
    sa.column("domain"),
    sa.column("scope"),
    sa.column("result"),
)


revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reverse_dns",
        sa.Column("ip", sa.String(length=45), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("forward_confirmed", sa.Boolean(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("looked_up_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ip", name=op.f("pk_reverse_dns")),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_settings")),
    )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("dkim_outcome", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("spf_outcome", sa.Text(), nullable=True))

    _backfill_outcomes(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_column("spf_outcome")
        batch_op.drop_column("dkim_outcome")

    op.drop_table("settings")
    op.drop_table("reverse_dns")


def _backfill_outcomes(connection) -> None:
    """Compute the outcomes of the records already stored, a batch at a time."""
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(
                records.c.id, records.c.header_from, reports.c.adkim, reports.c.aspf
            )
            .join(reports, reports.c.id == records.c.report_pk)
            .where(records.c.id > last_id)
            .order_by(records.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        ids = [row.id for row in rows]
        dkim = _results_by_record(connection, dkim_results, "selector", ids, DkimResult)
        spf = _results_by_record(connection, spf_results, "scope", ids, SpfResult)
        connection.execute(
            records.update()
            .where(records.c.id == sa.bindparam("record_id"))
            .values(dkim_outcome=sa.bindparam("dkim"), spf_outcome=sa.bindparam("spf")),
            [
                {
                    "record_id": row.id,
                    "dkim": dkim_outcome(dkim[row.id], row.header_from, row.adkim),
                    "spf": spf_outcome(spf[row.id], row.header_from, row.aspf),
                }
                for row in rows
            ],
        )
        last_id = ids[-1]


def _results_by_record(connection, table, middle: str, ids, shape):
    found = defaultdict(list)
    query = sa.select(
        table.c.record_pk, table.c.domain, table.c[middle], table.c.result
    ).where(table.c.record_pk.in_(ids))
    for record_pk, domain, value, result in connection.execute(query):
        found[record_pk].append(shape(domain, value, result))
    return found
