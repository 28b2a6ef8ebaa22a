"""The daily totals that ingest adds up in Python (rollup_rows.py) are the
rows that SQL counts from the stored records (rollups.py), which is how
days are counted again after a delete."""

import pytest
from sqlalchemy import delete, select

from dmarc_analyzer import api
from dmarc_analyzer.storage import reports as storage
from dmarc_analyzer.storage import rollups
from dmarc_analyzer.storage.rollup_rows import key_name, key_text
from dmarc_analyzer.storage.schema import result_days, source_days
from tests.conftest import CORPUS, record_xml, report_xml


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _totals(database) -> dict[str, list[tuple]]:
    with database.connect() as connection:
        return {
            table.name: sorted(
                tuple(row[1:]) for row in connection.execute(select(table))
            )
            for table in (source_days, result_days)
        }


def _counted_again_by_sql(database) -> dict[str, list[tuple]]:
    with database.transaction() as connection:
        for table in (source_days, result_days):
            connection.execute(delete(table))
        rollups.fill(connection)
    return _totals(database)


def _awkward_reports(inbox) -> None:
    """Names in any case and script, too long for a key, reasons that say
    forwarded and others, records unsigned or signed twice, a tree walk."""
    long_ascii = "a" * 300 + ".example"
    long_accented = "É" * 300 + ".example"  # 2 bytes each in UTF-8
    dkim = (
        "<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>"
    )
    records = [
        record_xml("192.0.2.1", 3, header_from="Example.COM"),
        record_xml("192.0.2.1", 4, header_from="example.com"),
        record_xml(
            "192.0.2.2",
            5,
            dkim="fail",
            header_from="ÄÖ.Example",
            auth=dkim.format(d="Mailer.NET", s="S1", r="fail")
            + dkim.format(d=long_accented, s=long_ascii, r="pass"),
        ),
        record_xml(
            "2001:db8::1",
            6,
            header_from=long_ascii.upper(),
            extra_evaluated="<reason><type>forwarded</type></reason>"
            "<reason><type>local_policy</type></reason>",
        ),
        record_xml("192.0.2.3", 7, auth="", header_from=""),
    ]
    (inbox / "awkward.xml").write_bytes(
        report_xml("".join(records), domain="Brand.EXAMPLE")
    )
    (inbox / "treewalk.xml").write_bytes(
        report_xml(
            "".join(records),
            report_id="r-2",
            policy="<p>none</p><discovery_method>treewalk</discovery_method>",
        )
    )


@pytest.mark.corpus
def test_totals_added_at_ingest_are_those_sql_counts(database, inbox, monkeypatch):
    # Small batches: a large report's totals are added batch by batch.
    monkeypatch.setattr(storage, "BATCH_RECORDS", 7)
    _awkward_reports(inbox)
    summary = api.ingest(database, [inbox, *sorted(CORPUS.glob("*/"))])
    assert summary.reports_added > 2000

    added_at_ingest = _totals(database)

    assert added_at_ingest == _counted_again_by_sql(database)
    assert len(added_at_ingest["source_days"]) > 1000


def test_totals_of_the_awkward_reports(database, inbox):
    _awkward_reports(inbox)
    api.ingest(database, [inbox])

    totals = _totals(database)

    domains = {row[1] for row in totals["source_days"]}
    assert domains == {"brand.example", "example.com"}
    from_domains = {row[3] for row in totals["source_days"]}
    # ASCII is lower-cased, other letters left as they are, long names cut.
    assert from_domains == {"example.com", "ÄÖ.example", "a" * 255, ""}
    signers = {row[7] for row in totals["result_days"] if row[5] == "dkim"}
    assert signers == {"mailer.net", "É" * 125}
    # 3 + 4 messages of the two spellings of example.com add up, per report.
    example = [row for row in totals["source_days"] if row[3] == "example.com"]
    assert sorted(row[-3] for row in example) == [7, 7]
    forwarded = {row[2]: row[8] for row in totals["source_days"]}
    assert forwarded["2001:db8::1"] and not forwarded["192.0.2.1"]


def test_keys_are_cut_by_characters_then_by_bytes():
    assert key_text(None) == ""
    assert key_text("s" * 300) == "s" * 255
    assert key_text("é" * 250) == "é" * 250  # 500 bytes: fits
    assert key_text("é" * 251) == "é" * 125  # 502 bytes: a quarter of 500
    assert key_name("MAIL.Example.ORG") == "mail.example.org"
    assert key_name("ÉCOLE.fr") == "École.fr"


def test_upgrade_counts_again_the_days_keyed_by_the_old_rule(database_url, inbox):
    """Before revision 0005, PostgreSQL lower-cased names beyond ASCII and
    SQLite cut long ones by characters alone; the days holding such keys
    are counted again, the others left as they are."""
    from dmarc_analyzer.storage.database import Database

    accented = "Ü" * 300  # 600 bytes in 255 characters: cut to 125 now
    (inbox / "a.xml").write_bytes(report_xml(record_xml(count=5, header_from=accented)))
    (inbox / "b.xml").write_bytes(
        report_xml(
            record_xml(count=7), report_id="r-2", begin=1700100000, end=1700186399
        )
    )
    old = Database(database_url, upgrade=False)
    old.upgrade("0004")
    api.ingest(old, [inbox])
    with old.transaction() as connection:  # keys as the old rule made them
        for table in (source_days, result_days):
            connection.execute(
                table.update()
                .where(table.c.header_from != "example.com")
                .values(header_from="ü" * 255)
            )
            connection.execute(
                table.update()
                .where(table.c.header_from == "example.com")
                .values(messages=70)  # wrong, and not counted again
            )
    old.close()

    upgraded = Database(database_url)
    froms = {
        row[3]: row[-3] if len(row) == 14 else row[-1]
        for rows in _totals(upgraded).values()
        for row in rows
    }
    upgraded.close()

    assert froms == {"Ü" * 125: 5, "example.com": 70}
