"""The Python API: what the command line does, callable from a notebook.

from dmarc_analyzer import api
db = api.open_database("sqlite:///dmarc-analyzer.sqlite")
api.ingest(db, ["~/dmarc-reports"])
api.failures_frame(db, api.Scope.from_dates(since=date(2024, 3, 1)))
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from importlib import import_module
from pathlib import Path
from typing import TYPE_CHECKING

from dmarc_analyzer.analysis.period import Period, chosen_days, last_full
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.config import ArchiveFolders, ImapSettings, Settings
from dmarc_analyzer.defaults import DATABASE_ENV
from dmarc_analyzer.errors import DatabaseError, DnsCheckNotStored
from dmarc_analyzer.i18n import Language, available_languages, language
from dmarc_analyzer.storage.database import DEFAULT_DATABASE, Database
from dmarc_analyzer.storage.reports import (
    StoredReport,
    any_report,
    begin_span,
    count_reports,
    list_stored_reports,
)
from dmarc_analyzer.storage.settings import SENDERS_FILE, get_setting, set_setting

if TYPE_CHECKING:
    from dmarc_analyzer.analysis.failures import VendorFailures
    from dmarc_analyzer.analysis.identification import IdentifyOptions
    from dmarc_analyzer.analysis.management import ManagementSummary
    from dmarc_analyzer.analysis.senders import Sender
    from dmarc_analyzer.dnscheck.run import DnsCheck, DnsCheckOptions
    from dmarc_analyzer.fetch.mailbox import Mailbox
    from dmarc_analyzer.fetch.run import FetchSummary, MessageDone, Started
    from dmarc_analyzer.identify.inventory import Inventory
    from dmarc_analyzer.ingest.pipeline import FileDone, IngestSummary
    from dmarc_analyzer.storage.retention import PruneResult

# Names of this API that live in modules a short command never needs: they
# are imported on first use, so that `dmarc-analyzer reports` starts quickly.
_LAZY = {
    "DnsCheckOptions": "dmarc_analyzer.dnscheck.run",
    "IdentifyOptions": "dmarc_analyzer.analysis.identification",
    "ManagementSummary": "dmarc_analyzer.analysis.management",
    "Inventory": "dmarc_analyzer.identify.inventory",
    "load_inventory": "dmarc_analyzer.identify.inventory",
    "load_settings": "dmarc_analyzer.config",
    "parse_duration": "dmarc_analyzer.config",
    "ResolverError": "dmarc_analyzer.identify.reverse_dns",
    "parse_nameserver": "dmarc_analyzer.identify.reverse_dns",
    "summary_dict": "dmarc_analyzer.reporting.summary",
    "write_summary": "dmarc_analyzer.reporting.summary",
}


def __getattr__(name: str):
    if name == "SUMMARY_FORMATS":
        return import_module("dmarc_analyzer.reporting.summary").FORMATS
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SENDER_FRAME_COLUMNS = [
    "source_ip",
    "vendor",
    "vendor_type",
    "evidence",
    "ptr",
    "country",
    "asn",
    "as_name",
    "first_seen",
    "last_seen",
    "messages",
    "dkim_pass_rate",
    "spf_pass_rate",
    "dmarc_pass_rate",
    "bucket",
    "cause",
    "new",
]

__all__ = [
    "DATABASE_ENV",
    "SUMMARY_FORMATS",  # noqa: F822 - loaded on first use by __getattr__
    "ArchiveFolders",
    "Database",
    "DnsCheckOptions",
    "IdentifyOptions",
    "ImapSettings",
    "Inventory",
    "Language",
    "ManagementSummary",
    "Period",
    "ResolverError",  # noqa: F822 - loaded on first use by __getattr__
    "Scope",
    "Settings",
    "available_languages",
    "check_dns",
    "chosen_period",
    "clear_dns_cache",
    "dns_broken_spans",
    "dns_check_history",
    "failures",
    "failures_frame",
    "fetch_imap",
    "fetch_maildir",
    "fetch_mbox",
    "has_reports",
    "ingest",
    "language",
    "last_full_period",
    "load_inventory",  # noqa: F822 - loaded on first use by __getattr__
    "load_settings",  # noqa: F822 - loaded on first use by __getattr__
    "open_database",
    "parse_duration",  # noqa: F822 - loaded on first use by __getattr__
    "parse_nameserver",  # noqa: F822 - loaded on first use by __getattr__
    "prune",
    "report_span",
    "reports_frame",
    "senders",
    "senders_frame",
    "store_senders_file",
    "stored_inventory",
    "stored_reports",
    "summarize",
    "summary_dict",  # noqa: F822 - loaded on first use by __getattr__
    "write_summary",  # noqa: F822 - loaded on first use by __getattr__
]


def open_database(url: str | None = None, *, create: bool = True) -> Database:
    """Open (and migrate) the database at `url`, `$DMARC_ANALYZER_DB`, or the
    default SQLite file in the current folder. With `create=False`, a SQLite
    file that does not exist is an error instead of a new, empty database."""
    chosen = url or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE
    return Database(chosen, create=create)


def ingest(
    database: Database,
    paths: Iterable[str | Path],
    on_file_done: FileDone | None = None,
    summary: IngestSummary | None = None,
) -> IngestSummary:
    """Store every report in the files and folders named (the database's own
    files, should they lie among them, excepted). `summary`, when given, is
    filled in file by file: what was stored before an interruption."""
    from dmarc_analyzer.ingest.pipeline import ingest_paths

    chosen = [Path(p).expanduser() for p in paths]
    return ingest_paths(
        database, chosen, on_file_done, skip=database.files, summary=summary
    )


def fetch_imap(
    database: Database,
    imap: ImapSettings,
    folders: ArchiveFolders = ArchiveFolders(),
    *,
    password: str | None = None,
    since: date | None = None,
    on_start: Started | None = None,
    on_message_done: MessageDone | None = None,
) -> FetchSummary:
    """Store the reports of every message in an IMAP folder (since `since`,
    by the server's date) and move each message to its archive folder once
    its reports are committed. The password, when not given, comes from the
    file or environment variable that `imap` names."""
    from dmarc_analyzer.config import imap_password
    from dmarc_analyzer.fetch.imap import ImapMailbox, check_settings

    check_settings(imap)  # before the password: the first thing to set
    secret = imap_password(imap) if password is None else password
    mailbox = ImapMailbox(imap, secret, since)
    size = imap.batch_size
    return _fetch(database, mailbox, folders, size, on_start, on_message_done)


def fetch_maildir(
    database: Database,
    path: str | Path,
    folders: ArchiveFolders = ArchiveFolders(),
    *,
    batch_size: int = 50,
    on_start: Started | None = None,
    on_message_done: MessageDone | None = None,
) -> FetchSummary:
    """`fetch_imap` for a Maildir; archive folders are its sub-folders."""
    from dmarc_analyzer.fetch.local import MaildirMailbox

    mailbox = MaildirMailbox(Path(path).expanduser())
    return _fetch(database, mailbox, folders, batch_size, on_start, on_message_done)


def fetch_mbox(
    database: Database,
    path: str | Path,
    folders: ArchiveFolders = ArchiveFolders(),
    *,
    batch_size: int = 50,
    on_start: Started | None = None,
    on_message_done: MessageDone | None = None,
) -> FetchSummary:
    """`fetch_imap` for an mbox file; archive folders are mbox files beside it."""
    from dmarc_analyzer.fetch.local import MboxMailbox

    mailbox = MboxMailbox(Path(path).expanduser())
    return _fetch(database, mailbox, folders, batch_size, on_start, on_message_done)


def _fetch(
    database: Database,
    mailbox: Mailbox,
    folders: ArchiveFolders,
    batch_size: int,
    on_start: Started | None,
    on_message_done: MessageDone | None,
) -> FetchSummary:
    """Fetch, and close the mailbox whatever happens: an mbox is unlocked."""
    from dmarc_analyzer.fetch.run import fetch_mailbox

    try:
        return fetch_mailbox(
            database, mailbox, folders, batch_size, on_start, on_message_done
        )
    finally:
        mailbox.close()


def prune(
    database: Database,
    older_than: timedelta,
    *,
    delete: bool = False,
    now: datetime | None = None,
) -> PruneResult:
    """The reports beginning more than `older_than` ago, and with `delete`
    their deletion, with everything that hangs off them, in one transaction."""
    from dmarc_analyzer.storage.retention import prune_reports

    cutoff = (now or datetime.now(UTC)) - older_than
    with database.transaction() as connection:
        return prune_reports(connection, cutoff, delete_them=delete)


def stored_reports(
    database: Database, scope: Scope = Scope(), newest: int | None = None
) -> list[StoredReport]:
    """The reports of `scope`, oldest first, with their totals: every one,
    or the `newest` ones."""
    with database.connect() as connection:
        return list_stored_reports(
            connection,
            domain=scope.domain,
            since=scope.since,
            until=scope.until,
            newest=newest,
        )


def report_totals(database: Database, scope: Scope = Scope()) -> tuple[int, int]:
    """(reports, messages) of `scope`, from the reports and the daily totals
    without reading a record."""
    from dmarc_analyzer.analysis.overview import pass_totals

    with database.connect() as connection:
        count = count_reports(
            connection, domain=scope.domain, since=scope.since, until=scope.until
        )
        messages, _ = pass_totals(connection, scope)
    return count, messages


def has_reports(database: Database, scope: Scope = Scope()) -> bool:
    """Whether any report is stored for `scope`."""
    with database.connect() as connection:
        return any_report(
            connection, domain=scope.domain, since=scope.since, until=scope.until
        )


def failures(
    database: Database, scope: Scope = Scope(), options: IdentifyOptions | None = None
) -> list[VendorFailures]:
    """Vendors whose messages failed DKIM, with their source IPs, causes and
    fixes. Offline by default, with the senders file kept in the database;
    pass `IdentifyOptions(offline=False)` to use reverse DNS."""
    from dmarc_analyzer.analysis.failures import dkim_failures

    # Read only: reverse DNS answers are cached in short transactions of
    # their own, so that on SQLite an ingest never waits for the analysis.
    with database.connect() as connection:
        return dkim_failures(connection, scope, _with_defaults(database, options))


def senders(
    database: Database, scope: Scope = Scope(), options: IdentifyOptions | None = None
) -> list[Sender]:
    """Every source sending as the domain, with its bucket and pass rates."""
    from dmarc_analyzer.analysis.senders import senders as list_senders

    with database.connect() as connection:  # read only, as `failures`
        return list_senders(connection, scope, _with_defaults(database, options))


def senders_frame(
    database: Database, scope: Scope = Scope(), options: IdentifyOptions | None = None
):
    """`senders` as a pandas DataFrame: one row per source IP."""
    import pandas as pd

    rows = [sender.as_dict() for sender in senders(database, scope, options)]
    return pd.DataFrame(rows, columns=SENDER_FRAME_COLUMNS)


def store_senders_file(database: Database, path: Path | None) -> None:
    """Keep the senders file's contents in the database (None forgets it)."""
    from dmarc_analyzer.identify.inventory import parse_inventory, read_inventory_text

    text = None
    if path is not None:
        text = read_inventory_text(Path(path))
        parse_inventory(text, str(path))  # refuse a broken file now, not later
    with database.transaction() as connection:
        set_setting(connection, SENDERS_FILE, text)


def stored_inventory(database: Database) -> Inventory | None:
    """The senders file kept in the database, if any."""
    from dmarc_analyzer.identify.inventory import parse_inventory

    with database.connect() as connection:
        text = get_setting(connection, SENDERS_FILE)
    return parse_inventory(text, "senders file in the database") if text else None


def clear_dns_cache(database: Database) -> int:
    """Forget every cached reverse DNS answer; return how many there were."""
    from dmarc_analyzer.storage.dns_cache import forget_lookups

    with database.transaction() as connection:
        return forget_lookups(connection)


def check_dns(
    database: Database,
    domain: str | None = None,
    options: DnsCheckOptions | None = None,
) -> DnsCheck:
    """Check the DKIM key records of the selectors seen in the reports, and
    the DMARC and SPF records of their domains (of `domain` alone if given);
    store the findings with the time of the check. `options`: an
    `api.DnsCheckOptions(nameservers=("127.0.0.1:53",), timeout=3.0)`."""
    from dmarc_analyzer.dnscheck.run import DnsCheckOptions, plan_check, run_check
    from dmarc_analyzer.storage.dns_checks import save_findings

    # No transaction while DNS is asked: on SQLite it would hold the write
    # lock, and an ingest would wait, for as long as the lookups take.
    with database.connect() as connection:
        check = plan_check(connection, domain)
    run_check(check, options or DnsCheckOptions())
    try:
        with database.transaction() as connection:
            save_findings(connection, check.checked_at, check.findings)
    except DatabaseError as error:
        raise DnsCheckNotStored(
            f"the findings were not stored: {error}", check
        ) from error
    return check


def dns_check_history(
    database: Database, name: str | None = None, domain: str | None = None
):
    """Every stored finding of past DNS checks, oldest first: of one record
    name (s1._domainkey.example.com) or one domain, or all."""
    from dmarc_analyzer.storage.dns_checks import check_history

    with database.connect() as connection:
        return check_history(connection, name, domain)


def dns_broken_spans(database: Database, domain: str | None = None):
    """When each record was found broken by the stored DNS checks, and
    mended: a list of `BrokenSpan`, oldest first."""
    from dmarc_analyzer.dnscheck.history import broken_spans

    return broken_spans(dns_check_history(database, domain=domain))


def last_full_period(kind: str = "week", today: date | None = None) -> Period:
    """The last whole week (Monday to Sunday), month or quarter before today."""
    return last_full(kind, today or datetime.now(UTC).date())


def chosen_period(since: date | None, until: date | None, kind: str = "week") -> Period:
    """--since/--until as a period; one of them alone takes the length of
    `kind`, or runs to yesterday."""
    return chosen_days(since, until, kind, datetime.now(UTC).date())


def report_span(database: Database, domain: str | None = None):
    """(first, last) UTC day on which a stored report begins, or None."""
    with database.connect() as connection:
        return begin_span(connection, domain)


def summarize(
    database: Database,
    period: Period | None = None,
    domain: str | None = None,
    options: IdentifyOptions | None = None,
) -> ManagementSummary:
    """The management summary of `period` (the last full week by default)
    for `domain` (or all), with the period before it for comparison. Write it
    with `write_summary(summary, Path("reports"), ("html", "pdf", "md"), "ja")`."""
    from dmarc_analyzer.analysis.management import build_management_summary

    chosen = period or last_full_period()
    with database.connect() as connection:  # read only, as `failures`
        return build_management_summary(
            connection, chosen, domain, _with_defaults(database, options)
        )


def failures_frame(database: Database, scope: Scope = Scope()):
    """`failures` as a pandas DataFrame: one row per vendor and source IP,
    with the CSV export's columns, the vendor's whole volume and the groups
    per From domain."""
    import pandas as pd

    from dmarc_analyzer.reporting.exports import FAILURE_COLUMNS

    columns = [
        *FAILURE_COLUMNS[:2],
        "vendor_messages",
        *FAILURE_COLUMNS[2:],
        "by_header_from",
    ]
    rows = [
        {
            **source.as_dict(),
            "vendor": vendor.vendor,
            "vendor_messages": vendor.messages,
        }
        for vendor in failures(database, scope)
        for source in vendor.sources
    ]
    return pd.DataFrame(rows, columns=columns)


def reports_frame(database: Database, scope: Scope = Scope()):
    """`stored_reports` as a pandas DataFrame: one row per report."""
    import dataclasses

    import pandas as pd

    columns = [field.name for field in dataclasses.fields(StoredReport)]
    rows = [dataclasses.asdict(report) for report in stored_reports(database, scope)]
    return pd.DataFrame(rows, columns=columns)


def _with_defaults(
    database: Database, options: IdentifyOptions | None
) -> IdentifyOptions:
    """No options: offline, with the senders file kept in the database."""
    from dmarc_analyzer.analysis.identification import IdentifyOptions

    if options is not None:
        return options
    return IdentifyOptions(offline=True, inventory=stored_inventory(database))
