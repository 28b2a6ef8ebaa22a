"""The analysis over many stored records: `failures`, `senders` and
`summary` timed as a user runs them, each command in a process of its own,
on a SQLite database that `large_database.py` fills (seeded)."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The data are the year from 2025-12-01; its last full ISO week, as the
# summary takes it by default on 2026-12-04.
LAST_WEEK = ["--since", "2026-11-23", "--until", "2026-11-29"]
YEAR = ["--since", "2025-12-01", "--until", "2026-11-30"]


@dataclass(frozen=True)
class Timed:
    what: str
    seconds: float
    peak_mb: float
    target: float | None  # seconds


def commands(out: Path) -> list[tuple[str, list[str], float | None]]:
    """(label, arguments, target in seconds) of each command timed."""
    summary = ["summary", "--offline", "--out", str(out)]
    return [
        ("failures (table)", ["failures", "--offline"], 10),
        ("failures --json", ["failures", "--offline", "--json"], 10),
        ("senders (table)", ["senders", "--offline"], 10),
        ("senders --json", ["senders", "--offline", "--json"], 10),
        ("summary, last week (HTML)", [*summary, *LAST_WEEK], 10),
        ("summary, a year (Markdown)", [*summary, *YEAR, "--format", "md"], None),
    ]


def ensure_database(path: Path, records: int, sources: int) -> None:
    """Build the database, unless the one there was built the same way (a
    full build takes several minutes)."""
    marker = path.with_name(path.name + ".built")
    wanted = f"{records} records, {sources} sources"
    if path.exists() and marker.exists() and marker.read_text() == wanted:
        return
    for stale in (path, path.with_name(path.name + "-wal"), marker):
        stale.unlink(missing_ok=True)
    build = [sys.executable, str(HERE / "large_database.py"), str(path)]
    done = subprocess.run(
        [*build, "--records", str(records), "--ips", str(sources)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"building {path} failed:\n{done.stderr}")
    marker.write_text(wanted)


def time_commands(database: Path, out: Path) -> list[Timed]:
    timed = []
    for label, arguments, target in commands(out):
        measure = [sys.executable, str(HERE / "measure.py"), "cli", str(database)]
        done = subprocess.run(
            [*measure, *arguments],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SystemExit(f"{label} failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        timed.append(Timed(label, result["seconds"], result["peak_mb"], target))
    return timed
