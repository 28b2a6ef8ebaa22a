"""Totals per day, kept beside the records as reports are stored, so that a
question over a year of ten million records reads a fraction of the rows.

`source_days` counts messages per UTC day of the report's begin, policy
domain, source IP, From domain and outcome; `result_days` counts the
messages behind each DKIM and SPF result. Reports that share a key add up
into one row: the receivers that report the same source on the same day
become one row. The analysis reads these tables only (see analysis/).

Both are written in the transaction that stores the report, so they never
disagree with the records. Deleting reports must count the days they began
on again (`rebuild_days`, `forget_before`) in the same transaction.
"""

import string
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    Connection,
    Date,
    LargeBinary,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    true,
)

from dmarc_analyzer.model import FORWARDING_REASONS
from dmarc_analyzer.storage.schema import (
    RESULT_DAYS_KEY,
    SOURCE_DAYS_KEY,
    dkim_results,
    override_reasons,
    records,
    reports,
    result_days,
    source_days,
    spf_results,
)
from dmarc_analyzer.storage.upsert import dialect_insert

# Reporter-controlled values are cut in the keys, as an index entry has a
# size limit on PostgreSQL (2,704 bytes): names at the longest a domain name
# can be, and shorter where they are not ASCII (see _cut). Names are
# lower-cased in ASCII only, as DNS compares them, and as SQLite's lower()
# does. Ingest adds the same keys up in Python (rollup_rows.py).
KEY_CHARACTERS = 255
KEY_BYTES = 500
TREEWALK = "treewalk"

# Held by every transaction that adds to the totals, on PostgreSQL: two
# ingests adding to the same rows in a different order would deadlock.
_ROLLUP_LOCK = 0x646D6172_0002


def lock_for_adding(connection: Connection) -> None:
    """Wait for other transactions that add to the totals to end. Call it
    before the first write of a transaction that will add a report."""
    if connection.dialect.name == "postgresql":
        connection.execute(text(f"SELECT pg_advisory_xact_lock({_ROLLUP_LOCK})"))


def rebuild_days(connection: Connection, days: Iterable[date]) -> None:
    """Count `days` afresh from the reports stored now: after reports were
    deleted, or to fill the totals of a database that had none."""
    days = sorted(set(days))
    if not days:
        return
    for table in (source_days, result_days):
        connection.execute(delete(table).where(table.c.day.in_(days)))
    for day in days:
        begins_that_day = and_(
            reports.c.begin >= datetime.combine(day, time.min),
            reports.c.begin < datetime.combine(day + timedelta(days=1), time.min),
        )
        _add_sources(connection, begins_that_day)
        _add_results(connection, begins_that_day)


def forget_before(connection: Connection, cutoff: datetime) -> None:
    """After the reports that begin before `cutoff` (naive UTC) were
    deleted: drop the totals of the days before it, and count its own day
    again, as reports may remain on it."""
    for table in (source_days, result_days):
        connection.execute(delete(table).where(table.c.day < cutoff.date()))
    if cutoff.time() != time.min:
        rebuild_days(connection, [cutoff.date()])


def fill(connection: Connection) -> None:
    """Count every stored report into empty totals, in one pass."""
    _add_sources(connection, true())
    _add_results(connection, true())


def _add_sources(connection: Connection, which_reports) -> None:
    forwarded = exists().where(
        override_reasons.c.record_pk == records.c.id,
        override_reasons.c.type.in_(FORWARDING_REASONS),
    )
    signed = exists().where(dkim_results.c.record_pk == records.c.id)
    per_record = (
        select(
            *_common_key(connection),
            _passed(records.c.spf).label("spf_pass"),
            func.coalesce(records.c.dkim_outcome, "").label("dkim_outcome"),
            func.coalesce(records.c.spf_outcome, "").label("spf_outcome"),
            _flag(forwarded).label("forwarded"),
            _flag(signed).label("signed"),
            _flag(func.coalesce(reports.c.discovery_method, "") == TREEWALK).label(
                "treewalk"
            ),
            records.c.count,
            reports.c.begin,
            reports.c.end,
        )
        .select_from(records.join(reports, records.c.report_pk == reports.c.id))
        .where(which_reports)
        .subquery()
    )
    key = [per_record.c[name] for name in SOURCE_DAYS_KEY]
    totals = (
        select(
            *key,
            func.sum(per_record.c.count),
            func.min(per_record.c.begin),
            func.max(per_record.c.end),
        )
        .group_by(*key)
        .order_by(*key)  # rows locked in one order
    )
    columns = [*SOURCE_DAYS_KEY, "messages", "first_begin", "last_end"]
    statement = dialect_insert(connection, source_days).from_select(columns, totals)
    added = statement.excluded
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=list(SOURCE_DAYS_KEY),
            set_={
                "messages": source_days.c.messages + added.messages,
                "first_begin": _earlier(source_days.c.first_begin, added.first_begin),
                "last_end": _later(source_days.c.last_end, added.last_end),
            },
        )
    )


