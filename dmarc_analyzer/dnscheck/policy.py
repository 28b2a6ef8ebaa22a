"""The domain's DMARC and SPF records, judged by checkdmarc.

checkdmarc reports a DNS timeout on the way as "record not found" in some
paths, so each record's name is first asked here: a server that does not
answer gives dns-timeout or dns-servfail, never a missing record. Its own
retries are off (the timeout is ours) and its DNS cache, process-wide, is
emptied before each run so that a run sees the DNS of now.
"""

from __future__ import annotations

import re

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


def check_dmarc(resolver, domain: str) -> list[Finding]:
    from checkdmarc.dmarc import DMARCError, parse_dmarc_record, query_dmarc_record
    from checkdmarc.utils import DNSException

    name = f"_dmarc.{domain}"
    asked = lookup.lookup_txt(resolver, name)
    if asked.status in lookup.UNANSWERED:
        return [lookup.unanswered_finding(asked, DMARC, domain)]

    try:
        found = query_dmarc_record(domain, resolver=resolver, retries=0)
        parsed = parse_dmarc_record(
            found["record"], found["location"], resolver=resolver, retries=0
        )
    except DMARCError as error:
        return [_error_finding(DMARC, name, domain, error, _DMARC_FIXES)]
    except DNSException as error:
        return [_dns_error_finding(DMARC, name, domain, error)]

    where = found["location"]
    ok = f"v=DMARC1, p={parsed['tags']['p']['value']}"
    if where != domain:
        ok += f", inherited from _dmarc.{where}"
    warnings = found["warnings"] + parsed["warnings"]
    return _warnings(DMARC, name, domain, warnings, "dmarc-warning", ok)


def check_spf(resolver, domain: str) -> list[Finding]:
    from checkdmarc.spf import SPFError, get_spf_record
    from checkdmarc.utils import DNSException

    asked = lookup.lookup_txt(resolver, domain)
    if asked.status in lookup.UNANSWERED:
        return [lookup.unanswered_finding(asked, SPF, domain)]

    try:
        parsed = get_spf_record(domain, resolver=resolver, retries=0)
    except SPFError as error:
        return [_error_finding(SPF, domain, domain, error, _SPF_FIXES)]
    except DNSException as error:
        return [_dns_error_finding(SPF, domain, domain, error)]

    ok = f"v=spf1, {parsed['dns_lookups']} of 10 DNS lookups"
    return _warnings(SPF, domain, domain, parsed["warnings"], "spf-warning", ok)


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
    return lookup.unanswered_finding(
        lookup.TxtLookup(name, status, detail=_one_line(error)), kind, domain
    )


def _dns_failure(error: BaseException) -> str | None:
    """A timeout or server failure met inside checkdmarc, seen through the
    exceptions it was raised from."""
    import dns.resolver

    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, dns.resolver.LifetimeTimeout):
            return lookup.TIMEOUT
        if isinstance(seen, dns.resolver.NoNameservers):
            return lookup.SERVFAIL
        seen = seen.__cause__ or seen.__context__
    return None


def _warnings(kind, name, domain, warnings, code, ok) -> list[Finding]:
    found = [
        Finding(kind, name, domain, WARNING, code, _one_line(text)) for text in warnings
    ]
    return found or [Finding(kind, name, domain, OK, f"{kind}-ok", ok)]


def _one_line(text) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()
