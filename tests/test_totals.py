"""The totals the analysis reads (storage/totals.py): added up as reports
are stored, batch by batch, they are the rows that counting the stored
records again gives; the monthly rows are the daily ones added up per
month; a scope reads whole months and the days at its edges."""

import json
from collections import Counter
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import delete, select

from dmarc_analyzer import api
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.analysis.scope_totals import scope_totals
from dmarc_analyzer.storage import reports as storage
from dmarc_analyzer.storage import totals
from dmarc_analyzer.storage.schema import daily_totals, domain_days, monthly_totals
from dmarc_analyzer.storage.totals import key_name, key_text
from tests.conftest import CORPUS, record_xml, report_xml

TABLES = (daily_totals, monthly_totals, domain_days)
DAY = 86400


@pytest.fixture
def inbox(tmp_path):
    folder = tmp_path / "inbox"
    folder.mkdir()
    return folder


def _totals(database) -> dict[str, list[tuple]]:
    with database.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(select(table)))
            for table in TABLES
        }


def _counted_again(database) -> dict[str, list[tuple]]:
    with database.transaction() as connection:
        for table in TABLES:
            connection.execute(delete(table))
        totals.fill(connection)
    return _totals(database)


def _awkward_reports(inbox) -> None:
    """Names in any case and script, too long to keep whole, reasons that
    say forwarded and others, records unsigned or signed twice, a tree walk."""
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
def test_totals_added_at_ingest_are_those_counted_again(database, inbox, monkeypatch):
    # Small batches: a large report's totals are added batch by batch.
    monkeypatch.setattr(storage, "BATCH_RECORDS", 7)
    _awkward_reports(inbox)
    summary = api.ingest(database, [inbox, *sorted(CORPUS.glob("*/"))])
    assert summary.reports_added > 2000

    added_at_ingest = _totals(database)

    assert added_at_ingest == _counted_again(database)
    assert len(added_at_ingest["daily_totals"]) > 1000


@pytest.mark.corpus
def test_months_and_domain_days_add_up_the_days(database):
    api.ingest(database, sorted(CORPUS.glob("*/")))
    stored = _totals(database)

    # The daily rows added up here, apart from the code that writes them:
    # period, domain, key_hash, the sender's columns, then the four totals.
    months: dict[tuple, list] = {}
    days: Counter = Counter()
    for period, domain, key, *sender, messages, first, last, end in stored[
        "daily_totals"
    ]:
        month = _as_date(period).replace(day=1)
        row = months.setdefault((month, domain, key, *sender), [0, first, last, end])
        row[0] += messages
        row[1], row[2], row[3] = min(row[1], first), max(row[2], last), max(row[3], end)
        passed = sender[2] or sender[3]  # the receiver's DKIM or SPF verdict
        days[_as_date(period), domain, "messages"] += messages
        days[_as_date(period), domain, "dmarc"] += messages if passed else 0

    assert sorted(
        (_as_date(period), *rest) for period, *rest in stored["monthly_totals"]
    ) == sorted((*key, *row) for key, row in months.items())
    assert {
        (_as_date(period), domain, kind): n
        for period, domain, messages, dmarc, _, _ in stored["domain_days"]
        for kind, n in (("messages", messages), ("dmarc", dmarc))
    } == dict(days)


def _as_date(value) -> date:
    return date.fromisoformat(value[:10]) if isinstance(value, str) else value


