"""The network an IP belongs to, from the IP database parsedmarc ships
(IPinfo Lite: country, AS number, AS name and AS domain). No network use."""

import functools
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True, slots=True)
class Network:
    country: str | None = None
    country_code: str | None = None
    asn: str | None = None
    as_name: str | None = None
    as_domain: str | None = None

    @property
    def label(self) -> str:
        """'AS14782 MailChimp' or '' when the IP is not in the database."""
        if self.asn and self.as_name:
            return f"{self.asn} {self.as_name}"
        return self.asn or self.as_name or ""


@functools.cache
def _reader():
    import maxminddb

    database = resources.files("parsedmarc.resources.ipinfo") / "ipinfo_lite.mmdb"
    with resources.as_file(database) as path:
        return maxminddb.open_database(str(path))


@functools.cache
def network_of(ip: str) -> Network:
    try:
        found = _reader().get(ip)
    except ValueError:  # not an IP address
        return Network()
    if not isinstance(found, dict):
        return Network()
    return Network(
        country=found.get("country"),
        country_code=found.get("country_code"),
        asn=found.get("asn"),
        as_name=found.get("as_name"),
        as_domain=found.get("as_domain"),
    )
