"""The totals of a scope, read once.

A scope's days are read from the monthly totals for its whole months and
from the daily totals for the days at its edges (storage/totals.py), and
SQL adds them up per way a sender was seen: a year of ten million records
comes back as a row per sender and way, whatever the records behind it.
The analysis of senders and failures works on these rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    true,
    union_all,
)

from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.storage.schema import daily_totals, domain_days, monthly_totals
from dmarc_analyzer.storage.sql_functions import month_start, same_in_group
from dmarc_analyzer.storage.totals import (
    KEY_CHARACTERS,
    SENDER_COLUMNS,
    month_of,
    read_results,
)

# A result as the totals keep it: (result, domain, selector or scope).
Result = tuple[str | None, str | None, str | None]


class SenderRow(NamedTuple):
    """Messages of one sender seen one way in the scope."""

    domain: str  # the policy domain, as the totals keep it
    source_ip: str
    header_from: str  # '' when the reports named none
    dkim_pass: bool  # the receiver's verdicts
    spf_pass: bool
    dkim_outcome: str  # our own alignment check, '' when none was stored
    spf_outcome: str
    forwarded: bool
    treewalk: bool
    dkim_results: tuple[Result, ...]
    spf_results: tuple[Result, ...]
    messages: int
    first_begin: datetime  # naive UTC, of the reports behind the row
    last_begin: datetime
    last_end: datetime


@dataclass(frozen=True, slots=True)
class ScopeTotals:
    """Every way each sender was seen in `scope`."""

    scope: Scope
    rows: tuple[SenderRow, ...]

    def for_domain(self, domain: str) -> "ScopeTotals":
        """The rows of one policy domain (as `Scope.domain` names it)."""
        wanted = domain_key(domain)
        rows = tuple(row for row in self.rows if row.domain == wanted)
        scope = Scope(domain=domain, since=self.scope.since, until=self.scope.until)
        return ScopeTotals(scope, rows)

    def source_ips(self) -> list[str]:
        return list(dict.fromkeys(row.source_ip for row in self.rows))


def domain_key(domain: str) -> str:
    """A policy domain given by the user, as the totals keep domains."""
    return domain.strip().rstrip(".").lower()[:KEY_CHARACTERS]


def scope_totals(connection: Connection, scope: Scope) -> ScopeTotals:
    """Read the totals of `scope`, added up per way each sender was seen."""
    pieces = _pieces(scope)
    # A row's sender columns are those its key hash was made of.
    senders = [same_in_group(pieces.c[name]) for name in SENDER_COLUMNS]
    query = select(
        pieces.c.domain,
        *senders,
        func.sum(pieces.c.messages),
        func.min(pieces.c.first_begin),
        func.max(pieces.c.last_begin),
        func.max(pieces.c.last_end),
    ).group_by(pieces.c.domain, pieces.c.key_hash)
    rows = tuple(
        SenderRow(
            domain,
            ip,
            header_from,
            bool(dkim_pass),
            bool(spf_pass),
            dkim_outcome,
            spf_outcome,
            bool(forwarded),
            bool(treewalk),
            read_results(dkim),
            read_results(spf),
            int(messages),
            first_begin,
            last_begin,
            last_end,
        )
        for (
            domain,
            ip,
            header_from,
            dkim_pass,
            spf_pass,
            dkim_outcome,
            spf_outcome,
            forwarded,
            treewalk,
            dkim,
            spf,
            messages,
            first_begin,
            last_begin,
            last_end,
        ) in connection.execute(query)
    )
    return ScopeTotals(scope, rows)


def source_ips_in(connection: Connection, scope: Scope) -> set[str]:
    """The source IPs seen in `scope`."""
    pieces = _pieces(scope, ["source_ip"])
    query = select(pieces.c.source_ip).distinct()
    return set(connection.execute(query).scalars())


class DomainDay(NamedTuple):
    day: date
    domain: str
    messages: int
    dmarc_pass: int
    dkim_pass: int
    spf_pass: int


def domain_days_in(connection: Connection, scope: Scope) -> list[DomainDay]:
    """Messages and passes per day and policy domain in `scope`, by day."""
    table = domain_days.c
    conditions = [*_day_range(domain_days, *_days_of(scope))]
    if scope.domain:
        conditions.append(table.domain == domain_key(scope.domain))
    query = (
        select(
            table.period,
            table.domain,
            table.messages,
            table.dmarc_pass,
            table.dkim_pass,
            table.spf_pass,
        )
        .where(and_(true(), *conditions))
        .order_by(table.period, table.domain)
    )
    return [
        DomainDay(_as_date(day), domain, *(int(n) for n in numbers))
        for day, domain, *numbers in connection.execute(query)
    ]


# Which group each source is in, for one query (volumes_by_group).
_source_groups = Table(
    "source_groups",
    MetaData(),  # not the schema's: a table of the connection alone
    Column("source_ip", String(45), primary_key=True),
    Column("name", Text, nullable=False),
    prefixes=["TEMPORARY"],
)


def volumes_by_group(
    connection: Connection,
    scope: Scope,
    unit: str,
    group_of: dict[str, str],
    other: str,
) -> dict[date, dict[str, int]]:
    """Messages per day or month ("day", "month") of `scope` and group of
    their source (`group_of`; `other` for a source not in it), added up in
    SQL: per day from the daily totals, per month from the monthly ones
    and the days at the edges."""
    if unit == "day":
        pieces = _day_pieces(scope, [daily_totals.c.period])
        start = pieces.c.period
    else:
        pieces = _pieces(scope, ["month", "source_ip", "messages"])
        start = pieces.c.month
    groups = _source_groups.c
    name = func.coalesce(groups.name, other)
    query = (
        select(start, name, func.sum(pieces.c.messages))
        .select_from(
            pieces.outerjoin(_source_groups, groups.source_ip == pieces.c.source_ip)
        )
        .group_by(start, name)
        .order_by(start)
    )

    _source_groups.create(connection)
    try:
        rows = [{"source_ip": ip, "name": group} for ip, group in group_of.items()]
        if rows:
            connection.execute(_source_groups.insert(), rows)
        volumes: dict[date, dict[str, int]] = {}
        for day, group, messages in connection.execute(query):
            volumes.setdefault(_as_date(day), {})[group] = int(messages)
    finally:
        _source_groups.drop(connection)
    return volumes


def _pieces(scope: Scope, wanted: Iterable[str] | None = None):
    """A subquery of the rows of `scope`: the monthly totals of its whole
    months, the daily totals of the other days. `wanted` names the columns
    (all but the period by default; "month" is the month's first day)."""
    since, until = _days_of(scope)
    names = list(wanted or ["domain", "key_hash", *SENDER_COLUMNS, *_TOTALS])
    domain = _domain_condition(scope)

    def rows_of(table, days: list, month):
        columns = [month.label("month") if n == "month" else table.c[n] for n in names]
        return select(*columns).where(*days, domain(table))

    def days_from(start: date | None, end: date | None):
        return rows_of(daily_totals, _day_range(daily_totals, start, end), _in_month)

    _in_month = month_start(daily_totals.c.period)
    first_month, after_months = _whole_months(since, until)
    if first_month is None:  # no whole month: days only
        return days_from(since, until).subquery()

    months = rows_of(
        monthly_totals,
        _day_range(monthly_totals, first_month, after_months),
        monthly_totals.c.period,
    )
    edges = []
    if since is not None and since < first_month:
        edges.append(days_from(since, first_month))
    if until is not None and after_months < until:
        edges.append(days_from(after_months, until))
    return union_all(months, *edges).subquery() if edges else months.subquery()


def _day_pieces(scope: Scope, extra: list):
    since, until = _days_of(scope)
    table = daily_totals
    return (
        select(*extra, table.c.source_ip, table.c.messages)
        .where(*_day_range(table, since, until), _domain_condition(scope)(table))
        .subquery()
    )


_TOTALS = ("messages", "first_begin", "last_begin", "last_end")


def _domain_condition(scope: Scope):
    def condition(table):
        return table.c.domain == domain_key(scope.domain) if scope.domain else true()

    return condition


def _whole_months(since: date | None, until: date | None):
    """The first day of the first whole month of [since, until) and the day
    after the last one, or (None, None) when it has no whole month. None
    at either end of the days means open."""
    first = since if since is None or since.day == 1 else _next_month(since)
    after = until if until is None or until.day == 1 else month_of(until)
    if first is not None and after is not None and first >= after:
        return None, None
    return first or date.min, after or date.max


def _next_month(day: date) -> date:
    """The first day of the month after; date.max in the last month there is."""
    if (day.year, day.month) == (date.max.year, date.max.month):
        return date.max
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _day_range(table, since: date | None, until: date | None) -> list:
    conditions = []
    if since is not None and since != date.min:
        conditions.append(table.c.period >= since)
    if until is not None and until != date.max:
        conditions.append(table.c.period < until)
    return conditions or [true()]


def _days_of(scope: Scope) -> tuple[date | None, date | None]:
    return _utc_day(scope.since), _utc_day(scope.until)


def _utc_day(moment: datetime | None) -> date | None:
    return None if moment is None else moment.astimezone(UTC).date()


def _as_date(value) -> date:
    """A day as the database hands it back: SQLite may give its text."""
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value
