"""Every real report in ../shared/corpus is stored with the totals an
independent reader worked out (expected.jsonl), or refused with a reason."""

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.analysis.scope import Scope
from tests.conftest import CORPUS, postgres_database

pytestmark = pytest.mark.corpus

EXPECTED = [json.loads(line) for line in (CORPUS / "expected.jsonl").open()]
REPORT_FOLDERS = sorted(path for path in CORPUS.iterdir() if path.is_dir())
ALL_FILES = sorted(
    str(path.relative_to(CORPUS))
    for folder in REPORT_FOLDERS
    for path in folder.rglob("*")
    if path.is_file()
)
# Files the independent reader could not parse (the corpus README lists them):
# storing or refusing them are both right.
UNREADABLE = sorted(set(ALL_FILES) - {row["file"] for row in EXPECTED})
TOTALS = ["records", "messages", "dkim_aligned_pass", "spf_aligned_pass", "dmarc_pass"]


class IngestedCorpus:
    def __init__(self, database):
        self.database = database
        self.results = {}
        self.first_run = api.ingest(database, REPORT_FOLDERS, self._remember)
        self.reports = api.stored_reports(database)
        self.refused = {
            str(Path(refusal.path).relative_to(CORPUS)): refusal.reason
            for refusal in self.first_run.refused
        }

    def _remember(self, path, result):
        self.results[str(path.relative_to(CORPUS))] = result

    def find(self, expected: dict):
        """The stored report matching an expected line by its natural key."""
        matches = [
            report
            for report in self.reports
            if report.report_id == expected["report_id"]
            and report.domain == expected["domain"]
            and int(report.begin.timestamp()) == int(expected["begin"])
            and int(report.end.timestamp()) == int(expected["end"])
            and expected["org_name"] in (None, report.org_name)
        ]
        assert len(matches) <= 1, matches
        return matches[0] if matches else None


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def corpus(request, tmp_path_factory):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('corpus') / 'corpus.sqlite'}"
        database = api.open_database(url)
        yield IngestedCorpus(database)
        database.close()
    else:
        with postgres_database() as url:
            database = api.open_database(url)
            yield IngestedCorpus(database)
            database.close()


@pytest.mark.parametrize("expected", EXPECTED, ids=[row["file"] for row in EXPECTED])
def test_report_is_stored_with_expected_totals(corpus, expected):
    assert expected["file"] not in corpus.refused, corpus.refused.get(expected["file"])

    stored = corpus.find(expected)

    assert stored is not None
    assert {name: getattr(stored, name) for name in TOTALS} == {
        name: expected[name] for name in TOTALS
    }


def test_only_unreadable_files_are_refused_each_with_one_line(corpus):
    assert set(corpus.refused) <= set(UNREADABLE)
    for reason in corpus.refused.values():
        assert reason and "\n" not in reason and "Traceback" not in reason


def test_every_file_is_either_stored_or_refused(corpus):
    assert sorted(corpus.results) == ALL_FILES
    for name, result in corpus.results.items():
        if result.refusal:
            assert result.outcome is None
        else:
            assert result.outcome.added + result.outcome.duplicates >= 1, name


def test_a_report_shipped_twice_is_stored_once(corpus):
    # old_draft_from_wiki.xml and acme.xml hold the same report.
    first = corpus.results["dmarc-report-viewer/acme.xml"].outcome
    second = corpus.results["parsedmarc/old_draft_from_wiki.xml"].outcome
    assert (first.added, first.duplicates) == (1, 0)
    assert (second.added, second.duplicates) == (0, 1)


def test_second_run_adds_nothing(corpus):
    again = api.ingest(corpus.database, REPORT_FOLDERS)

    assert (again.reports_added, again.records_added, again.messages_added) == (0, 0, 0)
    assert again.duplicates == len(corpus.reports) + corpus.first_run.duplicates
    assert len(api.stored_reports(corpus.database)) == len(corpus.reports)


def test_every_failed_message_gets_one_cause(corpus):
    from dmarc_analyzer.analysis.causes import CAUSES

    failed_by_cause: dict[str, int] = {}
    for vendor in api.failures(corpus.database):
        for source in vendor.sources:
            for group in (g for g in source.groups if g.dkim_failed):
                assert group.cause in CAUSES, group
                failed_by_cause[group.cause] = (
                    failed_by_cause.get(group.cause, 0) + group.dkim_failed
                )

    # The independent reader's totals (failed = messages without a DKIM pass;
    # the report shipped twice counted once), plus ikea.com's report, which
    # only we read, after a repair.
    failed_per_report = {
        (row["report_id"], row["domain"], row["begin"]): row["messages"]
        - row["dkim_aligned_pass"]
        for row in EXPECTED
    }
    repaired = [r for r in corpus.reports if r.org_name == "ikea.com"]
    assert sum(failed_by_cause.values()) == sum(failed_per_report.values()) + sum(
        report.messages - report.dkim_aligned_pass for report in repaired
    )


def test_daily_totals_equal_the_reports(corpus):
    """The totals the analysis reads, per day and per domain, against the
    independent reader's figures (each report once, ikea.com's repaired
    report as stored)."""
    from dmarc_analyzer.analysis.overview import messages_by_domain, overview

    by_day, by_domain = Counter(), Counter()
    reports = {
        (row["report_id"], row["domain"], row["begin"], row["end"]): row
        for row in EXPECTED
    }
    figures = [
        (int(row["begin"]), row["domain"], row["messages"], row["dmarc_pass"])
        for row in reports.values()
    ] + [
        (int(r.begin.timestamp()), r.domain, r.messages, r.dmarc_pass)
        for r in corpus.reports
        if r.org_name == "ikea.com"
    ]
    for begin, domain, messages, passed in figures:
        day = datetime.fromtimestamp(begin, UTC).date()
        by_day[day, "messages"] += messages
        by_day[day, "dmarc_pass"] += passed
        by_domain[domain.lower()] += messages

    with corpus.database.connect() as connection:
        daily = overview(connection).daily
        domains = messages_by_domain(connection, Scope())

    # Reports without records leave no daily totals.
    empty_days = {
        day for (day, kind), n in by_day.items() if kind == "messages" and not n
    }
    assert {(d.day, "messages"): d.messages for d in daily} | {
        (d.day, "dmarc_pass"): d.dmarc_pass for d in daily
    } == {key: n for key, n in by_day.items() if key[0] not in empty_days}
    assert domains == {name: n for name, n in by_domain.items() if n}
