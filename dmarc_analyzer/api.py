"""The Python API: what the command line does, callable from a notebook.

from dmarc_analyzer import api
db = api.open_database("sqlite:///dmarc-analyzer.sqlite")
api.ingest(db, ["~/dmarc-reports"])
api.failures_frame(db, api.Scope.from_dates(since=date(2024, 3, 1)))
"""

import os
from collections.abc import Iterable
from pathlib import Path

from dmarc_analyzer.analysis.failures import VendorFailures, dkim_failures
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.ingest.pipeline import FileDone, IngestSummary, ingest_paths
from dmarc_analyzer.reporting.summary import Summary, build_summary, write_summary
from dmarc_analyzer.storage.database import DEFAULT_DATABASE, Database
from dmarc_analyzer.storage.reports import StoredReport, list_stored_reports

DATABASE_ENV = "DMARC_ANALYZER_DB"

__all__ = [
    "DATABASE_ENV",
    "Database",
    "Scope",
    "Summary",
    "failures",
    "failures_frame",
    "ingest",
    "open_database",
    "reports_frame",
    "stored_reports",
    "summarize",
    "write_summary",
]


def open_database(url: str | None = None) -> Database:
    """Open (and migrate) the database at `url`, `$DMARC_ANALYZER_DB`, or the
    default SQLite file in the current folder."""
    return Database(url or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE)


def ingest(
    database: Database,
    paths: Iterable[str | Path],
    on_file_done: FileDone | None = None,
) -> IngestSummary:
    """Store every report in the files and folders named."""
    return ingest_paths(database, [Path(p).expanduser() for p in paths], on_file_done)


def stored_reports(database: Database, scope: Scope = Scope()) -> list[StoredReport]:
    with database.connect() as connection:
        return list_stored_reports(
            connection, domain=scope.domain, since=scope.since, until=scope.until
        )


def failures(database: Database, scope: Scope = Scope()) -> list[VendorFailures]:
    """Vendors whose messages failed DKIM, with their source IPs."""
    with database.connect() as connection:
        return dkim_failures(connection, scope)


def summarize(database: Database, scope: Scope = Scope()) -> Summary:
    with database.connect() as connection:
        return build_summary(connection, scope)


def failures_frame(database: Database, scope: Scope = Scope()):
    """`failures` as a pandas DataFrame: one row per vendor and source IP."""
    import pandas as pd

    rows = [
        {
            "vendor": vendor.vendor,
            "vendor_messages": vendor.messages,
            **source.as_dict(),
        }
        for vendor in failures(database, scope)
        for source in vendor.sources
    ]
    return pd.DataFrame(rows)


def reports_frame(database: Database, scope: Scope = Scope()):
    """`stored_reports` as a pandas DataFrame: one row per report."""
    import dataclasses

    import pandas as pd

    return pd.DataFrame(
        [dataclasses.asdict(r) for r in stored_reports(database, scope)]
    )
