"""Messages that failed DKIM, grouped by sending vendor and source IP, each
with its likely cause and fix.

A message failed DKIM when the receiver's policy_evaluated dkim is not
"pass": no DKIM signature aligned with the From domain passed. The counting
runs in SQL over the totals kept as reports are stored (analysis/
scope_totals.py), a row per source and way it was seen; Python names the
senders and picks the causes on those aggregated rows.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, case, exists, func, literal, or_, select

from dmarc_analyzer.alignment import ALIGNED_PASS, aligned, dkim_outcome, spf_outcome
from dmarc_analyzer.analysis import causes
from dmarc_analyzer.analysis.collector import cycles_not_collected
from dmarc_analyzer.analysis.findings import (
    FailureGroup,
    SourceFailures,
    VendorFailures,
    main_cause,
)
from dmarc_analyzer.analysis.identification import (
    IdentifyOptions,
    Identity,
    identify_sources,
    in_scope,
)
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import ScopeTotals, scope_totals
from dmarc_analyzer.analysis.vendors import Vendor
from dmarc_analyzer.i18n import NO_TEXT
from dmarc_analyzer.identify.treewalk import TreeWalk
from dmarc_analyzer.model import FORWARDING_REASONS, DkimResult, SpfResult
from dmarc_analyzer.storage.schema import (
    dkim_results,
    override_reasons,
    records,
    reports,
    spf_results,
)

NO_SIGNATURE = "none"
TREEWALK = "treewalk"
OFFLINE = IdentifyOptions(offline=True)


def dkim_failed():
    """The SQL condition for a record whose messages failed DKIM."""
    return or_(records.c.dkim.is_(None), records.c.dkim != "pass")


def dkim_failures(
    connection: Connection,
    scope: Scope = Scope(),
    options: IdentifyOptions = OFFLINE,
) -> list[VendorFailures]:
    """Vendors with DKIM failures in `scope`, most failed messages first."""
    with cycles_not_collected():
        return by_vendor(analyze_sources(connection, scope, options).values())


@dataclass(frozen=True, slots=True)
class Judged:
    """What a whole scope says about its sources, for judging each part of
    it alike: who they are, and which DKIM keys (d=, selector) passed
    somewhere, so are genuine. The summary judges each domain's page by
    the whole period's."""

    identities: dict[str, Identity]
    genuine: set[tuple[str, str]]


def judged(
    connection: Connection, totals: ScopeTotals, options: IdentifyOptions = OFFLINE
) -> Judged:
    with cycles_not_collected():
        identities = identify_sources(connection, totals, options)
        return Judged(identities, _passing_selectors(totals))


def analyze_sources(
    connection: Connection,
    scope: Scope = Scope(),
    options: IdentifyOptions = OFFLINE,
    totals: ScopeTotals | None = None,
    judged_by: Judged | None = None,
    known: dict[str, SourceFailures] | None = None,
) -> dict[str, SourceFailures]:
    """Every source IP in `scope`: its sender, volume, failures and causes.

    `totals` spares reading them again when the caller has them, and
    `judged_by` naming the sources again. `known` are sources analysed
    already, with these same rows, that are taken as they are.
    """
    with cycles_not_collected():
        if totals is None:
            totals = scope_totals(connection, scope)
        if judged_by is None:
            judged_by = judged(connection, totals, options)
        return _analyze(connection, totals, options, judged_by, known or {})


def _analyze(
    connection: Connection,
    totals: ScopeTotals,
    options: IdentifyOptions,
    judged_by: Judged,
    known: dict[str, SourceFailures],
) -> dict[str, SourceFailures]:
    ips = totals.source_ips()
    kept = {ip: known[ip] for ip in ips if ip in known}
    if kept:
        rows = tuple(row for row in totals.rows if row.source_ip not in kept)
        totals = ScopeTotals(totals.scope, rows)
    identities = judged_by.identities
    sources = {ip: SourceFailures(ip, identities[ip]) for ip in ips if ip not in kept}

    groups = _count_groups(totals, sources)
    if not options.offline and any(group.treewalk for group in groups.values()):
        _walk_the_tree(connection, totals.scope, groups, options)
    _add_domains(totals, sources)
    _add_results(totals, groups)
    for source in sources.values():
        # The order of the output, and every tie it breaks, is set here.
        source.groups.sort(key=lambda group: group.header_from or "")
        for group in source.groups:
            group.signatures.sort(key=_signature_order)
            _diagnose(group, source.vendor, judged_by.genuine)
    return {**kept, **sources}


