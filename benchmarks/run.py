"""Measure dmarc-analyzer against the targets of issue 5, in one run.

    .venv/bin/python benchmarks/run.py            # the full run: about 15 minutes
    .venv/bin/python benchmarks/run.py --quick    # small sizes, well under a minute

The inputs are generated with a fixed seed. Each ingest (ours on SQLite, ours
on PostgreSQL, parsedmarc's library) runs in a process of its own, so that
its peak memory is its own; PostgreSQL gets a scratch database on the server
of the tests, dropped afterwards. The table compares ratios and absolute
figures with the targets.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import inputs  # noqa: E402  (benchmarks/ is a folder of scripts, not a package)

POSTGRES_SERVER = os.environ.get(
    "DMARC_ANALYZER_TEST_POSTGRES",
    "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
)


@dataclass(frozen=True)
class Sizes:
    small_large: int  # records of the report that memory is compared with
    large: int  # records of the big report (the 500k target)
    small_reports: int
    dns_ips: int
    dns_sample: int  # IPs looked up one by one to time the sequential loop
    startup_runs: int
    stored_records: int  # in the database the analysis is timed on
    stored_sources: int


FULL = Sizes(100_000, 500_000, 1000, 10_000, 100, 5, 10_000_000, 50_000)
QUICK = Sizes(1_000, 5_000, 50, 300, 20, 3, 36_500, 1_000)
DNS_DELAY = 0.05


@dataclass(frozen=True)
class Row:
    what: str
    ours: str
    theirs: str
    ratio: str
    target: str
    met: bool | None  # None: for information


def main() -> None:
    options = _arguments()
    sizes = QUICK if options.quick else FULL
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dmarc-bench-") as scratch:
        rows = measure_all(sizes, Path(scratch), options.postgres, options.analysis_db)
    print_table(rows, sizes, options.quick)
    # Other work on the machine moves every clock figure: say how much.
    shown = [
        f"{before:.1f} / {after:.1f}"
        for before, after in zip(load_before, os.getloadavg(), strict=True)
    ]
    print(f"\nload average (1, 5, 15 min), before / after: {', '.join(shown)}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--postgres", default=POSTGRES_SERVER, help="server URL (SQLAlchemy)"
    )
    parser.add_argument(
        "--analysis-db",
        type=Path,
        help="SQLite file for the analysis timings, kept for the next run "
        "(built there when missing; a temporary one by default)",
    )
    return parser.parse_args()


def measure_all(
    sizes: Sizes, scratch: Path, postgres: str, analysis_db: Path | None = None
) -> list[Row]:
    files = _generate(sizes, scratch)
    backends = {"SQLite": lambda: _sqlite(scratch), "PostgreSQL": lambda: _pg(postgres)}
    rows = []
    theirs = {
        name: _run_side("parsedmarc", "-", paths) for name, paths in files.items()
    }
    for backend, database in backends.items():
        ours = {name: _ours(database, paths) for name, paths in files.items()}
        rows += _ingest_rows(backend, sizes, ours, theirs)
    rows += _startup_rows(scratch, files["small"], sizes.startup_runs)
    rows += _dns_rows(scratch, sizes)
    rows += _analysis_rows(analysis_db or scratch / "stored.sqlite", scratch, sizes)
    return rows


def _generate(sizes: Sizes, scratch: Path) -> dict[str, list[Path]]:
    _say(f"generating inputs in {scratch}")
    return {
        "large": [inputs.write_report(scratch / "large.xml.gz", sizes.large)],
        "medium": [inputs.write_report(scratch / "medium.xml.gz", sizes.small_large)],
        "small": inputs.write_small_reports(scratch / "small", sizes.small_reports),
    }


def _ours(database, paths: list[Path]) -> dict:
    with database() as url:
        return _run_side("ours", url, paths)


def _run_side(side: str, url: str, paths: list[Path]) -> dict:
    _say(f"{side}: {len(paths)} file(s), {url.rpartition('/')[2]}")
    done = subprocess.run(
        [sys.executable, str(HERE / "measure.py"), side, url, *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{side} failed:\n{done.stderr}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["rate"] = result["records"] / result["seconds"]
    return result


@contextmanager
def _sqlite(scratch: Path):
    path = scratch / f"bench-{uuid.uuid4().hex[:8]}.sqlite"
    yield f"sqlite:///{path}"
    path.unlink(missing_ok=True)


@contextmanager
def _pg(server: str):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"dmarc_bench_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()


def _ingest_rows(backend: str, sizes: Sizes, ours: dict, theirs: dict) -> list[Row]:
    large, medium, small = ours["large"], ours["medium"], ours["small"]
    flat = large["peak_mb"] / medium["peak_mb"]
    return [
        _rate_row(
            f"{backend}: one {sizes.large:,}-record report", large, theirs["large"], 8
        ),
        _rate_row(
            f"{backend}: one {sizes.small_large:,}-record report",
            medium,
            theirs["medium"],
            None,
        ),
        _rate_row(
            f"{backend}: {sizes.small_reports:,} small reports",
            small,
            theirs["small"],
            5,
        ),
        _cpu_row(
            f"{backend}: {sizes.small_reports:,} small reports", small, theirs["small"]
        ),
        Row(
            f"{backend}: peak memory, {sizes.large:,} records",
            f"{large['peak_mb']:.0f} MB",
            f"{theirs['large']['peak_mb']:.0f} MB",
            "",
            "< 150 MB",
            large["peak_mb"] < 150,
        ),
        Row(
            f"{backend}: memory, {sizes.large:,} vs {sizes.small_large:,} records",
            f"{large['peak_mb']:.0f} / {medium['peak_mb']:.0f} MB",
            "",
            f"{flat:.2f}",
            "<= 1.20",
            flat <= 1.2,
        ),
    ]


def _rate_row(what: str, ours: dict, theirs: dict, target: float | None) -> Row:
    ratio = ours["rate"] / theirs["rate"]
    return Row(
        f"{what} (records/s)",
        f"{ours['rate']:,.0f}",
        f"{theirs['rate']:,.0f}",
        f"{ratio:.1f}x",
        f">= {target}x" if target else "",
        ratio >= target if target else None,
    )


def _cpu_row(what: str, ours: dict, theirs: dict) -> Row:
    """Processor seconds (ours with the worker processes that parse): for
    information, as the clock depends on what else the machine runs. Our
    database server's own time is not counted."""
    return Row(
        f"{what} (CPU s)",
        f"{ours['cpu_seconds']:.2f} s",
        f"{theirs['cpu_seconds']:.2f} s",
        f"{theirs['cpu_seconds'] / ours['cpu_seconds']:.1f}x",
        "",
        None,
    )


