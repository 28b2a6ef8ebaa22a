"""`dmarc-analyzer fetch imap|maildir|mbox`: the reports in a mailbox, stored,
and each message moved away once they are (the flow is in fetch/run.py).

Imported by cli.py once its shared options and helpers exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from dmarc_analyzer.cli import (
    JsonOption,
    _Group,
    _open_database,
    _parse_day,
    _progress,
    _settings,
    api,
    app,
    console,
    stderr,
    stdout,
)
from dmarc_analyzer.errors import FolderNameError

fetch_app = typer.Typer(
    cls=_Group,
    help="Import the reports in a mailbox and move each message to an archive "
    "folder once its reports are stored.",
    no_args_is_help=True,
)
app.add_typer(fetch_app, name="fetch")


class Security(StrEnum):
    tls = "tls"
    starttls = "starttls"
    plain = "plain"


ProcessedOption = Annotated[
    str | None,
    typer.Option(
        "--processed-folder",
        help="Where messages go once their reports are stored "
        "[default: dmarc-processed]",
        show_default=False,
    ),
]
InvalidOption = Annotated[
    str | None,
    typer.Option(
        "--invalid-folder",
        help="Where messages without an aggregate report go [default: dmarc-invalid]",
        show_default=False,
    ),
]
OtherOption = Annotated[
    str | None,
    typer.Option(
        "--other-folder",
        help="Where failure (forensic) and SMTP TLS reports go "
        "[default: dmarc-other-reports]",
        show_default=False,
    ),
]
BatchOption = Annotated[
    int | None,
    typer.Option("--batch-size", min=1, help="Messages read at a time [default: 50]"),
]


@fetch_app.command("imap")
def fetch_imap(
    host: Annotated[str | None, typer.Option(help="IMAP server.")] = None,
    port: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=65535,
            help="[default: 993 with TLS, else 143]",
            show_default=False,
        ),
    ] = None,
    security: Annotated[
        Security | None,
        typer.Option(
            help="tls (port 993), starttls (143), or plain (no encryption: "
            "for a server on this machine) [default: tls]",
            show_default=False,
        ),
    ] = None,
    user: Annotated[str | None, typer.Option(help="IMAP user name.")] = None,
    password_env: Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Environment variable holding the password "
            "[default: DMARC_ANALYZER_IMAP_PASSWORD]",
            show_default=False,
        ),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(help="File whose first line is the password."),
    ] = None,
    ca_file: Annotated[
        Path | None,
        typer.Option(help="CA certificates to trust (a server's own certificate)."),
    ] = None,
    folder: Annotated[
        str | None,
        typer.Option(help="Folder to import [default: INBOX]", show_default=False),
    ] = None,
    since: Annotated[
        date | None,
        typer.Option(
            parser=_parse_day,
            metavar="YYYY-MM-DD",
            help="Only messages the server received on or after this day.",
        ),
    ] = None,
    batch_size: BatchOption = None,
    processed_folder: ProcessedOption = None,
    invalid_folder: InvalidOption = None,
    other_folder: OtherOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import the reports in an IMAP folder, then archive each message.

    A message goes to the processed folder once its reports are committed,
    to the invalid folder when it holds no aggregate report, to the other
    folder when it is a failure or SMTP TLS report; one that could not be
    stored stays and is tried again next run. Running it again is safe.
    The password comes from an environment variable or a file, never from
    the command line. Options override the settings file's [imap] table.

    Examples:

    ```
    DMARC_ANALYZER_IMAP_PASSWORD=... dmarc-analyzer fetch imap \\
        --host imap.example.com --user dmarc@example.com
    dmarc-analyzer fetch imap --password-file ~/.imap-pw --since 2026-11-01 --json
    dmarc-analyzer fetch imap && dmarc-analyzer summary     # with a settings file
    ```
    """
    chosen = {
        "host": host,
        "port": port,
        "security": security.value if security else None,
        "user": user,
        "password_env": password_env,
        "password_file": password_file,
        "ca_file": ca_file,
        "folder": folder,
        "batch_size": batch_size,
    }
    imap = dataclasses.replace(
        _settings().imap, **{k: v for k, v in chosen.items() if v is not None}
    )
    folders = _archive(processed_folder, invalid_folder, other_folder)
    database = _open_database()
    with (
        _folder_names_checked(),
        _fetch_progress(as_json) as (on_start, on_message_done),
    ):
        summary = api.fetch_imap(
            database,
            imap,
            folders,
            since=since,
            on_start=on_start,
            on_message_done=on_message_done,
        )
    _show_fetch(summary, as_json)


