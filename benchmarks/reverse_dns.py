"""Reverse DNS of many distinct IPs against a slow DNS server on 127.0.0.1
(tests/dns_server.py in a process of its own, each answer delayed): a
sequential loop against our concurrent lookups with the cache in the
database, run twice."""

import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dns_server_process import addresses

from dmarc_analyzer.identify.reverse_dns import ReverseDns
from dmarc_analyzer.storage.database import Database
from dmarc_analyzer.storage.dns_cache import cached_lookups, save_lookups


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
    wanted = addresses(ips)
    with _server(ips, delay) as (address, queries):
        resolver = ReverseDns([address], timeout=5)
        per_ip = _sequential_per_ip(resolver, wanted[:sample])
        database = Database(database_url)
        first = _cached_run(database, resolver, wanted)
        queries_before = queries()
        second = _cached_run(database, resolver, wanted)
        database.close()
        return DnsResult(ips, per_ip, first, second, queries() - queries_before)


@contextmanager
def _server(ips: int, delay: float):
    script = Path(__file__).with_name("dns_server_process.py")
    server = subprocess.Popen(
        [sys.executable, str(script), str(ips), str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    address = server.stdout.readline().strip()

    def queries() -> int:
        server.stdin.write("\n")
        server.stdin.flush()
        return int(server.stdout.readline())

    try:
        yield address, queries
    finally:
        server.stdin.close()
        server.wait(timeout=30)


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
