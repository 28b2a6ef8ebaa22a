"""DKIM failures by vendor and source, and the summary, on both backends.

The numbers are worked out by hand from the records written below.
"""

import json
from datetime import UTC, date, datetime

import pytest

from dmarc_analyzer import api
from tests.conftest import record_xml, report_xml

SPF_OWN_PASS = "<spf><domain>example.com</domain><result>pass</result></spf>"
SPF_OWN_FAIL = "<spf><domain>example.com</domain><result>fail</result></spf>"
SPF_MAILCHIMP = "<spf><domain>mail1.mcsv.net</domain><result>pass</result></spf>"
DKIM_OWN = (
    "<dkim><domain>example.com</domain>"
    "<selector>s</selector><result>pass</result></dkim>"
)
DKIM_MAILCHIMP = (
    "<dkim><domain>mcsv.net</domain><selector>k1</selector><result>pass</result></dkim>"
)
DKIM_OWN_BROKEN = (
    "<dkim><domain>example.com</domain>"
    "<selector>s</selector><result>fail</result></dkim>"
)

NOVEMBER = "".join(
    [
        record_xml("192.0.2.10", 100, auth=DKIM_OWN + SPF_OWN_PASS),
        record_xml(
            "192.0.2.20",
            40,
            dkim="fail",
            spf="fail",
            auth=DKIM_MAILCHIMP + SPF_MAILCHIMP,
        ),
        record_xml(
            "192.0.2.21", 60, spf="fail", auth=DKIM_OWN + DKIM_MAILCHIMP + SPF_MAILCHIMP
        ),
        record_xml("198.51.100.5", 25, dkim="fail", auth=SPF_OWN_PASS),
        record_xml("203.0.113.9", 7, dkim="fail", spf="fail", auth=SPF_OWN_FAIL),
        record_xml(
            "2001:0db8:0000:0000:0000:0000:0000:0009",
            3,
            dkim="fail",
            spf="fail",
            auth=DKIM_OWN_BROKEN + SPF_OWN_FAIL,
        ),
    ]
)
DECEMBER = record_xml("203.0.113.9", 5, dkim="fail", spf="fail", auth=SPF_OWN_FAIL)

UNTIL_DECEMBER = api.Scope(until=datetime(2023, 12, 1, tzinfo=UTC))
NOVEMBER_2023 = api.Period(date(2023, 11, 1), date(2023, 11, 30))


@pytest.fixture
def stored(database, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "nov.xml").write_bytes(
        report_xml(
            NOVEMBER, org_name="Evil <b>Corp</b> | x", begin=1700000000, end=1700086399
        )
        .replace(b"<b>", b"&lt;b&gt;")
        .replace(b"</b>", b"&lt;/b&gt;")
    )
    (inbox / "dec.xml").write_bytes(
        report_xml(DECEMBER, report_id="dec", begin=1701388800, end=1701475199)
    )
    assert api.ingest(database, [inbox]).reports_added == 2
    return database


def test_failures_grouped_by_vendor_then_source(stored):
    vendors = api.failures(stored, UNTIL_DECEMBER)

    assert [(v.vendor, v.dkim_failed, v.messages) for v in vendors] == [
        ("Intuit Mailchimp", 40, 100),
        ("own domain (example.com)", 25, 125),
        ("unknown", 10, 10),
    ]
    assert vendors[0].failed_share == pytest.approx(0.4)
    assert vendors[1].failed_share == pytest.approx(0.2)
    mailchimp, own, unknown = vendors
    assert [s.source_ip for s in mailchimp.sources] == ["192.0.2.20"]
    assert mailchimp.sources[0].dkim_seen == {"pass (unaligned) d=mcsv.net s=k1": 40}
    assert mailchimp.sources[0].spf_seen == {"pass mail1.mcsv.net": 40}
    assert mailchimp.sources[0].vendor.evidence == "dkim mcsv.net"
    assert own.sources[0].dkim_seen == {"none": 25}
    assert [(s.source_ip, s.dkim_failed) for s in unknown.sources] == [
        ("203.0.113.9", 7),
        ("2001:db8::9", 3),
    ]
    assert unknown.sources[1].dkim_seen == {"fail d=example.com s=s": 3}


def test_failures_follow_the_period(stored):
    everything = {v.vendor: v.dkim_failed for v in api.failures(stored)}
    december = api.failures(stored, api.Scope(since=datetime(2023, 12, 1, tzinfo=UTC)))

    assert everything["unknown"] == 15
    assert [(v.vendor, v.dkim_failed) for v in december] == [("unknown", 5)]
    assert api.failures(stored, api.Scope(domain="other.example")) == []


