"""Forget reports older than the retention period.

The reports go with everything that is part of them: their records, and
the records' DKIM and SPF results and override reasons (`delete_reports`).
The totals are kept per day and month, not per report: they are counted
again.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, delete, func, select

from dmarc_analyzer.storage import totals
from dmarc_analyzer.storage.schema import (
    dkim_results,
    override_reasons,
    records,
    reports,
    spf_results,
)


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
        delete_reports(connection, old)
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


def delete_reports(connection: Connection, which) -> None:
    """Delete the reports meeting the condition `which` (on `reports`) and
    every row that is part of them, inside the caller's transaction. The
    totals are the caller's to count again."""
    doomed_reports = select(reports.c.id).where(which)
    doomed_records = select(records.c.id).where(records.c.report_pk.in_(doomed_reports))
    for part in (override_reasons, dkim_results, spf_results):
        connection.execute(delete(part).where(part.c.record_pk.in_(doomed_records)))
    connection.execute(delete(records).where(records.c.report_pk.in_(doomed_reports)))
    connection.execute(delete(reports).where(which))
