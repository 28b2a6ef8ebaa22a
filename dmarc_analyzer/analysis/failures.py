"""Messages that failed DKIM, grouped by sending vendor and source IP.

A message failed DKIM when the receiver's policy_evaluated dkim is not
"pass": no DKIM signature aligned with the From domain passed. The grouping
runs in SQL; Python only names vendors and arranges the aggregated rows.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import Connection, and_, exists, func, or_, select, true

from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.vendors import Signal, Vendor, identify_vendor
from dmarc_analyzer.storage.reports import messages_where, report_filters
from dmarc_analyzer.storage.schema import (
    DkimResultRow,
    RecordRow,
    ReportRow,
    SpfResultRow,
)

reports = ReportRow.__table__
records = RecordRow.__table__
dkim_results = DkimResultRow.__table__
spf_results = SpfResultRow.__table__

NO_SIGNATURE = "none"


@dataclass(slots=True)
class SourceFailures:
    """One source IP: its volume, its DKIM failures and what the receivers saw."""

    source_ip: str
    vendor: Vendor
    messages: int
    dkim_failed: int
    domains: list[str] = field(default_factory=list)
    dkim_seen: dict[str, int] = field(default_factory=dict)
    spf_seen: dict[str, int] = field(default_factory=dict)

    @property
    def failed_share(self) -> float:
        return self.dkim_failed / self.messages if self.messages else 0.0

    def as_dict(self) -> dict:
        return {
            "source_ip": self.source_ip,
            "vendor": self.vendor.name,
            "vendor_type": self.vendor.type,
            "evidence": self.vendor.evidence,
            "domains": self.domains,
            "messages": self.messages,
            "dkim_failed": self.dkim_failed,
            "failed_share": round(self.failed_share, 4),
            "dkim_results": ranked(self.dkim_seen),
            "spf_results": ranked(self.spf_seen),
        }


@dataclass(slots=True)
class VendorFailures:
    """The sources of one vendor that had DKIM failures, and its whole volume."""

    vendor: str
    vendor_type: str | None
    messages: int
    sources: list[SourceFailures]

    @property
    def dkim_failed(self) -> int:
        return sum(source.dkim_failed for source in self.sources)

    @property
    def failed_share(self) -> float:
        return self.dkim_failed / self.messages if self.messages else 0.0

    def as_dict(self) -> dict:
        return {
            "vendor": self.vendor,
            "vendor_type": self.vendor_type,
            "messages": self.messages,
            "dkim_failed": self.dkim_failed,
            "failed_share": round(self.failed_share, 4),
            "sources": [source.as_dict() for source in self.sources],
        }


def ranked(counts: dict[str, int]) -> dict[str, int]:
    """Labels by message count, largest first, ties in label order."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def dkim_failed():
    """The SQL condition for a record whose messages failed DKIM."""
    return or_(records.c.dkim.is_(None), records.c.dkim != "pass")


def dkim_failures(
    connection: Connection, scope: Scope = Scope()
) -> list[VendorFailures]:
    """Vendors with DKIM failures in `scope`, most failed messages first."""
    sources = _source_totals(connection, scope)
    if not sources:
        return []

    vendors = _vendors_by_source(connection, scope)
    for source in sources.values():
        source.vendor = vendors.get(source.source_ip, identify_vendor([], []))
    _add_domains(connection, scope, sources)
    _add_dkim_seen(connection, scope, sources)
    _add_spf_seen(connection, scope, sources)

    return _group_by_vendor(sources.values())


def _in_scope(scope: Scope):
    conditions = report_filters(
        domain=scope.domain, since=scope.since, until=scope.until
    )
    return and_(records.c.report_pk == reports.c.id, *conditions)


def _source_totals(connection: Connection, scope: Scope) -> dict[str, SourceFailures]:
    query = (
        select(
            records.c.source_ip,
            func.sum(records.c.count),
            messages_where(dkim_failed()),
        )
        .where(_in_scope(scope))
        .group_by(records.c.source_ip)
    )
    placeholder = identify_vendor([], [])
    return {
        ip: SourceFailures(ip, placeholder, int(messages), int(failed))
        for ip, messages, failed in connection.execute(query)
    }


