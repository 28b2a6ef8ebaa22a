"""Headline figures for a scope: volumes, pass rates, reporters, days."""

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Connection, and_, func, select, true

from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import DomainDay, domain_days_in
from dmarc_analyzer.storage.reports import report_filters
from dmarc_analyzer.storage.schema import reports


@dataclass(frozen=True, slots=True)
class DailyVolume:
    day: date
    messages: int
    dmarc_pass: int

    @property
    def dmarc_fail(self) -> int:
        return self.messages - self.dmarc_pass


@dataclass(frozen=True, slots=True)
class Overview:
    first_begin: datetime | None
    last_begin: datetime | None
    domains: list[str]
    reporters: list[str]
    reports: int
    messages: int
    dmarc_pass: int
    dkim_aligned_pass: int
    spf_aligned_pass: int
    daily: list[DailyVolume]

    def rate(self, passed: int) -> float | None:
        return passed / self.messages if self.messages else None


@dataclass(frozen=True, slots=True)
class Policy:
    """The DMARC policy a domain published, as its latest report saw it."""

    domain: str
    p: str | None
    sp: str | None
    pct: int | None

    @property
    def label(self) -> str:
        shown = f"p={self.p or '?'}"
        if self.pct is not None and self.pct != 100:
            shown += f" pct={self.pct}"
        return shown


def overview(connection: Connection, scope: Scope = Scope()) -> Overview:
    """Totals over every report whose date range begins in `scope`."""
    in_scope = _reports_in(scope)
    first, last, count = connection.execute(
        select(
            func.min(reports.c.begin),
            func.max(reports.c.begin),
            func.count(reports.c.id),
        ).where(in_scope)
    ).one()
    days = domain_days_in(connection, scope)

    def distinct_values(column) -> list[str]:
        query = select(column).where(in_scope).distinct().order_by(column)
        return list(connection.execute(query).scalars())

    return Overview(
        first_begin=_aware(first),
        last_begin=_aware(last),
        domains=distinct_values(reports.c.domain),
        reporters=distinct_values(reports.c.org_name),
        reports=int(count),
        messages=sum(day.messages for day in days),
        dmarc_pass=sum(day.dmarc_pass for day in days),
        dkim_aligned_pass=sum(day.dkim_pass for day in days),
        spf_aligned_pass=sum(day.spf_pass for day in days),
        daily=_daily_volume(days),
    )


def pass_totals(connection: Connection, scope: Scope) -> tuple[int, int]:
    """(messages, DMARC passes) in `scope`: the few numbers of a trend point."""
    days = domain_days_in(connection, scope)
    return sum(day.messages for day in days), sum(day.dmarc_pass for day in days)


def policies(connection: Connection, scope: Scope) -> list[Policy]:
    """Per domain, the policy published in its latest report in `scope`."""
    latest = (
        select(
            reports.c.domain,
            reports.c.p,
            reports.c.sp,
            reports.c.pct,
            func.row_number()
            .over(
                partition_by=reports.c.domain,
                order_by=(reports.c.begin.desc(), reports.c.id.desc()),
            )
            .label("newest_first"),
        )
        .where(_reports_in(scope))
        .subquery()
    )
    query = (
        select(latest.c.domain, latest.c.p, latest.c.sp, latest.c.pct)
        .where(latest.c.newest_first == 1)
        .order_by(latest.c.domain)
    )
    return [Policy(*row) for row in connection.execute(query)]


def messages_by_domain(connection: Connection, scope: Scope) -> dict[str, int]:
    """Messages per policy domain (in lower case) in `scope`."""
    volumes: dict[str, int] = {}
    for day in domain_days_in(connection, scope):
        volumes[day.domain] = volumes.get(day.domain, 0) + day.messages
    return volumes


def _reports_in(scope: Scope):
    return and_(
        true(),
        *report_filters(domain=scope.domain, since=scope.since, until=scope.until),
    )


def _daily_volume(days: list[DomainDay]) -> list[DailyVolume]:
    """Messages per UTC day of the report's begin time."""
    volumes: dict[date, list[int]] = {}
    for day in days:
        totals = volumes.setdefault(day.day, [0, 0])
        totals[0] += day.messages
        totals[1] += day.dmarc_pass
    return [DailyVolume(day, *totals) for day, totals in volumes.items()]


def _aware(moment: datetime | None) -> datetime | None:
    from datetime import UTC

    return moment.replace(tzinfo=UTC) if moment else None
