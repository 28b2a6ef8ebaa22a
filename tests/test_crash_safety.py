"""An ingest killed at any moment leaves no partial report, and a re-run
brings the database to what one clean run gives; two ingests of the same
files at once neither duplicate nor lose a report; the worker processes
that parse die with a killed ingest. On both backends, with real reports
from the corpus."""

import random
import subprocess
import sys
import time
from pathlib import Path

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


def test_a_killed_ingest_leaves_no_worker_process_behind(database_url):
    process = ingest(database_url)
    workers = _workers_of(process)  # the parsing processes, once running
    process.kill()
    process.wait()

    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers and not any(_alive(pid) for pid in workers)


def _workers_of(process, wait: float = 60.0) -> list[int]:
    """The child processes of a running ingest, as soon as it has some."""
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
    deadline = time.monotonic() + wait
    while process.poll() is None and time.monotonic() < deadline:
        found = [int(pid) for pid in children.read_text().split()]
        if found:
            return found
        time.sleep(0.02)
    return []


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for whoever adopted it to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"
