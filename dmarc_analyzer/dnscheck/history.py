"""Stored findings read back as spans: "the DKIM record at
s1._domainkey.example.com was broken from the check of March 3 to that of
March 9, mended by March 10"."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from dmarc_analyzer.dnscheck.findings import ERROR
from dmarc_analyzer.dnscheck.lookup import LOOKUP_FAILURES
from dmarc_analyzer.storage.dns_checks import StoredCheck


@dataclass(frozen=True, slots=True)
class BrokenSpan:
    """Consecutive checks of one record name that found an error in its
    content (a failed lookup is no such error)."""

    name: str
    kind: str
    domain: str  # d= for a DKIM key, else the policy domain
    selector: str | None
    codes: tuple[str, ...]  # the error codes found, in order of first sight
    first_seen: datetime
    last_seen: datetime
    mended_at: datetime | None  # the first later check without an error


def broken_spans(history: Iterable[StoredCheck]) -> list[BrokenSpan]:
    """Each stretch of checks in which a record was broken. Only the checks
    that looked at the record count: a run for another domain neither
    breaks nor mends it."""
    runs: dict[str, dict[datetime, list[StoredCheck]]] = defaultdict(dict)
    for row in history:
        runs[row.name].setdefault(row.checked_at, []).append(row)

    spans = []
    for name, by_time in runs.items():
        spans += _spans_of(name, [by_time[at] for at in sorted(by_time)])
    return sorted(spans, key=lambda span: (span.first_seen, span.name))


def _spans_of(name: str, runs: list[list[StoredCheck]]) -> list[BrokenSpan]:
    spans, open_span = [], None
    for rows in runs:
        if all(row.code in LOOKUP_FAILURES for row in rows):
            continue  # the record was not seen: neither broken nor mended
        errors = [row.code for row in rows if _broken(row)]
        at = rows[0].checked_at
        if errors and open_span is None:
            open_span = {"row": rows[0], "codes": [], "first": at}
        if errors:
            codes = open_span["codes"]
            codes += [code for code in dict.fromkeys(errors) if code not in codes]
            open_span["last"] = at
        elif open_span is not None:
            spans.append(_span(name, open_span, at))
            open_span = None
    if open_span is not None:
        spans.append(_span(name, open_span, None))
    return spans


def _broken(row: StoredCheck) -> bool:
    """An error in the record's content; a failed lookup says nothing of it."""
    return row.severity == ERROR and row.code not in LOOKUP_FAILURES


def _span(name: str, found: dict, mended_at: datetime | None) -> BrokenSpan:
    row = found["row"]
    return BrokenSpan(
        name,
        row.kind,
        row.domain,
        row.selector,
        tuple(found["codes"]),
        found["first"],
        found["last"],
        mended_at,
    )
