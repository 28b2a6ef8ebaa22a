"""Reverse DNS of source IPs: concurrent PTR lookups with dnspython,
optionally forward-confirmed (the PTR name resolves back to the IP).

Timeouts, SERVFAIL and unreachable servers come back as such, never as
"no name": a later run retries them sooner than it retries a real answer.
"""

from __future__ import annotations  # dnspython's types in annotations

import ipaddress
import math
import re
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dmarc_analyzer.errors import DmarcAnalyzerError

# dnspython (with the HTTP stack it loads for DNS over HTTPS) takes a
# quarter of a second to import: the functions that query import it, so
# that commands which never ask DNS start fast.
if TYPE_CHECKING:
    import dns.nameserver
    import dns.resolver

OK = "ok"
NO_NAME = "no_name"  # NXDOMAIN or no PTR record: an answer, cached long
TIMEOUT = "timeout"
SERVFAIL = "servfail"
ERROR = "error"
ANSWERED = (OK, NO_NAME)


@dataclass(frozen=True, slots=True)
class PtrResult:
    ip: str
    name: str | None
    forward_confirmed: bool | None
    status: str
    looked_up_at: datetime


class ResolverError(DmarcAnalyzerError):
    """No usable DNS configuration (bad --nameserver, no resolv.conf)."""


def parse_nameserver(text: str) -> dns.nameserver.Do53Nameserver:
    """HOST, HOST:PORT, or [IPv6]:PORT."""
    import dns.nameserver

    host, port = text.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest:
            if not rest.startswith(":"):
                raise ResolverError(f"nameserver {text!r}: expected [IPv6]:PORT")
            port = _port(rest[1:], text)
    elif host.count(":") == 1:
        host, port_text = host.split(":")
        port = _port(port_text, text)
    try:
        ipaddress.ip_address(host)
    except ValueError as error:
        raise ResolverError(f"nameserver {text!r}: give an IP address") from error
    return dns.nameserver.Do53Nameserver(host, port)


def _port(text: str, whole: str) -> int:
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 0 < int(text) < 65536:
        raise ResolverError(f"nameserver {whole!r}: bad port")
    return int(text)


class ReverseDns:
    """PTR lookups against the system's resolvers or the given nameservers."""

    def __init__(
        self,
        nameservers: Iterable[str] = (),
        *,
        timeout: float = 2.0,
        workers: int = 32,
        confirm: bool = True,
    ):
        if isinstance(nameservers, str):
            raise ResolverError("nameservers: give a list of addresses, not one string")
        if not (isinstance(timeout, int | float) and math.isfinite(timeout)) or not (
            0 < timeout <= 60
        ):
            raise ResolverError(f"DNS timeout {timeout!r}: give 0 to 60 seconds")
        self._nameservers = [parse_nameserver(ns) for ns in nameservers]
        self._timeout = timeout
        self._workers = workers
        self._confirm = confirm
        self._local = threading.local()
        self._resolver()  # fail now, not in every thread, on a bad configuration

    def lookup_many(self, ips: Iterable[str]) -> dict[str, PtrResult]:
        """Look the IPs up, many at a time. When a whole first round, or as
        many lookups in a row later, get no answer at all, the servers are
        taken to be down and the rest is not asked (those IPs are left out
        of the result)."""
        unique = sorted(set(ips))
        workers = max(1, min(self._workers, len(unique)))
        first, rest = unique[:workers], unique[workers:]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # The first round alone: dead servers cost one round of timeouts.
            found = dict(zip(first, pool.map(self.lookup, first), strict=True))
            if not any(result.status in ANSWERED for result in found.values()):
                return found
            # Then a lookup starts as soon as one ends: waiting for the
            # slowest of each round would idle the other workers.
            silent = 0
            for ip, result in zip(rest, pool.map(self.lookup, rest), strict=True):
                found[ip] = result
                silent = 0 if result.status in ANSWERED else silent + 1
                if silent >= workers:
                    pool.shutdown(cancel_futures=True)
                    break
        return found

    def lookup(self, ip: str) -> PtrResult:
        import dns.exception
        import dns.resolver

        resolver = self._resolver()
        now = datetime.now(UTC)
        try:
            answer = resolver.resolve_address(ip)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return PtrResult(ip, None, None, NO_NAME, now)
        except dns.resolver.LifetimeTimeout:
            return PtrResult(ip, None, None, TIMEOUT, now)
        except dns.resolver.NoNameservers:
            return PtrResult(ip, None, None, SERVFAIL, now)
        except dns.exception.DNSException:
            return PtrResult(ip, None, None, ERROR, now)

        name = str(answer[0].target).rstrip(".").lower()
        if not name:  # a PTR to the root: no name at all
            return PtrResult(ip, None, None, NO_NAME, now)
        confirmed = self._confirms(resolver, name, ip) if self._confirm else None
        return PtrResult(ip, name, confirmed, OK, now)

    def _confirms(self, resolver, name: str, ip: str) -> bool | None:
        import dns.exception
        import dns.resolver

        record_type = "AAAA" if ipaddress.ip_address(ip).version == 6 else "A"
        try:
            answer = resolver.resolve(name, record_type)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return False
        except dns.exception.DNSException:
            return None  # unknown, not false
        wanted = ipaddress.ip_address(ip)
        return any(ipaddress.ip_address(item.address) == wanted for item in answer)

    def _resolver(self) -> dns.resolver.Resolver:
        # One resolver per thread: they keep per-query state.
        resolver = getattr(self._local, "resolver", None)
        if resolver is None:
            resolver = self._local.resolver = self._new_resolver()
        return resolver

    def _new_resolver(self) -> dns.resolver.Resolver:
        return make_resolver(self._nameservers, self._timeout)


def make_resolver(
    nameservers: list[dns.nameserver.Do53Nameserver], timeout: float
) -> dns.resolver.Resolver:
    """A resolver for the given servers, or the system's when none."""
    import dns.resolver

    try:
        resolver = dns.resolver.Resolver(configure=not nameservers)
    except dns.resolver.NoResolverConfiguration as error:
        raise ResolverError(
            "no DNS resolver configured; use --nameserver or --offline"
        ) from error
    if nameservers:
        resolver.nameservers = nameservers
    # Each server gets its share of the time, so a dead first server leaves
    # time to ask the next.
    resolver.lifetime = timeout
    resolver.timeout = timeout / max(1, len(resolver.nameservers))
    return resolver
