"""Totals of messages per sender, kept beside the records for the analysis.

Grouping ten million records for every question would take minutes, so
ingest adds each record's messages to totals in the transaction that
stores its report, and the analysis reads those:

- `daily_totals`: per UTC day of the report's begin and policy domain, a row
  for each way a sender was seen: source IP, From domain, the receiver's
  DKIM and SPF verdicts, our alignment outcomes, a forwarding reason, the
  DNS tree walk, and the record's DKIM and SPF results;
- `monthly_totals`: the same per calendar month, so that a year is read in
  twelve rows per sender rather than 365;
- `domain_days`: messages and passes per day and policy domain.

Reporters that saw a sender the same way on the same day add up into one
row. Rows are added up in Python as records are prepared (`Totals`), copied
into a table of the transaction, and added to the three tables by SQL.

Deleting reports means counting their days again in the same transaction
(`count_again`, `forget_before`); the months are then counted again from
the days.
"""

import functools
import hashlib
import json
import string
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple

from sqlalchemy import (
    Boolean,
    Connection,
    Date,
    and_,
    bindparam,
    delete,
    select,
    text,
    true,
)

from dmarc_analyzer.model import (
    FORWARDING_REASONS,
    DkimResult,
    OverrideReason,
    Record,
    Report,
    SpfResult,
)
from dmarc_analyzer.storage.schema import (
    daily_totals,
    dkim_results,
    domain_days,
    monthly_totals,
    override_reasons,
    records,
    reports,
    spf_results,
)

# Names in the totals are cut to the longest a domain name can be, and
# shorter where they are not ASCII, so that a row stays small whatever a
# reporter writes; they are lower-cased in ASCII only, as DNS compares them.
KEY_CHARACTERS = 255
KEY_BYTES = 500
TREEWALK = "treewalk"

COLUMNS = tuple(column.name for column in daily_totals.columns)
# The columns the key hash is made of: all but period, domain and key_hash,
# up to the totals.
SENDER_COLUMNS = COLUMNS[3 : COLUMNS.index("messages")]
_TOTALS = ("messages", "first_begin", "last_begin", "last_end")
# Where the sender columns are true or false, rather than text.
_FLAGS = tuple(
    index
    for index, name in enumerate(SENDER_COLUMNS)
    if isinstance(daily_totals.c[name].type, Boolean)
)

# Held by every transaction that adds to the totals, on PostgreSQL: two
# ingests adding to the same rows in a different order would deadlock.
_TOTALS_LOCK = 0x646D6172_0002

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# A value this short fits the byte limit however it is encoded.
_SURELY_SHORT = KEY_BYTES // 4
# Records read back per query when days are counted again.
_RECOUNT_BATCH = 5000


def key_text(value: str | None) -> str:
    """A value as the totals hold it: '' for none, cut to KEY_CHARACTERS,
    and shorter where those are over KEY_BYTES in UTF-8."""
    if value is None:
        return ""
    cut = value[:KEY_CHARACTERS]
    if len(cut) <= _SURELY_SHORT or len(cut.encode("utf-8", "replace")) <= KEY_BYTES:
        return cut
    return value[:_SURELY_SHORT]


# The From domains and d= of a report are few, and repeat.
@functools.lru_cache(maxsize=4096)
def key_name(value: str | None) -> str:
    """A domain name as the totals hold it: `key_text`, lower-cased the way
    DNS compares names, in ASCII only."""
    if value is None:
        return ""
    lowered = value.lower() if value.isascii() else value.translate(_ASCII_LOWER)
    return key_text(lowered)


# A report repeats a few sets of results in every record.
@functools.lru_cache(maxsize=8192)
def dkim_key(results: tuple[DkimResult, ...]) -> str:
    """The DKIM results of a record as the totals hold them."""
    return _results_text(
        (key_text(r.result), key_name(r.domain), key_text(r.selector)) for r in results
    )


@functools.lru_cache(maxsize=8192)
def spf_key(results: tuple[SpfResult, ...]) -> str:
    """The SPF results of a record as the totals hold them."""
    return _results_text(
        (key_text(r.result), key_name(r.domain), key_text(r.scope)) for r in results
    )


def _results_text(results: Iterable[tuple[str, str, str]]) -> str:
    listed = sorted(results)
    return json.dumps(listed, separators=(",", ":")) if listed else ""


