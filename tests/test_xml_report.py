import io
from datetime import UTC, datetime

import pytest

from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest import repair, xml_report
from dmarc_analyzer.ingest.containers import sniff
from dmarc_analyzer.ingest.xml_report import (
    parse_aggregate_report,
    stream_repaired_report,
)
from tests.conftest import record_xml, report_xml


def test_reads_metadata_policy_and_every_result():
    auth = (
        "<dkim><domain>example.com</domain><selector>s1</selector><result>fail</result></dkim>"
        "<dkim><domain>esp.example</domain><selector>k2</selector><result>Pass</result></dkim>"
        "<spf><domain>bounce.esp.example</domain><scope>mfrom</scope><result>pass</result></spf>"
        "<spf><domain>example.com</domain><scope>helo</scope><result>neutral</result></spf>"
    )
    reason = "<reason><type>forwarded</type><comment>via list</comment></reason>"
    xml = report_xml(
        record_xml(
            "192.0.2.7", 12, dkim="Fail", spf="fail", auth=auth, extra_evaluated=reason
        ),
        policy="<adkim>s</adkim><aspf>r</aspf><p>quarantine</p><sp>none</sp>"
        "<pct>50</pct><fo>1</fo>",
    )

    report = parse_aggregate_report(xml)

    assert report.org_name == "receiver.example"
    assert report.begin == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert report.policy.adkim == "s" and report.policy.pct == 50
    (record,) = report.records
    assert (record.source_ip, record.count, record.dkim, record.spf) == (
        "192.0.2.7",
        12,
        "fail",
        "fail",
    )
    assert [(r.domain, r.selector, r.result) for r in record.dkim_results] == [
        ("example.com", "s1", "fail"),
        ("esp.example", "k2", "pass"),
    ]
    assert [(r.domain, r.scope, r.result) for r in record.spf_results] == [
        ("bounce.esp.example", "mfrom", "pass"),
        ("example.com", "helo", "neutral"),
    ]
    assert [(r.type, r.comment) for r in record.reasons] == [("forwarded", "via list")]


@pytest.mark.parametrize(
    "root",
    [
        '<feedback xmlns="urn:ietf:params:xml:ns:dmarc-2.0">',
        '<feedback xmlns="http://dmarc.org/dmarc-xml/0.1">',
    ],
)
def test_namespaces_read_alike(root):
    report = parse_aggregate_report(report_xml(record_xml(count=3), root=root))
    assert report.messages == 3


def test_byte_order_mark_and_declared_encoding():
    body = report_xml(record_xml(), org_name="Caf\xe9 Mail").decode()
    latin = body.replace('encoding="UTF-8"', 'encoding="windows-1252"').encode("cp1252")
    assert parse_aggregate_report(latin).org_name == "Caf\xe9 Mail"
    assert (
        parse_aggregate_report(b"\xef\xbb\xbf" + body.encode()).org_name
        == "Caf\xe9 Mail"
    )


def test_ipv6_sources_are_normalised():
    report = parse_aggregate_report(
        report_xml(record_xml("2001:0DB8:0000:0000:0000:0000:0000:0025"))
    )
    assert report.records[0].source_ip == "2001:db8::25"


def test_empty_org_name_falls_back_to_reporter_domain():
    xml = report_xml(record_xml()).replace(
        b"<org_name>receiver.example</org_name>", b"<org_name></org_name>"
    )
    assert parse_aggregate_report(xml).org_name == "receiver.example"

    with pytest.raises(ReportRefused, match="neither org_name nor"):
        parse_aggregate_report(report_xml(record_xml(), org_name=""))


