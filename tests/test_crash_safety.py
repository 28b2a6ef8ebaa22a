"""An ingest killed at any moment leaves no partial report, and a re-run
brings the database to what one clean run gives; two ingests of the same
files at once neither duplicate nor lose a report. On both backends, with
real reports from the corpus."""

import random
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import CORPUS

INPUTS = CORPUS / "dmarcrua"
TOTALS = """
    SELECT (SELECT count(*) FROM reports),
           (SELECT count(*) FROM records),
           (SELECT coalesce(sum(count), 0) FROM records),
           (SELECT count(*) FROM dkim_results),
           (SELECT count(*) FROM spf_results),
           (SELECT count(*) FROM reports r
             WHERE NOT EXISTS (SELECT 1 FROM records c WHERE c.report_pk = r.id))
"""


def ingest(url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "dmarc_analyzer", "--db", url, "ingest", str(INPUTS)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def totals(url: str) -> tuple:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = tuple(connection.execute(text(TOTALS)).one())
    engine.dispose()
    return found


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> tuple:
    """What one clean, uninterrupted run stores."""
    url = f"sqlite:///{tmp_path_factory.mktemp('clean') / 'clean.sqlite'}"
    assert ingest(url).wait(timeout=600) in (0, 1)  # 1: the corpus has bad files
    return totals(url)


def test_killed_ingests_then_a_rerun_equal_one_clean_run(database_url, expected):
    chance = random.Random(9)

    for _ in range(4):
        process = ingest(database_url)
        time.sleep(chance.uniform(0.5, 4.0))
        process.kill()  # SIGKILL: no cleanup of any kind
        process.wait()
    assert ingest(database_url).wait(timeout=600) in (0, 1)

    assert totals(database_url) == expected
    assert expected[0] > 2000


def test_two_ingests_of_the_same_files_at_once(database_url, expected):
    first, second = ingest(database_url), ingest(database_url)

    assert first.wait(timeout=600) in (0, 1) and second.wait(timeout=600) in (0, 1)
    assert totals(database_url) == expected
