"""Store the reports of every message in a mailbox, then tidy it.

Each message's reports are stored in one transaction. Only once that has
been committed is the message moved to the processed folder, so a crash or
a lost connection between the two leaves the message where it was: the
next run finds its reports stored already (duplicates, a no-op) and moves
it then. Nothing is lost and nothing is stored twice.

Where each message goes:

- its reports stored, or all stored already: the processed folder, even
  when another attachment of it could not be read (a warning names it);
- no readable aggregate report in it: the invalid folder, with the reason;
- a failure (forensic) or SMTP TLS report: the other-reports folder, counted;
- storing failed (the database, an unexpected error), or the message
  cannot be read or moved: nowhere, it stays and is tried again next run,
  while the run goes on with the others.
"""

import email.parser
import email.policy
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from dmarc_analyzer.config import ArchiveFolders
from dmarc_analyzer.errors import (
    DatabaseError,
    MessageError,
    OtherReportType,
    ReportRefused,
)
from dmarc_analyzer.fetch.mailbox import Mailbox, MailMessage
from dmarc_analyzer.ingest.containers import MAX_MESSAGE_BYTES
from dmarc_analyzer.ingest.pipeline import Refusal, ingest_message, plural, printable
from dmarc_analyzer.storage.database import Database
from dmarc_analyzer.storage.reports import StoreOutcome

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SetAside:
    """A message not processed: moved to `folder`, or left where it was
    (`folder` None). `where` is where it was, gone once it is moved: its
    Subject and Message-ID say which message it was."""

    where: str
    reason: str
    folder: str | None
    subject: str = ""
    message_id: str = ""

    def as_dict(self) -> dict:
        return {
            "message": self.where,
            "reason": self.reason,
            "folder": self.folder,
            "subject": self.subject,
            "message_id": self.message_id,
        }


@dataclass(slots=True)
class FetchSummary:
    """What one fetch did, message by message added up."""

    mailbox: str
    messages: int = 0
    processed: int = 0
    reports_added: int = 0
    duplicates: int = 0
    records_added: int = 0
    invalid: list[SetAside] = field(default_factory=list)
    other_reports: list[SetAside] = field(default_factory=list)
    failed: list[SetAside] = field(default_factory=list)
    warnings: list[Refusal] = field(default_factory=list)
    gone: int = 0  # removed by another program while this run looked at them

    def add(self, outcome: StoreOutcome) -> None:
        self.processed += 1
        self.reports_added += outcome.added
        self.duplicates += outcome.duplicates
        self.records_added += outcome.records

    def as_dict(self) -> dict:
        return {
            "mailbox": self.mailbox,
            "messages": self.messages,
            "processed": self.processed,
            "reports_added": self.reports_added,
            "duplicates": self.duplicates,
            "records_added": self.records_added,
            "invalid": [item.as_dict() for item in self.invalid],
            "other_reports": [item.as_dict() for item in self.other_reports],
            "failed": [item.as_dict() for item in self.failed],
            "warnings": [
                {"message": item.path, "reason": item.reason} for item in self.warnings
            ],
            "gone": self.gone,
        }


Started = Callable[[int], None]
MessageDone = Callable[[MailMessage], None]


def fetch_mailbox(
    database: Database,
    mailbox: Mailbox,
    folders: ArchiveFolders,
    batch_size: int = 50,
    on_start: Started | None = None,
    on_message_done: MessageDone | None = None,
) -> FetchSummary:
    """Store and tidy away every message of `mailbox`, `batch_size` read at
    a time. A mailbox that fails (a lost connection, a lock refused) stops
    the run with `MailboxError`; what was committed stays committed. One
    message that cannot be read or moved (`MessageError`) stays, and the
    run goes on."""
    summary = FetchSummary(mailbox=mailbox.name)
    mailbox.check_folders([folders.processed, folders.invalid, folders.other_reports])
    keys = mailbox.keys()
    if on_start:
        on_start(len(keys))

    for batch in batched(keys, batch_size):
        read = 0
        for message in mailbox.read(batch):
            read += 1
            summary.messages += 1
            destination = _store(database, message, folders, summary)
            if destination is not None:
                _move(mailbox, message, getattr(folders, destination), summary)
            if on_message_done:
                on_message_done(message)
        summary.gone += len(batch) - read
        mailbox.end_batch()
    return summary


