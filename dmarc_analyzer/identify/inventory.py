"""The domain owner's own list of senders: their infrastructure and the
vendors they use, matched by IP range, PTR name, DKIM d= or SPF domain.

A TOML file, for example:

    [[sender]]
    name = "Our mail servers"
    own = true
    cidrs = ["198.51.100.0/24", "2001:db8:10::/48"]
    ptr_suffixes = ["mx.example.com"]

    [[sender]]
    name = "Newsletter (Mailchimp)"
    dkim_domains = ["mcsv.net"]
    spf_domains = ["mcsv.net"]

    [[sender]]
    name = "University alumni forwarding"
    forwarder = true
    ptr_suffixes = ["alumni.example.edu"]

A match here wins over every other way of naming a sender.
"""

import ipaddress
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dmarc_analyzer.alignment import normalise
from dmarc_analyzer.errors import DmarcAnalyzerError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


SENDER_KEYS = {
    "name",
    "own",
    "forwarder",
    "cidrs",
    "ptr_suffixes",
    "dkim_domains",
    "spf_domains",
}


class InventoryError(DmarcAnalyzerError):
    """The senders file cannot be read or does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class KnownSender:
    name: str
    own: bool = False
    forwarder: bool = False
    networks: tuple[Network, ...] = ()
    ptr_suffixes: tuple[str, ...] = ()
    dkim_domains: tuple[str, ...] = ()
    spf_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Match:
    sender: KnownSender
    evidence: str


@dataclass(frozen=True, slots=True)
class Inventory:
    senders: tuple[KnownSender, ...] = field(default=())

    def match(
        self,
        ip: str,
        ptr_name: str | None = None,
        dkim_domains: Iterable[str] = (),
        spf_domains: Iterable[str] = (),
    ) -> Match | None:
        """The first sender that claims this source, strongest signal first."""
        address = ipaddress.ip_address(ip)
        for sender in self.senders:
            for network in sender.networks:
                if address.version == network.version and address in network:
                    return Match(sender, f"senders file: {ip} in {network}")
        if ptr_name:
            for sender in self.senders:
                for suffix in sender.ptr_suffixes:
                    if _under(ptr_name, suffix):
                        return Match(sender, f"senders file: PTR {ptr_name}")
        for kind, domains in (("dkim", dkim_domains), ("spf", spf_domains)):
            for domain in domains:
                for sender in self.senders:
                    listed = (
                        sender.dkim_domains if kind == "dkim" else sender.spf_domains
                    )
                    if any(_under(domain, entry) for entry in listed):
                        return Match(sender, f"senders file: {kind} {domain}")
        return None


def _under(name: str, suffix: str) -> bool:
    name, suffix = normalise(name), normalise(suffix)
    return bool(suffix) and (name == suffix or name.endswith("." + suffix))


def parse_inventory(text: str, where: str = "senders file") -> Inventory:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InventoryError(f"{where}: not valid TOML: {error}") from error

    unknown = set(document) - {"sender"}
    if unknown:
        raise InventoryError(
            f"{where}: unknown section {sorted(unknown)[0]!r} "
            "(expected [[sender]] entries)"
        )
    entries = document.get("sender", [])
    if not isinstance(entries, list):
        raise InventoryError(f"{where}: [[sender]] entries expected")
    return Inventory(
        tuple(
            _sender(entry, number, where)
            for number, entry in enumerate(entries, start=1)
        )
    )


def load_inventory(path: Path | str) -> Inventory:
    return parse_inventory(read_inventory_text(Path(path)), str(path))


def read_inventory_text(path: Path) -> str:
    if not path.is_file():
        what = "no such file" if not path.exists() else "not a regular file"
        raise InventoryError(f"cannot read senders file {path}: {what}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or error
        raise InventoryError(f"cannot read senders file {path}: {reason}") from error


def _sender(entry: object, number: int, where: str) -> KnownSender:
    if not isinstance(entry, dict) or not str(entry.get("name") or "").strip():
        raise InventoryError(f"{where}: sender {number} needs a name")
    if not isinstance(entry["name"], str):
        raise InventoryError(f"{where}: sender {number}: name must be text")
    unknown = set(entry) - SENDER_KEYS
    if unknown:
        raise InventoryError(
            f"{where}: sender {number} has an unknown key {sorted(unknown)[0]!r} "
            f"(known: {', '.join(sorted(SENDER_KEYS))})"
        )
    if entry.get("own") and entry.get("forwarder"):
        raise InventoryError(f"{where}: sender {number} is both own and forwarder")
    for flag in ("own", "forwarder"):
        if not isinstance(entry.get(flag, False), bool):
            raise InventoryError(
                f"{where}: sender {number}: {flag} must be true or false"
            )
    try:
        networks = tuple(
            ipaddress.ip_network(cidr, strict=False)
            for cidr in _strings(entry, "cidrs")
        )
    except ValueError as error:
        raise InventoryError(f"{where}: sender {number}: {error}") from error
    return KnownSender(
        name=entry["name"],
        own=bool(entry.get("own", False)),
        forwarder=bool(entry.get("forwarder", False)),
        networks=networks,
        ptr_suffixes=_strings(entry, "ptr_suffixes"),
        dkim_domains=_strings(entry, "dkim_domains"),
        spf_domains=_strings(entry, "spf_domains"),
    )


def _strings(entry: dict, key: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InventoryError(
            f"senders file: sender {entry['name']!r}: {key} must be a list of strings"
        )
    return tuple(value)
