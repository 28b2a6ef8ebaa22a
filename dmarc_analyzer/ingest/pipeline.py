"""Ingest files and folders of reports into the database.

A file's reports are stored all or none: a file that fails at any step,
even at its last record, leaves nothing behind. It is refused with a
one-line reason, and the run goes on with the next file.

Small files, most of them, are parsed whole in worker processes and stored
in groups: one transaction, one wait for the disk and one statement per
table for many files. A file counts as stored, and is handed to
`on_file_done`, once its group is committed. A large file, or one that the
quick way cannot take (damaged, refused), is unpacked and parsed as it is
stored, its records in batches, in a transaction of its own.

An mbox file is a mailbox, not one report: when the quick way cannot take
it whole, each of its messages is stored or refused on its own, in its own
transaction, as `fetch mbox` does. Its other mail (a message with nothing
that could be a report in it, or a failure or SMTP TLS report) is skipped
with a warning, not refused.
"""

import contextlib
import functools
import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from dmarc_analyzer import interrupts
from dmarc_analyzer.alignment import load_suffix_list
from dmarc_analyzer.errors import (
    DatabaseError,
    NoAggregateReport,
    OtherReportType,
    ReportRefused,
)
from dmarc_analyzer.ingest import read_ahead
from dmarc_analyzer.ingest.containers import (
    SNIFF_BYTES,
    Attachment,
    PayloadStream,
    attachment_payloads,
    email_attachments,
    expansion_budget,
    is_mbox,
    mbox_messages,
    stream_payloads,
)
from dmarc_analyzer.ingest.parallel import map_in_order
from dmarc_analyzer.ingest.xml_report import (
    DamagedXml,
    ReportStream,
    parse_aggregate_report,
    stream_aggregate_report,
    stream_repaired_report,
)
from dmarc_analyzer.model import Report
from dmarc_analyzer.storage.database import Database, as_database_error
from dmarc_analyzer.storage.groups import (
    PreparedReport,
    prepare_report,
    store_report_groups,
)
from dmarc_analyzer.storage.reports import (
    BATCH_RECORDS,
    StoreOutcome,
    batched,
    prepare_records,
    store_prepared_report,
    store_report,
)

log = logging.getLogger(__name__)

_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# A file bigger than this is refused before it is read into memory.
MAX_FILE_BYTES = 512 * 1024 * 1024

# A file is parsed whole when it is at most this big and has at most this many
# records; a larger one is streamed, so that memory stays flat.
WHOLE_FILE_BYTES = 1024 * 1024
WHOLE_FILE_RECORDS = 5000
# ... and of at most this much XML, all its reports together: parsed files
# wait in memory for their turn to be stored (parallel.py), and a few
# hundred of them must stay small however long the names in them.
WHOLE_FILE_XML_BYTES = 4 * 1024 * 1024
# A file at least this big is parsed by a child process while this one
# stores it (on two cores or more).
READ_AHEAD_FROM_BYTES = 1024 * 1024
# A group of files is committed when it has this many files or records, or
# when its first file waited this long.
GROUP_FILES = 250
GROUP_RECORDS = 20_000
GROUP_SECONDS = 1.0


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
    # Attachments of an e-mail message that were passed over, and why.
    skipped: tuple[str, ...] = ()
    # Messages of an mbox refused one by one, the file's others stored.
    refusals: tuple[Refusal, ...] = ()


