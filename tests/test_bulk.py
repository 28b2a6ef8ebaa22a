"""The background writer used for PostgreSQL: writes in order, and an error
in its thread reaches the caller, with nothing written after it."""

import pytest

from dmarc_analyzer.storage.bulk import BackgroundWriter


def test_writes_run_in_order():
    done = []
    with BackgroundWriter() as writer:
        for number in range(10):
            writer.submit(done.append, number)
    assert done == list(range(10))


def test_the_first_error_reaches_the_caller_and_stops_later_writes():
    done = []

    def failing(number):
        raise RuntimeError(f"disk full at {number}")

    with (
        pytest.raises(RuntimeError, match="disk full at 1"),
        BackgroundWriter() as writer,
    ):
        writer.submit(done.append, 0)
        writer.submit(failing, 1)
        writer.submit(done.append, 2)
    assert done == [0]


def test_an_error_in_the_caller_waits_for_the_thread_and_wins():
    done = []
    with pytest.raises(ValueError, match="bad record"), BackgroundWriter() as writer:
        writer.submit(done.append, 0)
        raise ValueError("bad record")
    assert done == [0]
