"""The command line starts fast because the heavy libraries are imported
only by the code that needs them. What a command imports is checked here
(timings belong to benchmarks/run.py, not to tests)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import SAMPLES

HEAVY = ["pandas", "matplotlib", "parsedmarc", "dns", "numpy"]

# Runs the command in a fresh interpreter and prints, at exit, which of the
# heavy top-level packages ended up imported.
PROBE = """
import atexit, json, sys
heavy = set(sys.argv[1].split(","))
atexit.register(lambda: print("\\nIMPORTED " + json.dumps(sorted(
    name for name in heavy if name in sys.modules)), file=sys.stderr))
sys.argv = ["dmarc-analyzer", *sys.argv[2:]]
from dmarc_analyzer.cli import main
main()
"""


def imported_by(*arguments: str, heavy: list[str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(heavy), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    marker = done.stderr.rpartition("IMPORTED ")[2]
    return json.loads(marker)


def test_help_imports_neither_the_database_layer_nor_analysis():
    assert imported_by("--help", heavy=[*HEAVY, "sqlalchemy", "alembic"]) == []


@pytest.fixture(scope="module")
def sample_database(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("startup") / "samples.sqlite"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "dmarc_analyzer",
            "--db",
            str(path),
            "ingest",
            str(SAMPLES),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return str(path)


def test_reports_listing_imports_no_dataframes_charts_or_dns(sample_database):
    assert imported_by("--db", sample_database, "reports", heavy=HEAVY) == []


def test_a_database_at_head_is_opened_without_alembic_orm_or_analysis(
    sample_database,
):
    slow = [
        "alembic",
        "sqlalchemy.orm",
        "sqlalchemy.dialects.postgresql",
        "dmarc_analyzer.analysis.failures",
    ]
    assert imported_by("--db", sample_database, "reports", heavy=slow) == []