def test_report_without_records_has_no_messages_and_a_warning():
    report = parse_aggregate_report(report_xml(""))
    assert report.messages == 0
    assert report.warnings == ("report has no records",)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (b"this is not xml", "not well-formed XML"),
        (b"<html><body>hi</body></html>", "an HTML page, not a DMARC"),
        (b"<!DOCTYPE html><html><body><br></body></html>", "an HTML page, not"),
        (report_xml(record_xml(dkim="banana")), "unknown dkim result 'banana'"),
        (
            report_xml(record_xml()).replace(b"<report_id>r-1</report_id>", b""),
            "missing or empty <report_id>",
        ),
        (report_xml(record_xml(), begin=200, end=100), "begins"),
        (report_xml(record_xml(), begin="yesterday"), "not a Unix time"),
        (report_xml(record_xml(count=-5)), "invalid count '-5'"),
        (report_xml(record_xml(count="many")), "invalid count 'many'"),
        (report_xml(record_xml(ip="999.1.1.1")), "invalid source_ip"),
        (
            report_xml(record_xml())
            .replace(b"<policy_published>", b"<policy>")
            .replace(b"</policy_published>", b"</policy>"),
            "missing <policy_published>",
        ),
    ],
)
def test_refuses_with_a_reason(xml, reason):
    with pytest.raises(ReportRefused) as refused:
        parse_aggregate_report(xml)
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)


def test_entities_and_dtds_are_refused_not_expanded():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b"<feedback>&lol2;</feedback>"
    )
    external = (
        b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<feedback>&x;</feedback>"
    )
    # A DOCTYPE pointing elsewhere: never fetched, refused all the same.
    remote_dtd = (
        b'<?xml version="1.0"?><!DOCTYPE feedback SYSTEM "http://127.0.0.1:9/f.dtd">'
        b"<feedback><version>1.0</version></feedback>"
    )
    for xml in (bomb, external, remote_dtd):
        with pytest.raises(ReportRefused, match="unsafe XML"):
            parse_aggregate_report(xml)


@pytest.mark.parametrize(
    ("damage", "warning"),
    [
        (lambda xml: b"<xs:schema xmlns:xs='x'>\n" + xml, "markup before <feedback>"),
        (lambda xml: xml + b"\n<trailer/>junk", "content after </feedback>"),
        (
            lambda xml: xml.replace(
                b"receiver.example</org", b"receiver\x01.example</org"
            ),
            "control characters",
        ),
        (
            lambda xml: xml.replace(
                b"<header_from>example.com", b"<header_from>ex\xffample.com"
            ),
            "not valid utf-8",
        ),
    ],
)
def test_repairable_damage_is_repaired_and_reported(damage, warning):
    xml = report_xml(record_xml(count=4)).replace(
        b'<?xml version="1.0" encoding="UTF-8"?>\n', b""
    )

    report = parse_aggregate_report(damage(xml))

    assert report.messages == 4
    assert any(warning in repair for repair in report.warnings)


def test_invalid_bytes_become_replacement_characters():
    xml = report_xml(record_xml(header_from="ex\xffample.com")).replace(
        "ex\xffample".encode(), b"ex\xffample"
    )
    report = parse_aggregate_report(xml)
    assert report.records[0].header_from == "ex\ufffdample.com"


@pytest.mark.parametrize(
    ("count", "reason"),
    [
        ("99999999999999999999", "invalid count"),
        ("\u00b2", "invalid count"),
        ("\u0663\u0664", "invalid count"),
        ("1_0", "invalid count"),
    ],
)
def test_counts_are_plain_ascii_numbers_of_sane_size(count, reason):
    with pytest.raises(ReportRefused, match=reason):
        parse_aggregate_report(report_xml(record_xml(count=count)))


@pytest.mark.parametrize(
    ("begin", "reason"),
    [("1700000000000", "not a Unix time"), ("99999999999", "year")],
)
def test_timestamps_in_milliseconds_or_far_future_are_refused(begin, reason):
    with pytest.raises(ReportRefused, match=reason):
        parse_aggregate_report(report_xml(record_xml(), begin=begin, end=begin))


def test_source_addresses_are_normalised_or_refused():
    mapped = parse_aggregate_report(report_xml(record_xml("::ffff:192.0.2.1")))
    assert mapped.records[0].source_ip == "192.0.2.1"
    with pytest.raises(ReportRefused, match="invalid source_ip"):
        parse_aggregate_report(report_xml(record_xml("fe80::1%eth0")))


