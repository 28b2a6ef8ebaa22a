"""TXT lookups that keep apart what a check must never confuse: a name
that does not exist, a name without TXT records, and a server that did not
answer (timeout, SERVFAIL, unreachable)."""

from __future__ import annotations  # dnspython's types in annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dmarc_analyzer.dnscheck.findings import ERROR, Finding

if TYPE_CHECKING:
    import dns.resolver

ANSWERED = "answered"
NXDOMAIN = "nxdomain"
NO_TXT = "no_txt"
TIMEOUT = "dns-timeout"
SERVFAIL = "dns-servfail"
REFUSED = "dns-refused"
UNREACHABLE = "dns-unreachable"
DNS_ERROR = "dns-error"
UNANSWERED = (TIMEOUT, SERVFAIL, REFUSED, UNREACHABLE, DNS_ERROR)
# The domain itself does not exist at the resolver asked: a wrong resolver,
# or a lapsed delegation; nothing is known of the records under it.
DOMAIN_NXDOMAIN = "domain-nxdomain"
# Facts about the lookup, not about the record: never "broken".
LOOKUP_FAILURES = (*UNANSWERED, DOMAIN_NXDOMAIN)
# A CNAME loop, or a chain longer than resolvers follow (dnspython: 16).
CNAME_LOOP = "cname_loop"


@dataclass(frozen=True, slots=True)
class TxtLookup:
    name: str
    status: str
    # Each TXT record as the strings it was published in (RFC 1035 cuts a
    # string at 255 bytes: a 2048-bit key needs two).
    records: tuple[tuple[bytes, ...], ...] = ()
    # Where CNAMEs led, the name queried excluded: a vendor-hosted key.
    cnames: tuple[str, ...] = ()
    detail: str = ""


def lookup_txt(resolver: dns.resolver.Resolver, name: str) -> TxtLookup:
    import dns.exception
    import dns.resolver

    try:
        answer = resolver.resolve(name, "TXT")
    except dns.resolver.NXDOMAIN as error:
        return TxtLookup(name, NXDOMAIN, cnames=_cnames_to_nowhere(error, name))
    except dns.resolver.NoAnswer as error:
        return TxtLookup(name, NO_TXT, cnames=_cnames_of(error.response(), name))
    except dns.resolver.LifetimeTimeout as error:
        # A closed port looks the same: on Linux an unconnected UDP socket
        # is not told of the ICMP refusal.
        return TxtLookup(name, TIMEOUT, detail=str(error))
    except dns.resolver.NoNameservers as error:
        if _chain_too_long(error):
            return TxtLookup(name, CNAME_LOOP, detail=str(error))
        return TxtLookup(name, why_no_server(error), detail=str(error))
    except dns.exception.DNSException as error:
        return TxtLookup(name, DNS_ERROR, detail=str(error))

    records = tuple(tuple(rdata.strings) for rdata in answer)
    return TxtLookup(name, ANSWERED, records, _cnames_of(answer.response, name))


def unanswered_finding(
    lookup: TxtLookup,
    kind: str,
    domain: str,
    selector: str | None = None,
    record: str | None = None,
) -> Finding:
    """The finding for a lookup the servers did not answer: never "missing".
    `record`: the record being checked, when the name that failed is
    another one (an SPF include, the organisational domain's DMARC)."""
    said = {
        TIMEOUT: "no DNS server answered in time",
        SERVFAIL: "the DNS server answered SERVFAIL (server failure)",
        REFUSED: "the DNS server refused to answer (REFUSED)",
        UNREACHABLE: "no DNS server could be reached",
        DNS_ERROR: "the DNS query failed",
    }[lookup.status]
    record = record or lookup.name
    detail = f" ({' '.join(lookup.detail.split())})" if lookup.detail else ""
    if record == lookup.name:
        message = f"{said} for {lookup.name}: the record could not be checked"
    else:
        message = f"{said} for {lookup.name}, so {record} could not be checked"
    if lookup.status == REFUSED:
        fix = (
            "--nameserver must be a recursive resolver (one that looks up any "
            "name for you), not a server that only answers for its own zones; "
            "or leave --nameserver out to use the system's."
        )
    else:
        fix = (
            f"Run dns check again later. If it persists, check that the "
            f"domain's authoritative servers answer for this name (dig TXT "
            f"{lookup.name}); receivers that meet the same failure report "
            "temperror."
        )
    return Finding(
        kind, record, domain, ERROR, lookup.status, message + detail, fix, selector
    )


def domain_missing_finding(
    kind: str, name: str, domain: str, selector: str | None = None
) -> Finding:
    """The domain itself is NXDOMAIN at the resolver asked: no record under
    it can be judged, and publishing one is not the fix."""
    return Finding(
        kind,
        name,
        domain,
        ERROR,
        DOMAIN_NXDOMAIN,
        f"the domain {domain} does not exist (NXDOMAIN) at the DNS server "
        f"asked, so {name} could not be checked",
        "The reports show mail sent as this domain, so it exists for its "
        "receivers: check that --nameserver is a recursive resolver that "
        f"sees the public DNS (dig {domain} @<resolver>), and that the "
        "domain's registration and delegation are still in force.",
        selector,
    )


def why_no_server(error) -> str:
    import dns.rcode

    rcodes = {
        response.rcode()
        for *_, response in error.kwargs.get("errors", [])
        if response is not None
    }
    if dns.rcode.SERVFAIL in rcodes:
        return SERVFAIL
    if dns.rcode.REFUSED in rcodes:
        return REFUSED
    return UNREACHABLE


def _chain_too_long(error) -> bool:
    import dns.message

    return any(
        isinstance(failure, dns.message.ChainTooLong)
        for _, _, _, failure, _ in error.kwargs.get("errors", [])
    )


def _cnames_of(response, name: str) -> tuple[str, ...]:
    import dns.rdatatype

    if response is None:
        return ()
    targets = [
        str(rrset[0].target).rstrip(".").lower()
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME
    ]
    return tuple(target for target in targets if target != name.lower())


def _cnames_to_nowhere(error, name: str) -> tuple[str, ...]:
    """The CNAMEs followed to a name that does not exist (a dangling CNAME)."""
    responses = error.kwargs.get("responses", {})
    for response in responses.values():
        found = _cnames_of(response, name)
        if found:
            return found
    return ()
