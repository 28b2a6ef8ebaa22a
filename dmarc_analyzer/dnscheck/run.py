"""One `dns check` run: which records to check (from the stored reports),
the checks run concurrently, each finding linked to what the receivers
reported, and the findings stored with the time of the run."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial

from sqlalchemy import Connection, case, func, null, select

from dmarc_analyzer.alignment import aligned, normalise
from dmarc_analyzer.dnscheck import dkim, lookup, policy
from dmarc_analyzer.dnscheck.dkim import key_name
from dmarc_analyzer.dnscheck.findings import (
    DKIM,
    DMARC,
    ERROR,
    SPF,
    WARNING,
    Finding,
    ReportedFailures,
    visible,
    worst_first,
)
from dmarc_analyzer.dnscheck.names import dns_name
from dmarc_analyzer.errors import DnsUnavailable
from dmarc_analyzer.identify.reverse_dns import (
    ResolverError,
    make_resolver,
    parse_nameserver,
)
from dmarc_analyzer.storage.schema import dkim_results, records, reports, spf_results

log = logging.getLogger(__name__)

# Every DKIM or SPF result but pass is linked: a missing key shows as fail.
NOT_LINKED_RESULTS = ("pass", "none")
# Lookup failures that mean the server asked gave no answer at all.
_NO_ANSWER = (lookup.TIMEOUT, lookup.UNREACHABLE, lookup.DNS_ERROR)
# (kind, domain, selector or ""): what the receivers reported for a record.
Reported = dict[tuple[str, str, str], tuple[ReportedFailures, ...]]


@dataclass(frozen=True, slots=True)
class DnsCheckOptions:
    nameservers: tuple[str, ...] = ()  # HOST[:PORT]; none: the system's
    timeout: float = 3.0  # seconds per lookup, shared by the nameservers
    workers: int = 16

    def __post_init__(self):
        if isinstance(self.nameservers, str):
            raise ResolverError("nameservers: give a list of addresses, not one string")
        if not 0 < self.timeout <= 60:
            raise ResolverError(f"DNS timeout {self.timeout!r}: give 0 to 60 seconds")


@dataclass(frozen=True, slots=True)
class Selector:
    domain: str  # d=
    selector: str
    policy_domain: str
    aligned: bool  # with the policy domain: the domain's own key
    # In some stored report its signature passed, or its mail passed SPF.
    passed: bool = True


@dataclass
class DnsCheck:
    checked_at: datetime
    domains: list[str]
    selectors: list[Selector]
    reported: Reported
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == WARNING]


def plan_check(connection: Connection, domain: str | None) -> DnsCheck:
    """What to check for `domain` (or every domain in the reports), and the
    DKIM errors the receivers reported, to link the findings to."""
    return DnsCheck(
        datetime.now(UTC),
        policy_domains(connection, domain),
        selectors_in_use(connection, domain),
        reported_failures(connection, domain),
    )


def run_check(check: DnsCheck, options: DnsCheckOptions) -> DnsCheck:
    """Query and judge every record of `check`, many at a time; the
    findings come worst first."""
    nameservers = [parse_nameserver(ns) for ns in options.nameservers]
    try:
        make_resolver(nameservers, options.timeout)  # a bad setup fails here, once
    except ResolverError as error:
        raise ResolverError("no DNS resolver configured; use --nameserver") from error
    local = threading.local()

    def run(job: Callable) -> list[Finding]:
        if not hasattr(local, "resolver"):  # a resolver keeps per-query state
            local.resolver = make_resolver(nameservers, options.timeout)
        return job(local.resolver)

    log.info(
        "checking %d DKIM selectors and the DMARC and SPF records of %d domains",
        len(check.selectors),
        len(check.domains),
    )
    policy.forget_cached_answers()
    with ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool:
        found = [
            finding for result in pool.map(run, _jobs(check)) for finding in result
        ]

    if found and all(finding.code in _NO_ANSWER for finding in found):
        raise DnsUnavailable(_no_answer_message(options))

    vendor_keys = {(s.domain, s.selector) for s in check.selectors if not s.aligned}
    never_passed = {(s.domain, s.selector) for s in check.selectors if not s.passed}
    check.findings = worst_first(
        [
            _place(finding, check.reported, vendor_keys, never_passed)
            for finding in found
        ]
    )
    return check


def _no_answer_message(options: DnsCheckOptions) -> str:
    asked = ", ".join(options.nameservers) or "the system's resolver"
    return (
        f"no DNS server answered ({asked}, {options.timeout:g} s per lookup): "
        "check --nameserver (a recursive resolver that is up and reachable) "
        "or the network; nothing was checked and nothing stored"
    )


def _jobs(check: DnsCheck) -> list[Callable]:
    jobs: list[Callable] = []
    outage = _Outage()
    for item in check.selectors:
        name = key_name(item.selector, item.domain)
        job = partial(dkim.check_selector, domain=item.domain, selector=item.selector)
        record = Finding(DKIM, name, item.domain, ERROR, "", "", "", item.selector)
        jobs.append(_guarded(job, record, outage))
    for domain in check.domains:
        dmarc = partial(policy.check_dmarc, domain=domain)
        spf = partial(policy.check_spf, domain=domain)
        dmarc_record = Finding(DMARC, f"_dmarc.{domain}", domain, "", "", "")
        jobs.append(_guarded(dmarc, dmarc_record, outage))
        jobs.append(_guarded(spf, Finding(SPF, domain, domain, "", "", ""), outage))
    return jobs


class _Outage:
    """Servers that answered nothing: when the first `DEAD_AFTER` records of
    a run got no answer at all, the rest are not asked (as identify does)."""

    DEAD_AFTER = 16

    def __init__(self):
        self._lock = threading.Lock()
        self.answered = False
        self.silent = 0

    @property
    def dead(self) -> bool:
        return not self.answered and self.silent >= self.DEAD_AFTER

    def note(self, findings: list[Finding]) -> None:
        unanswered = all(
            f.code in (lookup.TIMEOUT, lookup.UNREACHABLE) for f in findings
        )
        with self._lock:
            if unanswered:
                self.silent += 1
            else:
                self.answered = True

    def not_asked(self, record: Finding) -> Finding:
        return replace(
            record,
            severity=ERROR,
            code=lookup.TIMEOUT,
            message=f"{record.name} was not asked: no DNS server answered any "
            f"of the first {self.silent} records of this run",
            fix="Check that the DNS servers (--nameserver, or the system's) "
            "answer, then run the check again.",
        )


def _guarded(job: Callable, record: Finding, outage: _Outage) -> Callable:
    """`job`, whose unexpected failure becomes a dns-check-error finding of
    `record` rather than the end of the run: the other records are still
    checked. Once the servers look dead, `job` is not run."""

    def run(resolver) -> list[Finding]:
        if outage.dead:
            return [outage.not_asked(record)]
        try:
            found = job(resolver)
            outage.note(found)
            return found
        except Exception as error:  # the per-record boundary of the batch
            log.debug("checking %s failed", record.name, exc_info=True)
            return [
                replace(
                    record,
                    severity=ERROR,
                    code="dns-check-error",
                    message=f"checking {record.name} failed: "
                    f"{type(error).__name__}: {error}",
                    fix="The record could not be judged; please report this "
                    "as a bug of dmarc-analyzer, with the output of "
                    f"dig TXT {record.name}.",
                )
            ]

    return run


def policy_domains(connection: Connection, domain: str | None) -> list[str]:
    """The policy domains of the reports (or `domain`) that are DNS names;
    the others are left out, with one warning."""
    query = select(reports.c.domain).distinct()
    if domain is not None:
        query = query.where(_of_domain(connection, domain))
    stored = {name for name in connection.execute(query).scalars() if name}
    names = {name: dns_name(name) for name in stored}
    skipped = sorted(name for name, found in names.items() if found is None)
    if skipped:
        log.warning(
            "not checked: %d policy domains of the reports are not DNS names (%s)",
            len(skipped),
            ", ".join(repr(visible(name[:60])) for name in skipped[:5]),
        )
    return sorted({found for found in names.values() if found})


def _of_domain(connection: Connection, domain: str):
    """The condition on reports.domain for `domain`, in whatever form the
    reports wrote it: BÜCHER.example, bücher.example, xn--bcher-kva.example.
    (SQLite's lower() knows only ASCII letters.)"""
    wanted = normalise(domain)
    stored = connection.execute(select(reports.c.domain).distinct()).scalars()
    return reports.c.domain.in_(
        sorted({name for name in stored if name and normalise(name) == wanted})
    )


def selectors_in_use(connection: Connection, domain: str | None) -> list[Selector]:
    """The (d=, selector) pairs of the reports worth checking: those aligned
    with the policy domain (the domain's own keys, vendor-hosted ones
    included), and other domains' only where they passed somewhere, since
    anyone can write any d= on a forged signature."""
    # Vouched for: the signature passed, or the mail passed SPF aligned, so
    # that it came from a server the domain lists.
    passed = func.max(
        case(
            (dkim_results.c.result == "pass", 1),
            (records.c.spf == "pass", 1),
            else_=0,
        )
    )
    query = (
        select(
            func.lower(reports.c.domain),
            func.lower(dkim_results.c.domain),
            func.lower(dkim_results.c.selector),
            passed,
        )
        .join(records, records.c.id == dkim_results.c.record_pk)
        .join(reports, reports.c.id == records.c.report_pk)
        .group_by(
            func.lower(reports.c.domain),
            func.lower(dkim_results.c.domain),
            func.lower(dkim_results.c.selector),
        )
    )
    if domain is not None:
        query = query.where(_of_domain(connection, domain))

    found = {}
    for policy_domain, signer, selector, did_pass in connection.execute(query):
        signer, selector = dns_name(signer), dns_name((selector or "").strip())
        if not signer or not selector or not dns_name(key_name(selector, signer)):
            continue  # a receiver's text that is no DNS name: not asked
        policy_domain = normalise(policy_domain)
        own = aligned(signer, policy_domain, "r")
        if did_pass or own:
            known = found.get((signer, selector))
            ever_passed = bool(did_pass) or (known is not None and known.passed)
            if known is None or (own and not known.aligned):
                found[(signer, selector)] = Selector(
                    signer, selector, policy_domain, own, ever_passed
                )
            elif ever_passed != known.passed:
                found[(signer, selector)] = replace(known, passed=ever_passed)
    return sorted(found.values(), key=lambda item: (item.domain, item.selector))


def reported_failures(connection: Connection, domain: str | None) -> Reported:
    """The results other than pass the receivers reported (fail, permerror,
    temperror...), per (dkim, d=, selector) and per (spf, MAIL FROM domain,
    "")."""
    found: dict[tuple[str, str, str], list[ReportedFailures]] = defaultdict(list)
    for kind, table, middle in (
        (DKIM, dkim_results, func.lower(dkim_results.c.selector)),
        (SPF, spf_results, None),
    ):
        query = _reported_query(connection, table, middle, domain)
        for row in connection.execute(query):
            signer, selector, result, messages, first, last = row
            key = (kind, normalise(signer), (selector or "").strip())
            found[key].append(
                ReportedFailures(result, int(messages), first.date(), last.date())
            )
    return {
        key: tuple(sorted(items, key=lambda r: r.result))
        for key, items in found.items()
    }


def _reported_query(connection: Connection, table, middle, domain: str | None):
    """`middle`: the selector column, or None (SPF has none)."""
    grouped = [func.lower(table.c.domain), table.c.result]
    if middle is not None:
        grouped.append(middle)
    query = (
        select(
            func.lower(table.c.domain),
            null() if middle is None else middle,
            table.c.result,
            func.sum(records.c.count),
            func.min(reports.c.begin),
            func.max(reports.c.begin),
        )
        .join(records, records.c.id == table.c.record_pk)
        .join(reports, reports.c.id == records.c.report_pk)
        .where(table.c.result.not_in(NOT_LINKED_RESULTS))
        .group_by(*grouped)
    )
    if domain is not None:
        query = query.where(_of_domain(connection, domain))
    return query


def _place(
    finding: Finding,
    reported: Reported,
    vendor_keys: set[tuple[str, str]],
    never_passed: set[tuple[str, str]],
) -> Finding:
    """Link a DKIM key's or SPF record's finding to the failures reported
    for it, and mark the keys that are a vendor's own and those that never
    passed. A failed lookup keeps its own fix: it is not about the key."""
    key = (finding.kind, finding.domain, finding.selector or "")
    linked = finding.linked(reported.get(key, ()))
    selector = (finding.domain, finding.selector)
    lookup_failed = linked.code in lookup.LOOKUP_FAILURES
    if selector in vendor_keys and lookup_failed:
        return replace(linked, vendor_key=True, severity=WARNING)
    if selector in vendor_keys:
        return linked.as_vendor_key()
    if selector in never_passed and linked.severity == ERROR and not lookup_failed:
        return _never_passed(linked)
    return linked


def _never_passed(finding: Finding) -> Finding:
    """A selector under the user's domain whose mail passed neither DKIM nor
    SPF in any stored report: most likely a forged signature or a sender
    nobody set up, not a key the user lost."""
    return replace(
        finding,
        severity=WARNING,
        message=f"{finding.message}; mail signed with s={finding.selector} "
        "never passed DKIM nor SPF in any stored report: probably forged, or "
        "a sender you do not know",
        fix=f"Only if s={finding.selector} is your own (a server or vendor of "
        f"yours signs with it): {finding.fix} Otherwise leave it: DMARC "
        "rejects such mail once your policy is enforced.",
    )
