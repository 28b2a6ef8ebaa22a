"""Each case of issue 6's hostile input and real reporters' quirks, ingested
as a file: refused with a one-line reason naming the problem and nothing
stored, or stored with the totals written and the warning expected.
docs/hostile-input.md is the table of these cases."""

import csv
import gzip
import io
import zipfile
from email.message import EmailMessage

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.ingest import containers
from dmarc_analyzer.ingest.pipeline import ingest_paths
from dmarc_analyzer.reporting.exports import failures_csv
from tests.conftest import record_xml, report_xml

NS_2 = '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">'
NS_1 = '<feedback xmlns="http://dmarc.org/dmarc-xml/0.1">'


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def encrypted(archive: bytes) -> bytes:
    """The archive with its members flagged as encrypted, as zipfile cannot
    write them: the flag is what the ingest goes by."""
    flagged = bytearray(archive)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = flagged.find(signature)
        while start >= 0:
            flagged[start + flags_at] |= 0x1
            start = flagged.find(signature, start + 4)
    return bytes(flagged)


def message(attachment: bytes, subtype: str = "gzip") -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = "dmarc@receiver.example"
    mail["Subject"] = "Report domain: example.com"
    mail.set_content("Report attached")
    mail.add_attachment(
        attachment, maintype="application", subtype=subtype, filename="r.xml.gz"
    )
    return mail


def forwarded(xml: bytes) -> bytes:
    outer = EmailMessage()
    outer["From"] = "colleague@example.com"
    outer["Subject"] = "Fwd: Report"
    outer.set_content("FYI")
    outer.add_attachment(message(gzip.compress(xml)))
    return outer.as_bytes()


def failure_report() -> bytes:
    mail = EmailMessage()
    mail["From"] = "dmarc@receiver.example"
    mail["Subject"] = "Failure report"
    mail.set_content("A message failed DMARC")
    mail.add_attachment(
        b"Feedback-Type: auth-failure\r\n",
        maintype="message",
        subtype="feedback-report",
    )
    return mail.as_bytes()


def nested(xml: bytes, levels: int) -> bytes:
    for level in range(levels):
        xml = zipped({"r.zip": xml}) if level % 2 else gzip.compress(xml)
    return xml


def one(rid: str, **fields) -> bytes:
    """A valid report of 3 messages, with `fields` of record_xml changed."""
    return report_xml(record_xml(**{"count": 3, **fields}), report_id=rid)


BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b"<feedback>&lol3;</feedback>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<feedback>&x;</feedback>"
)
EXTERNAL_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/f.dtd">'
    b"<feedback/>"
)

