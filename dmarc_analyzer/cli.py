"""The `dmarc-analyzer` command: options in, one API call, results out.

Results go to stdout (tables, or --json / --csv for scripts); progress,
warnings and errors go to stderr. Exit status: 0 success, 1 a data or
environment problem (some files refused, database unreachable, DNS records
with errors), 2 usage.
"""

from __future__ import annotations  # api.Database in annotations stays unloaded

import contextlib
import functools
import logging
import os
import signal
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from dmarc_analyzer import interrupts
from dmarc_analyzer.analysis.collector import cycles_not_collected_then_frozen
from dmarc_analyzer.defaults import DATABASE_ENV
from dmarc_analyzer.errors import DmarcAnalyzerError, DnsCheckNotStored
from dmarc_analyzer.i18n import available_languages
from dmarc_analyzer.lazy import lazy_import

# Loaded by the first command that uses them: `--help` needs neither.
api = lazy_import("dmarc_analyzer.api")
console = lazy_import("dmarc_analyzer.reporting.console")


class _Group(TyperGroup):
    """Help that shows an on/off flag (--json, --yes) as a plain flag: this
    Typer would print a `<bool>` value after it, which the flag refuses."""

    def get_params(self, ctx: typer.Context) -> list:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: typer.Context, name: str):
        command = super().get_command(ctx, name)
        if command is not None:
            _plain_flags(command.params)
            if command.get_help_option(ctx) is not None:
                _plain_flags([command.get_help_option(ctx)])
        return command


def _plain_flags(params: list) -> list:
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""  # shown as nothing
    return params


