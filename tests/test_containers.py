import gzip
import io
import random
import tarfile
import zipfile
from email.message import EmailMessage

import pytest

from dmarc_analyzer.errors import OtherReportType, ReportRefused
from dmarc_analyzer.ingest import containers
from dmarc_analyzer.ingest.containers import extract_payloads
from tests.conftest import record_xml, report_xml

XML = report_xml(record_xml())


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def mail(
    attachments: list[tuple[str, str, bytes]], body: str = "Report attached"
) -> bytes:
    message = EmailMessage()
    message["From"] = "dmarc@receiver.example"
    message["To"] = "rua@example.com"
    message["Subject"] = "Report domain: example.com"
    message.set_content(body)
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/")
        message.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=filename
        )
    return message.as_bytes()


def payloads(data: bytes) -> list[bytes]:
    return [payload.data for payload in extract_payloads(data)]


def test_plain_xml_gzip_and_zip_are_found_by_their_bytes():
    assert payloads(XML) == [XML]
    assert payloads(gzip.compress(XML)) == [XML]
    assert payloads(zipped({"report.txt": XML})) == [XML]


def test_zip_with_several_members_nested_gzip_and_mac_clutter():
    archive = zipped(
        {
            "reports/": b"",
            "reports/a.xml": XML,
            "reports/b.xml.gz": gzip.compress(XML),
            "__MACOSX/reports/._a.xml": b"\x00\x05\x16\x07 resource fork",
        }
    )
    assert payloads(archive) == [XML, XML]


def test_gzip_with_trailing_garbage_is_read():
    assert payloads(gzip.compress(XML) + b"\x00\x00junk") == [XML]


def test_email_with_attachments_of_any_declared_type():
    message = mail(
        [
            ("report.zip", "application/octet-stream", zipped({"r.xml": XML})),
            ("second", "text/plain", gzip.compress(XML)),
        ]
    )
    assert payloads(message) == [XML, XML]


def test_report_inside_a_forwarded_message():
    inner = EmailMessage()
    inner["From"] = "dmarc@receiver.example"
    inner["Subject"] = "Report"
    inner.set_content("see attachment")
    inner.add_attachment(
        gzip.compress(XML), maintype="application", subtype="gzip", filename="r.xml.gz"
    )
    outer = EmailMessage()
    outer["From"] = "colleague@example.com"
    outer["Subject"] = "Fwd: Report"
    outer.set_content("FYI")
    outer.add_attachment(inner)
    assert payloads(outer.as_bytes()) == [XML]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"\x89PNG\r\n\x1a\n....", "PNG image"),
        (b'{"organization-name": "x", "policies": []}', "SMTP TLS report"),
        (b"hello world", "not XML, gzip, zip or e-mail"),
        (gzip.compress(XML)[:30], "truncated gzip"),
        (b"\x1f\x8b\x08\x00garbage-garbage", "broken gzip"),
        (zipped({"a.xml": XML})[:40], "broken zip"),
        (zipped({"__MACOSX/._a.xml": b"x"}), "holds no files"),
        (mail([]), "carries no aggregate report"),
        (gzip.compress(b"just a few words"), "not XML"),
    ],
)
def test_refusals_name_the_problem(data, reason):
    with pytest.raises(ReportRefused) as refused:
        payloads(data)
    assert reason in str(refused.value)


def test_failure_report_is_named_as_such():
    message = EmailMessage()
    message["From"] = "a@b.example"
    message["Subject"] = "Failure report"
    message.set_content("A message failed DMARC")
    message.add_attachment(
        b"Feedback-Type: auth-failure\r\n",
        maintype="message",
        subtype="feedback-report",
    )
    with pytest.raises(OtherReportType, match=r"failure \(forensic\) report"):
        payloads(message.as_bytes())

    # Beside an aggregate report, a failure or TLS report does not hide it.
    message.add_attachment(XML, maintype="application", subtype="xml")
    message.add_attachment(
        gzip.compress(b'{"policies": []}'),
        maintype="application",
        subtype="tlsrpt+gzip",
    )
    assert payloads(message.as_bytes()) == [XML]


def test_expansion_and_depth_are_capped(monkeypatch):
    monkeypatch.setattr(containers, "MAX_EXPANDED_BYTES", 1000)
    with pytest.raises(ReportRefused, match="expands beyond"):
        payloads(gzip.compress(b"<" + b" " * 10_000))

    nested = XML
    for _ in range(containers.MAX_DEPTH + 1):
        nested = gzip.compress(nested)
    with pytest.raises(ReportRefused, match="nested more than"):
        payloads(nested)


def test_zip_member_names_are_labels_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = zipped({"../../escape.xml": XML, "/abs/path.xml": XML})
    found = list(extract_payloads(archive))
    assert [p.data for p in found] == [XML, XML]
    assert list(tmp_path.iterdir()) == []