def _move(
    mailbox: Mailbox, message: MailMessage, folder: str, summary: FetchSummary
) -> None:
    """Move one message; one that cannot be moved stays for the next run,
    where its reports are found stored already."""
    try:
        moved = mailbox.move(message.key, folder)
    except MessageError as error:
        where = printable(message.where)
        # Not listed as gone to a folder it never reached: only as left.
        for found in (summary.invalid, summary.other_reports):
            if found and found[-1].where == where and found[-1].folder == folder:
                found.pop()
        _leave(summary, message, where, printable(error))
        return
    if moved is False:
        summary.gone += 1


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    """`items` in slices of `size` (itertools.batched is Python 3.12)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _store(
    database: Database,
    message: MailMessage,
    folders: ArchiveFolders,
    summary: FetchSummary,
) -> str | None:
    """Store one message's reports and count the outcome. Return where the
    message goes, as a field of ArchiveFolders, or None: it stays."""
    where = printable(message.where)

    def set_aside(found: list[SetAside], destination: str, reason) -> str:
        folder = getattr(folders, destination)
        item = _set_aside(message, where, printable(reason), folder)
        log.info("%s: to %s: %s", where, folder, item.reason)
        found.append(item)
        return destination

    def leave(reason) -> None:
        _leave(summary, message, where, printable(reason))

    if message.unreadable is not None:
        return leave(message.unreadable)
    if message.refused is not None:
        return set_aside(summary.invalid, "invalid", message.refused)
    if message.data is None:
        reason = f"e-mail message of more than {MAX_MESSAGE_BYTES:,} bytes"
        return set_aside(summary.invalid, "invalid", reason)

    try:
        result = ingest_message(database, message.data, where, keep_going=True)
    except OtherReportType as error:
        return set_aside(summary.other_reports, "other_reports", error)
    except ReportRefused as error:
        return set_aside(summary.invalid, "invalid", error)
    except RecursionError:
        return set_aside(summary.invalid, "invalid", "nested too deeply")
    except DatabaseError as error:
        return leave(error)
    except Exception as error:  # the per-message boundary: record it, go on
        log.debug("unexpected failure on %s", where, exc_info=True)
        return leave(f"unexpected error: {type(error).__name__}: {error}")

    summary.add(result.outcome)
    for repair in result.repairs:
        log.warning("%s: repaired: %s", where, repair)
        summary.warnings.append(Refusal(where, repair))
    for skipped in result.skipped:
        log.warning("%s: attachment skipped: %s", where, skipped)
        summary.warnings.append(Refusal(where, f"attachment skipped: {skipped}"))
    log.info(
        "%s: %s added, %s",
        where,
        plural(result.outcome.added, "report"),
        plural(result.outcome.duplicates, "duplicate"),
    )
    return "processed"


def _set_aside(
    message: MailMessage, where: str, reason: str, folder: str | None
) -> SetAside:
    subject, message_id = _headers(message.data)
    return SetAside(where, reason, folder, subject, message_id)


def _leave(
    summary: FetchSummary, message: MailMessage, where: str, reason: str
) -> None:
    item = _set_aside(message, where, reason, None)
    log.info("%s: left in place, tried again next run: %s", where, item.reason)
    summary.failed.append(item)


def _headers(data: bytes | None) -> tuple[str, str]:
    """The Subject and Message-ID of a message, as one line each."""
    if data is None:
        return "", ""
    parser = email.parser.BytesHeaderParser(policy=email.policy.default)
    try:
        headers = parser.parsebytes(data[:65536])
        subject, message_id = headers["Subject"], headers["Message-ID"]
    except (ValueError, LookupError, TypeError, AttributeError):
        return "", ""  # headers too broken to decode
    return printable(subject or "").strip(), printable(message_id or "").strip()