# (test id, the file's bytes from a report id, the reason a refusal names)
REFUSED = [
    ("billion-laughs", lambda rid: BILLION_LAUGHS, "unsafe XML refused: a DTD"),
    ("external-entity", lambda rid: EXTERNAL_ENTITY, "unsafe XML refused: a DTD"),
    ("external-dtd", lambda rid: EXTERNAL_DTD, "unsafe XML refused: a DTD"),
    (
        "undefined-entity",
        lambda rid: one(rid).replace(b">receiver.example<", b">&foo;<"),
        "undefined entity &foo;",
    ),
    (
        "deeply-nested-elements",
        lambda rid: one(rid).replace(b"</feedback>", b"<a>" * 300 + b"</feedback>"),
        "Excessive depth in document: 256",
    ),
    (
        "huge-text-node",
        lambda rid: one(rid).replace(b"<version>", b" " * 100_000 + b"<version>"),
        "a text of more than 65,536 bytes without markup",
    ),
    (
        "huge-element",
        lambda rid: one(rid).replace(
            b"</feedback>", b"<x/>" * 300_000 + b"</feedback>"
        ),
        "more than 1,048,576 bytes without a complete <record>",
    ),
    (
        "gzip-bomb",
        lambda rid: gzip.compress(report_xml(record_xml() * 20_000, report_id=rid)),
        "gzip expands beyond 1,000,000 bytes",
    ),
    (
        "zip-bomb-member",
        lambda rid: zipped({"r.xml": report_xml(record_xml() * 20_000)}),
        "zip member expands beyond 1,000,000 bytes",
    ),
    (
        "zip-bomb-all-members",
        lambda rid: zipped(
            {
                f"{n}.xml": report_xml(record_xml() * 2_800, report_id=f"{rid}-{n}")
                for n in range(3)
            }
        ),
        "the file's archives expand beyond 2,000,000 bytes in all",
    ),
    (
        "zip-thousands-of-members",
        lambda rid: zipped({f"{n}.xml": b"<feedback/>" for n in range(1_001)}),
        "zip archive holds 1,001 files (more than 1,000)",
    ),
    (
        "zip-directory-of-too-many-entries",
        lambda rid: zipped({f"{n}/": b"" for n in range(10_001)}),
        "zip archive lists 10,001 entries (more than 10,000)",
    ),
    ("nested-too-deep", lambda rid: nested(one(rid), 5), "nested more than 4 deep"),
    (
        "encrypted-zip",
        lambda rid: encrypted(zipped({"r.xml": one(rid)})),
        "zip member is encrypted",
    ),
    (
        "truncated-gzip",
        lambda rid: gzip.compress(one(rid))[:60],
        "truncated gzip data",
    ),
    ("truncated-zip", lambda rid: zipped({"r.xml": one(rid)})[:100], "broken zip"),
    ("empty-file", lambda rid: b"", "empty: no report in it"),
    (
        "a-few-words-compressed",
        lambda rid: gzip.compress(b"hello there"),
        "not XML, gzip, zip or e-mail (starts with 'hello there')",
    ),
    (
        "html",
        lambda rid: b"<!DOCTYPE html><html><body><p>Hi<br></body></html>",
        "an HTML page, not a DMARC aggregate report",
    ),
    ("json", lambda rid: b'{"report": 1}', "JSON, not a DMARC aggregate report"),
    ("image", lambda rid: b"\x89PNG\r\n\x1a\n\x00\x00", "a PNG image, not a DMARC"),
    (
        "failure-report",
        lambda rid: failure_report(),
        "a DMARC failure (forensic) report, not a DMARC aggregate report",
    ),
    (
        "smtp-tls-report",
        lambda rid: gzip.compress(b'{"organization-name": "x", "policies": []}'),
        "an SMTP TLS report (JSON), not a DMARC aggregate report",
    ),
    (
        "smtp-tls-report-mail",
        lambda rid: message(b"{}", "tlsrpt+gzip").as_bytes(),
        "an SMTP TLS report, not a DMARC aggregate report",
    ),
    ("negative-count", lambda rid: one(rid, count=-5), "invalid count '-5'"),
    ("non-numeric-count", lambda rid: one(rid, count="3x"), "invalid count '3x'"),
    (
        "markup-in-count",
        lambda rid: one(rid).replace(b"<count>3<", b"<count>1<b>2</b><"),
        "<count> holds markup (<b>), not a value",
    ),
    (
        "begin-after-end",
        lambda rid: report_xml(record_xml(), report_id=rid, begin=200, end=100),
        "date_range begins",
    ),
    (
        "dates-in-milliseconds",
        lambda rid: report_xml(
            record_xml(), report_id=rid, begin=1700000000000, end=1700000000000
        ),
        "date_range begin is not a Unix time: '1700000000000'",
    ),
    (
        "far-future-date",
        lambda rid: report_xml(
            record_xml(), report_id=rid, begin=99999999999, end=99999999999
        ),
        "date_range begin is in the year 5138",
    ),
    ("invalid-source-ip", lambda rid: one(rid, ip="999.1.1.1"), "invalid source_ip"),
    (
        "unknown-result-word",
        lambda rid: one(rid, dkim="banana"),
        "record 1 has an unknown dkim result 'banana'",
    ),
    (
        "missing-policy-published",
        lambda rid: (
            one(rid)
            .replace(b"<policy_published>", b"<policy>")
            .replace(b"</policy_published>", b"</policy>")
        ),
        "missing <policy_published>",
    ),
    (
        "second-report-metadata",
        lambda rid: one(rid).replace(b"</feedback>", b"<report_metadata/></feedback>"),
        "a second <report_metadata> in <feedback>",
    ),
    (
        "record-inside-a-wrapper",
        lambda rid: report_xml(f"<records>{record_xml()}</records>", report_id=rid),
        "<record> inside <records>, not directly in <feedback>",
    ),
]

SEVERAL_RESULTS = (
    "<dkim><domain>example.com</domain><selector>a</selector><result>fail</result>"
    "</dkim><dkim><domain>esp.example</domain><result>pass</result></dkim>"
    "<spf><domain>example.com</domain><result>pass</result></spf>"
    "<spf><domain>esp.example</domain><result>softfail</result></spf>"
)

