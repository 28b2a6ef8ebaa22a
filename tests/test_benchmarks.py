"""A smoke run of benchmarks/run.py --quick: it completes and prints its
table. Timings are the benchmark's business, never asserted here."""

import subprocess
import sys

from tests.conftest import POSTGRES_SERVER, ROOT


def test_quick_benchmark_runs_and_prints_the_table():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--quick",
            "--postgres",
            POSTGRES_SERVER,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert (
        "| measure | dmarc-analyzer | parsedmarc | ratio | target | verdict |" in lines
    )
    rows = [line for line in lines if line.startswith("| ") and "---" not in line]
    measures = [row.split(" | ")[0].removeprefix("| ") for row in rows[1:]]
    for backend in ("SQLite", "PostgreSQL"):
        assert f"{backend}: one 5,000-record report (records/s)" in measures
        assert f"{backend}: 50 small reports (records/s)" in measures
    assert "start-up: --help" in measures and "start-up: reports" in measures
    assert "reverse DNS: second run, queries" in measures
    assert "failures --json, 36,500 records (s)" in measures
    assert "summary, last week (HTML), 36,500 records (s)" in measures


def test_query_plans_search_the_totals_by_period(tmp_path):
    from dmarc_analyzer import api
    from tests.conftest import SAMPLES

    path = tmp_path / "plans.sqlite"
    api.ingest(api.open_database(f"sqlite:///{path}"), [SAMPLES])
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "query_plans.py"),
            f"sqlite:///{path}",
            "--until",
            "2026-11-29",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr
    explained = done.stdout.split("\n-- ")
    bounded = [e for e in explained if "_totals.period >= ?" in e.splitlines()[0]]
    # The year summary reads its whole months and the days at its edges.
    assert any("SEARCH monthly_totals USING INDEX" in e for e in bounded)
    assert any("SEARCH daily_totals USING INDEX" in e for e in bounded)
    assert not any(
        " SCAN daily_totals" in e or " SCAN monthly_totals" in e for e in bounded
    )
