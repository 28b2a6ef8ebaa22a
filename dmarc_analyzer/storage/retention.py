"""Forget reports older than the retention period.

Only report rows are deleted: every table that hangs off a report (records,
their DKIM and SPF results, override reasons, and whatever is added later)
has a foreign key with ON DELETE CASCADE and goes with it. SQLite enforces
them because every connection turns `foreign_keys` on (database.py). The
totals are kept per day and month, not per report: they are counted again.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, select

from dmarc_analyzer.storage import totals
from dmarc_analyzer.storage.schema import records, reports


@dataclass(frozen=True, slots=True)
class PruneResult:
    """The reports that begin before `cutoff`: counted, and deleted unless
    this was a dry run."""

    cutoff: datetime
    reports: int
    records: int
    messages: int
    first_begin: datetime | None
    last_begin: datetime | None
    deleted: bool

    def as_dict(self) -> dict:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "cutoff": moment(self.cutoff),
            "reports": self.reports,
            "records": self.records,
            "messages": self.messages,
            "first_begin": moment(self.first_begin),
            "last_begin": moment(self.last_begin),
            "deleted": self.deleted,
        }


def prune_reports(
    connection: Connection, cutoff: datetime, *, delete_them: bool
) -> PruneResult:
    """Count the reports whose date range begins before `cutoff` and, with
    `delete_them`, delete them, inside the caller's transaction."""
    naive_cutoff = cutoff.astimezone(UTC).replace(tzinfo=None)
    old = reports.c.begin < naive_cutoff

    counted = select(
        func.count(reports.c.id), func.min(reports.c.begin), func.max(reports.c.begin)
    ).where(old)
    report_count, first, last = connection.execute(counted).one()
    record_totals = (
        select(func.count(records.c.id), func.coalesce(func.sum(records.c.count), 0))
        .select_from(records.join(reports, records.c.report_pk == reports.c.id))
        .where(old)
    )
    record_count, messages = connection.execute(record_totals).one()

    if delete_them and report_count:
        totals.lock_for_adding(connection)
        connection.execute(delete(reports).where(old))
        totals.forget_before(connection, naive_cutoff)
    return PruneResult(
        cutoff=cutoff,
        reports=report_count,
        records=record_count,
        messages=int(messages),
        first_begin=first.replace(tzinfo=UTC) if first else None,
        last_begin=last.replace(tzinfo=UTC) if last else None,
        deleted=delete_them,
    )
