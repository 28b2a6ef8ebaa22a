"""The shapes a parsed aggregate report takes on its way into storage.

They mirror RFC 7489 appendix C and RFC 9990: one report has metadata, the
published policy and records; one record has every DKIM and every SPF result
the receiver saw. Result words are lower-cased at parse time.
"""

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class PublishedPolicy:
    domain: str
    adkim: str | None = None
    aspf: str | None = None
    p: str | None = None
    sp: str | None = None
    pct: int | None = None
    fo: str | None = None
    np: str | None = None
    testing: str | None = None
    discovery_method: str | None = None


# Override reasons by which a receiver says the mail came through a forwarder.
FORWARDING_REASONS = frozenset({"forwarded", "mailing_list", "trusted_forwarder"})


@dataclass(frozen=True, slots=True)
class OverrideReason:
    type: str | None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class DkimResult:
    domain: str | None
    selector: str | None
    result: str | None


@dataclass(frozen=True, slots=True)
class SpfResult:
    domain: str | None
    scope: str | None
    result: str | None


@dataclass(frozen=True, slots=True)
class Record:
    source_ip: str
    count: int
    disposition: str | None
    dkim: str | None
    spf: str | None
    header_from: str | None
    envelope_from: str | None = None
    envelope_to: str | None = None
    reasons: tuple[OverrideReason, ...] = ()
    dkim_results: tuple[DkimResult, ...] = ()
    spf_results: tuple[SpfResult, ...] = ()


@dataclass(frozen=True, slots=True)
class Report:
    """One aggregate report, as the receiver wrote it.

    `begin` and `end` are timezone-aware UTC datetimes.
    """

    org_name: str
    org_email: str | None
    report_id: str
    begin: datetime
    end: datetime
    policy: PublishedPolicy
    schema_version: str | None = None
    extra_contact_info: str | None = None
    records: tuple[Record, ...] = ()
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @property
    def messages(self) -> int:
        return sum(record.count for record in self.records)
