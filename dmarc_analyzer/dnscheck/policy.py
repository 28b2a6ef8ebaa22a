"""The domain's DMARC and SPF records, judged by checkdmarc.

checkdmarc reports a DNS timeout on the way as "record not found" in some
paths, so each record's name is first asked here: a server that does not
answer gives dns-timeout or dns-servfail, never a missing record. Its own
retries are off (the timeout is ours) and its DNS cache, process-wide, is
emptied before each run so that a run sees the DNS of now.

checkdmarc also turns timeouts further on (an include's target, a report
destination's authorization record) into warnings or "not found"; so it asks
through a `_Watched` resolver, which notes each name the servers did not
answer (reported as dns-timeout or dns-servfail for that name), and stops
asking for a domain after a few timeouts: forty silent report destinations
would otherwise cost forty timeouts.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

from dmarc_analyzer.dnscheck import lookup
from dmarc_analyzer.dnscheck.findings import DMARC, ERROR, OK, SPF, WARNING, Finding

# checkdmarc's exception class names, as our codes and fixes.
_DMARC_FIXES = {
    "DMARCRecordNotFound": (
        "dmarc-missing",
        "Publish a TXT record at _dmarc.{domain}, for a start "
        "v=DMARC1; p=none; rua=mailto:<your report address>.",
    ),
    "MultipleDMARCRecords": (
        "dmarc-multiple-records",
        "Keep exactly one v=DMARC1 record at _dmarc.{domain}: receivers "
        "ignore them all when there are several.",
    ),
    "DMARCRecordInWrongLocation": (
        "dmarc-wrong-location",
        "Move the v=DMARC1 record from {domain} to _dmarc.{domain}.",
    ),
    "DMARCRecordStartsWithWhitespace": (
        "dmarc-leading-space",
        "Remove the spaces before v=DMARC1.",
    ),
    "UnrelatedTXTRecordFoundAtDMARC": (
        "dmarc-unrelated-txt",
        "Remove the TXT records at _dmarc.{domain} that are not the DMARC record.",
    ),
    "SPFRecordFoundWhereDMARCRecordShouldBe": (
        "dmarc-spf-in-place",
        "The SPF record belongs at {domain}, not _dmarc.{domain}.",
    ),
    "InvalidDMARCReportURI": (
        "dmarc-bad-report-uri",
        "Write rua/ruf as mailto:address@domain, comma-separated.",
    ),
    "InvalidDMARCTagValue": (
        "dmarc-bad-value",
        "Correct the tag's value (p= takes none, quarantine or reject).",
    ),
    "InvalidDMARCTag": (
        "dmarc-bad-tag",
        "Remove or correct the unknown tag.",
    ),
    "DMARCSyntaxError": (
        "dmarc-syntax",
        "Write the record as v=DMARC1; p=none; rua=mailto:... (tags "
        "separated by semicolons).",
    ),
}
_SPF_FIXES = {
    "SPFRecordNotFound": (
        "spf-missing",
        "Publish a TXT record at {domain} listing your senders, such as "
        "v=spf1 mx include:<your vendor> -all.",
    ),
    "MultipleSPFRTXTRecords": (
        "spf-multiple-records",
        "Merge the v=spf1 records at {domain} into one: with several, SPF "
        "is a permerror.",
    ),
    "SPFTooManyDNSLookups": (
        "spf-too-many-lookups",
        "SPF allows 10 DNS lookups (include, a, mx, ptr, exists, redirect): "
        "drop includes you no longer use, or replace some with ip4:/ip6:.",
    ),
    "SPFTooManyVoidDNSLookups": (
        "spf-too-many-void-lookups",
        "Remove the mechanisms that point at names without records.",
    ),
    "SPFIncludeLoop": ("spf-include-loop", "Break the include loop."),
    "SPFRedirectLoop": ("spf-redirect-loop", "Break the redirect loop."),
    "SPFSyntaxError": ("spf-syntax", "Correct the record's syntax."),
}
# Timeouts for one domain's checks, past which checkdmarc's further lookups
# are not sent (each is answered as a timeout at once).
TIMEOUTS_PER_DOMAIN = 3


def check_dmarc(resolver, domain: str) -> list[Finding]:
    from checkdmarc.dmarc import DMARCError, parse_dmarc_record, query_dmarc_record
    from checkdmarc.utils import DNSException

    name = f"_dmarc.{domain}"
    asked = lookup.lookup_txt(resolver, name)
    if asked.status in lookup.UNANSWERED:
        return [lookup.unanswered_finding(asked, DMARC, domain)]
    if asked.status == lookup.NXDOMAIN:
        itself = lookup.lookup_txt(resolver, domain)
        if itself.status == lookup.NXDOMAIN:
            return [lookup.domain_missing_finding(DMARC, name, domain)]
    if _undecodable(asked, b"v=dmarc1"):
        return [_not_text(DMARC, name, domain)]

    watched = _Watched(resolver)
    try:
        found = query_dmarc_record(domain, resolver=watched, retries=0)
        parsed = parse_dmarc_record(
            found["record"], found["location"], resolver=watched, retries=0
        )
    except DMARCError as error:
        failed = [_error_finding(DMARC, name, domain, error, _DMARC_FIXES)]
        return watched.findings(DMARC, domain, failed)
    except DNSException as error:
        if watched.failed:
            return watched.findings(DMARC, domain, [])
        return [_dns_error_finding(DMARC, name, domain, error)]

    where = found["location"]
    ok = f"v=DMARC1, p={parsed['tags']['p']['value']}"
    if where != domain:
        ok += f", inherited from _dmarc.{where}"
    warnings = found["warnings"] + parsed["warnings"]
    judged = _warnings(
        DMARC, name, domain, watched.quiet(warnings), "dmarc-warning", ok
    )
    return watched.findings(DMARC, domain, judged)


def check_spf(resolver, domain: str) -> list[Finding]:
    from checkdmarc.spf import SPFError, get_spf_record
    from checkdmarc.utils import DNSException

    asked = lookup.lookup_txt(resolver, domain)
    if asked.status in lookup.UNANSWERED:
        return [lookup.unanswered_finding(asked, SPF, domain)]
    if asked.status == lookup.NXDOMAIN:
        return [lookup.domain_missing_finding(SPF, domain, domain)]
    if _undecodable(asked, b"v=spf1"):
        return [_not_text(SPF, domain, domain)]

    watched = _Watched(resolver)
    try:
        parsed = get_spf_record(domain, resolver=watched, retries=0)
    except SPFError as error:
        failed = [_spf_error_finding(domain, error)]
        return watched.findings(SPF, domain, failed)
    except DNSException as error:
        if watched.failed:
            return watched.findings(SPF, domain, [])
        return [_dns_error_finding(SPF, domain, domain, error)]

    ok = f"v=spf1, {parsed['dns_lookups']} of 10 DNS lookups"
    warnings = watched.quiet(parsed["warnings"])
    return watched.findings(
        SPF, domain, _warnings(SPF, domain, domain, warnings, "spf-warning", ok)
    )


class _Watched:
    """The resolver given to checkdmarc: notes the names the servers did not
    answer, and after `TIMEOUTS_PER_DOMAIN` timeouts answers every further
    query with a timeout at once, unasked."""

    def __init__(self, resolver):
        self._resolver = resolver
        self.lifetime = resolver.lifetime
        # name: (TIMEOUT or SERVFAIL, the record type asked)
        self.failed: dict[str, tuple[str, str]] = {}
        self.timeouts = 0
        self.unsent: set[str] = set()

    def __getattr__(self, name):
        return getattr(self._resolver, name)

    def resolve(self, qname, rdtype="A", *args, **kwargs):
        import dns.rdatatype
        import dns.resolver

        name = str(qname).rstrip(".").lower()
        asked = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
        if self.timeouts >= TIMEOUTS_PER_DOMAIN:
            self.unsent.add(name)
            raise dns.resolver.LifetimeTimeout(timeout=0.0, errors=[])
        started = time.monotonic()
        try:
            return self._resolver.resolve(qname, rdtype, *args, **kwargs)
        except dns.resolver.LifetimeTimeout as error:
            self.timeouts += 1
            self.failed[name] = (lookup.TIMEOUT, asked)
            if not error.kwargs.get("timeout"):  # checkdmarc rounds it
                error.kwargs["timeout"] = time.monotonic() - started
            raise
        except dns.resolver.NoNameservers as error:
            self.failed[name] = (lookup.why_no_server(error), asked)
            raise

    def quiet(self, warnings: list[str]) -> list[str]:
        """checkdmarc's warnings, but those about a name the servers did not
        answer: told as dns-timeout or dns-servfail instead."""
        return [text for text in warnings if not self._about_failure(str(text))]

    def _about_failure(self, text: str) -> bool:
        lowered = text.lower()
        if _dns_failure_text(lowered):
            return True
        said_missing = "not found" in lowered or "does not exist" in lowered
        names = [*self.failed, *self.unsent]
        return said_missing and any(name in lowered for name in names)

    def findings(self, kind: str, domain: str, found: list[Finding]) -> list[Finding]:
        """`found`, and a finding per name the servers did not answer, kept
        under the record checked (the message names the name that failed);
        those replace checkdmarc's "not found" where it came from a
        timeout."""
        if not self.failed:
            return found
        record = f"_dmarc.{domain}" if kind == DMARC else domain
        unanswered = [
            lookup.unanswered_finding(
                lookup.TxtLookup(name, status, detail=f"asked for {rdtype}"),
                kind,
                domain,
                record=record,
            )
            for name, (status, rdtype) in sorted(self.failed.items())
        ]
        if self.unsent:
            first = unanswered[0]
            unanswered[0] = replace(
                first,
                message=f"{first.message}; after {self.timeouts} timeouts, "
                f"{len(self.unsent)} further names for {domain} were not asked",
            )
        # Neither "ok" nor "missing", nor the failure told of another name:
        # part of the record could not be checked.
        kept = [
            finding
            for finding in found
            if finding.severity != OK
            and finding.code not in _NOT_FOUND
            and finding.code not in lookup.UNANSWERED
        ]
        return kept + unanswered


# What checkdmarc says when a lookup on the way timed out.
_NOT_FOUND = ("dmarc-missing", "spf-missing", "spf-include-missing")


def _dns_failure_text(text: str) -> str | None:
    lowered = text.lower()
    if "timed out" in lowered or "lifetime expired" in lowered:
        return lookup.TIMEOUT
    if "servfail" in lowered:
        return lookup.SERVFAIL
    if "refused" in lowered:
        return lookup.REFUSED
    return None


def _undecodable(asked: lookup.TxtLookup, start: bytes) -> bool:
    """A record of this kind whose bytes are not UTF-8: checkdmarc skips it
    and says the record does not exist."""
    for strings in asked.records:
        data = b"".join(strings)
        if data.lower().startswith(start):
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return True
    return False


def _not_text(kind: str, name: str, domain: str) -> Finding:
    return Finding(
        kind,
        name,
        domain,
        ERROR,
        f"{kind}-not-text",
        f"the {kind.upper()} record at {name} holds bytes that are not valid "
        "text (UTF-8): receivers cannot read it",
        f"Publish the record again at {name} in plain ASCII.",
    )


def _spf_error_finding(domain: str, error) -> Finding:
    target = getattr(error, "domain", domain)
    if type(error).__name__ != "SPFRecordNotFound" or target in (None, domain):
        return _error_finding(SPF, domain, domain, error, _SPF_FIXES)
    if _dns_failure(error):
        return _dns_error_finding(SPF, domain, domain, error)
    return Finding(
        SPF,
        domain,
        domain,
        ERROR,
        "spf-include-missing",
        f"SPF record at {domain}: {_one_line(error)}",
        f"{target} publishes no SPF record: correct the include:{target} or "
        f"remove it from the record at {domain} (SPF is a permerror meanwhile).",
    )


def forget_cached_answers() -> None:
    from checkdmarc.utils import DNS_CACHE

    DNS_CACHE.clear()


def _error_finding(kind, name, domain, error, fixes) -> Finding:
    if _dns_failure(error):
        return _dns_error_finding(kind, name, domain, error)
    for cls in type(error).__mro__:
        if cls.__name__ in fixes:
            code, fix = fixes[cls.__name__]
            break
    else:
        code, fix = f"{kind}-invalid", ""
    message = f"{kind.upper()} record at {name}: {_one_line(error)}"
    return Finding(kind, name, domain, ERROR, code, message, fix.format(domain=domain))


def _dns_error_finding(kind, name, domain, error) -> Finding:
    status = _dns_failure(error) or lookup.DNS_ERROR
    asked = _failed_name(error) or name
    return lookup.unanswered_finding(
        lookup.TxtLookup(asked, status, detail=_one_line(error)),
        kind,
        domain,
        record=name,
    )


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        # checkdmarc keeps what it wraps in .error, and sometimes only its text
        wrapped = getattr(current, "error", None)
        if isinstance(wrapped, BaseException):
            current = wrapped
            continue
        current = current.__cause__ or current.__context__
    return seen


def _dns_failure(error: BaseException) -> str | None:
    """A timeout or server failure met inside checkdmarc, seen through the
    exceptions it was raised from."""
    import dns.resolver

    for seen in _chain(error):
        if isinstance(seen, dns.resolver.LifetimeTimeout):
            return lookup.TIMEOUT
        if isinstance(seen, dns.resolver.NoNameservers):
            return lookup.why_no_server(seen)
    return _dns_failure_text(str(error))


# checkdmarc names the include or redirect whose lookup failed only in its
# message; dnspython names the query in its own.
_FAILED_NAME = (
    re.compile(r"(?:include|redirect) target (\S+?)[,:\s]"),
    re.compile(r"answer the query (\S+?)\.? IN "),
)


def _failed_name(error: BaseException) -> str | None:
    """The name whose lookup failed, when checkdmarc went past the one
    asked: an SPF include, the organisational domain's DMARC record."""
    import dns.resolver

    for seen in _chain(error):
        if isinstance(seen, dns.resolver.NoNameservers):
            request = seen.kwargs.get("request")
            if request is not None and request.question:
                return request.question[0].name.to_text().rstrip(".").lower()
    for pattern in _FAILED_NAME:
        match = pattern.search(str(error))
        if match:
            return match.group(1).rstrip(".").lower()
    return None