def test_every_message_of_an_mbox_is_read():
    one = mail([("a.xml.gz", "application/gzip", gzip.compress(XML))])
    mbox = b"From dmarc@a.example Thu Nov 26 00:00:00 2026\n" + one
    mbox += b"\nFrom dmarc@b.example Thu Nov 26 00:00:01 2026\n" + one

    assert payloads(mbox) == [XML, XML]


def test_gzip_members_one_after_another_are_one_stream():
    half = len(XML) // 2
    assert payloads(gzip.compress(XML[:half]) + gzip.compress(XML[half:])) == [XML]


def test_real_report_mails_with_other_first_headers_and_html_bodies():
    message = EmailMessage()
    message["DKIM-Signature"] = "v=1; a=rsa-sha256; d=receiver.example; s=x; b=abc"
    message["From"] = "dmarc@receiver.example"
    message["Subject"] = "Report domain: example.com"
    message.set_content("<dmarc@receiver.example>: your report is attached")
    message.add_alternative(
        "<html><body><p>Report attached</p></body></html>", subtype="html"
    )
    message.add_attachment(
        gzip.compress(XML), maintype="application", subtype="gzip", filename="r.xml.gz"
    )

    assert payloads(message.as_bytes()) == [XML]


def test_any_amount_of_leading_whitespace_is_skipped():
    padded = b" " * 100_000 + b"\r\n" + XML
    (payload,) = extract_payloads(padded)
    (from_gzip,) = extract_payloads(gzip.compress(padded))

    assert payload.data == from_gzip.data == XML


def test_only_whitespace_is_empty():
    with pytest.raises(ReportRefused, match="empty gzip: no report in it"):
        list(extract_payloads(gzip.compress(b" " * 5_000_000)))


def test_an_oversized_email_is_refused_before_it_is_parsed(monkeypatch):
    monkeypatch.setattr(containers, "MAX_MESSAGE_BYTES", 10_000)
    message = b"From: a@b\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n"

    with pytest.raises(ReportRefused, match="an e-mail message of more than 10,000"):
        list(extract_payloads(gzip.compress(message + b" " * 20_000)))


def test_all_members_together_are_capped(monkeypatch):
    monkeypatch.setattr(containers, "MAX_EXPANDED_BYTES", 10_000)
    monkeypatch.setattr(containers, "MAX_TOTAL_EXPANDED_BYTES", 25_000)
    member = b"<" + b" " * 9_000
    archive = zipped({f"m{n}.xml": member for n in range(3)})

    with pytest.raises(ReportRefused, match=r"m2.xml: the file's archives expand"):
        payloads(archive)
    assert payloads(zipped({f"m{n}.xml": member for n in range(2)})) == [member] * 2


def test_zip_directories_with_too_many_entries_are_refused_unread(monkeypatch):
    monkeypatch.setattr(containers, "MAX_ZIP_ENTRIES", 50)
    folders = {f"folder{n}/": b"" for n in range(60)}

    with pytest.raises(ReportRefused, match="lists 61 entries"):
        payloads(zipped({**folders, "r.xml": XML}))


def test_zips_nested_in_zips_and_gzip_are_capped_in_depth():
    nested = XML
    for level in range(containers.MAX_DEPTH + 1):
        nested = zipped({"r.zip": nested}) if level % 2 else gzip.compress(nested)

    with pytest.raises(ReportRefused, match="nested more than"):
        payloads(nested)


def test_a_nested_zip_is_held_only_up_to_its_cap(monkeypatch):
    monkeypatch.setattr(containers, "MAX_NESTED_ZIP_BYTES", 1_000)
    inner = zipped({"r.xml": XML, "noise.bin": random.Random(1).randbytes(2_000)})

    with pytest.raises(ReportRefused, match="a nested zip of more than 1,000"):
        payloads(gzip.compress(inner))


def test_each_message_of_an_mbox_is_capped_without_reading_the_rest(monkeypatch):
    monkeypatch.setattr(containers, "MAX_MESSAGE_BYTES", 10_000)
    one = mail([("a.xml.gz", "application/gzip", gzip.compress(XML))])
    big = b"From: a@b\r\nSubject: x\r\n\r\n" + b"x" * 20_000
    mbox = b"From a@a Thu Nov 26 00:00:00 2026\n" + one
    mbox += b"\nFrom b@b Thu Nov 26 00:00:01 2026\n" + big

    found = extract_payloads(mbox)
    assert next(found).data == XML
    with pytest.raises(ReportRefused, match="message of more than 10,000 bytes"):
        next(found)


def test_messages_nested_too_deeply_are_refused_not_a_crash():
    carried = mail([("r.xml.gz", "application/gzip", gzip.compress(XML))])
    shallow = deep = carried
    for level in range(2_000):
        wrapped = b"From: a@b\r\nContent-Type: message/rfc822\r\n\r\n" + deep
        shallow, deep = (wrapped if level < 20 else shallow), wrapped

    assert payloads(shallow) == [XML]
    with pytest.raises(ReportRefused, match="e-mail message nested too deeply"):
        payloads(deep)


