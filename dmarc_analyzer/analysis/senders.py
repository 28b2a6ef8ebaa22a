"""Every source that sends as the domain: when it was seen, how much, how
well it authenticates, which bucket it falls in, and whether it is new."""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection

from dmarc_analyzer.analysis.collector import cycles_not_collected
from dmarc_analyzer.analysis.failures import OFFLINE, analyze_sources
from dmarc_analyzer.analysis.findings import SourceFailures
from dmarc_analyzer.analysis.identification import IdentifyOptions
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import (
    ScopeTotals,
    scope_totals,
    source_ips_in,
)


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
    totals: ScopeTotals | None = None,
) -> list[Sender]:
    """Every source in `scope`, most messages first. `analyzed` and `totals`
    spare a second analysis when the caller has them for `scope` already."""
    with cycles_not_collected():
        return _senders(connection, scope, options, analyzed, totals)


def _senders(connection, scope, options, analyzed, totals) -> list[Sender]:
    if totals is None:
        totals = scope_totals(connection, scope)
    if analyzed is None:
        analyzed = analyze_sources(connection, scope, options, totals)
    earlier = _seen_before(connection, scope)

    seen: dict[str, _Seen] = {}
    for row in totals.rows:
        source = seen.get(row.source_ip)
        if source is None:
            source = seen[row.source_ip] = _Seen(row.first_begin, row.last_end)
        source.add(row)
    found = [
        Sender(
            source=analyzed[ip],
            first_seen=source.first.replace(tzinfo=UTC),
            last_seen=source.last.replace(tzinfo=UTC),
            dkim_pass=source.dkim_pass,
            spf_pass=source.spf_pass,
            dmarc_pass=source.dmarc_pass,
            new=None if earlier is None else ip not in earlier,
        )
        for ip, source in seen.items()
    ]
    return sorted(found, key=lambda s: (-s.source.messages, s.source.source_ip))


class _Seen:
    """When one source was seen, and its messages that passed."""

    __slots__ = ("dkim_pass", "dmarc_pass", "first", "last", "spf_pass")

    def __init__(self, first: datetime, last: datetime):
        self.first, self.last = first, last
        self.dkim_pass = self.spf_pass = self.dmarc_pass = 0

    def add(self, row) -> None:
        self.first = min(self.first, row.first_begin)
        self.last = max(self.last, row.last_end)
        if row.dkim_pass:
            self.dkim_pass += row.messages
        if row.spf_pass:
            self.spf_pass += row.messages
        if row.dkim_pass or row.spf_pass:
            self.dmarc_pass += row.messages


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
    return source_ips_in(connection, previous) or None
