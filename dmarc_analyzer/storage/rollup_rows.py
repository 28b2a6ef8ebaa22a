"""The daily totals of records about to be stored, added up in Python.

Ingest has each record in hand as it writes it: adding it to a dictionary
there costs a fraction of reading the records back with SQL to group them
(rollups.py does that only to count days again after a delete). Both must
give the same rows: `tests/test_rollups.py` compares them.

Totals are added up batch by batch and written with one statement per
table, adding to the rows already there; in a worker process, a small
file's totals are added up with its rows.
"""

import functools
import string
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import Connection

from dmarc_analyzer.model import FORWARDING_REASONS, PublishedPolicy, Record, Report
from dmarc_analyzer.storage.bulk import copy_rows
from dmarc_analyzer.storage.rollups import KEY_BYTES, KEY_CHARACTERS, TREEWALK
from dmarc_analyzer.storage.schema import (
    RESULT_DAYS_KEY,
    SOURCE_DAYS_KEY,
    result_days,
    source_days,
)

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
# A value this short fits the byte limit of a key however it is encoded.
_SURELY_SHORT = KEY_BYTES // 4


def key_text(value: str | None) -> str:
    """A value as a key of the totals holds it: '' for none, cut to
    KEY_CHARACTERS, and shorter where those are over KEY_BYTES in UTF-8."""
    if value is None:
        return ""
    cut = value[:KEY_CHARACTERS]
    if len(cut) <= _SURELY_SHORT or len(cut.encode("utf-8", "replace")) <= KEY_BYTES:
        return cut
    return value[:_SURELY_SHORT]


# The From domains and d= of a report are few, and repeat.
@functools.lru_cache(maxsize=4096)
def key_name(value: str | None) -> str:
    """A domain name as a key: `key_text`, lower-cased the way DNS compares
    names, in ASCII only."""
    if value is None:
        return ""
    lowered = value.lower() if value.isascii() else value.translate(_ASCII_LOWER)
    return key_text(lowered)


class DailyTotals:
    """Messages per key of source_days and of result_days, with the first
    begin and last end of the reports behind each source row."""

    def __init__(self) -> None:
        self.sources: dict[tuple, list] = {}
        self.results: dict[tuple, int] = {}

    def add(
        self,
        report: Report,
        report_records: Iterable[Record],
        outcomes: Iterable[tuple[str | None, str | None]],
    ) -> None:
        """Add records of `report`; `outcomes` are the DKIM and SPF outcomes
        of each record, as stored with it."""
        day, domain, begin, end, treewalk = _report_key(report)
        name = key_name
        for record, (dkim_outcome, spf_outcome) in zip(
            report_records, outcomes, strict=True
        ):
            common = (
                day,
                domain,
                record.source_ip,
                name(record.header_from),
                record.dkim == "pass",
            )
            source = (
                *common,
                record.spf == "pass",
                dkim_outcome or "",
                spf_outcome or "",
                any(reason.type in FORWARDING_REASONS for reason in record.reasons),
                bool(record.dkim_results),
                treewalk,
            )
            self._add_source(source, record.count, begin, end)
            for result in record.dkim_results:
                key = (*common, "dkim", *self._result(result, result.selector))
                self.results[key] = self.results.get(key, 0) + record.count
            for result in record.spf_results:
                key = (*common, "spf", *self._result(result, result.scope))
                self.results[key] = self.results.get(key, 0) + record.count

    def merge(self, other: "DailyTotals") -> None:
        for key, (messages, begin, end) in other.sources.items():
            self._add_source(key, messages, begin, end)
        for key, messages in other.results.items():
            self.results[key] = self.results.get(key, 0) + messages

    def write(self, connection: Connection) -> None:
        """Add these totals to the tables, inside the caller's transaction
        (which holds `rollups.lock_for_adding`), and start again at zero."""
        # Days and times as this database takes them; each of them repeats.
        day = _binder(connection, source_days.c.day)
        moment = _binder(connection, source_days.c.first_begin)
        sources = [
            (day(key[0]), *key[1:], messages, moment(begin), moment(end))
            for key, (messages, begin, end) in self.sources.items()
        ]
        results = [
            (day(key[0]), *key[1:], messages) for key, messages in self.results.items()
        ]
        _add_rows(connection, source_days, SOURCE_DAYS_KEY, _SOURCE_TOTALS, sources)
        _add_rows(connection, result_days, RESULT_DAYS_KEY, _RESULT_TOTALS, results)
        self.sources, self.results = {}, {}

    def _add_source(self, key: tuple, messages: int, begin, end) -> None:
        totals = self.sources.get(key)
        if totals is None:
            self.sources[key] = [messages, begin, end]
        else:
            totals[0] += messages
            totals[1] = min(totals[1], begin)
            totals[2] = max(totals[2], end)

    def _result(self, result, detail: str | None) -> tuple[str, str, str]:
        return (key_text(result.result), key_name(result.domain), key_text(detail))


def _report_key(report: Report) -> tuple:
    begin = _naive_utc(report.begin)
    policy: PublishedPolicy = report.policy
    treewalk = (policy.discovery_method or "") == TREEWALK
    end = _naive_utc(report.end)
    return begin.date(), key_name(policy.domain), begin, end, treewalk


def _binder(connection: Connection, column) -> Callable:
    """What SQLAlchemy makes of a value of `column` for this database
    (text of a fixed format on SQLite), each value made once."""
    dialect = connection.dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    return functools.lru_cache(maxsize=1024)(process) if process else _as_it_is


def _as_it_is(value):
    return value


def _naive_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None) if moment.tzinfo else moment


# The columns added to a row already there, and how.
_SOURCE_TOTALS = {
    "messages": "{table}.messages + excluded.messages",
    "first_begin": "min({table}.first_begin, excluded.first_begin)",
    "last_end": "max({table}.last_end, excluded.last_end)",
}
_RESULT_TOTALS = {"messages": "{table}.messages + excluded.messages"}


def _add_rows(
    connection: Connection,
    table,
    key: Sequence[str],
    totals: dict[str, str],
    rows: list[tuple],
) -> None:
    if not rows:
        return
    columns = ", ".join([*key, *totals])
    updates = ", ".join(
        f"{name} = {how.format(table=table.name)}" for name, how in totals.items()
    )
    on_conflict = f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" * (len(key) + len(totals)))
        connection.exec_driver_sql(
            f"INSERT INTO {table.name} ({columns}) VALUES ({marks}) {on_conflict}",
            rows,
        )
        return

    # One statement per row costs PostgreSQL a round of planning each: the
    # rows are copied into a table of this transaction, then added at once.
    # Its two-argument min and max are least and greatest.
    on_conflict = on_conflict.replace("min(", "least(").replace("max(", "greatest(")
    staging = f"adding_{table.name}"
    connection.exec_driver_sql(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
        f"SELECT {columns} FROM {table.name} WITH NO DATA"
    )
    copy_rows(connection, f"COPY {staging} ({columns}) FROM STDIN", rows)
    connection.exec_driver_sql(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {staging} "
        f"{on_conflict}"
    )
    connection.exec_driver_sql(f"TRUNCATE {staging}")
