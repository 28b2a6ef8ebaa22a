"""Write parsed reports to the database and list what is stored.

Records are written in batches as they are parsed, so that a report of
half a million records never sits in memory whole.
"""

import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, islice
from typing import NamedTuple

from sqlalchemy import Connection, and_, case, func, insert, select, true
from sqlalchemy.exc import IntegrityError

from dmarc_analyzer.alignment import dkim_outcome, spf_outcome
from dmarc_analyzer.model import PublishedPolicy, Record, Report
from dmarc_analyzer.storage import totals
from dmarc_analyzer.storage.bulk import IdAllocator, batch_writer, write_rows
from dmarc_analyzer.storage.schema import (
    dkim_results,
    override_reasons,
    records,
    reports,
    spf_results,
)


@dataclass(frozen=True, slots=True)
class StoreOutcome:
    """What storing the reports of one file changed."""

    added: int = 0
    duplicates: int = 0
    records: int = 0
    messages: int = 0

    def __add__(self, other: "StoreOutcome") -> "StoreOutcome":
        return StoreOutcome(
            self.added + other.added,
            self.duplicates + other.duplicates,
            self.records + other.records,
            self.messages + other.messages,
        )


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A stored report with totals over its records, counted in messages."""

    org_name: str
    report_id: str
    domain: str
    begin: datetime
    end: datetime
    records: int
    messages: int
    dkim_aligned_pass: int
    spf_aligned_pass: int
    dmarc_pass: int
    source_file: str | None


# Records per batch of bulk inserts: large enough to amortise each
# statement, small enough to keep memory flat.
BATCH_RECORDS = 5000

RECORD_COLUMNS = (
    "id",
    "report_pk",
    "source_ip",
    "count",
    "disposition",
    "dkim",
    "spf",
    "header_from",
    "envelope_from",
    "envelope_to",
    "dkim_outcome",
    "spf_outcome",
)


def store_reports(
    connection: Connection, parsed: Iterable[Report], source_file: str
) -> StoreOutcome:
    """Store each report not already stored, inside the caller's transaction."""
    outcome = StoreOutcome()
    for report in parsed:
        outcome = outcome + store_report(
            connection, report, report.records, source_file
        )
    return outcome


def store_report(
    connection: Connection,
    report: Report,
    report_records: Iterable[Record],
    source_file: str,
) -> StoreOutcome:
    """Store one report, whose records come separately (they may be read as
    they are stored), inside the caller's transaction.

    A report counts as already stored when reporter, report id, domain and
    date range all match; it is then skipped, its records unread, and
    counted as a duplicate.
    """
    batches = (
        prepare_records(report, batch)
        for batch in batched(report_records, BATCH_RECORDS)
    )
    return store_prepared_report(connection, report, batches, source_file)


def store_prepared_report(
    connection: Connection,
    report: Report,
    batches: Iterable["PreparedRecords"],
    source_file: str,
) -> StoreOutcome:
    """`store_report` with the records prepared as rows, batch by batch
    (in another process, say); `batches` is left unread for a duplicate."""
    totals.lock_for_adding(connection)
    key = natural_key(report)
    if _is_stored(connection, key):
        return StoreOutcome(duplicates=1)

    # A savepoint, so that a concurrent ingest winning the race on the unique
    # key turns this report into a duplicate without undoing the whole file.
    try:
        with connection.begin_nested():
            report_pk = _insert_report(connection, report, key, source_file)
            written, messages = _insert_records(connection, report_pk, batches)
    except IntegrityError:
        if _is_stored(connection, key):
            return StoreOutcome(duplicates=1)
        raise
    return StoreOutcome(added=1, records=written, messages=messages)


def natural_key(report: Report) -> str:
    """What makes a report the same report: reporter, report id, policy
    domain and date range, hashed to fit any index."""
    parts = [
        report.org_name,
        report.report_id,
        report.policy.domain,
        str(int(report.begin.timestamp())),
        str(int(report.end.timestamp())),
    ]
    joined = "\x1f".join(parts).encode("utf-8", "surrogatepass")
    return hashlib.sha256(joined).hexdigest()


def _is_stored(connection: Connection, key: str) -> bool:
    query = select(reports.c.id).where(reports.c.natural_key == key)
    return connection.execute(query).first() is not None


def _insert_report(
    connection: Connection, report: Report, key: str, source_file: str
) -> int:
    values = report_values(report, key, source_file)
    return connection.execute(
        insert(reports).returning(reports.c.id), values
    ).scalar_one()


