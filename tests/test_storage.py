"""The database layer, on SQLite and on PostgreSQL."""

import gzip
import logging
import random
import sqlite3
import threading
from datetime import UTC, date, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, inspect, select

from dmarc_analyzer import api
from dmarc_analyzer.analysis.overview import overview
from dmarc_analyzer.storage.schema import (
    dkim_results,
    metadata,
    override_reasons,
    records,
    reports,
    spf_results,
)
from tests.conftest import record_xml, report_xml


@pytest.fixture
def inbox(tmp_path):
    """A folder of input files, apart from the SQLite file of the test."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def count_rows(database, model) -> int:
    with database.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def test_migrations_build_the_schema_the_models_describe(database):
    with database.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
        tables = set(inspect(connection).get_table_names())
    assert differences == []
    assert {
        "reports",
        "records",
        "dkim_results",
        "spf_results",
        "override_reasons",
        "alembic_version",
    } <= tables


def test_every_field_is_stored(database, inbox):
    auth = (
        "<dkim><domain>example.com</domain><selector>s1</selector><result>fail</result></dkim>"
        "<dkim><domain>esp.example</domain><selector>k2</selector><result>pass</result></dkim>"
        "<spf><domain>bounce.esp.example</domain><scope>mfrom</scope><result>pass</result></spf>"
        "<spf><domain>example.com</domain><scope>helo</scope><result>none</result></spf>"
    )
    record = record_xml(
        "2001:db8::1",
        7,
        dkim="fail",
        spf="fail",
        auth=auth,
        extra_evaluated="<reason><type>mailing_list</type>"
        "<comment>list.example</comment></reason>",
    )
    path = inbox / "r.xml"
    path.write_bytes(
        report_xml(
            record,
            policy="<adkim>s</adkim><aspf>s</aspf>"
            "<p>reject</p><sp>quarantine</sp><pct>100</pct>"
            "<fo>1</fo><np>reject</np>",
        )
    )

    summary = api.ingest(database, [path])

    assert (summary.reports_added, summary.records_added, summary.messages_added) == (
        1,
        1,
        7,
    )
    with database.connect() as connection:
        report = connection.execute(select(reports)).one()
        stored = connection.execute(select(records)).one()
        dkim = connection.execute(
            select(
                dkim_results.c.domain, dkim_results.c.selector, dkim_results.c.result
            ).order_by(dkim_results.c.id)
        ).all()
        spf = connection.execute(
            select(
                spf_results.c.domain, spf_results.c.scope, spf_results.c.result
            ).order_by(spf_results.c.id)
        ).all()
        reason = connection.execute(
            select(override_reasons.c.type, override_reasons.c.comment)
        ).one()
    assert (report.adkim, report.p, report.sp, report.np, report.pct) == (
        "s",
        "reject",
        "quarantine",
        "reject",
        100,
    )
    assert report.begin == datetime(2023, 11, 14, 22, 13, 20)
    assert (stored.source_ip, stored.count, stored.dkim) == ("2001:db8::1", 7, "fail")
    # Our own check: the signature for example.com itself failed; the passing
    # esp.example one is not aligned with From and does not hide that.
    assert (stored.dkim_outcome, stored.spf_outcome) == (
        "aligned_fail",
        "unaligned_pass",
    )
    assert dkim == [("example.com", "s1", "fail"), ("esp.example", "k2", "pass")]
    assert spf == [
        ("bounce.esp.example", "mfrom", "pass"),
        ("example.com", "helo", "none"),
    ]
    assert tuple(reason) == ("mailing_list", "list.example")


def test_reimport_is_a_no_op(database, inbox):
    path = inbox / "r.xml.gz"
    path.write_bytes(gzip.compress(report_xml(record_xml(count=5))))

    first = api.ingest(database, [path])
    second = api.ingest(database, [path])

    assert (first.reports_added, first.duplicates) == (1, 0)
    assert (second.reports_added, second.duplicates, second.messages_added) == (
        1 - 1,
        1,
        0,
    )
    assert count_rows(database, records) == 1


def test_same_report_id_for_another_date_range_is_another_report(database, inbox):
    (inbox / "a.xml").write_bytes(report_xml(record_xml(), begin=100, end=200))
    (inbox / "b.xml").write_bytes(report_xml(record_xml(), begin=300, end=400))

    summary = api.ingest(database, [inbox])

    assert (summary.reports_added, summary.duplicates) == (2, 0)


def test_a_bad_file_is_refused_and_the_good_ones_are_stored(database, inbox):
    (inbox / "good.xml").write_bytes(report_xml(record_xml(count=3)))
    (inbox / "bad.xml").write_bytes(b"<feedback><report_metadata>")
    (inbox / "later.xml").write_bytes(report_xml(record_xml(count=4), report_id="r-2"))

    summary = api.ingest(database, [inbox])

    assert [r.path.rsplit("/", 1)[1] for r in summary.refused] == ["bad.xml"]
    assert summary.reports_added == 2 and summary.messages_added == 7


def test_a_file_is_stored_whole_or_not_at_all(database, inbox):
    import zipfile

    archive = inbox / "two.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("good.xml", report_xml(record_xml(), report_id="good"))
        zipped.writestr("bad.xml", report_xml(record_xml(count=-1), report_id="bad"))
    (inbox / "earlier.xml").write_bytes(report_xml(record_xml(), report_id="kept"))

    summary = api.ingest(database, [inbox])

    assert (
        len(summary.refused) == 1 and "bad.xml: record 1" in summary.refused[0].reason
    )
    assert [r.report_id for r in api.stored_reports(database)] == ["kept"]


def test_stored_report_totals_and_period_filter(database, inbox):
    records = (
        record_xml(count=10, dkim="pass", spf="fail")
        + record_xml(count=5, dkim="fail", spf="pass")
        + record_xml(count=2, dkim="fail", spf="fail")
    )
    (inbox / "nov.xml").write_bytes(
        report_xml(records, begin=1700000000, end=1700086399)
    )
    (inbox / "dec.xml").write_bytes(
        report_xml(record_xml(count=1), report_id="d", begin=1701388800, end=1701475199)
    )
    api.ingest(database, [inbox])

    november = api.stored_reports(
        database, api.Scope(until=datetime(2023, 12, 1, tzinfo=UTC))
    )

    (report,) = november
    assert (report.records, report.messages) == (3, 17)
    assert (report.dkim_aligned_pass, report.spf_aligned_pass, report.dmarc_pass) == (
        10,
        5,
        15,
    )
    assert report.begin == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert len(api.stored_reports(database)) == 2


def test_linked_folders_are_followed_once(database, inbox):
    (inbox / "real").mkdir()
    (inbox / "real" / "r.xml").write_bytes(report_xml(record_xml()))
    (inbox / "link").symlink_to(inbox / "real")
    (inbox / "real" / "loop").symlink_to(inbox)

    summary = api.ingest(database, [inbox])

    assert (summary.files, summary.reports_added, summary.duplicates) == (1, 1, 0)


def test_upgrade_from_the_first_revision_keeps_data_and_fills_outcomes(database_url):
    from sqlalchemy import column, insert, table, text

    from dmarc_analyzer.storage.database import Database

    def rows_of(name: str, rows: list[dict]):
        return insert(table(name, *map(column, rows[0]))), rows

    old = Database(database_url, upgrade=False)
    old.upgrade("0001")
    when = datetime(2024, 1, 17, 5)
    with old.transaction() as connection:
        for statement, rows in [
            rows_of(
                "reports",
                [
                    {
                        "id": 1,
                        "natural_key": "k1",
                        "org_name": "r",
                        "report_id": "id-1",
                        "domain": "example.com",
                        "begin": when,
                        "end": when,
                        "adkim": "s",
                        "aspf": "r",
                        "ingested_at": when,
                    },
                ],
            ),
            rows_of(
                "records",
                [
                    {
                        "id": 1,
                        "report_pk": 1,
                        "source_ip": "192.0.2.1",
                        "count": 9,
                        "dkim": "fail",
                        "spf": "pass",
                        "header_from": "example.com",
                    },
                    {
                        "id": 2,
                        "report_pk": 1,
                        "source_ip": "192.0.2.2",
                        "count": 4,
                        "dkim": "fail",
                        "spf": "fail",
                        "header_from": "example.com",
                    },
                ],
            ),
            rows_of(
                "dkim_results",
                [
                    {
                        "record_pk": 1,
                        "domain": "mail.example.com",
                        "selector": "s1",
                        "result": "pass",
                    },
                ],
            ),
            rows_of(
                "spf_results",
                [
                    {
                        "record_pk": 1,
                        "domain": "example.com",
                        "scope": "mfrom",
                        "result": "pass",
                    },
                ],
            ),
        ]:
            connection.execute(statement, rows)
    old.close()

    upgraded = Database(database_url)

    with upgraded.connect() as connection:
        rows = connection.execute(
            text("SELECT id, dkim_outcome, spf_outcome FROM records ORDER BY id")
        ).all()
    # adkim=s and d=mail.example.com: it would pass only under relaxed mode.
    assert [tuple(row) for row in rows] == [
        (1, "strict_mismatch", "aligned_pass"),
        (2, "none", "none"),
    ]
    assert [r.messages for r in api.stored_reports(upgraded)] == [13]

    # The totals the analysis reads are counted for the old reports, per
    # day and per month.
    with upgraded.connect() as connection:
        for table, day in (
            ("daily_totals", "2024-01-17"),
            ("monthly_totals", "2024-01-01"),
        ):
            totals = connection.execute(
                text(
                    "SELECT period, source_ip, messages, dkim_pass, spf_pass,"
                    f" dkim_results, spf_results FROM {table} ORDER BY source_ip"
                )
            ).all()
            assert [
                (str(period)[:10], ip, n, bool(dkim), bool(spf), signed, checked)
                for period, ip, n, dkim, spf, signed, checked in totals
            ] == [
                (
                    day,
                    "192.0.2.1",
                    9,
                    False,
                    True,
                    '[["pass","mail.example.com","s1"]]',
                    '[["pass","example.com","mfrom"]]',
                ),
                (day, "192.0.2.2", 4, False, False, "", ""),
            ]
        days = connection.execute(
            text("SELECT period, domain, messages, dmarc_pass FROM domain_days")
        ).all()
    assert [(str(period)[:10], *rest) for period, *rest in days] == [
        ("2024-01-17", "example.com", 13, 9)
    ]
    upgraded.close()


def test_totals_of_days_are_counted_again_after_reports_are_deleted(database, inbox):
    from dmarc_analyzer.storage import totals
    from dmarc_analyzer.storage.retention import delete_reports
    from dmarc_analyzer.storage.schema import reports

    day = 86400
    for number, (begin, count) in enumerate([(0, 5), (0, 7), (day, 11)]):
        (inbox / f"{number}.xml").write_bytes(
            report_xml(
                record_xml(count=count),
                report_id=f"r-{number}",
                begin=1700006400 + begin,
                end=1700006400 + begin + day - 1,
            )
        )
    api.ingest(database, [inbox])

    with database.transaction() as connection:
        delete_reports(connection, reports.c.report_id == "r-1")
        totals.count_again(connection, [date(2023, 11, 15)])
    with database.connect() as connection:
        daily = overview(connection).daily

    assert [(d.day, d.messages) for d in daily] == [
        (date(2023, 11, 15), 5),
        (date(2023, 11, 16), 11),
    ]


def test_a_bad_record_after_many_stored_ones_leaves_nothing(
    database, inbox, monkeypatch
):
    from dmarc_analyzer.storage import reports as storage

    # Small batches: the first records are written before the bad one is read.
    monkeypatch.setattr(storage, "BATCH_RECORDS", 3)
    good = "".join(record_xml(f"192.0.2.{n}") for n in range(1, 11))
    (inbox / "late.xml").write_bytes(report_xml(good + record_xml(count="many")))

    summary = api.ingest(database, [inbox])

    assert "record 11 has an invalid count" in summary.refused[0].reason
    assert api.stored_reports(database) == []
    assert count_rows(database, records) == 0


def test_records_are_stored_in_batches_with_their_results(database, inbox, monkeypatch):
    from dmarc_analyzer.storage import reports as storage

    monkeypatch.setattr(storage, "BATCH_RECORDS", 4)
    auth = (
        "<dkim><domain>example.com</domain><result>pass</result></dkim>"
        "<spf><domain>example.com</domain><result>pass</result></spf>"
    )
    many = "".join(record_xml(f"192.0.2.{n}", n, auth=auth) for n in range(1, 11))
    (inbox / "many.xml").write_bytes(report_xml(many))

    summary = api.ingest(database, [inbox])

    assert (summary.records_added, summary.messages_added) == (10, 55)
    (stored,) = api.stored_reports(database)
    assert (stored.records, stored.messages, stored.dkim_aligned_pass) == (10, 55, 55)
    assert count_rows(database, dkim_results) == count_rows(database, spf_results) == 10


def test_a_failure_while_storing_undoes_the_whole_file(database, inbox, monkeypatch):
    import zipfile

    from dmarc_analyzer.ingest import pipeline
    from dmarc_analyzer.storage import reports as storage

    monkeypatch.setattr(pipeline, "WHOLE_FILE_RECORDS", 0)  # streamed, not grouped
    real_insert = storage._insert_batch
    batches = []

    def failing_on_the_second(*arguments):
        batches.append(arguments)
        if len(batches) == 2:  # the records of the second report
            raise RuntimeError("disk full")
        return real_insert(*arguments)

    monkeypatch.setattr(storage, "_insert_batch", failing_on_the_second)
    with zipfile.ZipFile(inbox / "two.zip", "w") as archive:
        archive.writestr("a.xml", report_xml(record_xml(), report_id="first"))
        archive.writestr("b.xml", report_xml(record_xml(), report_id="second"))

    summary = api.ingest(database, [inbox])

    assert len(summary.refused) == 1 and "disk full" in summary.refused[0].reason
    assert api.stored_reports(database) == []
    assert count_rows(database, records) == 0


def test_a_failure_in_a_group_undoes_only_its_file(database, inbox, monkeypatch):
    from sqlalchemy.exc import OperationalError

    from dmarc_analyzer.storage import groups

    real_write = groups._write

    def failing_with_the_second(connection, new):
        if any(report.values["report_id"] == "second" for report in new):
            raise OperationalError("INSERT", {}, Exception("disk full"))
        return real_write(connection, new)

    monkeypatch.setattr(groups, "_write", failing_with_the_second)
    for name in ("first", "second", "third"):
        (inbox / f"{name}.xml").write_bytes(report_xml(record_xml(), report_id=name))
    done = []

    summary = api.ingest(database, [inbox], lambda path, _: done.append(path.name))

    assert [refusal.path for refusal in summary.refused] == [str(inbox / "second.xml")]
    assert "disk full" in summary.refused[0].reason
    assert sorted(r.report_id for r in api.stored_reports(database)) == [
        "first",
        "third",
    ]
    assert done == ["first.xml", "second.xml", "third.xml"]
    assert count_rows(database, records) == 2


def test_names_with_newlines_escapes_and_bad_bytes(database, inbox):
    import os

    evil = os.fsdecode(b"bad\xffname\n\x1b[31m.xml")
    (inbox / evil).write_bytes(report_xml(record_xml()))
    (inbox / "notes\nrefused x: fake.txt").write_text("hello")
    os.mkfifo(inbox / "pipe.xml")

    summary = api.ingest(database, [inbox])

    assert summary.reports_added == 1
    reasons = {r.path.rsplit("/", 1)[1]: r.reason for r in summary.refused}
    assert reasons == {
        "notes\\x0arefused x: fake.txt": (
            "not XML, gzip, zip or e-mail (starts with 'hello')"
        ),
        "pipe.xml": "not a regular file",
    }
    (stored,) = api.stored_reports(database)
    assert stored.source_file.endswith("bad\ufffdname\\x0a\\x1b[31m.xml")


def test_the_database_files_are_not_ingested(tmp_path):
    from dmarc_analyzer.storage.database import Database

    (tmp_path / "r.xml").write_bytes(report_xml(record_xml()))
    database = Database(f"sqlite:///{tmp_path / 'here.sqlite'}")

    summary = api.ingest(database, [tmp_path])

    assert (summary.files, summary.reports_added, summary.refused) == (1, 1, [])
    database.close()


def test_the_database_files_are_not_ingested_under_another_name(tmp_path):
    from dmarc_analyzer.storage.database import Database

    (tmp_path / "db").mkdir()
    database = Database(f"sqlite:///{tmp_path / 'db' / 'here.sqlite'}")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "r.xml").write_bytes(report_xml(record_xml()))
    (tmp_path / "inbox" / "linked.xml").symlink_to(tmp_path / "db" / "here.sqlite")
    (tmp_path / "db-link").symlink_to(tmp_path / "db")
    named = [
        tmp_path / "inbox",
        tmp_path / "db-link" / "here.sqlite",
        tmp_path / "inbox" / ".." / "db" / "here.sqlite",
    ]

    summary = api.ingest(database, named)

    assert (summary.files, summary.reports_added, summary.refused) == (1, 1, [])
    database.close()


def test_values_of_any_length_are_stored_on_every_backend(database, inbox):
    long_id, long_org = "r" * 3000, "o" * 10000
    (inbox / "long.xml").write_bytes(
        report_xml(record_xml(), report_id=long_id, org_name=long_org)
    )

    first = api.ingest(database, [inbox])
    again = api.ingest(database, [inbox])

    assert (first.reports_added, again.duplicates) == (1, 1)
    assert api.stored_reports(database)[0].report_id == long_id


def test_names_of_any_length_and_script_are_counted_in_the_daily_totals(
    database, inbox
):
    # Four-byte characters, in no order a compressor could shorten, in every
    # name of the keys: PostgreSQL limits the size of an index entry.
    chance = random.Random(3)
    long_name = "".join(chr(chance.randrange(0x20000, 0x2A6DF)) for _ in range(3000))
    signed = (
        f"<dkim><domain>{long_name}</domain><selector>{long_name}</selector>"
        "<result>fail</result></dkim>"
    )
    (inbox / "long.xml").write_bytes(
        report_xml(record_xml(count=7, header_from=long_name, auth=signed))
    )

    stored = api.ingest(database, [inbox])

    assert (stored.reports_added, stored.refused) == (1, [])
    with database.connect() as connection:
        assert overview(connection).messages == 7


def test_first_runs_at_the_same_time_make_the_schema_once(backend, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from dmarc_analyzer.storage.database import Database
    from tests.conftest import postgres_database

    def open_and_close(url: str) -> str | None:
        database = Database(url)
        revision = database.current_revision()
        database.close()
        return revision

    if backend == "sqlite":
        urls = [f"sqlite:///{tmp_path / 'fresh.sqlite'}"] * 4
        with ThreadPoolExecutor(4) as pool:
            revisions = list(pool.map(open_and_close, urls))
    else:
        with postgres_database() as url, ThreadPoolExecutor(4) as pool:
            revisions = list(pool.map(open_and_close, [url] * 4))

    assert len(set(revisions)) == 1 and revisions[0] is not None


def test_the_schema_head_constant_is_the_newest_migration():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from dmarc_analyzer.storage.database import MIGRATIONS_DIR, SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [SCHEMA_HEAD]


def test_a_writer_that_must_wait_for_another_says_so_once(tmp_path, caplog):
    path = tmp_path / "db.sqlite"
    database = api.open_database(f"sqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    threading.Timer(1.5, lambda: other.execute("COMMIT")).start()

    with caplog.at_level(logging.WARNING), database.transaction() as connection:
        connection.exec_driver_sql("SELECT 1")
    waited = caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING), database.transaction() as connection:
        connection.exec_driver_sql("SELECT 1")

    assert waited.count("waiting for another process that is writing to") == 1
    assert str(path) in waited
    assert caplog.text == ""
    other.close()
    database.close()