# (test id, the file's bytes from a report id, messages stored, the warning)
STORED = [
    (
        "namespace-rfc9990",
        lambda rid: report_xml(record_xml(count=3), report_id=rid, root=NS_2),
        3,
        None,
    ),
    (
        "namespace-draft",
        lambda rid: report_xml(record_xml(count=3), report_id=rid, root=NS_1),
        3,
        None,
    ),
    ("byte-order-mark", lambda rid: b"\xef\xbb\xbf" + one(rid), 3, None),
    (
        "windows-1252-declared",
        lambda rid: (
            one(rid, header_from="caf\xe9.example")
            .decode()
            .replace("UTF-8", "windows-1252")
            .encode("cp1252")
        ),
        3,
        None,
    ),
    (
        "no-declaration",
        lambda rid: one(rid).split(b"?>\n", 1)[1],
        3,
        None,
    ),
    (
        "invalid-utf-8",
        lambda rid: one(rid).replace(b">receiver.example<", b">rec\xffeiver.example<"),
        3,
        "replaced bytes that are not valid utf-8",
    ),
    (
        "control-characters",
        lambda rid: one(rid).replace(b">receiver.example<", b">rec\x01eiver.example<"),
        3,
        "removed control characters",
    ),
    (
        "markup-before-root",
        lambda rid: b"<xs:schema xmlns:xs='x'>\n" + one(rid).split(b"?>\n", 1)[1],
        3,
        "ignored markup before <feedback>",
    ),
    (
        "content-after-root",
        lambda rid: one(rid) + b"\n<trailer/>junk",
        3,
        "ignored content after </feedback>",
    ),
    ("capitalised-words", lambda rid: one(rid, dkim="PASS", spf="Fail"), 3, None),
    (
        "empty-reason",
        lambda rid: one(rid, extra_evaluated="<reason><type/><comment/></reason>"),
        3,
        None,
    ),
    ("count-0", lambda rid: report_xml(record_xml(count=0), report_id=rid), 0, None),
    (
        "no-source-ip",
        lambda rid: report_xml(
            record_xml(count=3) + record_xml("", count=4), report_id=rid
        ),
        3,
        "skipped 1 record(s) without a source_ip (4 messages)",
    ),
    ("several-results", lambda rid: one(rid, auth=SEVERAL_RESULTS), 3, None),
    ("ipv6-short", lambda rid: one(rid, ip="2001:db8::25"), 3, None),
    (
        "ipv6-long",
        lambda rid: one(rid, ip="2001:0DB8:0000:0000:0000:0000:0000:0025"),
        3,
        None,
    ),
    (
        "results-outside-the-rfc",
        lambda rid: one(
            rid,
            auth="<dkim><domain>a.example</domain><result>unknown</result></dkim>"
            "<spf><domain>a.example</domain><result>hardfail</result></spf>"
            "<spf><domain>b.example</domain><result>error</result></spf>",
        ),
        3,
        None,
    ),
    (
        "disposition-pass",
        lambda rid: one(rid).replace(b"<disposition>none", b"<disposition>pass"),
        3,
        None,
    ),
    (
        "zip-with-folders-and-macos-clutter",
        lambda rid: zipped(
            {"r/": b"", "r/a.xml": one(rid), "__MACOSX/r/._a.xml": b"\x00\x05"}
        ),
        3,
        None,
    ),
    (
        "zip-with-desktop-clutter-and-empty-files",
        lambda rid: zipped(
            {
                "reports/.DS_Store": b"\x00\x00\x00\x01Bud1" + b"\x00" * 40,
                "reports/a.xml": one(rid),
                "reports/._a.xml": b"\x00\x05\x16\x07",
                "Thumbs.db": b"\xd0\xcf\x11\xe0" + b"\x00" * 40,
                "reports/Desktop.ini": b"[.ShellClassInfo]\r\n",
                "reports/empty.xml": b"",
            }
        ),
        3,
        None,
    ),
    ("gzip-trailing-bytes", lambda rid: gzip.compress(one(rid)) + b"\0\0junk", 3, None),
    ("forwarded-message", lambda rid: forwarded(one(rid)), 3, None),
    (
        "zip-member-names-with-dots-and-absolute",
        lambda rid: zipped({"../../x.xml": one(rid), "/etc/y.xml": one(f"{rid}-2")}),
        6,
        None,
    ),
    (
        "multi-week-date-range",
        lambda rid: report_xml(
            record_xml(count=3), report_id=rid, begin=1700000000, end=1703000000
        ),
        3,
        None,
    ),
    (
        "version-after-policy",
        lambda rid: (
            one(rid)
            .replace(b"<version>1.0</version>", b"")
            .replace(
                b"</policy_published>", b"</policy_published><version>1.0</version>"
            )
        ),
        3,
        None,
    ),
]


