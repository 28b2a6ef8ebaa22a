"""Our streaming-ready parser gives the same records as parsedmarc on every
corpus file both accept, after parsedmarc's documented normalisations
(defaults for missing words, lower-cased header_from, envelope_from filled
from SPF, DKIM/SPF results without a domain dropped, invalid bytes dropped)."""

import ipaddress
import logging

import parsedmarc
import pytest

from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest.pipeline import read_reports
from tests.conftest import CORPUS
from tests.test_corpus import ALL_FILES, UNREADABLE

pytestmark = pytest.mark.corpus


def parsedmarc_report(path):
    try:
        parsed = parsedmarc.parse_report_file(
            str(path),
            offline=True,
            always_use_local_files=True,
            # parsedmarc splits multi-day reports into days; keep them whole.
            normalize_timespan_threshold_hours=10**9,
        )
    except parsedmarc.ParserError:
        return None
    return parsed["report"] if parsed["report_type"] == "aggregate" else None


def ours_as_parsedmarc(record) -> dict:
    """Our record in parsedmarc's shape, with parsedmarc's defaults applied."""
    envelope_from = record.envelope_from
    if envelope_from is None and record.spf_results:
        envelope_from = record.spf_results[-1].domain
    return {
        "ip": ipaddress.ip_address(record.source_ip),
        "count": record.count,
        "disposition": record.disposition or "none",
        "dkim": record.dkim or "fail",
        "spf": record.spf or "fail",
        "reasons": [((r.type or "").lower(), r.comment) for r in record.reasons],
        # parsedmarc drops bytes invalid in UTF-8 where we put U+FFFD.
        "header_from": (record.header_from or "").lower().replace("\ufffd", ""),
        "envelope_from": (envelope_from or "").lower() or None,
        "envelope_to": record.envelope_to,
        "dkim_results": [
            (r.domain, r.selector or "none", r.result or "none")
            for r in record.dkim_results
            if r.domain
        ],
        "spf_results": [
            (r.domain, r.scope or "mfrom", r.result or "none")
            for r in record.spf_results
            if r.domain
        ],
    }


def theirs(record: dict) -> dict:
    evaluated = record["policy_evaluated"]
    identifiers = record["identifiers"]
    return {
        "ip": ipaddress.ip_address(record["source"]["ip_address"]),
        "count": record["count"],
        "disposition": evaluated["disposition"],
        "dkim": evaluated["dkim"],
        "spf": evaluated["spf"],
        "reasons": [
            ((r.get("type") or "").lower(), r.get("comment"))
            for r in evaluated["policy_override_reasons"]
        ],
        "header_from": identifiers["header_from"] or "",
        "envelope_from": (identifiers["envelope_from"] or "").lower() or None,
        "envelope_to": identifiers["envelope_to"],
        "dkim_results": [
            (r["domain"], r["selector"], r["result"])
            for r in record["auth_results"]["dkim"]
        ],
        "spf_results": [
            (r["domain"], (r["scope"] or "mfrom").lower(), r["result"])
            for r in record["auth_results"]["spf"]
        ],
    }


@pytest.mark.parametrize("name", ALL_FILES)
def test_same_records_as_parsedmarc(name):
    logging.getLogger("parsedmarc").setLevel(logging.CRITICAL)
    path = CORPUS / name
    reference = parsedmarc_report(path)
    try:
        ours = read_reports(path)
    except ReportRefused as refused:
        # Where the independent reader failed too, parsedmarc's lxml recovery
        # may guess at a broken file; refusing it is as right.
        assert reference is None or name in UNREADABLE, f"we refused: {refused}"
        pytest.skip("refused by both parsers")
    if reference is None:
        pytest.skip("parsedmarc refuses it; the corpus test checks our totals")

    (report,) = ours
    assert report.policy.domain == reference["policy_published"]["domain"]
    assert [ours_as_parsedmarc(r) for r in report.records] == [
        theirs(r) for r in reference["records"]
    ]
