"""Bulk writes of many rows: COPY on PostgreSQL, executemany elsewhere
(SQLite), both inside the caller's transaction.

Records are written with ids chosen here, so that their DKIM and SPF
results can point at them without asking the database for each id back.
"""

import functools
import queue
import threading
from collections.abc import Callable, Sequence

from sqlalchemy import Boolean, Connection, Table, text


def write_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple]
) -> None:
    """Insert `rows` (tuples in the order of `columns`) into `table`."""
    if not rows:
        return
    rows = as_bound(connection, table, columns, rows)
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(name) for name in columns)
    if connection.dialect.name == "postgresql":
        copy_rows(connection, f"COPY {quote(table.name)} ({names}) FROM STDIN", rows)
    else:
        marks = ", ".join("?" * len(columns))
        statement = f"INSERT INTO {quote(table.name)} ({names}) VALUES ({marks})"
        connection.exec_driver_sql(statement, rows)


def as_bound(
    connection: Connection, table: Table, columns: Sequence[str], rows: list[tuple]
) -> list[tuple]:
    """`rows` as SQLAlchemy would hand them to the driver for this database
    (times and dates as text of a fixed format on SQLite)."""
    dialect = connection.dialect
    binders = []
    for index, name in enumerate(columns):
        column_type = table.c[name].type
        process = column_type.dialect_impl(dialect).bind_processor(dialect)
        # Both drivers take Python's booleans as they are.
        if process is not None and not isinstance(column_type, Boolean):
            # Few distinct values (the day of a report, say): each made once.
            binders.append((index, functools.lru_cache(maxsize=1024)(process)))
    if not binders:
        return rows
    bound = []
    for row in rows:
        values = list(row)
        for index, process in binders:
            values[index] = process(values[index])
        bound.append(tuple(values))
    return bound


def copy_rows(connection: Connection, statement: str, rows: list[tuple]) -> None:
    """Run a COPY ... FROM STDIN `statement` with `rows` (PostgreSQL)."""
    # The driver's own connection, inside SQLAlchemy's transaction.
    driver_connection = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


class IdAllocator:
    """Hands out ids for new rows of `table`.

    On PostgreSQL they come from the column's sequence, so concurrent
    writers never collide. On SQLite the writing transaction holds the
    database's write lock (BEGIN IMMEDIATE), so the ids after the largest
    one are ours until it ends.
    """

    def __init__(self, connection: Connection, table: Table):
        self._connection = connection
        self._table = table
        self._next: int | None = None

    def take(self, count: int) -> list[int]:
        if self._connection.dialect.name == "postgresql":
            return self._from_sequence(count)
        if self._next is None:
            # Plain SQL: once per report, and small reports are many.
            largest = f"SELECT coalesce(max(id), 0) FROM {self._table.name}"
            self._next = self._connection.exec_driver_sql(largest).scalar_one() + 1
        first, self._next = self._next, self._next + count
        return list(range(first, first + count))

    def _from_sequence(self, count: int) -> list[int]:
        query = text(
            "SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
            "FROM generate_series(1, :count) ORDER BY 1"
        )
        parameters = {"table": self._table.name, "count": count}
        return list(self._connection.execute(query, parameters).scalars())


def batch_writer(connection: Connection) -> "BackgroundWriter | InlineWriter":
    """A server database works on its own core while we parse: write in the
    background. SQLite works in our process, where a second thread only
    competes for the interpreter (measured slower): write inline."""
    if connection.dialect.name == "postgresql":
        return BackgroundWriter()
    return InlineWriter()


class InlineWriter:
    """The same interface as BackgroundWriter, writing at once."""

    def __enter__(self) -> "InlineWriter":
        return self

    def submit(self, write: Callable[..., None], *arguments) -> None:
        write(*arguments)

    def __exit__(self, *_) -> None:
        pass


class BackgroundWriter:
    """Runs writes one after another in a thread of its own, so that parsing
    goes on while the database works: a driver waiting for the server lets
    the parsing thread run. Only this thread uses the connection until the
    block ends; the first error is raised there, and later writes skipped.
    """

    def __init__(self, depth: int = 2):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "BackgroundWriter":
        self._thread.start()
        return self

    def submit(self, write: Callable[..., None], *arguments) -> None:
        self._raise_any_error()
        self._queue.put((write, arguments))

    def __exit__(self, error_type, *_) -> None:
        self._queue.put(None)
        self._thread.join()
        if error_type is None:
            self._raise_any_error()

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if self._error is None:
                write, arguments = job
                try:
                    write(*arguments)
                except BaseException as error:  # handed to the caller's thread
                    self._error = error

    def _raise_any_error(self) -> None:
        if self._error is not None:
            raise self._error
