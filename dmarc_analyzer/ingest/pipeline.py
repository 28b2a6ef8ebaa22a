"""Ingest files and folders of reports into the database.

Each file is read, unpacked and parsed before the database is touched, then
all of its reports are stored in one transaction. A file that fails at any
step is refused with a one-line reason; the run goes on with the next file.
"""

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dmarc_analyzer.errors import DatabaseError, ReportRefused
from dmarc_analyzer.ingest.containers import extract_payloads
from dmarc_analyzer.ingest.xml_report import parse_aggregate_report
from dmarc_analyzer.model import Report
from dmarc_analyzer.storage.database import Database
from dmarc_analyzer.storage.reports import StoreOutcome, store_reports

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# A file bigger than this is refused before it is read into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Refusal:
    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class Repair:
    """Damage in a stored file that was repaired, such as invalid bytes."""

    path: str
    warning: str


@dataclass(slots=True)
class IngestSummary:
    """What one ingest run did, file by file added up."""

    files: int = 0
    reports_added: int = 0
    duplicates: int = 0
    records_added: int = 0
    messages_added: int = 0
    refused: list[Refusal] = field(default_factory=list)
    warnings: list[Repair] = field(default_factory=list)

    def add(self, outcome: StoreOutcome) -> None:
        self.reports_added += outcome.added
        self.duplicates += outcome.duplicates
        self.records_added += outcome.records
        self.messages_added += outcome.messages

    def as_dict(self) -> dict:
        return {
            "files": self.files,
            "reports_added": self.reports_added,
            "duplicates": self.duplicates,
            "records_added": self.records_added,
            "messages_added": self.messages_added,
            "refused": [{"file": r.path, "reason": r.reason} for r in self.refused],
            "warnings": [{"file": w.path, "warning": w.warning} for w in self.warnings],
        }


@dataclass(frozen=True, slots=True)
class FileResult:
    """What happened to one file: stored (with an outcome) or refused."""

    outcome: StoreOutcome | None = None
    refusal: Refusal | None = None
    repairs: tuple[str, ...] = ()


FileDone = Callable[[Path, FileResult], None]


def find_report_files(
    paths: Iterable[Path], unreadable: list[Refusal] | None = None
) -> Iterator[Path]:
    """The files named, and every file below the folders named, in order.

    Links to folders are followed, each real folder once, so a link loop
    cannot make the walk endless. Folders that cannot be read are added to
    `unreadable`, when given.
    """
    seen: set[str] = set()
    for path in paths:
        if path.is_dir():
            yield from _walk(path, seen, unreadable)
        else:
            yield path


def _walk(folder: Path, seen: set[str], unreadable: list[Refusal] | None):
    def note(error: OSError) -> None:
        if unreadable is not None:
            where = printable(error.filename or str(folder))
            unreadable.append(Refusal(where, f"cannot read folder: {error.strerror}"))

    for root, folders, files in os.walk(folder, onerror=note, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        folders.sort()
        for name in sorted(files):
            yield Path(root) / name


def ingest_paths(
    database: Database,
    paths: Iterable[Path],
    on_file_done: FileDone | None = None,
    skip: Iterable[Path] = (),
) -> IngestSummary:
    """Ingest every report file under `paths`; never stops at a bad file.

    Files in `skip` (the database's own files, say) are passed over.
    """
    summary = IngestSummary()
    skipped = {os.path.realpath(path) for path in skip}
    for path in find_report_files(paths, summary.refused):
        if os.path.realpath(path) in skipped:
            continue
        summary.files += 1
        result = _ingest_one(database, path)
        if result.refusal:
            summary.refused.append(result.refusal)
        else:
            summary.add(result.outcome)
        summary.warnings += [Repair(printable(path), w) for w in result.repairs]
        if on_file_done:
            on_file_done(path, result)
    return summary


def ingest_file(database: Database, path: Path) -> FileResult:
    """Store the reports of one file in one transaction, or raise ReportRefused."""
    parsed = read_reports(path)
    with database.transaction() as connection:
        outcome = store_reports(connection, parsed, source_file=printable(path))
    repairs = tuple(warning for report in parsed for warning in report.warnings)
    return FileResult(outcome=outcome, repairs=repairs)


def read_reports(path: Path) -> list[Report]:
    """Every aggregate report in one file, or `ReportRefused` saying why not."""
    data = _read_bytes(path)
    reports = []
    for payload in extract_payloads(data):
        try:
            reports.append(parse_aggregate_report(payload.data))
        except ReportRefused as error:
            if not payload.where:
                raise
            raise ReportRefused(f"{payload.where}: {error}") from error
    return reports


def printable(text: object) -> str:
    """One line of plain text: file names and member names come from
    strangers, and a newline or a terminal escape in them must not reach a
    terminal or a log as such. Undecodable bytes of a file name are shown
    as U+FFFD."""
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def _ingest_one(database: Database, path: Path) -> FileResult:
    try:
        result = ingest_file(database, path)
    except (ReportRefused, DatabaseError) as error:
        log.debug("refused %s", printable(path), exc_info=True)
        return FileResult(refusal=Refusal(printable(path), printable(error)))
    except RecursionError:
        reason = "nested too deeply to read"
        return FileResult(refusal=Refusal(printable(path), reason))
    except Exception as error:  # the per-file boundary: record it, go on
        log.debug("unexpected failure on %s", printable(path), exc_info=True)
        reason = printable(f"unexpected error: {type(error).__name__}: {error}")
        return FileResult(refusal=Refusal(printable(path), reason))

    for repair in result.repairs:
        log.warning("%s: repaired: %s", printable(path), repair)
    outcome = result.outcome
    log.info(
        "%s: %d reports added, %d duplicates",
        printable(path),
        outcome.added,
        outcome.duplicates,
    )
    return result


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, if it is a regular file within the size limit; a
    pipe or a device could block or never end."""
    try:
        if not path.is_file():
            what = "no such file" if not path.exists() else "not a regular file"
            raise ReportRefused(what)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        raise ReportRefused(f"cannot read: {error.strerror or error}") from error
    if len(data) > MAX_FILE_BYTES:
        raise ReportRefused(f"file is over the {MAX_FILE_BYTES:,} byte limit")
    return data