@pytest.mark.parametrize(
    ("cut", "reason"),
    [
        (-30, "e-mail message cut short (its closing MIME boundary is missing)"),
        (-1, "r.xml.gz: the attachment is empty"),
        (2, "r.xml.gz: the attachment's base64 is damaged or cut short"),
        (40, "r.xml.gz: truncated gzip data"),
    ],
    ids=["in-the-headers", "before-the-attachment", "in-the-base64", "in-the-gzip"],
)
def test_a_message_saved_half_way_says_where_it_was_cut(cut, reason):
    data = mail([("r.xml.gz", "application/gzip", gzip.compress(XML))])
    cut_at = data.index(b"H4sI") + cut  # where the gzip's base64 starts

    with pytest.raises(ReportRefused) as refused:
        list(extract_payloads(data[:cut_at]))

    assert str(refused.value).startswith(reason)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (
            gzip.compress(b"hello there, how are you"),
            "gzip holding text that is not XML, gzip, zip or e-mail "
            "(starts with 'hello there, how are you')",
        ),
        (
            gzip.compress(b"\x00" * 100),
            "gzip holding data that is not XML, gzip, zip or e-mail "
            "(starts with '\\x00[40 times]')",
        ),
        (gzip.compress(b""), "empty gzip: no report in it"),
        (gzip.compress(b"\x89PNG\r\n"), "gzip holding a PNG image, not a DMARC report"),
        (b"\x00" * 100, "not XML, gzip, zip or e-mail (starts with '\\x00[40 times]')"),
    ],
    ids=["words", "zeros", "empty", "image", "zeros-uncompressed"],
)
def test_what_a_payload_holds_instead_of_a_report_is_described(data, reason):
    with pytest.raises(ReportRefused) as refused:
        list(extract_payloads(data))

    assert str(refused.value) == reason


@pytest.mark.parametrize(
    ("method", "name"), [(zipfile.ZIP_BZIP2, "bzip2"), (zipfile.ZIP_LZMA, "LZMA")]
)
def test_zip_members_other_than_stored_or_deflate_are_refused_unread(method, name):
    # zipfile decompresses each bzip2 or LZMA chunk whole: a member that
    # claims 1,000 bytes here gives 4 MB in one read, a real bomb GBs.
    expanded = b"<" + b" " * (4 * 1024 * 1024 - 1)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", compression=method) as writer:
        writer.writestr("r.xml", expanded)
    lying = archive.getvalue().replace(
        len(expanded).to_bytes(4, "little"), (1000).to_bytes(4, "little")
    )

    with pytest.raises(ReportRefused, match=f"zip member compressed with {name}"):
        payloads(lying)


def test_zip_directories_too_large_are_refused_whatever_count_they_claim(
    monkeypatch,
):
    monkeypatch.setattr(containers, "MAX_ZIP_DIRECTORY_BYTES", 2_000)
    archive = zipped({**{f"folder{n}/": b"" for n in range(60)}, "r.xml": XML})
    # The end record claims one entry; the directory holds 61.
    end = archive.rfind(b"PK\x05\x06")
    one = (1).to_bytes(2, "little") * 2
    lying = archive[: end + 8] + one + archive[end + 12 :]

    with pytest.raises(
        ReportRefused, match=r"directory is [0-9,]+ bytes \(more than 2,000"
    ):
        payloads(lying)
    assert payloads(zipped({"r.xml": XML})) == [XML]


def test_a_message_of_too_many_parts_is_refused_as_it_is_parsed(monkeypatch):
    monkeypatch.setattr(containers, "MAX_MESSAGE_PARTS", 50)
    small = [(f"a{n}.bin", "application/octet-stream", b"x") for n in range(60)]

    with pytest.raises(ReportRefused, match="message of more than 50 parts"):
        payloads(mail(small))
    assert len(payloads(mail([("r.xml", "text/xml", XML), *small[:40]]))) == 1


def test_a_tar_archive_is_named():
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        info = tarfile.TarInfo("report.xml")
        info.size = len(XML)
        tar.addfile(info, io.BytesIO(XML))

    with pytest.raises(ReportRefused, match="a tar archive, not a DMARC report"):
        payloads(archive.getvalue())


def test_gzip_members_are_capped_in_number(monkeypatch):
    monkeypatch.setattr(containers, "MAX_GZIP_MEMBERS", 100)
    empty = gzip.compress(b"")

    with pytest.raises(ReportRefused, match="gzip of more than 100 members"):
        payloads(gzip.compress(XML) + empty * 100)
    assert payloads(gzip.compress(XML) + empty * 99) == [XML]
