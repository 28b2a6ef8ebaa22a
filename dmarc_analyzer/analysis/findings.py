"""What the DKIM failure analysis finds: per From domain, per source IP and
per vendor, with the cause that covers most failed messages at each level."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from dmarc_analyzer.analysis import causes
from dmarc_analyzer.analysis.identification import Identity
from dmarc_analyzer.analysis.vendors import Vendor
from dmarc_analyzer.i18n import NO_TEXT, Text

# A source whose DMARC failures stay under this share of its messages counts
# as compliant: a few temperrors do not make a sender non-compliant.
COMPLIANT_BELOW = 0.05


def ranked(counts: dict[str, int]) -> dict[str, int]:
    """Labels by message count, largest first, ties in label order."""
    if len(counts) < 2:  # most sources: one result, nothing to sort
        return dict(counts)
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


@dataclass(slots=True)
class FailureGroup:
    """Messages from one source with one From domain."""

    header_from: str
    messages: int = 0
    dkim_failed: int = 0
    disagreements: int = 0
    treewalk: int = 0  # messages whose receiver found domains by DNS tree walk
    treewalk_checked: bool = False  # and we walked the tree too
    # Failed messages by (DKIM outcome, SPF outcome, forwarding reason given).
    evidence: dict[tuple[str, str, bool], int] = field(default_factory=dict)
    failed_days: list[date | None] = field(default_factory=list)
    cause_messages: dict[str, int] = field(default_factory=dict)
    dkim_seen: dict[str, int] = field(default_factory=dict)
    spf_seen: dict[str, int] = field(default_factory=dict)
    signatures: list[tuple[str, str | None, str | None, int]] = field(
        default_factory=list
    )  # (result, d=, selector, messages) of the failed messages
    cause: str = causes.COMPLIANT
    fix: Text = NO_TEXT

    def as_dict(self) -> dict:
        return {
            "header_from": self.header_from,
            "messages": self.messages,
            "dkim_failed": self.dkim_failed,
            "cause": self.cause,
            "fix": str(self.fix),
            "receiver_disagrees": self.disagreements,
            "receiver_used_treewalk": self.treewalk,
            "treewalk_checked": self.treewalk_checked,
            "dkim_results": ranked(self.dkim_seen),
            "spf_results": ranked(self.spf_seen),
        }


@dataclass(slots=True)
class SourceFailures:
    """One source IP: its sender, volume, DKIM failures and their cause."""

    source_ip: str
    identity: Identity
    messages: int = 0
    dkim_failed: int = 0
    dmarc_pass: int = 0
    domains: list[str] = field(default_factory=list)
    groups: list[FailureGroup] = field(default_factory=list)

    @property
    def vendor(self) -> Vendor:
        return self.identity.vendor

    @property
    def failed_share(self) -> float:
        return self.dkim_failed / self.messages if self.messages else 0.0

    @property
    def cause(self) -> str:
        return main_cause(failed_by_cause(self.groups))

    @property
    def fix(self) -> Text:
        """The fix of the largest From domain group with the source's cause."""
        return fix_of(self.groups, self.cause)

    @property
    def bucket(self) -> str:
        return self._bucket(self.cause)

    def _bucket(self, cause: str) -> str:
        """Compliant while DMARC failures stay under 5 % of its messages, else
        the bucket of the main cause of its DKIM failures."""
        failing = self.messages - self.dmarc_pass
        if not self.messages or failing < COMPLIANT_BELOW * self.messages:
            return causes.BUCKET_COMPLIANT
        return causes.bucket_of(cause)

    @property
    def dkim_seen(self) -> dict[str, int]:
        return _added(g.dkim_seen for g in self.groups)

    @property
    def spf_seen(self) -> dict[str, int]:
        return _added(g.spf_seen for g in self.groups)

    def as_dict(self) -> dict:
        network = self.identity.network
        cause = self.cause  # judged once: fix and bucket follow from it
        return {
            "source_ip": self.source_ip,
            "vendor": self.vendor.name,
            "vendor_type": self.vendor.type,
            "evidence": self.vendor.evidence,
            "ptr": self.identity.ptr_name,
            "country": network.country_code,
            "asn": network.asn,
            "as_name": network.as_name,
            "domains": self.domains,
            "messages": self.messages,
            "dkim_failed": self.dkim_failed,
            "failed_share": round(self.failed_share, 4),
            "cause": cause if self.dkim_failed else None,
            "bucket": self._bucket(cause),
            "fix": str(fix_of(self.groups, cause)),
            "receiver_disagrees": sum(g.disagreements for g in self.groups),
            "receiver_used_treewalk": sum(g.treewalk for g in self.groups),
            "dkim_results": ranked(self.dkim_seen),
            "spf_results": ranked(self.spf_seen),
            "by_header_from": [g.as_dict() for g in self.groups if g.dkim_failed],
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

    @property
    def cause(self) -> str:
        groups = (group for source in self.sources for group in source.groups)
        return main_cause(failed_by_cause(groups))

    @property
    def bucket(self) -> str:
        """Like a source's: compliant while its DMARC failures stay under 5 %
        of all its messages (its sources without DKIM failures pass DMARC)."""
        failing = sum(s.messages - s.dmarc_pass for s in self.sources)
        if not self.messages or failing < COMPLIANT_BELOW * self.messages:
            return causes.BUCKET_COMPLIANT
        return causes.bucket_of(self.cause)

    def as_dict(self) -> dict:
        return {
            "vendor": self.vendor,
            "vendor_type": self.vendor_type,
            "messages": self.messages,
            "dkim_failed": self.dkim_failed,
            "failed_share": round(self.failed_share, 4),
            "cause": self.cause,
            "bucket": self.bucket,
            "sources": [source.as_dict() for source in self.sources],
        }


def failed_by_cause(groups: Iterable[FailureGroup]) -> dict[str, int]:
    """Messages failing DKIM per cause, over some From domain groups."""
    totals: dict[str, int] = defaultdict(int)
    for group in groups:
        if group.dkim_failed:
            totals[group.cause] += group.dkim_failed
    return totals


def fix_of(groups: Iterable[FailureGroup], cause: str) -> Text:
    """The fix of the group with the most failed messages of `cause`."""
    matching = [g for g in groups if g.dkim_failed and g.cause == cause]
    return max(matching, key=lambda g: g.dkim_failed).fix if matching else NO_TEXT


def main_cause(cause_messages: dict[str, int]) -> str:
    if not cause_messages:
        return causes.COMPLIANT
    return max(
        cause_messages,
        key=lambda cause: (cause_messages[cause], -causes.CAUSES.index(cause)),
    )


def _added(many) -> dict[str, int]:
    total: dict[str, int] = defaultdict(int)
    for counts in many:
        for label, messages in counts.items():
            total[label] += messages
    return dict(total)
