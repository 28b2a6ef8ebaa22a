"""Every source that sends as the domain: when it was seen, how much, how
well it authenticates, which bucket it falls in, and whether it is new."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, func, select

from dmarc_analyzer.analysis.failures import OFFLINE, analyze_sources
from dmarc_analyzer.analysis.findings import SourceFailures
from dmarc_analyzer.analysis.identification import IdentifyOptions, days_in
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.storage.rollups import messages_where
from dmarc_analyzer.storage.schema import source_days


@dataclass(frozen=True, slots=True)
class Sender:
    source: SourceFailures
    first_seen: datetime
    last_seen: datetime
    dkim_pass: int
    spf_pass: int
    dmarc_pass: int
    new: bool | None  # None when there is no previous period to compare with

    @property
    def bucket(self) -> str:
        return self.source.bucket

    def rate(self, passed: int) -> float:
        return passed / self.source.messages if self.source.messages else 0.0

    def as_dict(self) -> dict:
        source, network = self.source, self.source.identity.network
        return {
            "source_ip": source.source_ip,
            "vendor": source.vendor.name,
            "vendor_type": source.vendor.type,
            "evidence": source.vendor.evidence,
            "ptr": source.identity.ptr_name,
            "country": network.country_code,
            "asn": network.asn,
            "as_name": network.as_name,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "messages": source.messages,
            "dkim_pass_rate": round(self.rate(self.dkim_pass), 4),
            "spf_pass_rate": round(self.rate(self.spf_pass), 4),
            "dmarc_pass_rate": round(self.rate(self.dmarc_pass), 4),
            "bucket": self.bucket,
            "cause": source.cause if source.dkim_failed else None,
            "new": self.new,
        }


def senders(
    connection: Connection,
    scope: Scope = Scope(),
    options: IdentifyOptions = OFFLINE,
    analyzed: dict[str, SourceFailures] | None = None,
) -> list[Sender]:
    """Every source in `scope`, most messages first. `analyzed` spares a
    second analysis when the caller has the sources of `scope` already."""
    if analyzed is None:
        analyzed = analyze_sources(connection, scope, options)
    earlier = _seen_before(connection, scope)

    totals = source_days.c
    query = (
        select(
            totals.source_ip,
            func.min(totals.first_begin),
            func.max(totals.last_end),
            messages_where(totals.dkim_pass),
            messages_where(totals.spf_pass),
            messages_where(totals.dkim_pass | totals.spf_pass),
        )
        .where(days_in(source_days, scope))
        .group_by(totals.source_ip)
    )
    found = [
        Sender(
            source=analyzed[ip],
            first_seen=first.replace(tzinfo=UTC),
            last_seen=last.replace(tzinfo=UTC),
            dkim_pass=int(dkim),
            spf_pass=int(spf),
            dmarc_pass=int(dmarc),
            new=None if earlier is None else ip not in earlier,
        )
        for ip, first, last, dkim, spf, dmarc in connection.execute(query)
        if ip in analyzed  # not one stored by an ingest during this analysis
    ]
    return sorted(found, key=lambda s: (-s.source.messages, s.source.source_ip))


def _seen_before(connection: Connection, scope: Scope) -> set[str] | None:
    """Source IPs of the previous period of the same length; None when that
    period has no reports at all, so nothing can be called new."""
    if not (scope.since and scope.until):
        return None
    try:
        since = scope.since - (scope.until - scope.since)
    except OverflowError:  # the period before starts before year 1
        return None
    previous = Scope(domain=scope.domain, since=since, until=scope.since)
    query = (
        select(source_days.c.source_ip).where(days_in(source_days, previous)).distinct()
    )
    seen = set(connection.execute(query).scalars())
    return seen or None
