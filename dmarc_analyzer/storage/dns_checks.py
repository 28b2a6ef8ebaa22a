"""The history of `dns check`: every finding of every run, with its time."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, insert, select

from dmarc_analyzer.dnscheck.findings import Finding, visible
from dmarc_analyzer.storage.schema import dns_checks

CHUNK = 500
# Names are indexed, and a PostgreSQL index entry holds at most 2,704 bytes:
# a DNS name has 253 characters; what is longer is cut.
LONGEST_NAME = 255


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
            "name": _stored(finding.name)[:LONGEST_NAME],
            "domain": _stored(finding.domain)[:LONGEST_NAME],
            "selector": finding.selector and _stored(finding.selector)[:LONGEST_NAME],
            "severity": finding.severity,
            "code": finding.code,
            "message": _stored(finding.message),
        }
        for finding in findings
    ]
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(dns_checks), rows[start : start + CHUNK])


def _stored(text: str) -> str:
    """Control characters as escapes: PostgreSQL refuses NUL in text."""
    return visible(text)


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