def test_failures_frame_has_a_row_per_source(stored):
    frame = api.failures_frame(stored, UNTIL_DECEMBER)

    assert list(frame["source_ip"]) == [
        "192.0.2.20",
        "198.51.100.5",
        "203.0.113.9",
        "2001:db8::9",
    ]
    assert frame["dkim_failed"].sum() == 75


def test_summary_figures(stored):
    summary = api.summarize(stored, NOVEMBER_2023)
    figures, headline = summary.overall.overview, summary.overall.headline

    assert headline.messages == 235
    assert headline.dmarc_pass == 185  # 100 + 60 (DKIM) + 25 (SPF)
    assert headline.dkim_aligned_pass == 160
    assert [(d.day.isoformat(), d.messages) for d in figures.daily] == [
        ("2023-11-14", 235)
    ]
    assert [v.dkim_failed for v in summary.overall.failing_vendors] == [40, 25, 10]


def test_summary_markdown_and_charts(stored, tmp_path):
    summary = api.summarize(stored, NOVEMBER_2023)
    written = api.write_summary(summary, tmp_path / "out", ("md",))

    page = written[0].read_text()
    assert [path.suffix for path in written] == [".md"] + [".png"] * 4
    assert all(path.stat().st_size > 1000 for path in written[1:])
    assert "| Messages reported | 235 |" in page
    assert "| DMARC pass rate | 78.7% |" in page
    assert (
        "| Intuit Mailchimp | 40 | 40.0% | 1 | Vendor signs with its own domain |"
        in (page)
    )
    # Reporter-controlled text cannot open a tag or a table cell.
    assert "<b>" not in page and "Evil \\<b\\>Corp\\</b\\> \\| x" in page


def test_empty_period_says_so(stored, tmp_path):
    summary = api.summarize(stored, api.Period(date(2030, 1, 1), date(2030, 1, 7)))

    assert summary.empty and summary.overall.headline.messages == 0
    (page,) = api.write_summary(summary, tmp_path, ("md",))
    assert page.name == "dmarc-summary-2030-01-01_2030-01-07.md"
    assert "No aggregate reports were received" in page.read_text()


def test_dollar_signs_in_names_are_shown_not_typeset(database, tmp_path):
    dkim = (
        "<dkim><domain>evil$\\frac{a}$.example</domain><selector>s</selector>"
        "<result>pass</result></dkim>"
    )
    (tmp_path / "r.xml").write_bytes(
        report_xml(record_xml(count=3, dkim="fail", spf="fail", auth=dkim))
    )
    api.ingest(database, [tmp_path / "r.xml"])

    summary = api.summarize(database, api.Period(date(2023, 11, 1), date(2023, 11, 30)))
    written = api.write_summary(summary, tmp_path / "out", ("md",))

    assert len(written) == 5
    assert "evil\\$\\\\frac" in written[0].read_text()


def test_failures_and_senders_json_are_the_same_on_sqlite_and_postgresql(tmp_path):
    """Every list of the output in a fixed order, ties broken by name: the
    same data gives the same JSON whatever the database."""
    from tests.conftest import CORPUS, postgres_database

    subset = [CORPUS / "dmarc-report-viewer"]
    subset += sorted((CORPUS / "dmarcrua").iterdir())[:40]

    def outputs(url: str) -> tuple[str, str]:
        database = api.open_database(url)
        try:
            api.ingest(database, subset)
            failures = [vendor.as_dict() for vendor in api.failures(database)]
            senders = [sender.as_dict() for sender in api.senders(database)]
        finally:
            database.close()
        return json.dumps(failures, indent=1), json.dumps(senders, indent=1)

    on_sqlite = outputs(f"sqlite:///{tmp_path / 'parity.sqlite'}")
    with postgres_database() as url:
        on_postgresql = outputs(url)

    assert on_sqlite[0] == on_postgresql[0]
    assert on_sqlite[1] == on_postgresql[1]


def test_the_analysis_reads_while_an_ingest_holds_the_write_lock(tmp_path):
    import sqlite3
    import threading

    from tests.conftest import SAMPLES

    path = tmp_path / "busy.sqlite"
    database = api.open_database(f"sqlite:///{path}")
    api.ingest(database, [SAMPLES])
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # as an ingest storing a large file
    answers: list = []

    def analyse() -> None:
        answers.append(len(api.senders(database)))
        answers.append(len(api.failures(database)))

    try:
        reader = threading.Thread(target=analyse, daemon=True)
        reader.start()
        reader.join(timeout=60)
        assert not reader.is_alive(), "the analysis waited for the writer"
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert answers[0] > 0 and answers[1] > 0
