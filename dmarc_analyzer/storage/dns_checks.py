"""The history of `dns check`: every finding of every run, with its time."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from dmarc_analyzer.dnscheck.findings import Finding
from dmarc_analyzer.storage.schema import dns_checks

CHUNK = 500


@dataclass(frozen=True, slots=True)
class StoredCheck:
    checked_at: datetime
    kind: str
    name: str
    domain: str
    selector: str | None
    severity: str
    code: str
    message: str


def save_findings(
    connection: Connection, checked_at: datetime, findings: Iterable[Finding]
) -> None:
    at = checked_at.astimezone(UTC).replace(tzinfo=None)
    rows = [
        {
            "checked_at": at,
            "kind": finding.kind,
            "name": finding.name,
            "domain": finding.domain,
            "selector": finding.selector,
            "severity": finding.severity,
            "code": finding.code,
            "message": finding.message,
        }
        for finding in findings
    ]
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(dns_checks), rows[start : start + CHUNK])


def check_history(
    connection: Connection, name: str | None = None, domain: str | None = None
) -> list[StoredCheck]:
    """Stored findings, oldest run first; of one record name or domain."""
    query = select(dns_checks).order_by(dns_checks.c.checked_at, dns_checks.c.id)
    if name is not None:
        query = query.where(dns_checks.c.name == name.lower())
    if domain is not None:
        query = query.where(dns_checks.c.domain == domain.lower())
    return [
        StoredCheck(
            row.checked_at.replace(tzinfo=UTC),
            row.kind,
            row.name,
            row.domain,
            row.selector,
            row.severity,
            row.code,
            row.message,
        )
        for row in connection.execute(query)
    ]