def test_a_percentage_that_is_none_is_dropped_with_a_warning():
    xml = report_xml(record_xml(), policy="<p>none</p><pct>3000000000</pct>")
    report = parse_aggregate_report(xml)
    assert report.policy.pct is None
    assert report.warnings == ("ignored pct '3000000000': not a percentage",)


def test_multi_byte_encodings_are_decoded():
    body = report_xml(record_xml(), org_name="\u65e5\u672c").decode()
    xml = body.replace("UTF-8", "Shift_JIS").encode("shift_jis")
    report = parse_aggregate_report(xml)
    assert report.org_name == "\u65e5\u672c" and report.warnings == ()


@pytest.mark.parametrize("encoding", ["x-bogus", "rot13", "uu", "zlib", "hex"])
def test_unknown_and_non_text_encodings_are_refused_with_a_reason(encoding):
    # uu and zlib were an unexpected TypeError: codecs, but not for text.
    xml = report_xml(record_xml()).replace(b"UTF-8", encoding.encode())

    with pytest.raises(ReportRefused, match=f"non-text encoding '{encoding}'"):
        parse_aggregate_report(xml)


def test_records_inside_a_wrapper_element_are_refused_not_dropped():
    wrapped = report_xml("<records>" + record_xml() + "</records>")

    with pytest.raises(ReportRefused, match="<record> inside <records>"):
        parse_aggregate_report(wrapped)


def test_an_undefined_entity_is_named():
    xml = report_xml(record_xml()).replace(b">receiver.example<", b">&foo;<")

    with pytest.raises(ReportRefused, match=r"undefined entity &foo;"):
        parse_aggregate_report(xml)


def test_a_dtd_behind_damage_is_still_refused():
    xml = report_xml(record_xml()).replace(
        b"<feedback>",
        b'<!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<feedback>',
    )
    damaged = xml.replace(b"<version>1.0", b"<version>1.\xff0")

    with pytest.raises(ReportRefused, match="unsafe XML"):
        parse_aggregate_report(damaged)


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        (
            report_xml(record_xml()).replace(
                b"<report_metadata>", b" " * 70_000 + b"<report_metadata>"
            ),
            "a text of more than 65,536 bytes",
        ),
        (
            report_xml(record_xml(header_from="a" * 70_000)),
            "a text of more than 65,536 bytes",
        ),
        (
            report_xml(
                record_xml(auth="<dkim><domain>d.example</domain></dkim>" * 30_000)
            ),
            "more than 1,048,576 bytes without a complete <record>",
        ),
        (
            report_xml(record_xml()).replace(
                b"</feedback>", b"<x/>" * 300_000 + b"</feedback>"
            ),
            "more than 1,048,576 bytes without a complete <record>",
        ),
    ],
    ids=["white space", "a value", "a record", "other elements"],
)
def test_oversized_text_and_elements_are_refused_as_they_are_read(xml, reason):
    with pytest.raises(ReportRefused, match=reason):
        parse_aggregate_report(xml)


def test_values_up_to_the_limits_are_read():
    xml = report_xml(record_xml(header_from="a" * 60_000, count=2))
    assert parse_aggregate_report(xml).messages == 2


@pytest.mark.parametrize("part", ["report_metadata", "policy_published", "version"])
def test_a_second_header_part_is_refused(part):
    xml = report_xml(record_xml())
    start, end = xml.index(f"<{part}>".encode()), xml.index(f"</{part}>".encode())
    twice = xml.replace(
        b"</feedback>", xml[start : end + len(part) + 3] + b"</feedback>"
    )

    with pytest.raises(ReportRefused, match=f"a second <{part}>"):
        parse_aggregate_report(twice)


@pytest.mark.parametrize("field", ["count", "source_ip", "org_name", "begin"])
def test_markup_inside_a_value_is_refused(field):
    xml = report_xml(record_xml())
    start = xml.index(f"<{field}>".encode()) + len(field) + 2
    marked = xml[:start] + b"1<b>2</b>" + xml[start:]

    with pytest.raises(ReportRefused, match=f"<{field}> holds markup"):
        parse_aggregate_report(marked)