@pytest.fixture
def small_caps(monkeypatch):
    """Caps small enough to reach in a test; the real ones are 1,000 times
    larger and work alike."""
    monkeypatch.setattr(containers, "MAX_EXPANDED_BYTES", 1_000_000)
    monkeypatch.setattr(containers, "MAX_TOTAL_EXPANDED_BYTES", 2_000_000)


@pytest.fixture(scope="module")
def database(tmp_path_factory):
    database = api.open_database(
        f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'db.sqlite'}"
    )
    yield database
    database.close()


def _ingest(database, tmp_path, data: bytes):
    path = tmp_path / "input"
    path.write_bytes(data)
    return ingest_paths(database, [path])


@pytest.mark.parametrize(
    ("case", "reason"), [(c[1], c[2]) for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_refused_with_a_reason_and_nothing_stored(
    database, tmp_path, small_caps, request, case, reason
):
    before = len(api.stored_reports(database))

    summary = _ingest(database, tmp_path, case(request.node.callspec.id))

    (refusal,) = summary.refused
    assert reason in refusal.reason
    assert "\n" not in refusal.reason and "unexpected" not in refusal.reason
    assert len(api.stored_reports(database)) == before


@pytest.mark.parametrize(
    ("case", "messages", "warning"),
    [c[1:] for c in STORED],
    ids=[c[0] for c in STORED],
)
def test_quirks_are_stored_with_a_warning_where_repaired(
    database, tmp_path, request, case, messages, warning
):
    summary = _ingest(database, tmp_path, case(request.node.callspec.id))

    assert summary.refused == []
    assert summary.messages_added == messages
    assert [w.warning for w in summary.warnings] == ([warning] if warning else [])


def test_csv_cells_a_spreadsheet_would_run_are_neutralised(database, tmp_path):
    formula = "=HYPERLINK(attacker.example)"
    xml = report_xml(
        record_xml("198.51.100.9", 4, dkim="fail", header_from=formula),
        report_id="csv-1",
        domain=formula,
    )
    _ingest(database, tmp_path, xml)

    rows = list(csv.reader(io.StringIO(failures_csv(api.failures(database)))))

    cells = [cell for row in rows[1:] for cell in row]
    assert any(cell.lower().startswith("'=hyperlink") for cell in cells)
    assert not any(cell[:1] in ("=", "+", "-", "@") for cell in cells)


def mbox(*messages: bytes) -> bytes:
    return b"".join(
        b"From dmarc@receiver.example Thu Nov 26 00:00:00 2026\n" + m + b"\n"
        for m in messages
    )


def test_each_message_of_an_mbox_is_stored_or_refused_on_its_own(database, tmp_path):
    lunch = EmailMessage()
    lunch["From"] = "colleague@example.com"
    lunch["Subject"] = "lunch?"
    lunch.set_content("12:30 at the usual place?")
    broken = message(gzip.compress(one("mbox-3"))[:-20]).as_bytes()
    good = [message(gzip.compress(one(f"mbox-{n}"))).as_bytes() for n in (1, 4)]
    before = len(api.stored_reports(database))

    summary = _ingest(
        database, tmp_path, mbox(good[0], lunch.as_bytes(), broken, good[1])
    )

    assert summary.reports_added == 2 and summary.messages_added == 6
    assert len(api.stored_reports(database)) == before + 2
    assert [(r.path, r.reason) for r in summary.refused] == [
        (str(tmp_path / "input"), "message 3: r.xml.gz: truncated gzip data")
    ]
    assert [w.warning for w in summary.warnings] == [
        "message 2: skipped: e-mail message carries no aggregate report"
    ]

    again = _ingest(database, tmp_path, mbox(good[0], good[1]))
    assert (again.reports_added, again.duplicates, again.refused) == (0, 2, [])