def test_totals_of_the_awkward_reports(database, inbox):
    _awkward_reports(inbox)
    api.ingest(database, [inbox])

    rows = _totals(database)["daily_totals"]
    column = {name: index for index, name in enumerate(totals.COLUMNS)}

    def values(name: str) -> set:
        return {row[column[name]] for row in rows}

    assert values("domain") == {"brand.example", "example.com"}
    # ASCII is lower-cased, other letters left as they are, long names cut.
    assert values("header_from") == {"example.com", "ÄÖ.example", "a" * 255, ""}
    signers = {
        domain
        for text in values("dkim_results")
        if text
        for _, domain, _ in json.loads(text)
    }
    assert signers == {"mailer.net", "É" * 125}
    # 3 + 4 messages of the two spellings of example.com add up, per report.
    example = [row for row in rows if row[column["header_from"]] == "example.com"]
    assert sorted(row[column["messages"]] for row in example) == [7, 7]
    forwarded = {row[column["source_ip"]]: row[column["forwarded"]] for row in rows}
    assert forwarded["2001:db8::1"] and not forwarded["192.0.2.1"]
    treewalk = {(row[column["domain"]], bool(row[column["treewalk"]])) for row in rows}
    assert treewalk == {("brand.example", False), ("example.com", True)}


def test_keys_are_cut_by_characters_then_by_bytes():
    assert key_text(None) == ""
    assert key_text("s" * 300) == "s" * 255
    assert key_text("é" * 250) == "é" * 250  # 500 bytes: fits
    assert key_text("é" * 251) == "é" * 125  # 502 bytes: a quarter of 500
    assert key_name("MAIL.Example.ORG") == "mail.example.org"
    assert key_name("ÉCOLE.fr") == "École.fr"


def test_the_key_hash_tells_every_column_apart():
    sender = ("192.0.2.1", "example.com", True, False, "a", "b", False, False, "", "")
    changed = [
        (*sender[:index], _other(value), *sender[index + 1 :])
        for index, value in enumerate(sender)
    ]
    # A value moved across the boundary of two columns is another key.
    moved = ("192.0.2.1e", "xample.com", *sender[2:])
    nul = ("192.0.2.1\x00example.com", "", *sender[2:])

    hashes = {totals.key_hash(key) for key in [sender, *changed, moved, nul]}

    assert len(hashes) == 1 + len(changed) + 2


def _other(value):
    return (not value) if isinstance(value, bool) else value + "x"


def _report_on(inbox, day: date, count: int, ip: str = "192.0.2.1") -> None:
    begin = int(datetime(day.year, day.month, day.day, 3, tzinfo=UTC).timestamp())
    (inbox / f"{day}-{ip}.xml").write_bytes(
        report_xml(
            record_xml(ip, count),
            report_id=f"r-{day}-{ip}",
            begin=begin,
            end=begin + DAY - 1,
        )
    )


@pytest.mark.parametrize(
    ("since", "until"),
    [
        (date(2024, 1, 20), date(2024, 3, 10)),  # edges around a whole month
        (date(2024, 2, 1), date(2024, 3, 1)),  # one whole month
        (date(2024, 2, 3), date(2024, 2, 20)),  # days inside one month
        (None, date(2024, 2, 15)),  # open start: months, then days
        (date(2024, 1, 31), None),  # open end: a day, then months
        (None, None),  # every month
    ],
)
def test_a_scope_reads_whole_months_and_the_days_at_its_edges(
    database, inbox, since, until
):
    days = [(1, 15), (1, 31), (2, 1), (2, 10), (2, 29), (3, 1), (3, 9), (3, 10)]
    counts = {}
    for number, day in enumerate(date(2024, *month_day) for month_day in days):
        counts[day] = 2**number  # each day's share can be told from the sum
        _report_on(inbox, day, counts[day])
        _report_on(inbox, day, 1000, ip="192.0.2.9")
    api.ingest(database, [inbox])
    scope = Scope.from_dates(
        since=since,
        until=until if until is None else date.fromordinal(until.toordinal() - 1),
    )

    with database.connect() as connection:
        found = scope_totals(connection, scope).rows

    wanted = sum(
        n
        for day, n in counts.items()
        if (since is None or day >= since) and (until is None or day < until)
    )
    by_ip = Counter()
    for row in found:
        by_ip[row.source_ip] += row.messages
    assert by_ip["192.0.2.1"] == wanted
    assert by_ip["192.0.2.9"] == 1000 * sum(
        1
        for day in counts
        if (since is None or day >= since) and (until is None or day < until)
    )
    assert len([row for row in found if row.source_ip == "192.0.2.1"]) == 1