def test_a_version_after_the_policy_is_kept_and_after_the_records_noted():
    xml = report_xml(record_xml()).replace(b"<version>1.0</version>", b"")
    after_policy = xml.replace(
        b"</policy_published>", b"</policy_published><version>2.0</version>"
    )
    after_records = xml.replace(b"</feedback>", b"<version>2.0</version></feedback>")

    assert parse_aggregate_report(after_policy).schema_version == "2.0"
    report = parse_aggregate_report(after_records)
    assert report.messages == 1
    assert report.warnings == ("ignored <version> after the records",)


def test_records_before_the_metadata_are_read_up_to_a_limit(monkeypatch):
    xml = report_xml(record_xml(count=2) * 3)
    start = xml.index(b"<report_metadata>")
    records = xml.index(b"<record>")
    early = xml[:start] + xml[records:-11] + xml[start:records] + b"</feedback>"

    assert parse_aggregate_report(early).messages == 6
    monkeypatch.setattr(xml_report, "MAX_EARLY_RECORDS", 2)
    with pytest.raises(ReportRefused, match="more than 2 records before"):
        parse_aggregate_report(early)


class _Endless(io.RawIOBase):
    """A report whose records never end, made as it is read."""

    def __init__(self, damage: bytes = b""):
        self.given = 0
        head = report_xml("").replace(b"</feedback>", b"")
        self._pending = damage + head
        self._record = record_xml(count=1).encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer):
            self._pending += self._record
        size = len(buffer)
        buffer[:size], self._pending = self._pending[:size], self._pending[size:]
        self.given += size
        return size


def test_a_repaired_report_is_read_as_a_stream():
    # Control characters and markup before <feedback>: repaired as read,
    # never holding the document.
    source = _Endless(b"<wrapper>\x01")

    stream = stream_repaired_report(io.BufferedReader(source))
    first = [
        record.count for _, record in zip(range(10_000), stream.records, strict=False)
    ]

    assert sum(first) == 10_000
    assert source.given < 8 * 1024 * 1024
    assert stream.warnings == (
        "removed control characters",
        "ignored markup before <feedback>",
    )


def test_repairs_across_chunk_boundaries():
    # </feedback> cut by a chunk boundary at each of its bytes, with invalid
    # bytes and multi-byte characters on the way, gives the same report.
    record = record_xml(header_from="caf\u00e9.example")
    xml = report_xml(record * 200).replace(b"</feedback>", b"</feedback>\n<x/>")
    xml = xml.replace(b"<org_name>receiver", b"<org_name>\xffreceiver")
    end = xml.index(b"</feedback>")
    for cut in range(1, len(b"</feedback>")):
        shift = (-end - cut) % repair.CHUNK_BYTES
        report = parse_aggregate_report(b" " * shift + xml)

        assert report.messages == 200
        assert report.records[-1].header_from == "caf\u00e9.example"
        assert report.org_name == "\ufffdreceiver.example"
        assert "ignored content after </feedback>" in report.warnings


def test_records_without_a_source_ip_are_skipped_and_said():
    xml = report_xml(record_xml(count=2) + record_xml("", count=5) + record_xml(""))

    report = parse_aggregate_report(xml)

    assert report.messages == 2
    assert report.warnings == ("skipped 2 record(s) without a source_ip (6 messages)",)


def _capitalised(xml: bytes, *names: str) -> bytes:
    for name in names:
        spelled = "_".join(word.capitalize() for word in name.split("_"))
        xml = xml.replace(f"<{name}>".encode(), f"<{spelled}>".encode())
        xml = xml.replace(f"</{name}>".encode(), f"</{spelled}>".encode())
    return xml


@pytest.mark.parametrize(
    "names",
    [
        ("record",),
        ("feedback", "report_metadata", "policy_published", "record", "version"),
        ("row", "source_ip", "count", "header_from", "dkim", "result"),
    ],
    ids=["record", "top-level", "inside-the-first-record"],
)
def test_element_names_in_the_wrong_case_are_read_with_a_warning(names):
    records = record_xml("192.0.2.1", 3) + record_xml("192.0.2.2", 4)
    report = parse_aggregate_report(_capitalised(report_xml(records), *names))

    assert [(r.source_ip, r.count) for r in report.records] == [
        ("192.0.2.1", 3),
        ("192.0.2.2", 4),
    ]
    assert report.policy.domain == "example.com"
    assert report.warnings == (xml_report.WRONG_CASE,)