app = typer.Typer(
    cls=_Group,
    no_args_is_help=True,
    rich_markup_mode="markdown",
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(
    cls=_Group, help="Manage the database schema.", no_args_is_help=True
)
app.add_typer(db_app, name="db")
senders_file_app = typer.Typer(
    cls=_Group,
    help="Keep the file naming your own servers and vendors in the database.",
    no_args_is_help=True,
)
app.add_typer(senders_file_app, name="senders-file")
dns_app = typer.Typer(
    cls=_Group,
    help="Check the DNS records that DKIM and DMARC depend on.",
    no_args_is_help=True,
)
app.add_typer(dns_app, name="dns")

# Piped output is not cut to 80 columns: a script or a file wants whole values.
stdout = Console(width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, width=None if sys.stderr.isatty() else 200)


class State:
    database_url: str | None = None
    config: Path | None = None
    debug: bool = False
    settings: api.Settings | None = None
    # An ingest stopped by a signal ends the process at once (see main).
    ended_by_interrupt: bool = False


state = State()


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from None


SinceOption = Annotated[
    date | None,
    typer.Option(
        parser=_parse_day,
        metavar="YYYY-MM-DD",
        help="First day included (UTC, by report start).",
    ),
]
UntilOption = Annotated[
    date | None,
    typer.Option(
        parser=_parse_day, metavar="YYYY-MM-DD", help="Last day included (UTC)."
    ),
]
DomainOption = Annotated[
    str | None, typer.Option("--domain", help="Only reports for this policy domain.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
LimitOption = Annotated[
    int,
    typer.Option(
        "--limit",
        min=0,
        help="Rows of the table at most, largest first (0: all); --json and "
        "--csv always list every one.",
    ),
]
TABLE_ROWS = 50
OfflineOption = Annotated[
    bool,
    typer.Option(
        "--offline", help="No DNS queries (reverse DNS comes from the cache)."
    ),
]
NameserverOption = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        metavar="HOST[:PORT]",
        help="DNS server for reverse lookups (repeatable); default: the system's.",
    ),
]
SendersFileOption = Annotated[
    Path | None,
    typer.Option(
        "--senders-file",
        help="TOML file naming your own servers and vendors "
        "(default: the settings file's senders_file, else the one kept by "
        "`senders-file set`).",
    ),
]


@app.callback()
def options(
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar=DATABASE_ENV,
            help="SQLAlchemy URL or SQLite file path [default: the settings "
            "file's database, else sqlite:///dmarc-analyzer.sqlite]",
            show_default=False,
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Settings file (TOML) [default: $DMARC_ANALYZER_CONFIG, "
            "./dmarc-analyzer.toml, ~/.config/dmarc-analyzer/config.toml]",
            show_default=False,
        ),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log each file.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
) -> None:
    """Store DMARC aggregate reports in SQL and see who fails DKIM, and why.

    Examples:

    ```
    dmarc-analyzer ingest ~/dmarc-reports/
    dmarc-analyzer failures --since 2024-03-01
    dmarc-analyzer --db postgresql+psycopg://me@dbhost/dmarc summary --out reports/
    dmarc-analyzer fetch imap && dmarc-analyzer summary   # with a settings file
    ```
    """
    state.database_url = db
    state.config = config
    state.debug = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    # Alembic's own INFO lines say nothing a user of this tool needs.
    logging.getLogger("alembic").setLevel(logging.DEBUG if debug else logging.WARNING)
    if config is not None:
        _settings()  # a file named but unreadable is an error for every command


@app.command()
def ingest(
    paths: Annotated[
        list[Path],
        typer.Argument(help="Report files or folders (searched recursively)."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Store the reports in files and folders: .xml, .gz, .zip, .eml.

    Files already stored are skipped and counted as duplicates. A file that is
    not a report is refused with a reason; the others are still stored.

    Examples:

        dmarc-analyzer ingest ~/dmarc-reports/
        dmarc-analyzer ingest --json report.xml.gz > result.json
    """
    from dmarc_analyzer.ingest.pipeline import IngestSummary, find_report_files

    database = _open_database()
    paths_list = list(paths)
    summary = IngestSummary()

    from rich.markup import escape

    def file_done(_path: Path, result, bar=None) -> None:
        # Each refusal as it happens, so an interrupted run has said them.
        # One refusal stays one line, whatever the terminal width.
        refusals = [result.refusal] if result.refusal else []
        for refusal in [*refusals, *result.refusals] if not as_json else []:
            line = f"refused {refusal.path}: {refusal.reason}"
            if bar is None:
                print(line, file=sys.stderr)
            else:  # above the bar, not wrapped
                # Escaped, not markup=False: that would reach the bar's columns.
                bar.console.print(escape(line), soft_wrap=True, highlight=False)
        signals.check()

    signals = _Signals()
    try:
        with signals:
            if stderr.is_terminal and not as_json:
                total = sum(1 for _ in find_report_files(paths_list))
                with _progress() as progress:
                    task = progress.add_task("Ingesting", total=total)

                    def advance(path: Path, result) -> None:
                        file_done(path, result, progress)
                        progress.advance(task)

                    api.ingest(database, paths_list, advance, summary)
            else:
                api.ingest(database, paths_list, file_done, summary)
            # All done: a signal now would only cut the summary short.
            with _signals_ignored():
                _print_ingest_summary(summary, as_json)
    except _Interrupted as interrupt:
        # The file being read was rolled back; everything before it is kept.
        _print_ingest_summary(summary, as_json, interrupted=True)
        print(
            "interrupted: the reports counted are stored; run again to go on",
            file=sys.stderr,
        )
        state.ended_by_interrupt = True
        raise typer.Exit(128 + interrupt.signal) from None

    if summary.refused:
        raise typer.Exit(1)


def _print_ingest_summary(summary, as_json: bool, interrupted: bool = False) -> None:
    if as_json:
        console.print_json({**summary.as_dict(), "interrupted": interrupted})
        return
    plural = console.plural
    added = (
        f"{plural(summary.reports_added, 'report')} added "
        f"({plural(summary.records_added, 'record')}, "
        f"{plural(summary.messages_added, 'message')})"
    )
    stdout.print(
        f"{'interrupted after ' if interrupted else ''}"
        f"{plural(summary.files, 'file')}: {added}, "
        f"{plural(summary.duplicates, 'duplicate')}, "
        f"{len(summary.refused):,} refused",
        highlight=False,
    )


class _Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM during a long run: stop, and say what was done. A
    KeyboardInterrupt, which the PostgreSQL driver knows to cancel a query
    for, leaving its connection fit to roll back."""

    def __init__(self, signal: int):
        super().__init__(signal)
        self.signal = signal


_INTERRUPTS = (signal.SIGINT, signal.SIGTERM)


class _Signals:
    """SIGINT and SIGTERM raise _Interrupted while the block runs; the
    transaction open then is rolled back as it unwinds. A signal that lands
    in a finalizer (a garbage-collection callback), where Python can only
    print the exception and go on, is kept quiet and raised again by
    `check` when the file is done. A second signal ends the process at once:
    what is left then is to say what was stored, and to clean up."""

    def __init__(self):
        self._received: list[int] = []
        self._previous: dict = {}

    def __enter__(self) -> _Signals:
        for number in _INTERRUPTS:
            self._previous[number] = signal.signal(number, self._interrupt)
        self._unraisable, sys.unraisablehook = sys.unraisablehook, self._ignored
        return self

    def __exit__(self, *exc) -> None:
        sys.unraisablehook = self._unraisable
        interrupts.forget()
        if not self._received:
            for number, handler in self._previous.items():
                signal.signal(number, handler)
            return
        # A signal now would stop the clean-up (a pool of workers shutting
        # down, a connection closing) halfway, and could hang the process.
        quit_now = functools.partial(_quit_at_once, 128 + self._received[0])
        for number in self._previous:
            signal.signal(number, quit_now)

    def _ignored(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, _Interrupted):
            self._unraisable(unraisable)

    def _interrupt(self, signum, _frame) -> None:
        if self._received:
            _quit_at_once(128 + self._received[0])
        self._received.append(signum)
        self.check()

    def check(self) -> None:
        """Raise the interrupt received, unless a part of the ingest holds
        interrupts: then it is raised when that part ends."""
        if not self._received:
            return
        raise_it = functools.partial(_raise_interrupted, self._received[0])
        if not interrupts.arrived(raise_it):
            raise_it()


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {n: signal.signal(n, signal.SIG_IGN) for n in _INTERRUPTS}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _raise_interrupted(signum: int) -> None:
    raise _Interrupted(signum)


def _quit_at_once(code: int, *_signal) -> None:
    with contextlib.suppress(Exception):
        print("interrupted again: stopped at once", file=sys.stderr)
    _exit_now(code)


def _exit_now(code: int) -> None:
    """End the process without Python's clean-up at exit, what was printed
    written out first."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)


@app.command()
def reports(
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    limit: Annotated[
        int,
        typer.Option(
            "--limit",
            min=0,
            help="Rows of the table at most, the newest reports (0: all); "
            "--json always lists every one.",
        ),
    ] = TABLE_ROWS,
) -> None:
    """List stored reports with their message totals, oldest first.

    Pass counts are messages, by the receiver's policy_evaluated results.

    Example: `dmarc-analyzer reports --domain example.com --since 2024-03-01 --json`
    """
    database, scope = _open_existing(), _scope(domain, since, until)
    if as_json:
        stored = api.stored_reports(database, scope)
        console.print_json_list(_report_json(report) for report in stored)
        return

    # The newest only are read: a year of reports has a hundred thousand.
    shown = api.stored_reports(database, scope, newest=limit or None)
    stdout.print(console.reports_table(shown))
    count, messages = api.report_totals(database, scope)
    stdout.print(
        f"{console.plural(count, 'report')}, {console.plural(messages, 'message')}",
        highlight=False,
    )
    if len(shown) < count:
        stdout.print(
            f"{console.plural(count - len(shown), 'older report')} not shown "
            f"(the table has the newest {len(shown):,}): --limit 0 shows all, "
            "--json lists every one",
            highlight=False,
        )


@app.command()
def failures(
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    offline: OfflineOption = False,
    nameserver: NameserverOption = None,
    senders_file: SendersFileOption = None,
    limit: LimitOption = TABLE_ROWS,
) -> None:
    """Messages that failed DKIM, grouped by sending vendor and source IP.

    A message failed DKIM when no signature aligned with its From domain
    passed. Each source gets a sender (your senders file, reverse DNS, the
    DKIM and SPF domains that passed, its network), a cause and a fix.

    Example: `dmarc-analyzer failures --since 2024-03-01 --until 2024-03-31`
    """
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv")
    database = _open_existing()
    scope = _scope(domain, since, until)
    options = _identify_options(database, offline, nameserver, senders_file)
    with cycles_not_collected_then_frozen():
        vendors = api.failures(database, scope, options)

    if as_json:
        console.print_json_list(vendor.as_dict() for vendor in vendors)
    elif as_csv:
        from dmarc_analyzer.reporting.exports import failures_csv

        sys.stdout.write(failures_csv(vendors))
    elif vendors:
        stdout.print(console.failures_table(vendors, limit))
        sources = sum(len(vendor.sources) for vendor in vendors)
        if cut := console.not_shown(limit or sources, sources, "source"):
            stdout.print(cut, highlight=False)
        stdout.print("\n[bold]What to do[/bold], most messages first")
        for line in console.fixes(vendors):
            stdout.print(f"- {line}", highlight=False)
    elif api.has_reports(database, scope):
        stdout.print("No message failed DKIM in the reports of this period.")
    else:
        stdout.print("No reports are stored for this period and domain.")


class PeriodKind(StrEnum):
    week = "week"
    month = "month"
    quarter = "quarter"


class Format(StrEnum):
    html = "html"
    pdf = "pdf"
    md = "md"
    all = "all"


@app.command()
def summary(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for the summary files [default: the settings file's "
            "output, else reports/]",
            show_default=False,
        ),
    ] = None,
    period: Annotated[
        PeriodKind,
        typer.Option(
            help="The last full week (Monday to Sunday), month or quarter; "
            "with --until alone, the length of the period ending then."
        ),
    ] = PeriodKind.week,
    since: SinceOption = None,
    until: UntilOption = None,
    output_format: Annotated[
        list[Format] | None,
        typer.Option(
            "--format",
            help="html (self-contained), pdf, md (with PNG charts beside it) "
            "or all; repeatable.  [default: html]",
            show_default=False,
        ),
    ] = None,
    lang: Annotated[
        str,
        typer.Option(
            "--lang",
            help="Language of the summary: " + ", ".join(available_languages()) + ".",
        ),
    ] = "en",
    domain: DomainOption = None,
    as_json: JsonOption = False,
    offline: OfflineOption = False,
    nameserver: NameserverOption = None,
    senders_file: SendersFileOption = None,
) -> None:
    """Write the management summary: headline figures against the period
    before, what to do, charts and tables, one page per domain.

    Examples:

    ```
    dmarc-analyzer summary                                  # last full week, HTML
    dmarc-analyzer summary --period month --format all      # HTML, PDF, Markdown
    dmarc-analyzer summary --since 2026-11-23 --until 2026-11-29 --lang ja
    ```
    """
    chosen = _period(period.value, since, until)
    formats = _formats(output_format)
    if lang not in available_languages():
        known = ", ".join(available_languages())
        raise typer.BadParameter(f"no translation for {lang!r}; available: {known}")
    language = api.language(lang)
    if chosen.last >= datetime.now(UTC).date():
        stderr.print(
            f"note: the period ends on {chosen.last}, not over yet: its last days "
            "have no reports yet",
            highlight=False,
        )
    database = _open_existing()
    options = _identify_options(database, offline, nameserver, senders_file)
    with cycles_not_collected_then_frozen():
        result = api.summarize(database, chosen, domain, options)
    out = out or _settings().output or Path("reports")
    written = api.write_summary(result, out, formats, language.code)

    if result.empty:
        _say_where_the_reports_are(database, domain, chosen)
    if as_json:
        report = api.summary_dict(result, language)
        report["files"] = [str(path) for path in written]
        console.print_json(report, ensure_ascii=False)
    else:
        for path in written:
            stdout.print(f"wrote {path}", highlight=False)


def _period(kind: str, since: date | None, until: date | None) -> api.Period:
    if since and until and until < since:
        raise typer.BadParameter("--until is before --since")
    if since or until:
        return api.chosen_period(since, until, kind)
    return api.last_full_period(kind)


def _formats(chosen: list[Format] | None) -> tuple[str, ...]:
    names = {item.value for item in chosen or [Format.html]}
    if "all" in names:
        return api.SUMMARY_FORMATS
    return tuple(name for name in api.SUMMARY_FORMATS if name in names)


def _say_where_the_reports_are(database, domain: str | None, period) -> None:
    span = api.report_span(database, domain)
    if span is None and domain:
        stderr.print(
            f"note: no reports are stored for {domain}", highlight=False, markup=False
        )
        return
    if span is None:
        stderr.print("note: no reports are stored yet", highlight=False, markup=False)
        return
    first, last = span
    stderr.print(
        f"note: no reports start between {period.first} and {period.last}; the "
        f"stored ones start from {first} to {last} (choose with --since/--until)",
        highlight=False,
        markup=False,
    )


@app.command()
def senders(
    domain: DomainOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    as_json: JsonOption = False,
    offline: OfflineOption = False,
    nameserver: NameserverOption = None,
    senders_file: SendersFileOption = None,
    limit: LimitOption = TABLE_ROWS,
) -> None:
    """Every source that sends as your domain, with its bucket and pass rates.

    Buckets: compliant, non_compliant (a real sender not set up), forwarded,
    threat_unknown. With --since and --until, senders absent from the previous
    period of the same length are marked new.

    Example: `dmarc-analyzer senders --since 2026-11-23 --until 2026-11-29`
    """
    database = _open_existing()
    options = _identify_options(database, offline, nameserver, senders_file)
    with cycles_not_collected_then_frozen():
        found = api.senders(database, _scope(domain, since, until), options)

    if as_json:
        console.print_json_list(sender.as_dict() for sender in found)
        return
    if not found:
        stdout.print("No reports are stored for this period and domain.")
        return
    shown = found[:limit] if limit else found
    stdout.print(console.senders_table(shown))
    stdout.print(console.plural(len(found), "sender"), highlight=False)
    if cut := console.not_shown(len(shown), len(found), "sender"):
        stdout.print(cut, highlight=False)


@senders_file_app.command("set")
def senders_file_set(
    path: Annotated[Path, typer.Argument(help="The TOML senders file.")],
) -> None:
    """Keep a senders file in the database, for everyone who uses it.

    Example: `dmarc-analyzer senders-file set senders.toml`
    """
    api.store_senders_file(_open_database(), path)
    stdout.print(f"stored {path}", highlight=False)


@senders_file_app.command("clear")
def senders_file_clear() -> None:
    """Forget the senders file kept in the database.

    Example: `dmarc-analyzer senders-file clear`
    """
    api.store_senders_file(_open_existing(), None)
    stdout.print("cleared", highlight=False)


@dns_app.command("check")
def dns_check(
    domain: Annotated[
        str | None,
        typer.Option("--domain", help="Only this policy domain and its selectors."),
    ] = None,
    nameserver: Annotated[
        list[str] | None,
        typer.Option(
            "--nameserver",
            metavar="HOST[:PORT]",
            help="Recursive resolver to ask (repeatable); default: the system's.",
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            help="Seconds per lookup, shared by the nameservers.", min=0.1, max=60
        ),
    ] = 3.0,
    as_json: JsonOption = False,
) -> None:
    """Check the DKIM key record of every selector seen in the reports, and
    each domain's DMARC and SPF records; store the findings with their time.

    Each finding has a severity (error, warning, info, ok), a code, what is
    wrong and the fix, and the permerror/temperror the receivers reported
    for that selector. A DNS server that does not answer is reported as
    dns-timeout, dns-servfail, dns-refused or dns-unreachable, never as a
    missing record. --nameserver must be a recursive resolver. When no DNS
    server answered at all, that is said in one line, nothing is stored,
    and the exit status is 1. Exit status 1 when any finding is an error, 0
    when there are only warnings or none.

    Examples:

    ```
    dmarc-analyzer dns check
    dmarc-analyzer dns check --domain example.com --nameserver 192.0.2.53:5353 --json
    ```
    """
    options = api.DnsCheckOptions(nameservers=_nameservers(nameserver), timeout=timeout)
    domain = _checked_domain(domain)
    try:
        result = api.check_dns(_open_existing(), domain, options)
    except DnsCheckNotStored as error:  # the findings are shown all the same
        _print_dns_check(error.check, as_json)
        raise
    _print_dns_check(result, as_json)
    if result.errors:
        raise typer.Exit(1)


def _print_dns_check(result, as_json: bool) -> None:
    if as_json:
        console.print_json([finding.as_dict() for finding in result.findings])
    elif not result.domains:
        stdout.print("No reports are stored for this domain: nothing to check.")
    else:
        stdout.print(console.dns_findings_table(result.findings))
        stdout.print(
            f"{console.plural(len(result.domains), 'domain')}, "
            f"{console.plural(len(result.selectors), 'selector')} checked: "
            f"{console.plural(len(result.errors), 'error')}, "
            f"{console.plural(len(result.warnings), 'warning')}",
            highlight=False,
        )


@db_app.command("clear-dns-cache")
def db_clear_dns_cache() -> None:
    """Forget the cached reverse DNS answers, so the next run asks again.

    Example: `dmarc-analyzer db clear-dns-cache`
    """
    forgotten = api.clear_dns_cache(_open_existing())
    stdout.print(f"forgot {console.plural(forgotten, 'answer')}", highlight=False)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database or bring its schema up to date.

    Example: `dmarc-analyzer --db postgresql+psycopg://user@host/dmarc db upgrade`
    """
    database = _open_database()
    stdout.print(
        f"{database.safe_url} is at revision {database.current_revision()}",
        highlight=False,
    )


@app.command()
def prune(
    older_than: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="Reports that began longer ago than this: 400d, 57w "
            "[default: the settings file's retention]",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", help="Delete them (without it: a dry run).")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Delete old reports with their records, in one transaction.

    Without --yes nothing is deleted: it says what would be.

    Examples:

    ```
    dmarc-analyzer prune --older-than 400d          # what would go
    dmarc-analyzer prune --older-than 400d --yes    # delete it
    ```
    """
    if older_than is not None:
        try:
            age = api.parse_duration(older_than, "--older-than")
        except DmarcAnalyzerError as error:
            raise typer.BadParameter(str(error)) from None
    elif _settings().retention is not None:
        age = _settings().retention
    else:
        raise typer.BadParameter(
            "give --older-than, or a retention in the settings file"
        )
    result = api.prune(_open_existing(), age, delete=yes)

    if as_json:
        console.print_json(result.as_dict())
        return
    plural = console.plural
    what = (
        f"{plural(result.reports, 'report')} ({plural(result.records, 'record')}, "
        f"{plural(result.messages, 'message')}) beginning before "
        f"{result.cutoff.date()}"
    )
    if result.reports and result.first_begin:
        what += f", from {result.first_begin.date()} to {result.last_begin.date()}"
    if yes:
        stdout.print(f"deleted {what}", highlight=False)
    else:
        stdout.print(f"would delete {what}; run with --yes to delete", highlight=False)


def _settings() -> api.Settings:
    """The settings file, read on first use: `--help` never reads it."""
    if state.settings is None:
        state.settings = api.load_settings(state.config)
    return state.settings


def _database_url() -> str | None:
    return state.database_url or _settings().database


def _open_database() -> api.Database:
    return _closed_at_the_end(api.open_database(_database_url()))


def _open_existing() -> api.Database:
    """For commands that only read: a mistyped path must not make a new file."""
    return _closed_at_the_end(api.open_database(_database_url(), create=False))


# Closed by main() when the command ends, not left to the interpreter's
# exit: a connection the collector never freed (the analysis is frozen, see
# cycles_not_collected_then_frozen) kept SQLite's write-ahead log beside the
# database file, unmerged.
_opened: list[api.Database] = []


def _closed_at_the_end(database: api.Database) -> api.Database:
    _opened.append(database)
    return database


def _identify_options(
    database: api.Database,
    offline: bool,
    nameservers: list[str] | None,
    senders_file: Path | None,
) -> api.IdentifyOptions:
    checked = _nameservers(nameservers)
    senders_file = senders_file or _settings().senders_file
    if senders_file:
        inventory = api.load_inventory(senders_file)
    else:
        inventory = api.stored_inventory(database)
    return api.IdentifyOptions(
        offline=offline, nameservers=checked, inventory=inventory
    )


def _nameservers(nameservers: list[str] | None) -> tuple[str, ...]:
    """The --nameserver values, each checked: a bad one is a usage error."""
    for nameserver in nameservers or ():
        try:
            api.parse_nameserver(nameserver)
        except api.ResolverError as error:
            raise typer.BadParameter(str(error), param_hint="--nameserver") from None
    return tuple(nameservers or ())


def _scope(domain: str | None, since: date | None, until: date | None):
    if since and until and until < since:
        raise typer.BadParameter("--until is before --since")
    return api.Scope.from_dates(_checked_domain(domain), since, until)


def _checked_domain(domain: str | None) -> str | None:
    if domain is not None:
        if not domain.strip().strip("."):
            raise typer.BadParameter("give a domain name", param_hint="--domain")
        try:
            domain.encode("utf-8")
        except UnicodeEncodeError:
            raise typer.BadParameter("not valid UTF-8", param_hint="--domain") from None
    return domain


def _report_json(report) -> dict:
    return {
        "org_name": report.org_name,
        "report_id": report.report_id,
        "domain": report.domain,
        "begin": report.begin.isoformat(),
        "end": report.end.isoformat(),
        "records": report.records,
        "messages": report.messages,
        "dkim_aligned_pass": report.dkim_aligned_pass,
        "spf_aligned_pass": report.spf_aligned_pass,
        "dmarc_pass": report.dmarc_pass,
        "source_file": report.source_file,
    }


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    )


def main() -> None:
    """Run the command line; our own errors become one line and exit 1."""
    # SIGTERM unwinds as Ctrl-C does, so that locks and connections are let
    # go on the way out (ingest handles both itself).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        _run()
    except KeyboardInterrupt:  # Ctrl-C where no command handles it
        sys.exit(130)
    except SystemExit as exit:
        if state.ended_by_interrupt:
            # Ended at once: waiting for the worker processes at exit could
            # hang on one that a signal killed while it sent its results.
            _exit_now(exit.code if isinstance(exit.code, int) else 1)
        raise


def _exit_on_sigterm(signum: int, _frame) -> None:
    raise SystemExit(128 + signum)


def _run() -> None:
    try:
        app()
    except DmarcAnalyzerError as error:
        if state.debug:
            raise
        stderr.print(f"error: {error}", markup=False, highlight=False)
        sys.exit(1)
    finally:
        while _opened:
            _opened.pop().close()


# The fetch commands live in a module of their own; importing it adds them.
from dmarc_analyzer import cli_fetch  # noqa: E402, F401
