"""What management hears about a period: headline figures against the
period before, a ranked list of actions with the messages at stake, the
senders worth naming, and whether the DMARC policy can be tightened.

Every figure here is a sum over the same sources and causes that the
`senders` and `failures` commands show, so the three never disagree.
"""

from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date

from sqlalchemy import Connection

from dmarc_analyzer.alignment import aligned
from dmarc_analyzer.analysis import causes
from dmarc_analyzer.analysis.collector import cycles_not_collected
from dmarc_analyzer.analysis.dns_actions import DNS_RECORD_BROKEN, dns_actions
from dmarc_analyzer.analysis.failures import (
    OFFLINE,
    Judged,
    analyze_sources,
    by_vendor,
    judged,
)
from dmarc_analyzer.analysis.findings import (
    SourceFailures,
    VendorFailures,
    failed_by_cause,
    fix_of,
    ranked,
)
from dmarc_analyzer.analysis.identification import (
    IdentifyOptions,
)
from dmarc_analyzer.analysis.overview import (
    Overview,
    Policy,
    messages_by_domain,
    overview,
    pass_totals,
    policies,
)
from dmarc_analyzer.analysis.period import Period
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import (
    ScopeTotals,
    domain_key,
    scope_totals,
    volumes_by_group,
)
from dmarc_analyzer.analysis.senders import Sender, senders
from dmarc_analyzer.i18n import N_, Rate, Text, text
from dmarc_analyzer.storage.reports import any_report

# A policy can be tightened when at most this share of the mail from your own
# senders and vendors fails DMARC: that much would be quarantined or lost.
SAFE_TO_ENFORCE_BELOW = 0.01
TREND_PERIODS = 8
DOMAIN_SECTIONS = 20  # the largest domains get a page of their own
# The volume chart has a bar per day up to this many days, else per month
# (read from the monthly totals).
DAILY_BARS_UP_TO = 92
_NOT_YOURS_TO_FIX = {causes.SPOOFING, causes.FORWARDED, causes.COMPLIANT}
_STRICTER = {"none": "quarantine", "quarantine": "reject"}
_LEGITIMATE = {causes.BUCKET_COMPLIANT, causes.BUCKET_NON_COMPLIANT}


@dataclass(frozen=True, slots=True)
class Headline:
    """The figures at the top of a summary."""

    messages: int
    dmarc_pass: int
    dkim_aligned_pass: int
    failing_known: int  # failed DKIM, from a source something vouches for
    spoofing: int  # failed DKIM, likely spoofing
    forwarded: int  # failed DKIM on the way through a forwarder

    def rate(self, passed: int) -> float | None:
        return passed / self.messages if self.messages else None

    @property
    def dmarc_pass_rate(self) -> float | None:
        return self.rate(self.dmarc_pass)

    @property
    def dkim_aligned_rate(self) -> float | None:
        return self.rate(self.dkim_aligned_pass)


@dataclass(frozen=True, slots=True)
class Action:
    """One thing to do, with the messages it concerns."""

    code: str  # a cause, "policy_ready" or "policy_not_ready"
    title: Text
    detail: Text
    messages: int
    domain: str | None = None
    vendor: str | None = None
    # The DKIM key record (s1._domainkey.example.com) or other DNS record
    # the action is about, when it is about one.
    record: str | None = None


POLICY_CODES = ("policy_ready", "policy_not_ready")


@dataclass(frozen=True, slots=True)
class Section:
    """Everything said about one domain, or about all of them."""

    domain: str | None
    overview: Overview
    headline: Headline
    previous: Headline | None  # None when the period before has no reports
    previous_reports: int
    policies: list[Policy]
    previous_policies: list[Policy]
    senders: list[Sender]
    failing_vendors: list[VendorFailures]
    cause_messages: dict[str, int]
    actions: list[Action]

    @property
    def new_senders(self) -> list[Sender]:
        return [sender for sender in self.senders if sender.new]


@dataclass(frozen=True, slots=True)
class TrendPoint:
    period: Period
    messages: int
    dmarc_pass: int

    @property
    def dmarc_pass_rate(self) -> float | None:
        return self.dmarc_pass / self.messages if self.messages else None


@dataclass(frozen=True, slots=True)
class ManagementSummary:
    period: Period
    previous_period: Period | None
    overall: Section
    domains: list[Section]  # one per domain when several are covered
    more_domains: int  # domains covered but without a section of their own
    trend: list[TrendPoint]
    # Messages per bucket of sender, per day or month ("day", "month").
    volume_by_bucket: dict[date, dict[str, int]]
    volume_unit: str

    @property
    def empty(self) -> bool:
        return not self.overall.headline.messages