def test_unknown_children_of_feedback_do_not_swallow_records_unseen():
    misspelt = record_xml("192.0.2.9").replace("record>", "Recrod>")
    xml = report_xml(record_xml() + misspelt + misspelt + "<extension/>")

    report = parse_aggregate_report(xml)

    assert len(report.records) == 1
    assert report.warnings == ("ignored unknown elements in <feedback>: <Recrod> (2)",)
    only_unknown = parse_aggregate_report(report_xml(misspelt))
    assert only_unknown.records == ()
    assert set(only_unknown.warnings) == {
        "report has no records",
        "ignored unknown elements in <feedback>: <Recrod> (1)",
    }


def test_lxml_reasons_carry_no_string_tail():
    with pytest.raises(ReportRefused) as refused:
        parse_aggregate_report(b"<feedback><a></feedback>")

    assert str(refused.value) == (
        "not well-formed XML: Opening and ending tag mismatch: a line 1 and "
        "feedback, line 1, column 25"
    )


@pytest.mark.parametrize(
    "markup",
    ["<!-- x -->", "<?pi x?>"],
    ids=["comment", "processing-instruction"],
)
def test_a_comment_inside_a_value_is_refused_not_joined(markup):
    xml = report_xml(record_xml(count=5)).replace(
        b"<count>5</count>", f"<count>1{markup}2</count>".encode()
    )

    with pytest.raises(ReportRefused, match="<count> holds markup"):
        parse_aggregate_report(xml)


def test_comments_between_elements_are_ignored():
    xml = report_xml(record_xml(count=5)).replace(
        b"<count>", b"<!-- the count --><count>"
    )
    assert parse_aggregate_report(xml).records[0].count == 5


def test_a_count_is_read_only_where_it_belongs():
    xml = report_xml(record_xml(count=5)).replace(
        b"<row>", b"<row><ext><count>1000</count></ext>"
    )
    assert parse_aggregate_report(xml).records[0].count == 5


@pytest.mark.parametrize(
    ("before", "after", "reason"),
    [
        ("<count>5</count>", "<count>5</count><count>7</count>", "<count> in <row>"),
        ("<source_ip>", "<source_ip>192.0.2.9</source_ip><source_ip>", "<source_ip>"),
        ("</row>", "</row><row><count>1</count></row>", "<row> in <record>"),
        ("<identifiers>", "<identifiers/><identifiers>", "<identifiers>"),
        ("<auth_results>", "<auth_results/><auth_results>", "<auth_results>"),
        ("<disposition>", "<disposition>reject</disposition><disposition>", "<disp"),
        ("</policy_evaluated>", "</policy_evaluated><policy_evaluated/>", "<policy_"),
        ("<header_from>", "<header_from>a.example</header_from><header_from>", "<he"),
        ("<result>", "<result>fail</result><result>", "<result> in <spf>"),
    ],
)
def test_a_second_singular_element_in_a_record_is_refused(before, after, reason):
    xml = report_xml(record_xml(count=5)).replace(before.encode(), after.encode(), 1)

    with pytest.raises(ReportRefused, match=f"record 1 has a second {reason}"):
        parse_aggregate_report(xml)


@pytest.mark.parametrize("codec", ["utf-32-le", "utf-32-be", "utf-16-le"])
def test_byte_order_marks_of_utf_32_and_16_are_read_without_a_repair(codec):
    body = report_xml(record_xml()).decode().replace("UTF-8", codec[:6].upper())
    xml = ("\ufeff" + body).encode(codec)
    # UTF-32LE's mark starts with UTF-16LE's: read as UTF-16, its zero bytes
    # were "control characters removed".
    assert sniff(xml) == "xml"
    repaired = xml_report._whole(xml_report.stream_repaired_report(io.BytesIO(xml)))
    for parsed in (parse_aggregate_report(xml), repaired):
        assert parsed.warnings == () and parsed.records[0].count == 1
