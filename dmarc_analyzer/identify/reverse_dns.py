"""Reverse DNS of source IPs: concurrent PTR lookups with dnspython,
optionally forward-confirmed (the PTR name resolves back to the IP).

Timeouts, SERVFAIL and unreachable servers come back as such, never as
"no name": a later run retries them sooner than it retries a real answer.
"""

import ipaddress
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import dns.exception
import dns.nameserver
import dns.resolver
import dns.reversename

from dmarc_analyzer.errors import DmarcAnalyzerError

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
    host, port = text.strip(), 53
    if host.startswith("["):
        host, _, rest = host[1:].partition("]")
        if rest.startswith(":"):
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
    if not text.isdigit() or not 0 < int(text) < 65536:
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
        self._nameservers = [parse_nameserver(ns) for ns in nameservers]
        self._timeout = timeout
        self._workers = workers
        self._confirm = confirm
        self._local = threading.local()
        self._resolver()  # fail now, not in every thread, on a bad configuration

    def lookup_many(self, ips: Iterable[str]) -> dict[str, PtrResult]:
        unique = sorted(set(ips))
        if not unique:
            return {}
        with ThreadPoolExecutor(max_workers=min(self._workers, len(unique))) as pool:
            return dict(zip(unique, pool.map(self.lookup, unique), strict=True))

    def lookup(self, ip: str) -> PtrResult:
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
        confirmed = self._confirms(resolver, name, ip) if self._confirm else None
        return PtrResult(ip, name, confirmed, OK, now)

    def _confirms(self, resolver, name: str, ip: str) -> bool | None:
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
        try:
            resolver = dns.resolver.Resolver(configure=not self._nameservers)
        except dns.resolver.NoResolverConfiguration as error:
            raise ResolverError(
                "no DNS resolver configured; use --nameserver or --offline"
            ) from error
        if self._nameservers:
            resolver.nameservers = self._nameservers
        resolver.lifetime = self._timeout
        resolver.timeout = self._timeout
        return resolver