def build_management_summary(
    connection: Connection,
    period: Period,
    domain: str | None = None,
    options: IdentifyOptions = OFFLINE,
) -> ManagementSummary:
    """The summary of `period` for `domain` (or every domain)."""
    with cycles_not_collected():
        return _summary(connection, period, domain, options)


def _summary(
    connection: Connection,
    period: Period,
    domain: str | None,
    options: IdentifyOptions,
) -> ManagementSummary:
    previous = period.previous()
    # Read and judged once: the page of each domain takes its part.
    now = _read(connection, period.scope(domain), options)
    before = _read_before(connection, previous, domain, options)
    overall = _section(connection, period, now, before)
    unit = "day" if period.days <= DAILY_BARS_UP_TO else "month"
    with ThreadPoolExecutor(max_workers=1) as beside:
        volumes = _volume_by_bucket_beside(
            beside, connection, period.scope(domain), unit, overall.senders
        )
        covered = overall.overview.domains
        domains: list[Section] = []
        if domain is None and len(covered) > 1:
            largest = _largest_domains(connection, period)[:DOMAIN_SECTIONS]
            domains = [
                _section(
                    connection,
                    period,
                    now.for_domain(connection, name, options),
                    before.for_domain(connection, name, options) if before else None,
                )
                for name in largest
            ]
            overall = _with_policy_actions(overall, domains)
        trend = _trend(connection, period, domain)

        return ManagementSummary(
            period=period,
            previous_period=previous,
            overall=overall,
            domains=domains,
            more_domains=max(0, len(covered) - len(domains)) if domains else 0,
            trend=trend,
            volume_by_bucket=volumes.result(),
            volume_unit=unit,
        )


@dataclass(frozen=True, slots=True)
class _Read:
    """A period's totals and its sources, judged by the whole period: a
    source has the same name and cause on every page of the summary."""

    totals: ScopeTotals
    judged: Judged
    sources: dict[str, SourceFailures]
    # The sources seen for one domain only, by domain.
    alone_in: dict[str, list[str]] = field(default_factory=dict)

    @property
    def scope(self) -> Scope:
        return self.totals.scope

    def for_domain(
        self, connection: Connection, name: str, options: IdentifyOptions
    ) -> "_Read":
        """The part of one domain; a source seen for it alone is taken as
        the whole period's analysis has it."""
        totals = self.totals.for_domain(name)
        alone = self.alone_in.get(domain_key(name), ())
        known = {ip: self.sources[ip] for ip in alone}
        sources = analyze_sources(
            connection, totals.scope, options, totals, self.judged, known
        )
        return _Read(totals, self.judged, sources)


def _read(connection: Connection, scope: Scope, options: IdentifyOptions) -> _Read:
    totals = scope_totals(connection, scope)
    judged_by = judged(connection, totals, options)
    sources = analyze_sources(connection, scope, options, totals, judged_by)
    return _Read(totals, judged_by, sources, _alone_in(totals))


def _alone_in(totals: ScopeTotals) -> dict[str, list[str]]:
    domains: dict[str, set[str]] = defaultdict(set)
    for row in totals.rows:
        domains[row.source_ip].add(row.domain)
    alone: dict[str, list[str]] = defaultdict(list)
    for ip, seen in domains.items():
        if len(seen) == 1:
            alone[next(iter(seen))].append(ip)
    return alone


def _read_before(
    connection: Connection,
    previous: Period | None,
    domain: str | None,
    options: IdentifyOptions,
) -> _Read | None:
    """The period before, when it has reports; its sources named offline,
    as it needs causes, not fresh reverse DNS."""
    if previous is None:
        return None
    scope = previous.scope(domain)
    if not any_report(
        connection, domain=scope.domain, since=scope.since, until=scope.until
    ):
        return None
    cached_only = IdentifyOptions(offline=True, inventory=options.inventory)
    return _read(connection, scope, cached_only)


def _section(
    connection: Connection, period: Period, now: _Read, before: _Read | None
) -> Section:
    scope, domain = now.scope, now.scope.domain
    sources = now.sources
    found = senders(connection, scope, analyzed=sources, totals=now.totals)
    vendors = by_vendor(sources.values())
    cause_messages = _cause_messages(vendors)
    stats = overview(connection, scope)

    headline = _headline(stats, cause_messages)
    previous, previous_policies, previous_reports = _previous(connection, before)
    in_force = policies(connection, scope)
    records = dns_actions(connection, period, domain)
    actions = _vendor_actions(vendors, records)
    actions += _spoofing_action(found, cause_messages) + records
    if domain is not None or len(stats.domains) == 1:
        still_broken = _broken_by_domain(records)
        actions += _policy_actions(in_force, found, still_broken)
    return Section(
        domain=domain,
        overview=stats,
        headline=headline,
        previous=previous,
        previous_reports=previous_reports,
        policies=in_force,
        previous_policies=previous_policies,
        senders=found,
        failing_vendors=vendors,
        cause_messages=cause_messages,
        actions=_ranked(actions),
    )