def _vendors_by_source(connection: Connection, scope: Scope) -> dict[str, Vendor]:
    """Name each source's vendor from the domains that passed for it."""
    signals: dict[str, list[Signal]] = defaultdict(list)
    for kind, table in (("dkim", dkim_results), ("spf", spf_results)):
        domain = func.lower(table.c.domain)
        query = (
            select(records.c.source_ip, domain, func.sum(records.c.count))
            .where(
                _in_scope(scope),
                table.c.record_pk == records.c.id,
                table.c.result == "pass",
                table.c.domain.is_not(None),
            )
            .group_by(records.c.source_ip, domain)
        )
        for ip, domain, messages in connection.execute(query):
            signals[ip].append(Signal(kind, domain, int(messages)))

    own_domains = _policy_domains(connection, scope)
    return {ip: identify_vendor(found, own_domains) for ip, found in signals.items()}


def _policy_domains(connection: Connection, scope: Scope) -> list[str]:
    conditions = report_filters(
        domain=scope.domain, since=scope.since, until=scope.until
    )
    query = select(reports.c.domain).where(and_(true(), *conditions)).distinct()
    return list(connection.execute(query).scalars())


def _add_domains(
    connection: Connection, scope: Scope, sources: dict[str, SourceFailures]
) -> None:
    """Per source, the policy domains its failed messages were reported for."""
    query = (
        select(records.c.source_ip, reports.c.domain)
        .where(_in_scope(scope), dkim_failed())
        .group_by(records.c.source_ip, reports.c.domain)
        .order_by(reports.c.domain)
    )
    for ip, domain in connection.execute(query):
        sources[ip].domains.append(domain)


def _add_dkim_seen(
    connection: Connection, scope: Scope, sources: dict[str, SourceFailures]
) -> None:
    """Per source, the DKIM results behind its failed messages."""
    for ip, result, domain, messages in _results_of_failures(
        connection, scope, dkim_results
    ):
        # A pass here is a signature the receiver found unaligned with From.
        label = "pass (unaligned)" if result == "pass" else (result or "no result")
        sources[ip].dkim_seen[f"{label} d={domain or '?'}"] = messages

    has_signature = exists().where(dkim_results.c.record_pk == records.c.id)
    unsigned = (
        select(records.c.source_ip, func.sum(records.c.count))
        .where(_in_scope(scope), dkim_failed(), ~has_signature)
        .group_by(records.c.source_ip)
    )
    for ip, messages in connection.execute(unsigned):
        sources[ip].dkim_seen[NO_SIGNATURE] = int(messages)


def _add_spf_seen(
    connection: Connection, scope: Scope, sources: dict[str, SourceFailures]
) -> None:
    """Per source, the SPF results behind its failed messages."""
    for ip, result, domain, messages in _results_of_failures(
        connection, scope, spf_results
    ):
        sources[ip].spf_seen[f"{result or 'no result'} {domain or '?'}"] = messages


def _results_of_failures(connection: Connection, scope: Scope, table):
    """(source IP, result, domain, messages) of the DKIM-failed records."""
    domain = func.lower(table.c.domain)
    query = (
        select(records.c.source_ip, table.c.result, domain, func.sum(records.c.count))
        .where(_in_scope(scope), dkim_failed(), table.c.record_pk == records.c.id)
        .group_by(records.c.source_ip, table.c.result, domain)
    )
    for ip, result, domain, messages in connection.execute(query):
        yield ip, result, domain, int(messages)


def _group_by_vendor(sources) -> list[VendorFailures]:
    by_vendor: dict[str, VendorFailures] = {}
    for source in sources:
        name = source.vendor.name
        group = by_vendor.setdefault(
            name, VendorFailures(name, source.vendor.type, 0, [])
        )
        group.messages += source.messages
        if source.dkim_failed:
            group.sources.append(source)

    failing = [group for group in by_vendor.values() if group.sources]
    for group in failing:
        group.sources.sort(key=lambda s: (-s.dkim_failed, s.source_ip))
    return sorted(failing, key=lambda g: (-g.dkim_failed, g.vendor))