def _count_groups(totals: ScopeTotals, sources) -> dict[tuple[str, str], FailureGroup]:
    """Messages per source and From domain, failed ones split by evidence."""
    groups: dict[tuple[str, str], FailureGroup] = {}
    for row in totals.rows:
        ip, header_from, messages = row.source_ip, row.header_from, row.messages
        source = sources[ip]
        group = groups.get((ip, header_from))
        if group is None:
            group = groups[(ip, header_from)] = FailureGroup(header_from)
            source.groups.append(group)
        ours_pass = row.dkim_outcome == ALIGNED_PASS
        failed = 0 if row.dkim_pass else messages
        group.messages += messages
        group.dkim_failed += failed
        if ours_pass != row.dkim_pass:
            group.disagreements += messages
        if row.treewalk:
            group.treewalk += messages
        source.messages += messages
        source.dkim_failed += failed
        if row.dkim_pass or row.spf_pass:
            source.dmarc_pass += messages
        if failed:
            key = (
                row.dkim_outcome or NO_SIGNATURE,
                row.spf_outcome or NO_SIGNATURE,
                row.forwarded,
            )
            group.evidence[key] = group.evidence.get(key, 0) + failed
            group.failed_days += [row.first_begin.date(), row.last_begin.date()]
    return groups


def _walk_the_tree(connection, scope, groups, options: IdentifyOptions) -> None:
    """Where the receiver found organizational domains by the DNS tree walk,
    judge alignment the same way: recompute the outcomes of those failed
    messages with organizational domains from DNS."""
    walk = TreeWalk(options.nameservers, options.dns_timeout)
    org_domain = walk.organizational_domain
    header_from = func.coalesce(func.lower(records.c.header_from), "")
    forwarding = exists().where(
        override_reasons.c.record_pk == records.c.id,
        override_reasons.c.type.in_(FORWARDING_REASONS),
    )
    query = select(
        records.c.id,
        records.c.source_ip,
        header_from,
        records.c.dkim_outcome,
        records.c.spf_outcome,
        case((forwarding, literal(1)), else_=literal(0)),
        records.c.count,
        reports.c.adkim,
        reports.c.aspf,
    ).where(in_scope(scope), dkim_failed(), reports.c.discovery_method == TREEWALK)

    for row in connection.execute(query).all():
        record_pk, ip, hfrom, dkim, spf, fwd, count, adkim, aspf = row
        group = groups.get((ip, hfrom))
        if group is None or not count:
            continue
        signatures, spf_checks = _results_of(connection, record_pk)
        old = (dkim or NO_SIGNATURE, spf or NO_SIGNATURE, bool(fwd))
        new = (
            dkim_outcome(signatures, hfrom, adkim, org_domain),
            spf_outcome(spf_checks, hfrom, aspf, org_domain),
            bool(fwd),
        )
        group.treewalk_checked = True
        if new != old:
            group.evidence[old] -= count
            group.evidence[new] = group.evidence.get(new, 0) + count
            if not group.evidence[old]:
                del group.evidence[old]


def _results_of(connection, record_pk: int):
    dkim = connection.execute(
        select(
            dkim_results.c.domain, dkim_results.c.selector, dkim_results.c.result
        ).where(dkim_results.c.record_pk == record_pk)
    ).all()
    spf = connection.execute(
        select(spf_results.c.domain, spf_results.c.scope, spf_results.c.result).where(
            spf_results.c.record_pk == record_pk
        )
    ).all()
    return [DkimResult(*row) for row in dkim], [SpfResult(*row) for row in spf]


def _passing_selectors(totals: ScopeTotals) -> set[tuple[str, str]]:
    """(d=, selector) pairs that pass somewhere in the scope: genuine keys,
    '' for a missing value."""
    return {
        (domain or "", selector or "")
        for row in totals.rows
        for result, domain, selector in row.dkim_results
        if result == "pass"
    }


def _add_domains(totals: ScopeTotals, sources) -> None:
    """Per source, the policy domains its failed messages were reported for."""
    failed = {(row.source_ip, row.domain) for row in totals.rows if not row.dkim_pass}
    for ip, domain in sorted(failed, key=lambda pair: pair[1]):
        sources[ip].domains.append(domain)


