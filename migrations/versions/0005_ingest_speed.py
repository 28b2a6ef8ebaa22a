"""records without a source_ip index; totals keys lower-cased in ASCII only

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03

The analysis reads the daily totals, and nothing looks records up by source
IP any more: the index only slowed every insert. Ingest now adds the daily
totals up in Python, lower-casing names in ASCII only (as DNS compares
them, and as SQLite's lower() always did) and cutting long names by the
same rule on every database; the days whose keys hold other characters
are counted again under that rule.
"""

import sqlalchemy as sa
from alembic import op

from dmarc_analyzer.storage import rollups

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_NAMES = ("domain", "header_from")


def upgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_index("ix_records_source_ip")

    connection = op.get_bind()
    rollups.rebuild_days(connection, _days_with_other_characters(connection))


def downgrade() -> None:
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.create_index("ix_records_source_ip", ["source_ip"], unique=False)


def _days_with_other_characters(connection) -> set:
    """Days with a name in their keys that is not all ASCII: those alone
    may be keyed otherwise now."""
    days = set()
    for table, names in (
        ("source_days", _NAMES),
        ("result_days", (*_NAMES, "result_domain", "result", "detail")),
    ):
        columns = sa.table(table, sa.column("day"), *map(sa.column, names))
        not_ascii = sa.or_(
            *(
                _bytes(connection, columns.c[name]) != sa.func.length(columns.c[name])
                for name in names
            )
        )
        query = sa.select(columns.c.day).where(not_ascii).distinct()
        days.update(rollups.as_day(day) for day in connection.execute(query).scalars())
    return days


def _bytes(connection, column):
    if connection.dialect.name == "sqlite":
        return sa.func.length(sa.cast(column, sa.LargeBinary))
    return sa.func.octet_length(column)