def report_values(report: Report, key: str, source_file: str) -> dict:
    """A reports row but its id, by column name."""
    policy = report.policy
    return {
        "natural_key": key,
        "org_name": report.org_name,
        "org_email": report.org_email,
        "extra_contact_info": report.extra_contact_info,
        "report_id": report.report_id,
        "domain": policy.domain,
        "begin": _naive_utc(report.begin),
        "end": _naive_utc(report.end),
        "adkim": policy.adkim,
        "aspf": policy.aspf,
        "p": policy.p,
        "sp": policy.sp,
        "pct": policy.pct,
        "fo": policy.fo,
        "np": policy.np,
        "testing": policy.testing,
        "discovery_method": policy.discovery_method,
        "schema_version": report.schema_version,
        "source_file": source_file,
        "ingested_at": _naive_utc(datetime.now(UTC)),
    }


class PreparedRecords(NamedTuple):
    """Records as the rows to write, but for their ids, and the rows of
    their totals. The rows of their results start with the record's index
    in `records`."""

    records: list[tuple]
    reasons: list[tuple]
    dkim: list[tuple]
    spf: list[tuple]
    messages: int
    totals: list[tuple]


def prepare_records(
    report: Report, report_records: Iterable[Record]
) -> PreparedRecords:
    policy = report.policy
    where = totals.report_key(report)
    added_up = totals.Totals()
    rows, reasons, dkim, spf, messages = [], [], [], [], 0
    for index, record in enumerate(report_records):
        row = record_values(record, policy)
        rows.append(row)
        added_up.add(where, record, row[_DKIM_OUTCOME], row[_SPF_OUTCOME])
        for reason in record.reasons:
            reasons.append((index, reason.type, reason.comment))
        for result in record.dkim_results:
            dkim.append((index, result.domain, result.selector, result.result))
        for result in record.spf_results:
            spf.append((index, result.domain, result.scope, result.result))
        messages += record.count
    return PreparedRecords(rows, reasons, dkim, spf, messages, added_up.rows())


def with_ids(
    prepared: PreparedRecords, report_pk: int, record_pks: list[int]
) -> tuple[list[tuple], list[tuple], list[tuple], list[tuple]]:
    """The rows of the records and of their reasons and results, ids in."""
    records_rows = [
        (pk, report_pk, *row)
        for pk, row in zip(record_pks, prepared.records, strict=True)
    ]
    reasons = [(record_pks[index], *rest) for index, *rest in prepared.reasons]
    dkim = [(record_pks[index], *rest) for index, *rest in prepared.dkim]
    spf = [(record_pks[index], *rest) for index, *rest in prepared.spf]
    return records_rows, reasons, dkim, spf


def write_records(connection: Connection, rows: tuple[list[tuple], ...]) -> None:
    """Write rows of `with_ids`."""
    records_rows, reasons, dkim, spf = rows
    write_rows(connection, records, RECORD_COLUMNS, records_rows)
    write_rows(connection, override_reasons, ("record_pk", "type", "comment"), reasons)
    write_rows(
        connection, dkim_results, ("record_pk", "domain", "selector", "result"), dkim
    )
    write_rows(connection, spf_results, ("record_pk", "domain", "scope", "result"), spf)


def batched(items: Iterable, size: int) -> Iterator[list]:
    remaining = iter(items)
    while batch := list(islice(remaining, size)):
        yield batch


def _insert_records(
    connection: Connection, report_pk: int, batches: Iterable[PreparedRecords]
) -> tuple[int, int]:
    """Write the batches of records, and add them to the daily totals;
    return how many records, and their messages."""
    ids = IdAllocator(connection, records)
    remaining = iter(batches)
    first = next(remaining, None)
    if first is None:
        return 0, 0
    second = next(remaining, None)
    if second is None:  # most reports: one batch, no thread
        _insert_batch(connection, report_pk, first, ids)
        return len(first.records), first.messages

    written = messages = 0
    with batch_writer(connection) as writer:
        for batch in chain([first, second], remaining):
            writer.submit(_insert_batch, connection, report_pk, batch, ids)
            written, messages = written + len(batch.records), messages + batch.messages
    return written, messages


def _insert_batch(
    connection: Connection,
    report_pk: int,
    batch: PreparedRecords,
    ids: IdAllocator,
) -> None:
    write_records(connection, with_ids(batch, report_pk, ids.take(len(batch.records))))
    totals.write_totals(connection, batch.totals)


