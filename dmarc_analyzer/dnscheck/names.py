"""Which domains and selectors of the stored reports are DNS names worth a
query: a report's text is its reporter's, and dnspython reads some text that
is no name as one (ex\\ample.com as example.com)."""

import re

from dmarc_analyzer.alignment import normalise

LONGEST_NAME = 253  # octets, without the trailing dot (RFC 1035)
LONGEST_LABEL = 63
# Letters, digits, hyphens (not first or last) and underscores (_domainkey,
# selectors): no spaces, wildcards, escapes or empty labels.
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$")


def dns_name(text: str | None) -> str | None:
    """`text` as a DNS name in lower case, internationalised names in their
    ASCII form; None when it is not one."""
    if (text or "").strip().endswith(".."):
        return None  # normalise would take all the dots away
    name = normalise(text)
    if not name or len(name) > LONGEST_NAME or not name.isascii():
        return None
    labels = name.split(".")
    if all(len(label) <= LONGEST_LABEL and _LABEL.match(label) for label in labels):
        return name
    return None
