"""What `dns check` found broken, told in the management summary: one
action per record, for a record still broken at the latest check (whatever
the period) or broken at some time in the period, with the messages the
receivers reported as other than pass for that key in the period.

Only a record's content breaks it (bad base64, a short key, no record): a
lookup that failed (timeout, SERVFAIL) is a fact about DNS at that moment,
stored but never told here as a broken record."""

from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, func, select

from dmarc_analyzer.alignment import aligned, normalise
from dmarc_analyzer.analysis.identification import in_scope
from dmarc_analyzer.analysis.period import Period
from dmarc_analyzer.dnscheck.findings import DKIM, DMARC
from dmarc_analyzer.dnscheck.history import BrokenSpan, broken_spans
from dmarc_analyzer.i18n import N_, Text, text
from dmarc_analyzer.storage.dns_checks import check_history
from dmarc_analyzer.storage.schema import dkim_results, records

DNS_RECORD_BROKEN = "dns_record_broken"
DNS_RECORD_MENDED = "dns_record_mended"
_NOT_REPORTED = ("pass", "none")


@dataclass(frozen=True, slots=True)
class BrokenRecord:
    """What the stored checks say of one record, told as one action."""

    name: str
    kind: str
    domain: str
    selector: str | None
    codes: tuple[str, ...]
    first_seen: date
    last_seen: date
    mended_at: date | None  # None: still broken at the latest check


def broken_records(
    connection: Connection, period: Period, domain: str | None
) -> list[BrokenRecord]:
    """The records of `domain` (or of every domain) still broken at their
    latest check, or broken at some time during `period`."""
    by_name: dict[str, list[BrokenSpan]] = {}
    for span in broken_spans(check_history(connection)):
        still_broken = span.mended_at is None
        if _concerns(span, domain) and (still_broken or _during(span, period)):
            by_name.setdefault(span.name, []).append(span)
    return [_merged(spans) for spans in by_name.values()]


def dns_actions(connection: Connection, period: Period, domain: str | None) -> list:
    """Actions (analysis.management.Action) for the broken records."""
    from dmarc_analyzer.analysis.management import Action

    found = broken_records(connection, period, domain)
    if not found:
        return []

    reported = _reported_messages(connection, period, domain)
    return [
        Action(
            code=DNS_RECORD_MENDED if record.mended_at else DNS_RECORD_BROKEN,
            title=_title(record),
            detail=_detail(record),
            messages=reported.get((record.domain, record.selector or ""), 0)
            if record.kind == DKIM
            else 0,
            domain=record.domain,
            record=record.name,
        )
        for record in found
    ]


def _merged(spans: list[BrokenSpan]) -> BrokenRecord:
    """One record's spans as one: from the first time it was seen broken to
    the last, mended if the latest span was."""
    first, last = spans[0], spans[-1]
    codes = dict.fromkeys(code for span in spans for code in span.codes)
    return BrokenRecord(
        first.name,
        first.kind,
        first.domain,
        first.selector,
        tuple(codes),
        first.first_seen.date(),
        last.last_seen.date(),
        last.mended_at.date() if last.mended_at else None,
    )


def _during(span: BrokenSpan, period: Period) -> bool:
    mended = span.mended_at.date() if span.mended_at else date.max
    return span.first_seen.date() <= period.last and mended >= period.first


def _concerns(span: BrokenSpan, domain: str | None) -> bool:
    return domain is None or aligned(span.domain, domain, "r")


_BROKEN_TITLES = {
    DKIM: N_("Fix the DKIM key record {name}"),
    DMARC: N_("Fix the DMARC record of {domain} ({name})"),
}
_MENDED_TITLES = {
    DKIM: N_("The DKIM key record {name} was broken"),
    DMARC: N_("The DMARC record of {domain} ({name}) was broken"),
}
_SPF_BROKEN = N_("Fix the SPF record of {domain}")
_SPF_MENDED = N_("The SPF record of {domain} was broken")


def _title(record: BrokenRecord) -> Text:
    if record.mended_at:
        template = _MENDED_TITLES.get(record.kind, _SPF_MENDED)
    else:
        template = _BROKEN_TITLES.get(record.kind, _SPF_BROKEN)
    return text(template, name=record.name, domain=record.domain)


def _detail(record: BrokenRecord) -> Text:
    values: dict[str, object] = {"codes": ", ".join(record.codes)}
    one_day = record.first_seen == record.last_seen
    if one_day:
        values["day"] = record.first_seen
    else:
        values |= {"first": record.first_seen, "last": record.last_seen}
    if record.mended_at:
        template = (
            N_(
                "dns check found it broken ({codes}) on {day}; it was mended "
                "by {mended}."
            )
            if one_day
            else N_(
                "dns check found it broken ({codes}) from {first} to {last}; "
                "it was mended by {mended}."
            )
        )
        return text(template, mended=record.mended_at, **values)
    template = (
        N_(
            "dns check found it broken ({codes}) on {day}, and not mended "
            "since: run dmarc-analyzer dns check for what is wrong and the fix."
        )
        if one_day
        else N_(
            "dns check found it broken ({codes}) from {first} to {last}, and "
            "not mended since: run dmarc-analyzer dns check for what is wrong "
            "and the fix."
        )
    )
    return text(template, **values)


def _reported_messages(
    connection: Connection, period: Period, domain: str | None
) -> dict[tuple[str, str], int]:
    """Messages per (d=, selector) whose DKIM result was not pass: fail
    for a missing key, permerror, temperror."""
    signer = func.lower(dkim_results.c.domain)
    selector = func.lower(dkim_results.c.selector)
    query = (
        select(signer, selector, func.sum(records.c.count))
        .where(
            dkim_results.c.record_pk == records.c.id,
            in_scope(period.scope(domain)),
            dkim_results.c.result.not_in(_NOT_REPORTED),
        )
        .group_by(signer, selector)
    )
    return {
        (normalise(d), (s or "").strip()): int(messages)
        for d, s, messages in connection.execute(query)
    }