def _previous(
    connection: Connection, before: _Read | None
) -> tuple[Headline | None, list[Policy], int]:
    if before is None:
        return None, [], 0
    stats = overview(connection, before.scope)
    if not stats.reports:
        return None, [], 0
    cause_messages = _cause_messages(by_vendor(before.sources.values()))
    return (
        _headline(stats, cause_messages),
        policies(connection, before.scope),
        stats.reports,
    )


def _headline(stats: Overview, cause_messages: dict[str, int]) -> Headline:
    return Headline(
        messages=stats.messages,
        dmarc_pass=stats.dmarc_pass,
        dkim_aligned_pass=stats.dkim_aligned_pass,
        failing_known=sum(
            n for cause, n in cause_messages.items() if cause not in _NOT_YOURS_TO_FIX
        ),
        spoofing=cause_messages.get(causes.SPOOFING, 0),
        forwarded=cause_messages.get(causes.FORWARDED, 0),
    )


def _cause_messages(vendors: list[VendorFailures]) -> dict[str, int]:
    """Messages failing DKIM per cause, largest first."""
    groups = (g for vendor in vendors for s in vendor.sources for g in s.groups)
    return ranked(failed_by_cause(groups))


_ACTION_TITLES = {
    causes.VENDOR_UNALIGNED_SIGNATURE: N_("{vendor} does not sign with your domain"),
    causes.STRICT_ALIGNMENT: N_("{vendor} signs with a domain that adkim=s rejects"),
    causes.NO_SIGNATURE: N_("{vendor} sends mail without a DKIM signature"),
    causes.SIGNATURE_BROKEN: N_("DKIM signatures from {vendor} fail"),
    causes.DNS_PERMERROR: N_("A DKIM key record used by {vendor} is unusable"),
    causes.DNS_TEMPERROR: N_("Receivers could not look up DKIM for {vendor}"),
}


def _vendor_actions(
    vendors: list[VendorFailures], records: list[Action]
) -> list[Action]:
    """One action per vendor and cause that is yours to fix; none for a
    cause whose key record `dns check` found broken, which the record's
    own action tells (with the fix of the record, not a guess)."""
    broken = {a.record for a in records if a.code == DNS_RECORD_BROKEN}
    actions = []
    for vendor in vendors:
        groups = [group for source in vendor.sources for group in source.groups]
        for cause, messages in failed_by_cause(groups).items():
            if cause in _NOT_YOURS_TO_FIX or _key_record(groups, cause) in broken:
                continue
            actions.append(
                Action(
                    code=cause,
                    title=text(_ACTION_TITLES[cause], vendor=display_name(vendor)),
                    detail=fix_of(groups, cause),
                    messages=messages,
                    vendor=vendor.vendor,
                )
            )
    return actions


def _key_record(groups, cause: str) -> str | None:
    """The DKIM key record most of `cause`'s failed signatures named."""
    signatures = [
        (messages, signer, selector)
        for group in groups
        if group.cause == cause
        for result, signer, selector, messages in group.signatures
        if result != "pass" and signer and selector
    ]
    if not signatures:
        return None
    _, signer, selector = max(signatures)
    return f"{selector.strip().lower()}._domainkey.{signer.strip().lower()}"


def _broken_by_domain(records: list[Action]) -> dict[str, list[str]]:
    """The records still broken, by the policy domains they concern."""
    found: dict[str, list[str]] = defaultdict(list)
    for action in records:
        if action.code == DNS_RECORD_BROKEN and action.domain and action.record:
            found[action.domain].append(action.record)
    return found


def display_name(vendor: VendorFailures) -> Text:
    """The vendor's name in the reader's language (names made up here)."""
    return vendor.sources[0].vendor.display_name()


def _spoofing_action(
    found: list[Sender], cause_messages: dict[str, int]
) -> list[Action]:
    messages = cause_messages.get(causes.SPOOFING, 0)
    if not messages:
        return []
    sources = sum(1 for s in found if s.source.cause == causes.SPOOFING)
    return [
        Action(
            code=causes.SPOOFING,
            title=text(N_("Likely spoofing (sources: {sources})"), sources=sources),
            detail=text(
                N_(
                    "Sources that nothing vouches for sent {messages} messages as "
                    "your domain that failed DKIM and SPF. A stricter DMARC policy "
                    "is what stops them (see the policy step)."
                ),
                messages=messages,
            ),
            messages=messages,
        )
    ]


