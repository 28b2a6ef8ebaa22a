"""A large file is parsed by a child process while this one stores it: what
is stored, refused or skipped is the same as when one process does both."""

import gzip
import io
import os
import zipfile

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.ingest import pipeline, read_ahead
from dmarc_analyzer.storage import reports as storage
from tests.conftest import record_xml, report_xml

pytestmark = pytest.mark.skipif(
    not read_ahead.worth_it(), reason="needs two cores and fork"
)


@pytest.fixture(autouse=True)
def every_file_read_ahead(monkeypatch):
    # Not one file parsed whole (the way of small files): each read ahead.
    monkeypatch.setattr(pipeline, "WHOLE_FILE_BYTES", 0)
    monkeypatch.setattr(pipeline, "READ_AHEAD_FROM_BYTES", 0)
    # Small batches: a report's records cross the pipe in many of them.
    monkeypatch.setattr(storage, "BATCH_RECORDS", 4)


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _records(counts) -> str:
    return "".join(
        record_xml(f"192.0.2.{n}", count) for n, count in enumerate(counts, 1)
    )


def test_a_report_in_many_batches_is_stored_whole(database, inbox):
    counts = [n % 7 + 1 for n in range(30)]  # 4 x (1 + … + 7) + 1 + 2 = 115
    (inbox / "big.xml.gz").write_bytes(gzip.compress(report_xml(_records(counts))))

    summary = api.ingest(database, [inbox])

    assert (summary.reports_added, summary.records_added) == (1, 30)
    [report] = api.stored_reports(database)
    assert (report.records, report.messages) == (30, 115)
    assert not summary.refused


def test_a_bad_record_late_in_the_file_stores_nothing(database, inbox):
    bad = _records([1] * 20) + record_xml("192.0.2.99", count="many")
    (inbox / "late.xml").write_bytes(report_xml(bad))

    summary = api.ingest(database, [inbox])

    [refusal] = summary.refused
    assert "record 21 has an invalid count" in refusal.reason
    assert api.stored_reports(database) == []


def test_damaged_markup_is_repaired_in_the_child(database, inbox):
    document = report_xml(_records([2] * 9)).replace(b"<feedback>", b"junk<feedback>")
    (inbox / "damaged.xml").write_bytes(document)

    summary = api.ingest(database, [inbox])

    assert summary.records_added == 9
    assert [w.warning for w in summary.warnings] == ["ignored markup before <feedback>"]


def test_a_stored_report_is_skipped_and_the_next_one_read(database, inbox):
    first = report_xml(_records([3] * 10), report_id="first")
    second = report_xml(_records([5] * 10), report_id="second")
    (inbox / "first.xml").write_bytes(first)
    api.ingest(database, [inbox])
    (inbox / "first.xml").unlink()
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("first.xml", first)
        zipped.writestr("second.xml", second)
    (inbox / "both.zip").write_bytes(archive.getvalue())

    summary = api.ingest(database, [inbox])

    assert (summary.reports_added, summary.duplicates) == (1, 1)
    assert sorted(r.messages for r in api.stored_reports(database)) == [30, 50]


def test_a_child_that_dies_refuses_the_file_and_stores_nothing(
    database, inbox, monkeypatch
):
    def dies_after_a_batch(opener, streaming, channel):
        with opener() as handle:
            for payload in pipeline.stream_payloads(handle):
                parsed = pipeline._read_payload(payload, streaming)
                channel.offer(parsed.header)
                batch = list(parsed.records)[:4]
                channel.send_records(storage.prepare_records(parsed.header, batch))
                os._exit(9)

    monkeypatch.setattr(pipeline, "_read_for_parent", dies_after_a_batch)
    (inbox / "r.xml").write_bytes(report_xml(_records([1] * 12)))

    summary = api.ingest(database, [inbox])

    [refusal] = summary.refused
    assert "ended before it was read" in refusal.reason
    assert api.stored_reports(database) == []