FileDone = Callable[[Path, FileResult], None]
# Opens the bytes to ingest, once per attempt: a damaged report is read twice.
Opener = Callable[[], contextlib.AbstractContextManager[BinaryIO]]


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
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Ingest every report file under `paths`; never stops at a bad file.

    Files in `skip` (the database's own files, say) are passed over. A
    `summary` given is filled in as the files are done, so a caller whose
    run is interrupted still knows what was stored.
    """
    summary = IngestSummary() if summary is None else summary
    skipped = {os.path.realpath(path) for path in skip}
    real_path = _RealPaths()
    wanted = (
        path
        for path in find_report_files(paths, summary.refused)
        if real_path(path) not in skipped
    )
    # Every report needs it: read once, before worker processes are forked.
    load_suffix_list()
    group = _Group(database, summary, on_file_done)
    # No database connection may live on in a worker: were this process
    # killed, its transaction would stay open, holding its locks, for as
    # long as a worker kept the connection's socket.
    parsed_files = map_in_order(parse_whole_file, wanted, database.close)
    # Closed here, whatever happens: left to the garbage collector, the
    # workers could be shut down from one of the pool's own threads.
    with contextlib.closing(parsed_files):
        for path, parsed in parsed_files:
            if parsed is None:
                group.commit()  # files are counted in order
                _ingest_and_count(database, path, summary, on_file_done)
                continue
            group.add(path, parsed)
            if group.full():
                group.commit()
    group.commit()
    return summary


class _RealPaths:
    """`os.path.realpath` of many files in a few folders, each folder
    resolved once: resolving a path looks at each of its parts (five system
    calls for a file four folders deep), and the files are thousands. A
    file's real path is its folder's and its name, unless the file is a
    link."""

    def __init__(self) -> None:
        self._folders: dict[str, str] = {}

    def __call__(self, path: Path) -> str:
        folder, name = os.path.split(path)
        if name in ("", ".", "..") or os.path.islink(path):
            return os.path.realpath(path)
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder)
        return os.path.join(real_folder, name)


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """The reports of a small file, read whole and ready to be written."""

    reports: tuple[PreparedReport, ...]
    repairs: tuple[str, ...]
    records: int


class _Group:
    """Parsed files waiting to be stored in one transaction."""

    def __init__(
        self, database: Database, summary: IngestSummary, on_file_done: FileDone | None
    ):
        self._database = database
        self._summary = summary
        self._on_file_done = on_file_done
        self._files: list[tuple[Path, ParsedFile]] = []
        self._records = 0
        self._started = 0.0

    def add(self, path: Path, parsed: ParsedFile) -> None:
        if not self._files:
            self._started = time.monotonic()
        self._files.append((path, parsed))
        self._records += parsed.records

    def full(self) -> bool:
        return (
            len(self._files) >= GROUP_FILES
            or self._records >= GROUP_RECORDS
            or time.monotonic() - self._started >= GROUP_SECONDS
        )

    def commit(self) -> None:
        """Store the files, then count each: none is counted before the
        commit that keeps it."""
        if not self._files:
            return
        with contextlib.ExitStack() as until_counted:
            results = self._store(until_counted)
            for (path, _), result in zip(self._files, results, strict=True):
                _count(self._summary, path, result, self._on_file_done)
        self._files, self._records = [], 0

    def _store(self, until_counted: contextlib.ExitStack) -> list[FileResult]:
        try:
            with self._database.transaction() as connection:
                results = _store_group(connection, self._files)
                # An interrupt between the commit and the counting would
                # leave files stored that the run does not report: from
                # here it waits until they are counted (a moment).
                until_counted.enter_context(interrupts.held())
        except Exception:  # the group's boundary: its files go one by one
            # The transaction failed as a whole (its commit, say): each file
            # again, the careful way, so that each is stored or says why not.
            log.debug("storing a group failed", exc_info=True)
            until_counted.close()
            interrupts.raise_if_arrived()  # the failure may be its doing
            results = [_ingest_one(self._database, path) for path, _ in self._files]
        return results


def _store_group(
    connection: Connection, files: list[tuple[Path, ParsedFile]]
) -> list[FileResult]:
    try:
        with connection.begin_nested():
            outcomes = store_report_groups(
                connection, [parsed.reports for _, parsed in files]
            )
    except SQLAlchemyError:
        # Another ingest stored one of the reports meanwhile (PostgreSQL):
        # file by file, each report checked again.
        log.debug("storing a group failed; file by file", exc_info=True)
        interrupts.raise_if_arrived()
        return [_store_parsed(connection, path, parsed) for path, parsed in files]
    return [
        FileResult(outcome=outcome, repairs=parsed.repairs)
        for outcome, (_, parsed) in zip(outcomes, files, strict=True)
    ]


def _store_parsed(connection: Connection, path: Path, parsed: ParsedFile) -> FileResult:
    """One file of a group in a savepoint of its own: a failure undoes this
    file alone. A report that another ingest stored meanwhile makes the
    first try fail; the second finds it stored."""
    try:
        try:
            with connection.begin_nested():
                [outcome] = store_report_groups(connection, [parsed.reports])
        except IntegrityError:
            with connection.begin_nested():
                [outcome] = store_report_groups(connection, [parsed.reports])
    except SQLAlchemyError as error:
        log.debug("refused %s", printable(path), exc_info=True)
        interrupts.raise_if_arrived()
        reason = printable(as_database_error(error))
        return FileResult(refusal=Refusal(printable(path), reason))
    return FileResult(outcome=outcome, repairs=parsed.repairs)


def _count(
    summary: IngestSummary,
    path: Path,
    result: FileResult,
    on_file_done: FileDone | None,
) -> None:
    # Counted here, with its outcome, not when read: an interrupted run
    # names only the files it is done with.
    summary.files += 1
    if result.refusal:
        summary.refused.append(result.refusal)
    else:
        summary.add(result.outcome)
        for repair in result.repairs:
            log.warning("%s: repaired: %s", printable(path), repair)
        log.info(
            "%s: %s added, %s",
            printable(path),
            plural(result.outcome.added, "report"),
            plural(result.outcome.duplicates, "duplicate"),
        )
    summary.refused += result.refusals
    summary.warnings += [Repair(printable(path), w) for w in result.repairs]
    if on_file_done:
        on_file_done(path, result)


def parse_whole_file(path: Path) -> ParsedFile | None:
    """The reports of a small file, read whole; None for a file that is
    large, damaged or refused, and is to be stored the careful way, which
    says why it is refused."""
    reports, repairs, count = [], [], 0
    source_file = printable(path)
    try:
        data = _read_small_file(path)
        if data is None:
            return None
        xml = _XmlAllowance(WHOLE_FILE_XML_BYTES)
        for payload in stream_payloads(io.BytesIO(data)):
            parsed = stream_aggregate_report(xml.counted(payload.stream))
            records = tuple(islice(parsed.records, WHOLE_FILE_RECORDS - count + 1))
            count += len(records)
            if count > WHOLE_FILE_RECORDS:
                return None
            reports.append(prepare_report(parsed.header, records, source_file))
            repairs += parsed.warnings  # complete: the records were read
    except Exception:  # whatever it is, the careful way finds it again
        return None
    return ParsedFile(tuple(reports), tuple(repairs), count)


class _XmlAllowance:
    """The XML a file read whole may hold, all its documents together:
    reading past it raises, and the file goes the careful way."""

    def __init__(self, allowed: int):
        self.left = allowed

    def counted(self, stream: BinaryIO) -> "_Counted":
        return _Counted(stream, self)


class _Counted:
    """A stream whose reads are taken from an `_XmlAllowance`."""

    def __init__(self, stream: BinaryIO, allowance: _XmlAllowance):
        self._stream = stream
        self._allowance = allowance

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        self._allowance.left -= len(chunk)
        if self._allowance.left < 0:
            raise _TooMuchXml
        return chunk


class _TooMuchXml(Exception):
    pass


def _read_small_file(path: Path) -> bytes | None:
    """The bytes of a file of at most WHOLE_FILE_BYTES, in one read; None
    for a larger one. Streamed, a small file took a dozen system calls and
    buffers sized for large ones; in memory, it can be sniffed and
    unpacked without either."""
    with _open_report_file(path) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > WHOLE_FILE_BYTES:
            return None
        data = handle.read(size + 1)
    # A file that grew meanwhile is left to the careful way, as a large one.
    return data if len(data) <= size else None


def ingest_file(database: Database, path: Path) -> FileResult:
    """Store the reports of one file in one transaction, or raise ReportRefused.

    Reports are streamed into the database as they are parsed; a large
    file is parsed in a process of its own meanwhile. A report whose markup
    turns out to be damaged undoes the transaction; the file is then stored
    again, each report repaired as it is read where it can be. When even
    that fails, the reason given is the first one.
    """
    return _store_repairing(
        database,
        lambda: _open_report_file(path),
        printable(path),
        read_ahead=_is_large(path) and read_ahead.worth_it(),
    )


def _is_large(path: Path) -> bool:
    try:
        return path.stat().st_size >= READ_AHEAD_FROM_BYTES
    except OSError:  # said when the file is opened
        return False


def ingest_message(
    database: Database, message: bytes, source: str, *, keep_going: bool = False
) -> FileResult:
    """Store the reports of one e-mail message, as `ingest_file` does a
    file: all in one transaction, or `ReportRefused` (`OtherReportType` for a
    failure or SMTP TLS report). `source` is recorded with each report.

    With `keep_going`, an attachment that cannot be read is passed over (in
    `skipped`, with the reason) and the others are stored; only a message
    with no readable report at all is refused, for its first bad attachment.
    """
    if not keep_going:
        return _store_repairing(
            database, lambda: contextlib.nullcontext(io.BytesIO(message)), source
        )

    attachments = email_attachments(message)
    budget = expansion_budget()
    outcome, repairs, skipped = StoreOutcome(), [], []
    first_error: ReportRefused | None = None
    with database.transaction() as connection:
        for attachment in attachments:
            try:
                stored, repaired = _store_attachment(
                    connection, attachment, budget, source
                )
            except ReportRefused as error:
                first_error = first_error or error
                skipped.append(printable(error))
                continue
            outcome, repairs = outcome + stored, repairs + repaired
        if first_error is not None and outcome.added + outcome.duplicates == 0:
            raise first_error
    return FileResult(outcome=outcome, repairs=tuple(repairs), skipped=tuple(skipped))


def _store_attachment(
    connection: Connection, attachment: Attachment, budget, source: str
) -> tuple[StoreOutcome, list[str]]:
    """Store one attachment's reports, read as a stream, else again repairing
    its markup; each try under a savepoint, undone whole when it fails."""
    try:
        return _store_under_savepoint(connection, attachment, budget, source, True)
    except DamagedXml as error:
        first_error = error
    try:
        return _store_under_savepoint(connection, attachment, budget, source, False)
    except DamagedXml:
        raise first_error from None


def _store_under_savepoint(
    connection: Connection, attachment: Attachment, budget, source, streaming: bool
) -> tuple[StoreOutcome, list[str]]:
    outcome, repairs = StoreOutcome(), []
    with connection.begin_nested():
        for payload in attachment_payloads(attachment, budget):
            with _naming_the_member(payload.where):
                parsed = _read_payload(payload, streaming)
                outcome = outcome + store_report(
                    connection, parsed.header, parsed.records, source_file=source
                )
            repairs += parsed.warnings
    return outcome, repairs


def _store_repairing(
    database: Database, opener: Opener, source: str, *, read_ahead: bool = False
) -> FileResult:
    store = _store_read_ahead if read_ahead else _store
    try:
        return store(database, opener, source, streaming=True)
    except DamagedXml as error:
        first_error = error
    try:
        return store(database, opener, source, streaming=False)
    except DamagedXml:
        raise first_error from None


def _store(
    database: Database, opener: Opener, source: str, *, streaming: bool
) -> FileResult:
    outcome, repairs = StoreOutcome(), []
    with (
        opener() as handle,
        database.transaction(_BEFORE_COMMIT.get()) as connection,
    ):
        for payload in stream_payloads(handle):
            with _naming_the_member(payload.where):
                parsed = _read_payload(payload, streaming)
                outcome = outcome + store_report(
                    connection, parsed.header, parsed.records, source_file=source
                )
            repairs += parsed.warnings
    return FileResult(outcome=outcome, repairs=tuple(repairs))


def _store_read_ahead(
    database: Database, opener: Opener, source: str, *, streaming: bool
) -> FileResult:
    """`_store`, the file read and parsed by a child process meanwhile."""
    outcome, repairs = StoreOutcome(), []
    database.close()  # no connection of ours may live on in the child
    read = functools.partial(_read_for_parent, opener, streaming)
    with (
        read_ahead.reading_in_child(read) as child,
        database.transaction(_BEFORE_COMMIT.get()) as db,
    ):
        for header in child.reports():
            outcome = outcome + store_prepared_report(
                db, header, child.records(), source_file=source
            )
            repairs += child.warnings()
    return FileResult(outcome=outcome, repairs=tuple(repairs))


def _read_for_parent(opener: Opener, streaming: bool, channel: read_ahead.Channel):
    """In the child: what `_store` reads, sent to the parent to store."""
    with opener() as handle:
        for payload in stream_payloads(handle):
            with _naming_the_member(payload.where):
                parsed = _read_payload(payload, streaming)
                if channel.offer(parsed.header):
                    for batch in batched(parsed.records, BATCH_RECORDS):
                        channel.send_records(prepare_records(parsed.header, batch))
            channel.report_read(parsed.warnings)


def _read_payload(payload: PayloadStream, streaming: bool) -> ReportStream:
    """The report as it is read, strictly or repairing it as it goes."""
    if streaming:
        return stream_aggregate_report(payload.stream)
    return stream_repaired_report(payload.stream)


def read_reports(path: Path) -> list[Report]:
    """Every aggregate report in one file, read whole, or `ReportRefused`
    saying why not."""
    reports = []
    with _open_report_file(path) as handle:
        for payload in stream_payloads(handle):
            with _naming_the_member(payload.where):
                reports.append(parse_aggregate_report(payload.stream.read()))
    return reports


@contextlib.contextmanager
def _naming_the_member(where: str) -> Iterator[None]:
    """A refusal inside an archive or message says which member it was."""
    try:
        yield
    except ReportRefused as error:
        if not where or str(error).startswith(f"{where}: "):
            raise
        raise type(error)(f"{where}: {error}") from error


def plural(count: int, noun: str) -> str:
    """'1 report', '2 reports': for log lines."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def printable(text: object) -> str:
    """One line of plain text: file names and member names come from
    strangers, and a newline or a terminal escape in them must not reach a
    terminal or a log as such. Undecodable bytes of a file name are shown
    as U+FFFD."""
    text = str(text).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


# What the transaction of the file being stored does just before its commit.
_BEFORE_COMMIT: ContextVar[Callable[[], object] | None] = ContextVar(
    "before_commit", default=None
)


@dataclass(slots=True)
class _MboxSoFar:
    """The messages of an mbox, added up as each is stored."""

    outcome: StoreOutcome = field(default_factory=StoreOutcome)
    refusals: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def anything(self) -> bool:
        return bool(self.outcome.added or self.outcome.duplicates or self.refusals)

    def result(self) -> FileResult:
        return FileResult(
            outcome=self.outcome,
            repairs=tuple(self.notes),
            refusals=tuple(self.refusals),
        )


def _ingest_and_count(
    database: Database,
    path: Path,
    summary: IngestSummary,
    on_file_done: FileDone | None,
) -> None:
    """A file not stored in a group: in a transaction of its own, counted
    once committed. An interrupt between its commit and its count waits;
    one in the middle of an mbox counts the messages stored before it."""
    mbox_so_far = _MboxSoFar()
    with _interrupts_held_from_each_commit():
        try:
            result = _ingest_one(database, path, mbox_so_far)
        except KeyboardInterrupt:
            if mbox_so_far.anything():
                _count(summary, path, mbox_so_far.result(), on_file_done)
            raise
        _count(summary, path, result, on_file_done)


@contextlib.contextmanager
def _interrupts_held_from_each_commit() -> Iterator[None]:
    """Inside the block, a transaction that commits holds interrupts from
    just before its commit until the block ends: what it stored is counted
    first."""
    with contextlib.ExitStack() as until_the_end:

        def hold_interrupts() -> None:
            until_the_end.enter_context(interrupts.held())

        token = _BEFORE_COMMIT.set(hold_interrupts)
        try:
            yield
        finally:
            _BEFORE_COMMIT.reset(token)


def _ingest_one(
    database: Database, path: Path, mbox_so_far: _MboxSoFar | None = None
) -> FileResult:
    try:
        if _is_mbox_file(path):
            so_far = _MboxSoFar() if mbox_so_far is None else mbox_so_far
            return _ingest_mbox(database, path, so_far)
        return ingest_file(database, path)
    except (ReportRefused, DatabaseError) as error:
        log.debug("refused %s", printable(path), exc_info=True)
        interrupts.raise_if_arrived()  # not the file's fault, then
        return FileResult(refusal=Refusal(printable(path), printable(error)))
    except RecursionError:
        reason = "nested too deeply to read"
        return FileResult(refusal=Refusal(printable(path), reason))
    except Exception as error:  # the per-file boundary: record it, go on
        log.debug("unexpected failure on %s", printable(path), exc_info=True)
        interrupts.raise_if_arrived()
        reason = printable(f"unexpected error: {type(error).__name__}: {error}")
        return FileResult(refusal=Refusal(printable(path), reason))


def _is_mbox_file(path: Path) -> bool:
    with _open_report_file(path) as handle:
        return is_mbox(handle.read(SNIFF_BYTES))


def _ingest_mbox(database: Database, path: Path, so_far: _MboxSoFar) -> FileResult:
    """Store each message of an mbox in a transaction of its own: one
    broken message refuses only itself. `so_far` adds them up as they are
    stored."""
    name = printable(path)
    with _open_report_file(path) as handle:
        messages, number = mbox_messages(handle), 0
        while True:
            number += 1
            try:
                message = next(messages)
            except StopIteration:
                break
            except ReportRefused as error:  # a message too large: the end
                reason = printable(f"message {number}: {error}")
                so_far.refusals.append(Refusal(name, reason))
                break
            _store_and_add_message(database, message, name, number, so_far)
    log.info(
        "%s: %d reports added, %d duplicates, %d messages refused",
        name,
        so_far.outcome.added,
        so_far.outcome.duplicates,
        len(so_far.refusals),
    )
    return so_far.result()


def _store_and_add_message(
    database: Database, message: bytes, name: str, number: int, so_far: _MboxSoFar
) -> None:
    """One message, added to `so_far` once committed: an interrupt from
    just before its commit waits until then."""
    label = f"message {number}"
    with _interrupts_held_from_each_commit():
        result, note = _store_message(database, message, f"{name}: {label}")
        if result is None:
            so_far.refusals.append(Refusal(name, printable(f"{label}: {note}")))
        elif note:
            so_far.notes.append(f"{label}: skipped: {note}")
            log.warning("%s: %s: skipped: %s", name, label, note)
        else:
            so_far.outcome = so_far.outcome + result.outcome
            for repair in result.repairs:
                so_far.notes.append(f"{label}: repaired: {repair}")
                log.warning("%s: %s: repaired: %s", name, label, repair)


def _store_message(
    database: Database, message: bytes, source: str
) -> tuple[FileResult | None, str]:
    """One message of an mbox: (its result, ""), (an empty result, why it was
    skipped) for mail that is no aggregate report, or (None, why refused)."""
    try:

        def opener() -> contextlib.AbstractContextManager[BinaryIO]:
            return contextlib.nullcontext(io.BytesIO(message))

        return _store_repairing(database, opener, source), ""
    except (NoAggregateReport, OtherReportType) as error:
        return FileResult(outcome=StoreOutcome()), printable(error)
    except (ReportRefused, DatabaseError) as error:
        log.debug("refused %s", source, exc_info=True)
        interrupts.raise_if_arrived()
        return None, printable(error)
    except RecursionError:
        return None, "nested too deeply to read"
    except Exception as error:  # the per-message boundary: record it, go on
        log.debug("unexpected failure on %s", source, exc_info=True)
        interrupts.raise_if_arrived()
        return None, printable(f"unexpected error: {type(error).__name__}: {error}")


@contextlib.contextmanager
def _open_report_file(path: Path) -> Iterator[BinaryIO]:
    """The open file, if it is a regular file within the size limit; a pipe
    or a device could block or never end."""
    try:
        if not path.is_file():
            what = "no such file" if not path.exists() else "not a regular file"
            raise ReportRefused(what)
        # Opened by descriptor, so the handle has no name: lxml would take the
        # name for the document's URL and fail on undecodable bytes in it.
        handle = open(os.open(path, os.O_RDONLY), "rb")  # noqa: SIM115
    except OSError as error:
        raise ReportRefused(f"cannot read: {error.strerror or error}") from error
    with handle:
        if os.fstat(handle.fileno()).st_size > MAX_FILE_BYTES:
            raise ReportRefused(f"file is over the {MAX_FILE_BYTES:,} byte limit")
        try:
            yield handle
        except OSError as error:
            raise ReportRefused(f"cannot read: {error.strerror or error}") from error