# The records of a report repeat a few combinations of results and From
# domains: each combination is judged once.
_dkim_outcome = functools.lru_cache(maxsize=8192)(dkim_outcome)
_spf_outcome = functools.lru_cache(maxsize=8192)(spf_outcome)


# Counted from the end, the same in a row with its ids and without them.
_DKIM_OUTCOME = RECORD_COLUMNS.index("dkim_outcome") - len(RECORD_COLUMNS)
_SPF_OUTCOME = RECORD_COLUMNS.index("spf_outcome") - len(RECORD_COLUMNS)


def record_values(record: Record, policy: PublishedPolicy) -> tuple:
    """A records row but its two ids, in the order of RECORD_COLUMNS."""
    return (
        record.source_ip,
        record.count,
        record.disposition,
        record.dkim,
        record.spf,
        record.header_from,
        record.envelope_from,
        record.envelope_to,
        _dkim_outcome(record.dkim_results, record.header_from, policy.adkim),
        _spf_outcome(record.spf_results, record.header_from, policy.aspf),
    )


def list_stored_reports(
    connection: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    newest: int | None = None,
) -> list[StoredReport]:
    """Every stored report matching the filters, oldest first, with totals;
    only the `newest` ones when given (their records alone are read)."""
    filters = report_filters(domain=domain, since=since, until=until)
    if newest is not None:
        latest = (
            select(reports.c.id)
            .where(and_(true(), *filters))
            .order_by(
                reports.c.begin.desc(),
                reports.c.org_name.desc(),
                reports.c.report_id.desc(),
                reports.c.id.desc(),
            )
            .limit(newest)
        )
        filters = [reports.c.id.in_(latest.scalar_subquery())]
    query = (
        select(
            reports.c.org_name,
            reports.c.report_id,
            reports.c.domain,
            reports.c.begin,
            reports.c.end,
            func.count(records.c.id),
            func.coalesce(func.sum(records.c.count), 0),
            messages_where(DKIM_PASS),
            messages_where(SPF_PASS),
            messages_where(DMARC_PASS),
            reports.c.source_file,
        )
        .select_from(reports.outerjoin(records, records.c.report_pk == reports.c.id))
        .where(and_(true(), *filters))
        .group_by(reports.c.id)
        .order_by(
            reports.c.begin, reports.c.org_name, reports.c.report_id, reports.c.id
        )
    )
    return [
        StoredReport(
            org_name=row[0],
            report_id=row[1],
            domain=row[2],
            begin=_aware_utc(row[3]),
            end=_aware_utc(row[4]),
            records=int(row[5]),
            messages=int(row[6]),
            dkim_aligned_pass=int(row[7]),
            spf_aligned_pass=int(row[8]),
            dmarc_pass=int(row[9]),
            source_file=row[10],
        )
        for row in connection.execute(query)
    ]


def count_reports(connection: Connection, **filters) -> int:
    query = select(func.count(reports.c.id)).where(
        and_(true(), *report_filters(**filters))
    )
    return connection.execute(query).scalar_one()


def any_report(connection: Connection, **filters) -> bool:
    query = select(reports.c.id).where(and_(true(), *report_filters(**filters)))
    return connection.execute(query.limit(1)).first() is not None


def begin_span(connection: Connection, domain: str | None = None):
    """(first, last) UTC day on which a stored report begins, or None."""
    query = select(func.min(reports.c.begin), func.max(reports.c.begin))
    if domain is not None:
        query = query.where(and_(true(), *report_filters(domain=domain)))
    first, last = connection.execute(query).one()
    return (first.date(), last.date()) if first else None


# The receiver's verdicts (policy_evaluated), as SQL conditions on a record.
DKIM_PASS = records.c.dkim == "pass"
SPF_PASS = records.c.spf == "pass"
DMARC_PASS = DKIM_PASS | SPF_PASS


def messages_where(condition):
    """SQL: the sum of record counts over the records meeting `condition`."""
    return func.coalesce(func.sum(case((condition, records.c.count), else_=0)), 0)


def report_filters(
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list:
    """Conditions on `reports` shared by every query: a report belongs to a
    period when its date range begins inside it (`until` is exclusive)."""
    conditions = []
    if domain:
        wanted = domain.strip().rstrip(".").lower()
        conditions.append(func.lower(reports.c.domain) == wanted)
    if since:
        conditions.append(reports.c.begin >= _naive_utc(since))
    if until:
        conditions.append(reports.c.begin < _naive_utc(until))
    return conditions


def _naive_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)
