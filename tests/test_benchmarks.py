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
    assert "failures --json, 20,000 records (s)" in measures
    assert "summary, last week (HTML), 20,000 records (s)" in measures
