"""Work over many files in worker processes: results in order, and the
caller told when it would wait."""

import time
from pathlib import Path

import pytest

from dmarc_analyzer.ingest import parallel


def _slowly_named(path: Path) -> str:
    time.sleep(0.002)  # slow enough that the caller waits for each task
    return path.name


@pytest.mark.skipif(parallel.cores() < 2, reason="needs two cores")
def test_results_come_in_order_and_waits_say_what_is_left():
    paths = [Path(f"r{number}.xml") for number in range(100)]
    waits: list[int] = []

    results = list(
        parallel.map_in_order(_slowly_named, iter(paths), while_waiting=waits.append)
    )

    assert results == [(path, path.name) for path in paths]
    assert waits, "the workers were never waited for"
    assert waits == sorted(waits, reverse=True)
    assert waits[0] <= len(paths)
    assert all(left % parallel.FILES_PER_TASK == 0 for left in waits)
