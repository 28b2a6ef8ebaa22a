"""What `dns check` found broken, told in the management summary: one
action per record broken at some time in the period, with the messages the
receivers reported as permerror or temperror for that key in the period."""

from datetime import date

from sqlalchemy import Connection, func, select

from dmarc_analyzer.alignment import aligned, normalise
from dmarc_analyzer.analysis.identification import in_scope
from dmarc_analyzer.analysis.period import Period
from dmarc_analyzer.dnscheck.history import BrokenSpan, broken_spans
from dmarc_analyzer.i18n import N_, Text, text
from dmarc_analyzer.storage.dns_checks import check_history
from dmarc_analyzer.storage.schema import dkim_results, records

DNS_RECORD_BROKEN = "dns_record_broken"
DNS_RECORD_MENDED = "dns_record_mended"
_REPORTED = ("permerror", "temperror")


def dns_actions(connection: Connection, period: Period, domain: str | None) -> list:
    """Actions (analysis.management.Action) for the records of `domain`, or
    of every domain, that stored checks found broken during `period`."""
    from dmarc_analyzer.analysis.management import Action

    spans = [
        span
        for span in broken_spans(check_history(connection))
        if _during(span, period) and _concerns(span, domain)
    ]
    if not spans:
        return []

    reported = _reported_messages(connection, period, domain)
    return [
        Action(
            code=DNS_RECORD_MENDED if span.mended_at else DNS_RECORD_BROKEN,
            title=_title(span),
            detail=_detail(span),
            messages=reported.get((span.domain, span.selector or ""), 0),
        )
        for span in spans
    ]


def _during(span: BrokenSpan, period: Period) -> bool:
    mended = span.mended_at.date() if span.mended_at else date.max
    return span.first_seen.date() <= period.last and mended >= period.first


def _concerns(span: BrokenSpan, domain: str | None) -> bool:
    return domain is None or aligned(span.domain, domain, "r")


def _title(span: BrokenSpan) -> Text:
    if span.mended_at:
        return text(N_("The DNS record {name} was broken"), name=span.name)
    return text(N_("Fix the DNS record {name}"), name=span.name)


def _detail(span: BrokenSpan) -> Text:
    values = {
        "codes": ", ".join(span.codes),
        "first": span.first_seen.date(),
        "last": span.last_seen.date(),
    }
    if span.mended_at:
        return text(
            N_(
                "dns check found it broken ({codes}) from {first} to {last}; "
                "it was mended by {mended}."
            ),
            mended=span.mended_at.date(),
            **values,
        )
    return text(
        N_(
            "dns check found it broken ({codes}) from {first} to {last}, and "
            "not mended since: run dmarc-analyzer dns check for what is wrong "
            "and the fix."
        ),
        **values,
    )


def _reported_messages(
    connection: Connection, period: Period, domain: str | None
) -> dict[tuple[str, str], int]:
    """Messages per (d=, selector) with a DKIM permerror or temperror."""
    signer = func.lower(dkim_results.c.domain)
    selector = func.lower(dkim_results.c.selector)
    query = (
        select(signer, selector, func.sum(records.c.count))
        .where(
            dkim_results.c.record_pk == records.c.id,
            in_scope(period.scope(domain)),
            dkim_results.c.result.in_(_REPORTED),
        )
        .group_by(signer, selector)
    )
    return {
        (normalise(d), (s or "").strip()): int(messages)
        for d, s, messages in connection.execute(query)
    }
