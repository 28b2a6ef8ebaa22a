"""Put a name to every source IP in a scope: gather the facts (passing
domains, network, reverse DNS from the cache or the network) and hand them
to vendors.identify_vendor."""

import functools
import logging
from dataclasses import dataclass

from sqlalchemy import Connection, and_, select, true

from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import ScopeTotals
from dmarc_analyzer.analysis.vendors import Signal, SourceFacts, Vendor, identify_vendor
from dmarc_analyzer.identify.inventory import Inventory
from dmarc_analyzer.identify.network import Network, network_of
from dmarc_analyzer.identify.reverse_dns import ANSWERED, ReverseDns
from dmarc_analyzer.storage.dns_cache import cached_lookups, save_lookups
from dmarc_analyzer.storage.reports import report_filters
from dmarc_analyzer.storage.schema import records, reports

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IdentifyOptions:
    """How hard to look: DNS or not, which servers, the user's senders file."""

    offline: bool = True  # no DNS unless asked: offline=False
    nameservers: tuple[str, ...] = ()
    dns_timeout: float = 2.0
    inventory: Inventory | None = None

    def __post_init__(self):
        if isinstance(self.nameservers, str):
            raise ValueError("nameservers: give a tuple of addresses, not one string")
        if self.inventory is not None and not isinstance(self.inventory, Inventory):
            raise ValueError("inventory: give an Inventory (see load_inventory)")


@dataclass(frozen=True, slots=True)
class Identity:
    vendor: Vendor
    network: Network
    ptr_name: str | None


def in_scope(scope: Scope):
    """SQL: records of the reports in `scope`."""
    conditions = report_filters(
        domain=scope.domain, since=scope.since, until=scope.until
    )
    return and_(records.c.report_pk == reports.c.id, *conditions)


def identify_sources(
    connection: Connection, totals: ScopeTotals, options: IdentifyOptions
) -> dict[str, Identity]:
    """Every source IP in `totals`, named. Reverse DNS answers are cached in
    the database, on a connection of their own."""
    facts = _passing_signals(totals)
    for ip, fact in facts.items():
        fact.network = network_of(ip)
    for ip, result in _reverse_dns(connection, list(facts), options).items():
        facts[ip].ptr = result

    own_domains = _policy_domains(connection, totals.scope)
    return {
        ip: Identity(
            identify_vendor(fact, own_domains, options.inventory),
            fact.network,
            fact.ptr_name,
        )
        for ip, fact in facts.items()
    }


def _passing_signals(totals: ScopeTotals) -> dict[str, SourceFacts]:
    """Each source with the domains that passed DKIM or SPF for it, and
    for how many messages."""
    facts = {ip: SourceFacts(ip) for ip in totals.source_ips()}
    passed: dict[tuple[str, str, str], int] = {}
    for row in totals.rows:
        for kind, domain in _passing_domains(row.dkim_results, row.spf_results):
            key = (row.source_ip, kind, domain)
            passed[key] = passed.get(key, 0) + row.messages
    for (ip, kind, domain), messages in passed.items():
        facts[ip].signals.append(Signal(kind, domain, messages))
    return facts


@functools.lru_cache(maxsize=8192)
def _passing_domains(dkim: tuple, spf: tuple) -> tuple[tuple[str, str], ...]:
    """(kind, domain) of each result that passed and names a domain: rows
    share a few sets of results."""
    return tuple(
        (kind, domain)
        for kind, results in (("dkim", dkim), ("spf", spf))
        for result, domain, _ in results
        if result == "pass" and domain
    )


def _reverse_dns(connection: Connection, ips: list[str], options: IdentifyOptions):
    """Cached answers, and when online, fresh lookups of the rest."""
    found = cached_lookups(connection, ips)
    missing = [ip for ip in ips if ip not in found]
    if options.offline or not missing:
        return found

    resolver = ReverseDns(options.nameservers, timeout=options.dns_timeout)
    fresh = resolver.lookup_many(missing)
    answered = [result for result in fresh.values() if result.status in ANSWERED]
    if not answered:
        # Dead servers: caching their timeouts would hide the next run's
        # answers for a day.
        log.warning(
            "reverse DNS: no answer from the DNS servers for %d lookups; "
            "going on without reverse DNS (see --nameserver, --offline)",
            len(fresh),
        )
        return found
    _save_apart(connection, fresh.values())
    failed = len(fresh) - len(answered)
    if failed:
        log.warning("reverse DNS: %d of %d lookups got no answer", failed, len(fresh))
    log.info("reverse DNS: %d cached, %d looked up", len(found), len(fresh))
    return {**found, **fresh}


def _save_apart(connection: Connection, answers) -> None:
    """Cache the answers in a short transaction of their own: the analysis
    itself only reads, and on SQLite a transaction that writes holds the
    lock that ingest needs for as long as it lasts."""
    with connection.engine.connect() as own:
        own.execution_options(writes=True)
        with own.begin():
            save_lookups(own, answers)


def _policy_domains(connection: Connection, scope: Scope) -> tuple[str, ...]:
    conditions = report_filters(
        domain=scope.domain, since=scope.since, until=scope.until
    )
    query = select(reports.c.domain).where(and_(true(), *conditions)).distinct()
    return tuple(connection.execute(query).scalars())