@fetch_app.command("maildir")
def fetch_maildir(
    path: Annotated[
        Path | None,
        typer.Argument(help="The Maildir [default: the settings file's]"),
    ] = None,
    batch_size: BatchOption = None,
    processed_folder: ProcessedOption = None,
    invalid_folder: InvalidOption = None,
    other_folder: OtherOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import the reports in a Maildir; archive folders are its sub-folders.

    Example: `dmarc-analyzer fetch maildir ~/Maildir/.DMARC`
    """
    chosen = path or _settings().maildir
    if chosen is None:
        raise typer.BadParameter("name the Maildir, or give it in the settings file")
    _fetch_local(
        api.fetch_maildir,
        chosen,
        batch_size,
        _archive(processed_folder, invalid_folder, other_folder),
        as_json,
    )


@fetch_app.command("mbox")
def fetch_mbox(
    path: Annotated[
        Path | None,
        typer.Argument(help="The mbox file [default: the settings file's]"),
    ] = None,
    batch_size: BatchOption = None,
    processed_folder: ProcessedOption = None,
    invalid_folder: InvalidOption = None,
    other_folder: OtherOption = None,
    as_json: JsonOption = False,
) -> None:
    """Import the reports in an mbox file; archive folders are mbox files
    beside it.

    Example: `dmarc-analyzer fetch mbox /var/mail/dmarc`
    """
    chosen = path or _settings().mbox
    if chosen is None:
        raise typer.BadParameter("name the mbox file, or give it in the settings file")
    _fetch_local(
        api.fetch_mbox,
        chosen,
        batch_size,
        _archive(processed_folder, invalid_folder, other_folder),
        as_json,
    )


def _fetch_local(fetch, path: Path, batch_size, folders, as_json: bool) -> None:
    database = _open_database()
    with (
        _folder_names_checked(),
        _fetch_progress(as_json) as (on_start, on_message_done),
    ):
        summary = fetch(
            database,
            path,
            folders,
            batch_size=batch_size or _settings().imap.batch_size,
            on_start=on_start,
            on_message_done=on_message_done,
        )
    _show_fetch(summary, as_json)


def _archive(processed: str | None, invalid: str | None, other: str | None):
    chosen = {"processed": processed, "invalid": invalid, "other_reports": other}
    return dataclasses.replace(
        _settings().archive, **{k: v for k, v in chosen.items() if v}
    )


@contextlib.contextmanager
def _folder_names_checked():
    """An archive folder name that cannot work is a usage error (exit 2),
    found before anything is fetched."""
    try:
        yield
    except FolderNameError as error:
        raise typer.BadParameter(str(error)) from None


@contextlib.contextmanager
def _fetch_progress(as_json: bool):
    """A progress bar on stderr when it is a terminal: the callbacks for it."""
    if not stderr.is_terminal or as_json:
        yield None, None
        return
    with _progress() as progress:
        task = progress.add_task("Fetching", total=None)
        yield (
            lambda total: progress.update(task, total=total),
            lambda _message: progress.advance(task),
        )


def _show_fetch(summary, as_json: bool) -> None:
    if as_json:
        console.print_json(summary.as_dict())
    else:
        for label, found in [
            ("invalid", summary.invalid),
            ("other report", summary.other_reports),
            ("left for next run", summary.failed),
        ]:
            for item in found:
                print(f"{label} {_identified(item)}: {item.reason}", file=sys.stderr)
        plural = console.plural
        stdout.print(
            f"{plural(summary.messages, 'message')}: "
            f"{summary.processed} processed "
            f"({plural(summary.reports_added, 'report')} added, "
            f"{plural(summary.duplicates, 'duplicate')}), "
            f"{len(summary.invalid)} invalid, "
            f"{plural(len(summary.other_reports), 'other report')} set aside, "
            f"{len(summary.failed)} left for the next run",
            highlight=False,
        )
    if summary.failed:
        raise typer.Exit(1)


def _identified(item) -> str:
    """Where the message was, where it went, and which message it is: its old
    place is gone once it is moved."""
    text = item.where if item.folder is None else f"{item.where} -> {item.folder}"
    headers = [("Subject", item.subject), ("Message-ID", item.message_id)]
    details = [f"{name}: {value}" for name, value in headers if value]
    return f"{text} ({', '.join(details)})" if details else text
