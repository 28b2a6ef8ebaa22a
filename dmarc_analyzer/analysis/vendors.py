"""Name the sending service behind a source from the domains that vouch for it.

The map of base domains to services is the one parsedmarc ships
(base_reverse_dns_map.csv); base (organizational) domains come from the
public suffix list. Only passing results count as evidence: anyone can put
a vendor's domain in a signature that fails.
"""

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from dmarc_analyzer.alignment import base_domain

UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Signal:
    """A domain that passed authentication for a source, and for how many
    messages: a DKIM d= domain or an SPF domain."""

    kind: str  # "dkim" or "spf"
    domain: str
    messages: int


@dataclass(frozen=True, slots=True)
class Vendor:
    name: str
    type: str | None
    evidence: str


@functools.cache
def service_map() -> dict[str, tuple[str, str | None]]:
    """parsedmarc's map: base domain → (service name, service type)."""
    maps = resources.files("parsedmarc.resources.maps")
    text = maps.joinpath("base_reverse_dns_map.csv").read_text(encoding="utf-8")
    return {
        row["base_reverse_dns"].strip().lower(): (row["name"], row["type"] or None)
        for row in csv.DictReader(text.splitlines())
    }


def identify_vendor(signals: Iterable[Signal], own_domains: Iterable[str]) -> Vendor:
    """The service a source belongs to, judged by its strongest signal.

    A known service's domain wins (DKIM before SPF, then by message count);
    failing that, a pass for one of the report's own domains marks the
    domain's own infrastructure; failing that, the base domain that passed
    names the sender (a service not in the map); with no passing domain at
    all, the source is unknown.
    """
    ranked = sorted(
        (
            Signal(s.kind, s.domain.strip().rstrip(".").lower(), s.messages)
            for s in signals
        ),
        key=lambda s: (s.kind != "dkim", -s.messages, s.domain),
    )
    services = service_map()
    for signal in ranked:
        base = base_domain(signal.domain)
        if base in services:
            name, service_type = services[base]
            return Vendor(name, service_type, f"{signal.kind} {signal.domain}")

    own_bases = {base_domain(domain) for domain in own_domains} - {None}
    for signal in ranked:
        if base_domain(signal.domain) in own_bases:
            return Vendor(
                f"own domain ({base_domain(signal.domain)})",
                "Own",
                f"{signal.kind} {signal.domain}",
            )

    for signal in ranked:
        base = base_domain(signal.domain)
        if base:
            return Vendor(
                base, None, f"{signal.kind} {signal.domain} (not a listed service)"
            )

    return Vendor(UNKNOWN, None, "no DKIM or SPF domain passed for this source")
