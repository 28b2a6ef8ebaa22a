"""Store the reports of many small files at once: one query finds those
already stored, and one statement per table writes the rest.

Storing one report at a time costs about ten round trips to the database,
more than parsing a small report does, and receivers send many small ones.
A report is first prepared as rows (where it is parsed, in a worker
process), then written with the others of its group.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Connection, select

from dmarc_analyzer.model import Record, Report
from dmarc_analyzer.storage import totals
from dmarc_analyzer.storage.bulk import IdAllocator, write_rows
from dmarc_analyzer.storage.reports import (
    PreparedRecords,
    StoreOutcome,
    natural_key,
    prepare_records,
    report_values,
    with_ids,
    write_records,
)
from dmarc_analyzer.storage.schema import (
    records,
    reports,
)

# Natural keys per query: far below every backend's limit on parameters.
KEYS_PER_QUERY = 500


class PreparedReport(NamedTuple):
    """One report as the rows to write, but for their ids."""

    key: str
    values: dict
    rows: PreparedRecords


def prepare_report(
    report: Report, report_records: Sequence[Record], source_file: str
) -> PreparedReport:
    key = natural_key(report)
    values = report_values(report, key, source_file)
    return PreparedReport(key, values, prepare_records(report, report_records))


def store_report_groups(
    connection: Connection, files: Sequence[Sequence[PreparedReport]]
) -> list[StoreOutcome]:
    """Store the reports of each file not already stored, inside the
    caller's transaction; return what each file added.

    A report already stored, or given twice, is a duplicate, as in
    `store_report`. A concurrent ingest storing one of them meanwhile makes
    this raise IntegrityError.
    """
    totals.lock_for_adding(connection)
    keyed = [(index, report) for index, group in enumerate(files) for report in group]
    seen = _stored_keys(connection, [report.key for _, report in keyed])
    outcomes = [StoreOutcome() for _ in files]
    new = []
    for index, report in keyed:
        if report.key in seen:
            outcomes[index] = outcomes[index] + StoreOutcome(duplicates=1)
        else:
            seen.add(report.key)
            new.append((index, report))
            outcomes[index] = outcomes[index] + StoreOutcome(
                added=1, records=len(report.rows.records), messages=report.rows.messages
            )
    if not new:
        return outcomes
    # Every ingest inserts its keys in the same order, so that two of them
    # on PostgreSQL wait for each other instead of deadlocking.
    new.sort(key=lambda item: item[1].key)

    _write(connection, [report for _, report in new])
    return outcomes


def _write(connection: Connection, new: list[PreparedReport]) -> None:
    report_pks = IdAllocator(connection, reports).take(len(new))
    record_count = sum(len(report.rows.records) for report in new)
    # Not always consecutive: a sequence is shared with concurrent ingests.
    record_pks = IdAllocator(connection, records).take(record_count)
    now = datetime.now(UTC).replace(tzinfo=None)

    report_rows, rows, totals_rows = [], ([], [], [], []), []
    first = 0
    for report_pk, report in zip(report_pks, new, strict=True):
        report.values["ingested_at"] = now
        report_rows.append((report_pk, *report.values.values()))
        pks = record_pks[first : first + len(report.rows.records)]
        first += len(pks)
        for table_rows, more in zip(
            rows, with_ids(report.rows, report_pk, pks), strict=True
        ):
            table_rows += more
        totals_rows += report.rows.totals

    write_rows(connection, reports, ("id", *new[0].values), report_rows)
    write_records(connection, rows)
    totals.write_totals(connection, totals_rows)


def _stored_keys(connection: Connection, keys: list[str]) -> set[str]:
    found = set()
    for start in range(0, len(keys), KEYS_PER_QUERY):
        chunk = keys[start : start + KEYS_PER_QUERY]
        query = select(reports.c.natural_key).where(reports.c.natural_key.in_(chunk))
        found.update(connection.execute(query).scalars())
    return found