@functools.lru_cache(maxsize=65536)
def read_results(stored: str) -> tuple[tuple[str | None, str | None, str | None], ...]:
    """The (result, domain, selector or scope) triples of a results column,
    None where the report had no value."""
    if not stored:
        return ()
    return tuple(
        tuple(value or None for value in triple) for triple in json.loads(stored)
    )


def key_hash(sender: tuple) -> int:
    """A 64-bit hash of the sender columns of a row (SENDER_COLUMNS): with
    the period and domain, what tells rows apart."""
    parts = list(sender)
    for index in _FLAGS:
        parts[index] = "1" if parts[index] else "0"
    joined = "\x00".join(parts)
    if joined.count("\x00") != len(parts) - 1:  # a NUL in a value: say it apart
        joined = json.dumps(parts)
    digest = hashlib.blake2b(joined.encode("utf-8", "surrogatepass"), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


def month_of(day: date) -> date:
    return day.replace(day=1)


class ReportKey(NamedTuple):
    """What the totals need of a report: where its rows go."""

    day: date
    domain: str
    begin: datetime  # naive UTC
    end: datetime
    treewalk: bool


def report_key(report: Report) -> ReportKey:
    return _report_key(
        report.begin, report.end, report.policy.domain, report.policy.discovery_method
    )


def _report_key(begin: datetime, end: datetime, domain: str, discovery: str | None):
    begin, end = _naive_utc(begin), _naive_utc(end)
    treewalk = (discovery or "") == TREEWALK
    return ReportKey(begin.date(), key_name(domain), begin, end, treewalk)


class Totals:
    """Messages per row of the daily totals, added up before they are
    written: the rows of one batch of records, or of one small report."""

    def __init__(self) -> None:
        self._rows: dict[tuple, list] = {}

    def add(
        self,
        report: ReportKey,
        record: Record,
        dkim_outcome: str | None,
        spf_outcome: str | None,
    ) -> None:
        """Add one record of `report`, with the outcomes stored with it."""
        sender = (
            record.source_ip,
            key_name(record.header_from),
            record.dkim == "pass",
            record.spf == "pass",
            dkim_outcome or "",
            spf_outcome or "",
            _forwarded(record.reasons),
            report.treewalk,
            dkim_key(record.dkim_results),
            spf_key(record.spf_results),
        )
        key = (report.day, report.domain, sender)
        totals = self._rows.get(key)
        if totals is None:
            self._rows[key] = [record.count, report.begin, report.begin, report.end]
            return
        totals[0] += record.count
        totals[1] = min(totals[1], report.begin)
        totals[2] = max(totals[2], report.begin)
        totals[3] = max(totals[3], report.end)

    def rows(self) -> list[tuple]:
        """The rows to write, in the order of COLUMNS."""
        return [
            (day, domain, key_hash(sender), *sender, *totals)
            for (day, domain, sender), totals in self._rows.items()
        ]


@functools.lru_cache(maxsize=1024)
def _forwarded(reasons: tuple[OverrideReason, ...]) -> bool:
    return any(reason.type in FORWARDING_REASONS for reason in reasons)


def lock_for_adding(connection: Connection) -> None:
    """Wait for other transactions that add to the totals to end. Call it
    before the first write of a transaction that will add a report."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_TOTALS_LOCK})"))


def write_totals(
    connection: Connection, rows: list[tuple], *, months: bool = True
) -> None:
    """Add rows of `Totals.rows` to the daily totals, the domain days and,
    with `months`, the monthly totals, inside the caller's transaction
    (which holds `lock_for_adding`). Rows may repeat a key: they add up."""
    if not rows:
        return
    statements = _statements(connection.dialect.name)
    connection.exec_driver_sql(statements.create_staging)
    _copy_to_staging(connection, rows)
    connection.exec_driver_sql(statements.add_days)
    if months:
        connection.exec_driver_sql(statements.add_months)
    connection.exec_driver_sql(statements.add_domain_days)
    connection.exec_driver_sql(statements.clear_staging)


_STAGING = "totals_staging"


def _copy_to_staging(connection: Connection, rows: list[tuple]) -> None:
    names = ", ".join(COLUMNS)
    if connection.dialect.name == "postgresql":
        driver_connection = connection.connection.driver_connection
        statement = f"COPY {_STAGING} ({names}) FROM STDIN"
        with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
        return

    # SQLite keeps days and times as text of SQLAlchemy's format; a batch
    # repeats a few of them.
    day, moment = _binder(connection, "period"), _binder(connection, "first_begin")
    bound = [
        (day(row[0]), *row[1:-3], moment(row[-3]), moment(row[-2]), moment(row[-1]))
        for row in sorted(rows, key=_by_key)  # in index order: fewer pages touched
    ]
    marks = ", ".join("?" * len(COLUMNS))
    connection.exec_driver_sql(
        f"INSERT INTO {_STAGING} ({names}) VALUES ({marks})", bound
    )


def _by_key(row: tuple) -> tuple:
    return row[:3]


def _binder(connection: Connection, column: str) -> Callable:
    dialect = connection.dialect
    column_type = daily_totals.c[column].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return functools.lru_cache(maxsize=1024)(process)


class _Statements(NamedTuple):
    create_staging: str
    add_days: str
    add_months: str
    add_domain_days: str
    clear_staging: str
    months_from_days: str  # the monthly totals of [:first, :after), counted again


@functools.cache
def _statements(dialect: str) -> _Statements:
    postgresql = dialect == "postgresql"
    names = ", ".join(COLUMNS)
    senders = ", ".join(SENDER_COLUMNS)
    month = (
        "CAST(date_trunc('month', period) AS date)"
        if postgresql
        else ("date(period, 'start of month')")
    )
    # PostgreSQL's two-argument min and max are least and greatest.
    smaller, larger = ("least", "greatest") if postgresql else ("min", "max")
    added = (
        "SELECT {period}, domain, key_hash, " + senders + ", sum(messages), "
        "min(first_begin), max(last_begin), max(last_end) FROM {source} "
        # WHERE: for SQLite, an ON after FROM would be taken for a join's.
        "WHERE {where} GROUP BY {period}, domain, key_hash, " + senders
    )

    def add_to(table: str, period: str, source: str, where: str = "true") -> str:
        return (
            f"INSERT INTO {table} ({names}) "
            + added.format(period=period, source=source, where=where)
            + " ON CONFLICT (period, domain, key_hash) DO UPDATE SET "
            f"messages = {table}.messages + excluded.messages, "
            f"first_begin = {smaller}({table}.first_begin, excluded.first_begin), "
            f"last_begin = {larger}({table}.last_begin, excluded.last_begin), "
            f"last_end = {larger}({table}.last_end, excluded.last_end)"
        )

    def passed(condition: str) -> str:
        return f"sum(CASE WHEN {condition} THEN messages ELSE 0 END)"

    add_domain_days = (
        "INSERT INTO domain_days "
        "(period, domain, messages, dmarc_pass, dkim_pass, spf_pass) "
        f"SELECT period, domain, sum(messages), {passed('dkim_pass OR spf_pass')}, "
        f"{passed('dkim_pass')}, {passed('spf_pass')} FROM {_STAGING} "
        "WHERE true GROUP BY period, domain "
        "ON CONFLICT (period, domain) DO UPDATE SET "
        "messages = domain_days.messages + excluded.messages, "
        "dmarc_pass = domain_days.dmarc_pass + excluded.dmarc_pass, "
        "dkim_pass = domain_days.dkim_pass + excluded.dkim_pass, "
        "spf_pass = domain_days.spf_pass + excluded.spf_pass"
    )
    temporary = "TEMPORARY TABLE IF NOT EXISTS " + _STAGING
    if postgresql:
        create = (
            f"CREATE {temporary} ON COMMIT DROP AS "
            f"SELECT {names} FROM daily_totals WITH NO DATA"
        )
        clear = f"TRUNCATE {_STAGING}"
    else:
        create = f"CREATE {temporary} AS SELECT {names} FROM daily_totals WHERE 0"
        clear = f"DELETE FROM {_STAGING}"
    return _Statements(
        create_staging=create,
        add_days=add_to("daily_totals", "period", _STAGING),
        add_months=add_to("monthly_totals", month, _STAGING),
        add_domain_days=add_domain_days,
        clear_staging=clear,
        months_from_days=add_to(
            "monthly_totals",
            month,
            "daily_totals",
            where="period >= :first AND period < :after",
        ),
    )


def count_again(connection: Connection, days: Iterable[date]) -> None:
    """Count `days` afresh from the reports stored now, and their months
    from the days: after reports were deleted, say."""
    days = sorted(set(days))
    if not days:
        return
    for table in (daily_totals, domain_days):
        connection.execute(delete(table).where(table.c.period.in_(days)))
    for day in days:
        begins_that_day = and_(
            reports.c.begin >= datetime.combine(day, time.min),
            reports.c.begin < datetime.combine(day + timedelta(days=1), time.min),
        )
        _add_stored(connection, begins_that_day)
    count_months_again(connection, {month_of(day) for day in days})


def count_months_again(connection: Connection, months: Iterable[date]) -> None:
    """Count the monthly totals of `months` (first days) again from the
    daily totals."""
    statement = _months_from_days(connection)
    for month in sorted(set(months)):
        connection.execute(
            delete(monthly_totals).where(monthly_totals.c.period == month)
        )
        after = (month + timedelta(days=32)).replace(day=1)
        connection.execute(statement, {"first": month, "after": after})


def forget_before(connection: Connection, cutoff: datetime) -> None:
    """After the reports that begin before `cutoff` (naive UTC) were
    deleted: drop the totals before it, and count its own day and month
    again, as reports may remain on them."""
    day = cutoff.date()
    for table in (daily_totals, domain_days):
        connection.execute(delete(table).where(table.c.period < day))
    connection.execute(
        delete(monthly_totals).where(monthly_totals.c.period < month_of(day))
    )
    if cutoff.time() != time.min:
        count_again(connection, [day])
    elif day != month_of(day):
        count_months_again(connection, [month_of(day)])


def fill(connection: Connection) -> None:
    """Count every stored report into empty totals."""
    _add_stored(connection, true())
    connection.execute(
        _months_from_days(connection), {"first": date.min, "after": date.max}
    )


def _months_from_days(connection: Connection):
    statement = text(_statements(connection.dialect.name).months_from_days)
    return statement.bindparams(
        bindparam("first", type_=Date), bindparam("after", type_=Date)
    )


def _add_stored(connection: Connection, which_reports) -> None:
    for batch in _stored_records(connection, which_reports):
        totals = Totals()
        for report, record, dkim_outcome, spf_outcome in batch:
            totals.add(report, record, dkim_outcome, spf_outcome)
        write_totals(connection, totals.rows(), months=False)


def _stored_records(connection: Connection, which_reports) -> Iterator[list]:
    """Batches of (ReportKey, Record, DKIM outcome, SPF outcome) of the
    stored records of `which_reports`, read back as ingest had them."""
    query = (
        select(
            records.c.id,
            records.c.source_ip,
            records.c.count,
            records.c.dkim,
            records.c.spf,
            records.c.header_from,
            records.c.dkim_outcome,
            records.c.spf_outcome,
            reports.c.begin,
            reports.c.end,
            reports.c.domain,
            reports.c.discovery_method,
        )
        .select_from(records.join(reports, records.c.report_pk == reports.c.id))
        .where(which_reports)
        .order_by(records.c.id)
    )
    after = 0
    keys = functools.lru_cache(maxsize=64)(_report_key)
    while rows := connection.execute(
        query.where(records.c.id > after).limit(_RECOUNT_BATCH)
    ).all():
        first, after = rows[0][0], rows[-1][0]
        reasons, dkim, spf = _children_of(connection, first, after)
        yield [
            (
                keys(begin, end, domain, discovery),
                Record(
                    source_ip=ip,
                    count=count,
                    disposition=None,
                    dkim=dkim_verdict,
                    spf=spf_verdict,
                    header_from=header_from,
                    reasons=tuple(reasons.get(pk, ())),
                    dkim_results=tuple(dkim.get(pk, ())),
                    spf_results=tuple(spf.get(pk, ())),
                ),
                dkim_outcome,
                spf_outcome,
            )
            for (
                pk,
                ip,
                count,
                dkim_verdict,
                spf_verdict,
                header_from,
                dkim_outcome,
                spf_outcome,
                begin,
                end,
                domain,
                discovery,
            ) in rows
        ]


def _children_of(connection: Connection, first: int, last: int):
    """The override reasons, DKIM and SPF results of the records with ids
    from `first` to `last`, by record id, in the order they were stored."""
    found = []
    for table, columns, shape in (
        (override_reasons, ("type", "comment"), OverrideReason),
        (dkim_results, ("domain", "selector", "result"), DkimResult),
        (spf_results, ("domain", "scope", "result"), SpfResult),
    ):
        query = (
            select(table.c.record_pk, *(table.c[name] for name in columns))
            .where(table.c.record_pk.between(first, last))
            .order_by(table.c.id)
        )
        by_record: dict[int, list] = {}
        for pk, *values in connection.execute(query):
            by_record.setdefault(pk, []).append(shape(*values))
        found.append(by_record)
    return found


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
