"""Reverse DNS of many distinct IPs against a slow DNS server on 127.0.0.1
(tests/dns_server.py, each answer delayed): a sequential loop against our
concurrent lookups with the cache in the database, run twice."""

import ipaddress
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from dmarc_analyzer.identify.reverse_dns import ReverseDns
from dmarc_analyzer.storage.database import Database
from dmarc_analyzer.storage.dns_cache import cached_lookups, save_lookups
from tests.dns_server import DnsServer


@dataclass(frozen=True)
class DnsResult:
    ips: int
    sequential_per_ip: float  # seconds, measured on a sample
    concurrent_seconds: float
    second_run_seconds: float
    second_run_queries: int

    @property
    def speedup(self) -> float:
        return self.sequential_per_ip * self.ips / self.concurrent_seconds


def run(database_url: str, ips: int, sample: int, delay: float) -> DnsResult:
    addresses = [str(ipaddress.IPv4Address("10.0.0.0") + n + 1) for n in range(ips)]
    with DnsServer(_zone(addresses), delay=delay) as server:
        resolver = ReverseDns([server.address], timeout=5)
        per_ip = _sequential_per_ip(resolver, addresses[:sample])
        database = Database(database_url)
        first = _cached_run(database, resolver, addresses)
        queries_before = server.queries
        second = _cached_run(database, resolver, addresses)
        database.close()
        return DnsResult(ips, per_ip, first, second, server.queries - queries_before)


def _zone(addresses: list[str]) -> dict:
    """A PTR for every address, and the A record that confirms it."""
    zone = {}
    for number, address in enumerate(addresses):
        name = f"host-{number}.bench.example."
        reverse = ".".join(reversed(address.split("."))) + ".in-addr.arpa."
        zone[reverse] = {"PTR": [name]}
        zone[name] = {"A": [address]}
    return zone


def _sequential_per_ip(resolver: ReverseDns, sample: list[str]) -> float:
    """The plain loop a script would write, timed per IP."""
    timings = []
    for address in sample:
        started = time.perf_counter()
        resolver.lookup(address)
        timings.append(time.perf_counter() - started)
    return statistics.mean(timings)


def _cached_run(database: Database, resolver: ReverseDns, addresses) -> float:
    """What `senders` and `failures` do: the cache first, then concurrent
    lookups of the rest, saved for next time."""
    started = time.perf_counter()
    with database.transaction() as connection:
        found = cached_lookups(connection, addresses, datetime.now(UTC))
        missing = [address for address in addresses if address not in found]
        if missing:
            save_lookups(connection, resolver.lookup_many(missing).values())
    return time.perf_counter() - started