def _add_results(connection: Connection, which_reports) -> None:
    for kind, table, detail in (
        ("dkim", dkim_results, dkim_results.c.selector),
        ("spf", spf_results, spf_results.c.scope),
    ):
        per_result = (
            select(
                *_common_key(connection),
                literal(kind).label("kind"),
                _cut(connection, func.coalesce(table.c.result, "")).label("result"),
                _cut(
                    connection, func.coalesce(_lower(connection, table.c.domain), "")
                ).label("result_domain"),
                _cut(connection, func.coalesce(detail, "")).label("detail"),
                records.c.count,
            )
            .select_from(
                records.join(reports, records.c.report_pk == reports.c.id).join(
                    table, table.c.record_pk == records.c.id
                )
            )
            .where(which_reports)
            .subquery()
        )
        key = [per_result.c[name] for name in RESULT_DAYS_KEY]
        totals = (
            select(*key, func.sum(per_result.c.count)).group_by(*key).order_by(*key)
        )
        statement = dialect_insert(connection, result_days).from_select(
            [*RESULT_DAYS_KEY, "messages"], totals
        )
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=list(RESULT_DAYS_KEY),
                set_={"messages": result_days.c.messages + statement.excluded.messages},
            )
        )


def _common_key(connection: Connection) -> list:
    """The key columns both tables share, for a select over records."""
    return [
        _day_of(connection, reports.c.begin).label("day"),
        _cut(connection, _lower(connection, reports.c.domain)).label("domain"),
        records.c.source_ip,
        _cut(
            connection, func.coalesce(_lower(connection, records.c.header_from), "")
        ).label("header_from"),
        _passed(records.c.dkim).label("dkim_pass"),
    ]


def _day_of(connection: Connection, moment):
    # SQLite keeps a date as YYYY-MM-DD text, which date() gives.
    if connection.dialect.name == "sqlite":
        return func.date(moment)
    return cast(moment, Date)


def _passed(verdict):
    """The receiver's verdict was pass (a missing verdict is not)."""
    return _flag(func.coalesce(verdict, "") == "pass")


def _flag(condition):
    return case((condition, True), else_=False)


def _cut(connection: Connection, value):
    """KEY_CHARACTERS of `value`, or a quarter of KEY_BYTES characters
    where those are more than KEY_BYTES in UTF-8: the five names of a
    result_days key then fit PostgreSQL's limit."""
    if connection.dialect.name == "sqlite":
        cut = func.substr(value, 1, KEY_CHARACTERS)
        size = func.length(cast(cut, LargeBinary))
        shorter = func.substr(value, 1, KEY_BYTES // 4)
    else:
        cut = func.left(value, KEY_CHARACTERS)
        size = func.octet_length(cut)
        shorter = func.left(value, KEY_BYTES // 4)
    return case((size <= KEY_BYTES, cut), else_=shorter)


def _lower(connection: Connection, value):
    if connection.dialect.name == "sqlite":  # lower() is ASCII only there
        return func.lower(value)
    return func.translate(value, string.ascii_uppercase, string.ascii_lowercase)


def _earlier(current, added):
    return case((added < current, added), else_=current)


def _later(current, added):
    return case((added > current, added), else_=current)


def messages_where(condition, table=source_days):
    """SQL: the messages of the rows of `table` meeting `condition`."""
    return func.coalesce(func.sum(case((condition, table.c.messages), else_=0)), 0)


def as_day(value) -> date | None:
    """A day read from the totals: SQLite hands back its text."""
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def day_filters(
    table,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list:
    """Conditions on a table of totals, like reports.report_filters: `since`
    and `until` (exclusive) are midnights UTC, as whole days are all that
    the totals know."""
    conditions = []
    if domain:
        wanted = domain.strip().rstrip(".").lower()[:KEY_CHARACTERS]
        conditions.append(table.c.domain == wanted)
    if since:
        conditions.append(table.c.day >= _utc_day(since))
    if until:
        conditions.append(table.c.day < _utc_day(until))
    return conditions


def _utc_day(moment: datetime) -> date:
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    if moment.time() != time.min:
        raise ValueError(f"the totals are per whole day; not a midnight: {moment}")
    return moment.date()
