"""prune: old reports go with everything that hangs off them, in one
transaction, and only with --yes."""

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from dmarc_analyzer import api
from tests.conftest import record_xml, report_xml

NOW = datetime(2026, 12, 1, tzinfo=UTC)
DAY = 86400


def store_reports_aged(database, tmp_path, ages_in_days: list[float]) -> None:
    for number, age in enumerate(ages_in_days):
        begin = int((NOW - timedelta(days=age)).timestamp())
        signed = (
            "<dkim><domain>example.com</domain><selector>s1</selector>"
            "<result>pass</result></dkim>"
        )
        forwarded = "<reason><type>forwarded</type></reason>"
        xml = report_xml(
            record_xml("192.0.2.1", 3, auth=signed, extra_evaluated=forwarded)
            + record_xml("192.0.2.2", 2),
            report_id=f"r-{number}",
            begin=begin,
            end=begin + DAY - 1,
        )
        (tmp_path / f"r{number}.xml").write_bytes(xml)
    assert not api.ingest(database, [tmp_path]).refused


def row_counts(database) -> dict[str, int]:
    tables = ["reports", "records", "dkim_results", "spf_results", "override_reasons"]
    with database.connect() as connection:
        return {
            table: connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            for table in tables
        }


def test_dry_run_counts_and_deletes_nothing(database, tmp_path):
    store_reports_aged(database, tmp_path, [10, 500, 800])

    result = api.prune(database, timedelta(days=400), now=NOW)

    assert (result.reports, result.records, result.messages) == (2, 4, 10)
    assert result.deleted is False
    assert row_counts(database)["reports"] == 3


def test_yes_deletes_old_reports_and_everything_hanging_off_them(database, tmp_path):
    store_reports_aged(database, tmp_path, [10, 500, 800])

    result = api.prune(database, timedelta(days=400), delete=True, now=NOW)

    assert result.reports == 2 and result.deleted
    assert row_counts(database) == {
        "reports": 1,
        "records": 2,
        "dkim_results": 1,
        "spf_results": 1,
        "override_reasons": 1,
    }
    assert [r.report_id for r in api.stored_reports(database)] == ["r-0"]
    assert daily_messages(database) == {(NOW - timedelta(days=10)).date(): 5}


def test_the_totals_of_the_cutoff_day_keep_its_later_reports(database, tmp_path):
    # The cutoff is at noon: 399.75 days old is that morning, 399.25 evening.
    store_reports_aged(database, tmp_path, [399.25, 399.75, 401])

    api.prune(database, timedelta(days=400), delete=True, now=NOW + timedelta(hours=12))

    cutoff_day = (NOW - timedelta(days=400)).date()
    assert daily_messages(database) == {cutoff_day: 5}


def daily_messages(database) -> dict:
    from dmarc_analyzer.analysis.overview import overview

    with database.connect() as connection:
        return {day.day: day.messages for day in overview(connection).daily}


def test_command_line_dry_run_then_yes_with_retention_from_settings(tmp_path):
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    (tmp_path / "in").mkdir()
    store_reports_aged(database, tmp_path / "in", [1, 3000])
    database.close()
    (tmp_path / "dmarc-analyzer.toml").write_text(
        'database = "db.sqlite"\nretention = "400d"\n'
    )
    command = [sys.executable, "-m", "dmarc_analyzer", "prune", "--json"]

    def prune(*extra):
        done = subprocess.run(
            [*command, *extra], cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    dry, deleted = prune(), prune("--yes")

    assert (dry["reports"], dry["deleted"]) == (1, False)
    assert (deleted["reports"], deleted["deleted"]) == (1, True)
    assert [
        r.report_id
        for r in api.stored_reports(
            api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
        )
    ] == ["r-0"]


@pytest.mark.parametrize(
    ("age", "message"),
    [("soon", "not a duration"), ("9999999999d", "more than 100 years")],
)
def test_command_line_needs_an_age(tmp_path, age, message):
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "prune", "--older-than", age],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_command_line_says_the_minimum_age(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "prune", "--older-than", "0d"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "'0d' is too short: the minimum is 1d" in done.stderr
