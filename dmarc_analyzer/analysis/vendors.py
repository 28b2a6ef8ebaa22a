"""Name the sender behind a source IP, and say which signal named it.

Signals, strongest first: the user's senders file; the PTR name's base
domain; the DKIM d= and SPF domains that passed for the source; the AS
domain of its network. Base domains come from the public suffix list and
are looked up in the map of sending services that parsedmarc ships. Only
passing results count: anyone can write a vendor's domain into a failing
signature.
"""

import csv
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources

from dmarc_analyzer.alignment import base_domain, normalise
from dmarc_analyzer.i18n import N_, Text, text
from dmarc_analyzer.identify.inventory import Inventory
from dmarc_analyzer.identify.network import Network
from dmarc_analyzer.identify.reverse_dns import OK, PtrResult

UNKNOWN = "unknown"
MAILBOX_PROVIDER = "Email Provider"  # the map's type for Gmail, Outlook...


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
    # Something vouches for this source sending as the domain: the senders
    # file, or a passing DKIM/SPF domain of this service or of the domain
    # itself. A PTR name or an AS only says who runs the network.
    authorized: bool = False
    own: bool = False  # the domain owner's own infrastructure
    forwarder: bool = False  # listed as a forwarder in the senders file
    # The name in the reader's language, for the names made up here.
    label: Text | None = None

    def display_name(self) -> Text:
        return self.label or text("{name}", name=self.name)


@dataclass(slots=True)
class SourceFacts:
    """What is known of one source IP before naming its sender."""

    ip: str
    network: Network = field(default_factory=Network)
    ptr: PtrResult | None = None
    signals: list[Signal] = field(default_factory=list)

    @property
    def ptr_name(self) -> str | None:
        return self.ptr.name if self.ptr and self.ptr.status == OK else None


@functools.cache
def service_map() -> dict[str, tuple[str, str | None]]:
    """parsedmarc's map: base domain → (service name, service type)."""
    maps = resources.files("parsedmarc.resources.maps")
    text = maps.joinpath("base_reverse_dns_map.csv").read_text(encoding="utf-8")
    return {
        row["base_reverse_dns"].strip().lower(): (row["name"], row["type"] or None)
        for row in csv.DictReader(text.splitlines())
    }


def identify_vendor(
    facts: SourceFacts,
    own_domains: Iterable[str] = (),
    inventory: Inventory | None = None,
) -> Vendor:
    """The sender of one source, by the strongest signal that names it."""
    ranked = sorted(
        (Signal(s.kind, normalise(s.domain), s.messages) for s in facts.signals),
        key=lambda s: (s.kind != "dkim", -s.messages, s.domain),
    )
    return (
        _from_inventory(facts, ranked, inventory)
        or _from_service_map(facts, ranked)
        or _from_own_domains(ranked, own_domains)
        or _from_unlisted_domains(facts, ranked)
        or Vendor(UNKNOWN, None, _nothing_passed(facts), label=_UNKNOWN_LABEL)
    )


_UNKNOWN_LABEL = text(N_("unknown"))


def _from_inventory(facts, ranked, inventory) -> Vendor | None:
    if not inventory:
        return None
    match = inventory.match(
        facts.ip,
        facts.ptr_name,
        [s.domain for s in ranked if s.kind == "dkim"],
        [s.domain for s in ranked if s.kind == "spf"],
    )
    if not match:
        return None
    sender = match.sender
    kind = "Own" if sender.own else "Forwarder" if sender.forwarder else "Listed"
    return Vendor(sender.name, kind, match.evidence, True, sender.own, sender.forwarder)


def _from_service_map(facts: SourceFacts, ranked: list[Signal]) -> Vendor | None:
    services = service_map()
    candidates: list[tuple[str, Signal | None]] = []
    if facts.ptr_name:
        candidates.append((facts.ptr_name, None))
    candidates += [(signal.domain, signal) for signal in ranked]
    if facts.network.as_domain:
        candidates.append((facts.network.as_domain, None))

    for domain, signal in candidates:
        base = base_domain(domain)
        if base in services:
            name, service_type = services[base]
            vouching = {
                services[base_domain(s.domain)][0]
                for s in ranked
                if base_domain(s.domain) in services
            }
            evidence = _evidence(facts, domain, signal)
            return Vendor(name, service_type, evidence, authorized=name in vouching)
    return None


def _evidence(facts: SourceFacts, domain: str, signal: Signal | None) -> str:
    """What named the vendor: the PTR name, a passing domain, the network."""
    if signal is not None:
        return f"{signal.kind} {signal.domain}"
    if domain == facts.ptr_name:
        confirmed = " (forward-confirmed)" if facts.ptr.forward_confirmed else ""
        return f"PTR {facts.ptr_name}{confirmed}"
    return f"network {facts.network.label} ({facts.network.as_domain})"


def _from_own_domains(
    ranked: list[Signal], own_domains: Iterable[str]
) -> Vendor | None:
    own_bases = _bases(tuple(own_domains))
    for signal in ranked:
        base = base_domain(signal.domain)
        if base in own_bases:
            return Vendor(
                f"own domain ({base})",
                "Own",
                f"{signal.kind} {signal.domain} passed",
                authorized=True,
                own=True,
                label=text(N_("your own mail system ({domain})"), domain=base),
            )
    return None


@functools.lru_cache(maxsize=64)
def _bases(domains: tuple[str, ...]) -> frozenset[str]:
    """The organizational domains of `domains`: the same few for every
    source of a scope."""
    return frozenset(base_domain(domain) for domain in domains) - {None}


def _from_unlisted_domains(facts: SourceFacts, ranked: list[Signal]) -> Vendor | None:
    for signal in ranked:
        base = base_domain(signal.domain)
        if base:
            return Vendor(
                base, None, f"{signal.kind} {signal.domain} (not a listed service)"
            )
    if facts.ptr_name and base_domain(facts.ptr_name):
        return Vendor(
            base_domain(facts.ptr_name),
            None,
            f"PTR {facts.ptr_name} (not a listed service)",
        )
    return None


def _nothing_passed(facts: SourceFacts) -> str:
    network = f"; network {facts.network.label}" if facts.network.label else ""
    return f"no DKIM or SPF domain passed for this source{network}"