def _startup_rows(scratch: Path, small: list[Path], runs: int) -> list[Row]:
    database = scratch / "startup.sqlite"
    _cli("--db", str(database), "ingest", *map(str, small[:20]))
    rows = []
    for label, arguments in (
        ("--help", ["--help"]),
        ("reports", ["--db", str(database), "reports"]),
    ):
        seconds = statistics.median(_timed_cli(*arguments) for _ in range(runs))
        rows.append(
            Row(
                f"start-up: {label}",
                f"{seconds:.2f} s",
                "",
                "",
                "< 0.5 s",
                seconds < 0.5,
            )
        )
    return rows


def _cli(*arguments: str) -> None:
    # Python's compiled modules are kept, as on a user's machine: with
    # PYTHONDONTWRITEBYTECODE set, every start would compile ours again.
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "PYTHONDONTWRITEBYTECODE"
    }
    subprocess.run(
        [*_command(), *arguments], check=True, capture_output=True, env=environment
    )


def _timed_cli(*arguments: str) -> float:
    started = time.perf_counter()
    _cli(*arguments)
    return time.perf_counter() - started


def _command() -> list[str]:
    installed = Path(sys.executable).parent / "dmarc-analyzer"
    return (
        [str(installed)]
        if installed.exists()
        else [sys.executable, "-m", "dmarc_analyzer"]
    )


def _dns_rows(scratch: Path, sizes: Sizes) -> list[Row]:
    import reverse_dns

    _say(f"reverse DNS: {sizes.dns_ips:,} IPs, {DNS_DELAY * 1000:.0f} ms per answer")
    result = reverse_dns.run(
        f"sqlite:///{scratch / 'dns.sqlite'}",
        sizes.dns_ips,
        sizes.dns_sample,
        DNS_DELAY,
    )
    sequential = result.sequential_per_ip * result.ips
    return [
        Row(
            f"reverse DNS: {result.ips:,} IPs (s)",
            f"{result.concurrent_seconds:.1f} s",
            f"{sequential:.0f} s (loop)",
            f"{result.speedup:.1f}x",
            ">= 20x",
            result.speedup >= 20,
        ),
        Row(
            "reverse DNS: second run, queries",
            f"{result.second_run_queries} in {result.second_run_seconds:.2f} s",
            "",
            "",
            "0",
            result.second_run_queries == 0,
        ),
    ]


def _analysis_rows(database: Path, scratch: Path, sizes: Sizes) -> list[Row]:
    import analysis

    _say(
        f"analysis: {sizes.stored_records:,} stored records, "
        f"{sizes.stored_sources:,} sources ({database})"
    )
    analysis.ensure_database(database, sizes.stored_records, sizes.stored_sources)
    return [
        Row(
            f"{timed.what}, {sizes.stored_records:,} records (s)",
            f"{timed.seconds:.1f} s, {timed.peak_mb:.0f} MB",
            "",
            "",
            f"< {timed.target} s" if timed.target else "",
            timed.seconds < timed.target if timed.target else None,
        )
        for timed in analysis.time_commands(database, scratch)
    ]


def print_table(rows: list[Row], sizes: Sizes, quick: bool = False) -> None:
    """A Markdown table, ready for the README."""
    print(f"\nsizes: {sizes}\n")
    print("| measure | dmarc-analyzer | parsedmarc | ratio | target | verdict |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        verdict = {True: "met", False: "**missed**", None: ""}[row.met]
        if row.met is not None and quick:
            verdict = "(quick: not judged)"  # the targets are for the full sizes
        cells = [row.what, row.ours, row.theirs, row.ratio, row.target, verdict]
        print("| " + " | ".join(cells) + " |")


def _say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
