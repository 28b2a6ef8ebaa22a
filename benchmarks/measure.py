"""One side of one comparison, run in a process of its own so that its peak
memory is its own: prints one line of JSON (records, seconds, cpu_seconds,
peak_mb).

    python benchmarks/measure.py ours DATABASE_URL FILE...
    python benchmarks/measure.py parsedmarc - FILE...
"""

import json
import logging
import resource
import sys
import time
from pathlib import Path


def ours(database_url: str, files: list[Path]) -> int:
    from dmarc_analyzer import api

    database = api.open_database(database_url)  # migrated before the clock starts
    started = time.perf_counter()
    summary = api.ingest(database, files)
    elapsed = time.perf_counter() - started
    database.close()
    if summary.refused:
        raise SystemExit(f"refused: {summary.refused[0]}")
    return summary.records_added, elapsed


def parsedmarc(_: str, files: list[Path]) -> int:
    import parsedmarc

    logging.disable(logging.CRITICAL)  # its per-file warnings are not the point
    # parsedmarc refuses reports that expand beyond 100 MB; the 500,000-record
    # report is about 225 MB of XML.
    parsedmarc.MAX_DECOMPRESSED_REPORT_SIZE = 2**31
    started = time.perf_counter()
    records = 0
    for path in files:
        parsed = parsedmarc.parse_report_file(str(path), offline=True)
        records += len(parsed["report"]["records"])
    return records, time.perf_counter() - started


def main() -> None:
    side, database_url, *names = sys.argv[1:]
    measure = {"ours": ours, "parsedmarc": parsedmarc}[side]
    before = _cpu_seconds()
    records, seconds = measure(database_url, [Path(name) for name in names])
    cpu_seconds = _cpu_seconds() - before
    # ru_maxrss is in KiB on Linux: the peak of this process, imports included.
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"records": records, "seconds": seconds, "peak_mb": peak_mb}
    print(json.dumps({**result, "cpu_seconds": cpu_seconds}))


def _cpu_seconds() -> float:
    """Processor time of this process and of its worker processes: on a
    machine shared with other work, less noisy than the clock."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


if __name__ == "__main__":
    main()