# checkdmarc's warnings are sentences without a fix: the common ones get
# theirs, the others a fix that says where to change what.
_WARNING_FIXES = (
    (
        re.compile(r"p tag value of none|p=none", re.I),
        "Once the reports show your own senders passing DMARC, publish "
        "p=quarantine at {name}, then p=reject (dmarc-analyzer summary says "
        "when it is safe).",
    ),
    (
        re.compile(r"\brua\b|aggregate report", re.I),
        "Add rua=mailto:<your report address> to the record at {name}, so "
        "that receivers send the reports this tool reads.",
    ),
    (
        re.compile(r"\bsp\b|subdomain", re.I),
        "Set sp= at {name} to the policy your subdomains should have, or "
        "leave it out to give them the domain's p=.",
    ),
    (
        re.compile(r"\bpct\b", re.I),
        "Remove pct= from the record at {name} (or set pct=100) once "
        "the policy is to apply to all mail.",
    ),
    (
        re.compile(r"\bptr\b", re.I),
        "Replace the ptr mechanism in the record at {name} with ip4:/ip6: "
        "or include: (RFC 7208 says not to use ptr).",
    ),
    (
        re.compile(r"\+all|\?all|~all", re.I),
        "End the record at {name} with -all once every sender is listed.",
    ),
)
_GENERIC_WARNING_FIX = (
    "Change the record at {name} as the warning says, then run dmarc-analyzer "
    "dns check again: the warning goes when the record no longer causes it."
)


def _warning_fix(message: str, name: str) -> str:
    for pattern, fix in _WARNING_FIXES:
        if pattern.search(message):
            return fix.format(name=name)
    return _GENERIC_WARNING_FIX.format(name=name)


def _warnings(kind, name, domain, warnings, code, ok) -> list[Finding]:
    found = []
    for text in warnings:
        message = _one_line(text)
        fix = _warning_fix(message, name)
        found.append(Finding(kind, name, domain, WARNING, code, message, fix))
    return found or [Finding(kind, name, domain, OK, f"{kind}-ok", ok)]


def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()
