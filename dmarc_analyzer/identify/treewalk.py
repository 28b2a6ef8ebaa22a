"""Organizational domains by the DNS tree walk of RFC 9989 (DMARCbis), for
reports whose receiver says it used it (discovery_method "treewalk").

From the name itself toward its shortest parent, each _dmarc.<name> TXT
record is read. A record with psd=n marks its name as the organizational
domain; one with psd=y marks a public suffix operator, so the name one
label below it is; otherwise the organizational domain is the shortest name
that published a DMARC record, or the name itself when none did. Names of
more than eight labels start at their last eight.
"""

import functools
import re
from collections.abc import Iterable

from dmarc_analyzer.alignment import normalise
from dmarc_analyzer.identify.reverse_dns import make_resolver, parse_nameserver

MAX_LABELS = 8
_PSD_TAG = re.compile(r"(?:^|;)\s*psd\s*=\s*([yn])\s*(?:;|$)", re.IGNORECASE)


class TreeWalk:
    """Organizational domains found in DNS, each name asked once."""

    def __init__(self, nameservers: Iterable[str] = (), timeout: float = 2.0):
        servers = [parse_nameserver(server) for server in nameservers]
        self._resolver = make_resolver(servers, timeout)
        self.organizational_domain = functools.cache(self._walk)
        self._record = functools.cache(self._dmarc_record)

    def _walk(self, domain: str) -> str | None:
        labels = normalise(domain).split(".")
        if not labels or not labels[0]:
            return None
        labels = labels[-MAX_LABELS:]
        names = [".".join(labels[start:]) for start in range(len(labels))]

        found = None
        for position, name in enumerate(names):
            record = self._record(name)
            if record is None:
                continue
            psd = _PSD_TAG.search(record)
            if psd and psd.group(1).lower() == "n":
                return name
            if psd and psd.group(1).lower() == "y":
                return names[position - 1] if position > 0 else name
            found = name
        return found or normalise(domain)

    def _dmarc_record(self, name: str) -> str | None:
        import dns.exception  # imported late: see reverse_dns.py

        try:
            answer = self._resolver.resolve(f"_dmarc.{name}", "TXT")
        except dns.exception.DNSException:
            return None  # no record, or no answer: the walk goes on
        for item in answer:
            text = b"".join(item.strings).decode("utf-8", "replace")
            if text.lower().startswith("v=dmarc1"):
                return text
        return None
