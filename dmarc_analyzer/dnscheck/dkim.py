"""DKIM key records: what a receiver finds at <selector>._domainkey.<domain>
(nothing, a CNAME to a vendor, several records, one record), and what it
makes of the one record (dkim_record.py)."""

from __future__ import annotations

from dmarc_analyzer.dnscheck import lookup
from dmarc_analyzer.dnscheck.dkim_record import Problem, check_record
from dmarc_analyzer.dnscheck.findings import DKIM, ERROR, INFO, OK, WARNING, Finding


def key_name(selector: str, domain: str) -> str:
    return f"{selector}._domainkey.{domain}"


def check_selector(resolver, domain: str, selector: str) -> list[Finding]:
    """Query the selector's key record and judge it."""
    name = key_name(selector, domain)
    found = lookup.lookup_txt(resolver, name)

    if found.status in lookup.UNANSWERED:
        return [lookup.unanswered_finding(found, DKIM, domain, selector)]
    if found.status == lookup.CNAME_LOOP:
        return [_cname_loop(found, domain, selector)]
    if found.status == lookup.NXDOMAIN and not found.cnames and _gone(resolver, domain):
        # A key missing because its whole domain is: the resolver asked, or
        # the domain's delegation, not the key.
        return [lookup.domain_missing_finding(DKIM, name, domain, selector)]
    problems = _cname_notes(found) + _presence_problems(found)
    if found.status == lookup.ANSWERED and len(found.records) == 1:
        problems += check_record(b"".join(found.records[0]))
    if not any(problem.severity in (ERROR, WARNING) for problem in problems):
        # One row for a good key: what the key is, told in the ok itself.
        told = [p.message for p in problems if p.code == "dkim-key"]
        problems = [p for p in problems if p.code != "dkim-key"]
        ok = "; ".join(["a usable DKIM key record", *told])
        problems.append(Problem(OK, "dkim-ok", ok))
    return [
        Finding(DKIM, name, domain, p.severity, p.code, p.message, p.fix, selector)
        for p in problems
    ]


def _gone(resolver, domain: str) -> bool:
    return lookup.lookup_txt(resolver, domain).status == lookup.NXDOMAIN


def _cname_loop(found: lookup.TxtLookup, domain: str, selector: str) -> Finding:
    return Finding(
        DKIM,
        found.name,
        domain,
        ERROR,
        "dkim-cname-loop",
        f"the CNAMEs at {found.name} loop, or chain further than resolvers "
        "follow (16 links): receivers find no key",
        "Point the CNAME straight at the vendor's key record (the target "
        "their DKIM settings give), not at another CNAME of yours.",
        selector,
    )


def _cname_notes(found: lookup.TxtLookup) -> list[Problem]:
    if not found.cnames:
        return []
    chain = " -> ".join(found.cnames)
    if found.status == lookup.ANSWERED:
        return [
            Problem(INFO, "dkim-cname", f"the key is hosted elsewhere: CNAME {chain}")
        ]
    return [
        Problem(
            ERROR,
            "dkim-cname-dangling",
            f"CNAME {chain} leads to no key record",
            "The vendor the CNAME points to no longer publishes this key: "
            "copy the current CNAME target from the vendor's DKIM settings, "
            "or remove the CNAME if you no longer send through them.",
        )
    ]


def _presence_problems(found: lookup.TxtLookup) -> list[Problem]:
    if found.cnames and found.status != lookup.ANSWERED:
        return []  # said by the CNAME note
    if found.status == lookup.NXDOMAIN:
        return [
            Problem(
                ERROR,
                "dkim-nxdomain",
                f"{found.name} does not exist (NXDOMAIN): receivers find no key",
                "Publish the selector's public key as a TXT record at "
                f"{found.name} (your signer or vendor gives it), or stop "
                "signing with this selector.",
            )
        ]
    if found.status == lookup.NO_TXT:
        return [
            Problem(
                ERROR,
                "dkim-no-txt",
                f"{found.name} exists but has no TXT record",
                f"Publish the selector's key as a TXT record at {found.name}.",
            )
        ]
    if len(found.records) > 1:
        return [
            Problem(
                ERROR,
                "dkim-multiple-records",
                f"{len(found.records)} TXT records at one key name: receivers "
                "may take any of them (permerror)",
                "Keep exactly one TXT record. If the key was split into several "
                "records, publish it as one record made of several strings.",
            )
        ]
    return []