def _policy_actions(
    in_force: list[Policy], found: list[Sender], broken: dict[str, list[str]]
) -> list[Action]:
    """Whether each domain can move to a stricter policy, judged on what its
    own senders and vendors sent in the period, and on its DNS records: not
    while `dns check` finds one of them broken."""
    legitimate = [s for s in found if s.bucket in _LEGITIMATE]
    own_messages = sum(s.source.messages for s in legitimate)
    own_failing = sum(s.source.messages - s.dmarc_pass for s in legitimate)
    strangers = sum(
        s.source.messages - s.dmarc_pass
        for s in found
        if s.bucket == causes.BUCKET_THREAT
    )
    return [
        _policy_action(
            policy, own_messages, own_failing, strangers, _records_of(broken, policy)
        )
        for policy in in_force
        if policy.p in _STRICTER and own_messages
    ]


def _records_of(broken: dict[str, list[str]], policy: Policy) -> list[str]:
    return sorted(
        name
        for domain, names in broken.items()
        if aligned(domain, policy.domain, "r")
        for name in names
    )


def _policy_action(
    policy: Policy,
    own_messages: int,
    own_failing: int,
    strangers: int,
    broken: list[str],
) -> Action:
    values = {
        "domain": policy.domain,
        "current": policy.p,
        "next": _STRICTER[policy.p or ""],
        "failing": own_failing,
        "own": own_messages,
        "share": Rate(own_failing / own_messages),
        "strangers": strangers,
    }
    if own_failing <= SAFE_TO_ENFORCE_BELOW * own_messages and broken:
        return Action(
            code="policy_not_ready",
            title=text(
                N_("{domain}: fix its DNS records before moving to p={next}"),
                **values,
            ),
            detail=text(
                N_(
                    "Of {own} messages from your own senders and vendors, "
                    "{failing} ({share}) failed DMARC, but dns check finds "
                    "{records} broken: fix them first, then publish p={next}."
                ),
                records=", ".join(broken),
                **values,
            ),
            messages=strangers,
            domain=policy.domain,
        )
    if own_failing <= SAFE_TO_ENFORCE_BELOW * own_messages:
        return Action(
            code="policy_ready",
            title=text(
                N_("{domain}: safe to move from p={current} to p={next}"), **values
            ),
            detail=text(
                N_(
                    "Of {own} messages from your own senders and vendors, {failing} "
                    "({share}) failed DMARC. p={next} would have acted on {strangers} "
                    "failing messages from sources nothing vouches for. Publish "
                    "p={next} and watch the next reports."
                ),
                **values,
            ),
            messages=strangers,
            domain=policy.domain,
        )
    return Action(
        code="policy_not_ready",
        title=text(
            N_("{domain}: not yet safe to move from p={current} to p={next}"),
            **values,
        ),
        detail=text(
            N_(
                "{failing} of {own} messages ({share}) from your own senders and "
                "vendors failed DMARC: p={next} would act on them too. Fix the "
                "other actions first."
            ),
            **values,
        ),
        messages=own_failing,
        domain=policy.domain,
    )


def _with_policy_actions(overall: Section, domains: list[Section]) -> Section:
    """The overall section ranks every domain's policy step with the rest."""
    policy_steps = [a for d in domains for a in d.actions if a.code in POLICY_CODES]
    return replace(overall, actions=_ranked(overall.actions + policy_steps))


def _ranked(actions: list[Action]) -> list[Action]:
    """Most messages at stake first; a policy step that has to wait for the
    fixes comes after them."""
    return sorted(
        actions,
        key=lambda a: (a.code == "policy_not_ready", -a.messages, a.code, str(a.title)),
    )


def _largest_domains(connection: Connection, period: Period) -> list[str]:
    volumes = messages_by_domain(connection, period.scope())
    return sorted(volumes, key=lambda name: (-volumes[name], name))


def _trend(connection: Connection, period: Period, domain: str | None):
    return [
        TrendPoint(earlier, *pass_totals(connection, earlier.scope(domain)))
        for earlier in period.trail(TREND_PERIODS)
    ]


def _volume_by_bucket_beside(
    beside: ThreadPoolExecutor,
    connection: Connection,
    scope: Scope,
    unit: str,
    found: list[Sender],
) -> Future:
    """The volume per bucket, added up by the database on a connection of
    its own while this thread builds the pages of the domains: the query
    reads every row of the period once more, and the database does that
    without holding Python's lock, on the other core."""
    bucket_of = {sender.source.source_ip: sender.bucket for sender in found}

    def apart() -> dict[date, dict[str, int]]:
        with connection.engine.connect() as own:
            return _volume_by_bucket(own, scope, unit, bucket_of)

    return beside.submit(apart)


def _volume_by_bucket(
    connection: Connection, scope: Scope, unit: str, bucket_of: dict[str, str]
) -> dict[date, dict[str, int]]:
    # A source stored while this ran has no bucket yet: count it unknown.
    return volumes_by_group(connection, scope, unit, bucket_of, causes.BUCKET_THREAT)
