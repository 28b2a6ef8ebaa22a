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
    if asked.status == lookup.NXDOMAIN:
        itself = lookup.lookup_txt(resolver, domain)
        if itself.status == lookup.NXDOMAIN:
            return [lookup.domain_missing_finding(DMARC, name, domain)]

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
    if asked.status == lookup.NXDOMAIN:
        return [lookup.domain_missing_finding(SPF, domain, domain)]

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
    text = str(error)
    if "REFUSED" in text:
        return lookup.REFUSED
    if "SERVFAIL" in text:
        return lookup.SERVFAIL
    return None


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