def _add_results(totals: ScopeTotals, groups) -> None:
    """The DKIM and SPF results behind the failed messages of each group."""
    behind: dict[tuple, int] = {}
    unsigned: dict[tuple[str, str], int] = {}
    for row in totals.rows:
        if row.dkim_pass:
            continue
        where = (row.source_ip, row.header_from)
        for kind, results in (("dkim", row.dkim_results), ("spf", row.spf_results)):
            for result in results:
                key = (*where, kind, *result)
                behind[key] = behind.get(key, 0) + row.messages
        if not row.dkim_results:
            unsigned[where] = unsigned.get(where, 0) + row.messages

    for (ip, header_from, kind, result, name, extra), messages in behind.items():
        group = groups[(ip, header_from)]
        if kind == "dkim":
            _add_signature(group, result, name, extra, messages)
        else:
            label = f"{result or 'no result'} {name or '(no domain)'}"
            _count(group.spf_seen, label, messages)
    for where, messages in unsigned.items():
        _count(groups[where].dkim_seen, NO_SIGNATURE, messages)


def _add_signature(group: FailureGroup, result, name, selector, messages) -> None:
    group.signatures.append((result, name, selector, messages))
    word = result or "no result"
    if result == "pass":
        # A pass among failed messages is a signature the receiver did not
        # count as aligned; say whether we agree.
        ours = aligned(name, group.header_from, "r")
        word = "pass (receiver: not aligned)" if ours else "pass (unaligned)"
    label = f"{word} d={name or '(none)'} s={selector or '(none)'}"
    _count(group.dkim_seen, label, messages)


def _diagnose(group: FailureGroup, vendor: Vendor, genuine: set) -> None:
    if not group.dkim_failed:
        group.cause, group.fix = causes.COMPLIANT, NO_TEXT
        return

    genuine_signature = any(
        result != "pass" and (domain or "", selector or "") in genuine
        for result, domain, selector, _ in group.signatures
    )
    for (dkim, spf, forwarded), failed in group.evidence.items():
        evidence = causes.Evidence(dkim, spf, forwarded, genuine_signature)
        cause = causes.cause_of(evidence, vendor)
        group.cause_messages[cause] = group.cause_messages.get(cause, 0) + failed
    group.cause = main_cause(group.cause_messages)

    signing_domain, selector = _signature_for(group)
    days = [day for day in group.failed_days if day]
    context = causes.FixContext(
        vendor,
        group.header_from,
        signing_domain,
        selector,
        selector_passes_elsewhere=(signing_domain or "", selector or "") in genuine,
        spf_aligned=all(spf == ALIGNED_PASS for _, spf, _ in group.evidence),
        first_day=min(days, default=None),
        last_day=max(days, default=None),
    )
    group.fix = causes.fix_for(group.cause, context)


# The DKIM result that best shows each cause, for naming d= and selector.
_TELLING_RESULT = {
    causes.VENDOR_UNALIGNED_SIGNATURE: "pass",
    causes.STRICT_ALIGNMENT: "pass",
    causes.SIGNATURE_BROKEN: "fail",
    causes.DNS_PERMERROR: "permerror",
    causes.DNS_TEMPERROR: "temperror",
}


def _signature_for(group: FailureGroup) -> tuple[str | None, str | None]:
    wanted = _TELLING_RESULT.get(group.cause)
    matching = [s for s in group.signatures if s[0] == wanted] or group.signatures
    if not matching:
        return None, None
    _, domain, selector, _ = max(matching, key=lambda s: (s[3], s[1] or "", s[2] or ""))
    return domain, selector


def _signature_order(signature: tuple) -> tuple:
    result, domain, selector, messages = signature
    return (result or "", domain or "", selector or "", messages)


def _count(counts: dict[str, int], label: str, messages: int) -> None:
    counts[label] = counts.get(label, 0) + messages


def by_vendor(sources: Iterable[SourceFailures]) -> list[VendorFailures]:
    """The vendors with DKIM failures, most failed messages first."""
    vendors: dict[str, VendorFailures] = {}
    for source in sources:
        name = source.vendor.name
        group = vendors.setdefault(
            name, VendorFailures(name, source.vendor.type, 0, [])
        )
        group.messages += source.messages
        if source.dkim_failed:
            group.sources.append(source)

    failing = [group for group in vendors.values() if group.sources]
    for group in failing:
        group.sources.sort(key=lambda s: (-s.dkim_failed, s.source_ip))
    return sorted(failing, key=lambda g: (-g.dkim_failed, g.vendor))
