"""Work over many files in worker processes: results in order, and what a
killed worker leaves."""

import os
import signal
import time
from pathlib import Path

import pytest

from dmarc_analyzer.ingest import parallel


def _slowly_named(path: Path) -> str:
    time.sleep(0.002)  # slow enough that the caller waits for each task
    return path.name


@pytest.mark.skipif(parallel.cores() < 2, reason="needs two cores")
def test_results_come_in_order():
    paths = [Path(f"r{number}.xml") for number in range(100)]

    results = list(parallel.map_in_order(_slowly_named, iter(paths)))

    assert results == [(path, path.name) for path in paths]


def _named_unless_fatal(path: Path) -> str:
    if path.name == "r45.xml":  # as the out-of-memory killer would
        os.kill(os.getpid(), signal.SIGKILL)
    return path.name


@pytest.mark.skipif(parallel.cores() < 2, reason="needs two cores")
def test_a_killed_worker_leaves_its_files_to_the_caller_and_the_run_ends():
    paths = [Path(f"r{number}.xml") for number in range(400)]

    results = dict(parallel.map_in_order(_named_unless_fatal, iter(paths)))

    # The pool breaks: the killed task's files, and those never handed out,
    # come back as None, to be read by the caller; nothing hangs.
    assert list(results) == paths
    assert results[Path("r45.xml")] is None
    assert results[Path("r0.xml")] == "r0.xml"
    assert results[Path("r399.xml")] is None
