"""One side of one comparison, run in a process of its own so that its peak
memory is its own: prints one line of JSON (records, seconds, cpu_seconds,
peak_mb).

    python benchmarks/measure.py ours DATABASE_URL FILE...
    python benchmarks/measure.py parsedmarc - FILE...
    python benchmarks/measure.py cli SQLITE_FILE ARGUMENT...  (its output dropped)
"""

import json
import logging
import resource
import sys
import time
from pathlib import Path


def ours(database_url: str, files: list[Path]) -> tuple[int, "Clocks"]:
    from dmarc_analyzer import api

    database = api.open_database(database_url)  # migrated before the clock starts
    with Clocks() as clocks:
        summary = api.ingest(database, files)
    database.close()
    if summary.refused:
        raise SystemExit(f"refused: {summary.refused[0]}")
    return summary.records_added, clocks


def parsedmarc(_: str, files: list[Path]) -> tuple[int, "Clocks"]:
    import parsedmarc

    logging.disable(logging.CRITICAL)  # its per-file warnings are not the point
    # parsedmarc refuses reports that expand beyond 100 MB; the 500,000-record
    # report is about 225 MB of XML.
    parsedmarc.MAX_DECOMPRESSED_REPORT_SIZE = 2**31
    records = 0
    with Clocks() as clocks:
        for path in files:
            parsed = parsedmarc.parse_report_file(str(path), offline=True)
            records += len(parsed["report"]["records"])
    return records, clocks


class Clocks:
    """The seconds a block takes, and the processor seconds of this process
    and of the processes it waited for (ours parses in worker processes):
    on a machine shared with other work, less noisy than the clock."""

    seconds = cpu_seconds = 0.0

    def __enter__(self) -> "Clocks":
        self._started, self._cpu = time.perf_counter(), _cpu_seconds()
        return self

    def __exit__(self, *_) -> None:
        self.seconds = time.perf_counter() - self._started
        self.cpu_seconds = _cpu_seconds() - self._cpu


def cli(database: str, arguments: list[str]) -> tuple[int, "Clocks"]:
    """One command as the user runs it, started here: imports included."""
    import contextlib
    import os

    started = Clocks().__enter__()
    from dmarc_analyzer.cli import main

    sys.argv = ["dmarc-analyzer", "--db", database, *arguments]
    with open(os.devnull, "w") as nowhere, contextlib.redirect_stdout(nowhere):
        try:
            main()
        except SystemExit as exit:
            if exit.code:
                raise
    started.__exit__()
    return 0, started


def main() -> None:
    side, database_url, *names = sys.argv[1:]
    if side == "cli":
        _, clocks = cli(database_url, names)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": clocks.seconds, "peak_mb": peak_mb}))
        return
    measure = {"ours": ours, "parsedmarc": parsedmarc}[side]
    records, clocks = measure(database_url, [Path(name) for name in names])
    # ru_maxrss is in KiB on Linux: the peak of this process, imports included.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"records": records, "seconds": clocks.seconds, "peak_mb": peak_mb}
    print(json.dumps({**result, "cpu_seconds": clocks.cpu_seconds}))


def _cpu_seconds() -> float:
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


if __name__ == "__main__":
    main()
