"""Open a database by URL and keep its schema at the newest migration."""

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from dmarc_analyzer.defaults import DEFAULT_DATABASE
from dmarc_analyzer.errors import DatabaseError

log = logging.getLogger(__name__)

MIGRATION_LOCK = 0x646D6172  # "dmar": any constant this program alone uses
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# The newest revision in migrations/versions (a test holds them equal): a
# database already there is opened without loading Alembic at all.
SCHEMA_HEAD = "0007"

# How long a SQLite writer waits for another one: a large file's ingest
# holds the write lock for its whole transaction. After the first second
# of waiting it says so, once.
BUSY_TIMEOUT_MS = 300_000
FIRST_WAIT_MS = 1_000


def database_url(text: str) -> str:
    """Accept a SQLAlchemy URL, or a plain path meaning a SQLite file."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise DatabaseError("the database path is not valid UTF-8") from error
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser()}"


class Database:
    """A connection pool to one database whose schema is at head."""

    def __init__(
        self, url: str = DEFAULT_DATABASE, *, upgrade: bool = True, create: bool = True
    ):
        """Open the database at `url`. With `create=False` a SQLite file
        must exist already: a mistyped path is an error, not a new database."""
        self.url = database_url(url)
        self.engine = _create_engine(self.url, create)
        if upgrade:
            self.upgrade()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def upgrade(self, revision: str = "head") -> None:
        """Run the Alembic migrations up to `revision`."""
        if revision == "head" and self._at_head():
            return
        from alembic import command
        from alembic.util import CommandError

        try:
            with self.transaction() as connection:
                if connection.dialect.name == "postgresql":
                    # Two first runs at once: the second waits, then finds
                    # the schema made.
                    connection.exec_driver_sql(
                        f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"
                    )
                command.upgrade(_alembic_config(connection), revision)
        except CommandError as error:
            raise DatabaseError(
                f"cannot open {self.safe_url}: its schema is unknown to this version "
                f"of dmarc-analyzer (made by a newer one?): {_first_line(error)}"
            ) from error
        except DatabaseError as error:
            raise DatabaseError(f"cannot open {self.safe_url}: {error}") from error

    def _at_head(self) -> bool:
        """Whether the schema is at SCHEMA_HEAD already: one small query,
        where Alembic would take a third of a second to start."""
        try:
            with self.engine.connect() as connection:
                found = connection.exec_driver_sql(
                    "SELECT version_num FROM alembic_version"
                ).scalars()
                return list(found) == [SCHEMA_HEAD]
        except SQLAlchemyError:
            return False  # no schema yet, or not one of ours: Alembic decides

    def current_revision(self) -> str | None:
        from alembic.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @contextmanager
    def transaction(
        self, before_commit: Callable[[], object] | None = None
    ) -> Iterator[Connection]:
        """A connection whose work is committed on success, rolled back on
        error, as one unit: savepoints inside it stay inside it.
        `before_commit` is called when the work is done, just before the
        commit."""
        try:
            with self.engine.connect() as connection:
                connection.execution_options(writes=True)
                with connection.begin(), _closed_if_interrupted(connection):
                    yield connection
                    if before_commit is not None:
                        before_commit()
        except SQLAlchemyError as error:
            raise as_database_error(error) from error

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise as_database_error(error) from error

    @property
    def files(self) -> list[Path]:
        """The files of a SQLite database (none for a server database)."""
        database = make_url(self.url).database
        if self.dialect != "sqlite" or not database or database == ":memory:":
            return []
        path = Path(database).expanduser()
        return [path] + [
            Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal")
        ]

    @property
    def safe_url(self) -> str:
        """The URL with any password hidden, fit for messages and logs."""
        return make_url(self.url).render_as_string(hide_password=True)

    def close(self) -> None:
        """Close the connections kept open for reuse; using the database
        again opens new ones."""
        self.engine.dispose()


@contextmanager
def _closed_if_interrupted(connection: Connection) -> Iterator[None]:
    # Interrupted in the middle of a statement (Ctrl-C), the connection may
    # be in no state to roll back, nor to be used again: closed instead, the
    # database rolls the transaction back itself.
    try:
        yield
    except BaseException as error:
        if not isinstance(error, Exception):
            connection.invalidate()
        raise


def _create_engine(url: str, create: bool) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise DatabaseError(f"not a database URL: {url!r}") from error

    shown = parsed.render_as_string(hide_password=True)
    try:
        engine = create_engine(parsed)
    except (ArgumentError, ImportError) as error:
        raise DatabaseError(f"cannot use database {shown}: {error}") from error

    if engine.dialect.name == "sqlite":
        _prepare_sqlite_file(parsed.database, create)
        event.listen(engine, "connect", _configure_sqlite)
        event.listen(engine, "begin", _begin_sqlite)
    return engine


def _prepare_sqlite_file(database: str | None, create: bool) -> None:
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    if create:
        # A new file, yes; a new folder, no: a typo in it should not quietly
        # start an empty database somewhere else.
        if not path.parent.is_dir():
            raise DatabaseError(f"no folder {path.parent} for the database {path.name}")
    elif not path.is_file():
        raise DatabaseError(
            f"no database at {path} (ingest or fetch reports first, or check --db)"
        )


def _configure_sqlite(dbapi_connection, _record) -> None:
    # The driver's own transaction handling would let a savepoint's release
    # commit on its own; SQLAlchemy emits BEGIN itself instead (below).
    dbapi_connection.isolation_level = None
    # WAL and a busy timeout let a reader
    # and a writer, or two ingests, share the file.
    cursor = dbapi_connection.cursor()
    # Another ingest may hold the write lock for a large file's whole
    # transaction: wait for it rather than refuse good files.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    # A writer takes the write lock up front, so that two writers queue on
    # the busy timeout instead of one failing when it upgrades a read lock.
    writes = connection.get_execution_options().get("writes", False)
    if not writes:
        connection.exec_driver_sql("BEGIN")
        return

    driver = connection.connection.dbapi_connection
    driver.execute(f"PRAGMA busy_timeout={FIRST_WAIT_MS}")
    try:
        _begin_immediate_waiting(driver, connection.engine.url.database)
    finally:
        driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")


def _begin_immediate_waiting(driver: sqlite3.Connection, name: str | None) -> None:
    # Tried again every FIRST_WAIT_MS rather than waited for in one call:
    # SQLite waits inside the call, where a Ctrl-C is not acted on.
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    said = False
    while True:
        try:
            driver.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) and "busy" not in str(error):
                raise
            if time.monotonic() >= deadline:
                raise
        if not said:
            log.warning(
                "waiting for another process that is writing to %s (up to %d minutes)",
                name,
                BUSY_TIMEOUT_MS // 60_000,
            )
            said = True


def _alembic_config(connection: Connection):
    from alembic.config import Config

    if not MIGRATIONS_DIR.is_dir():
        raise DatabaseError(f"migrations folder not found at {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def as_database_error(error: SQLAlchemyError) -> DatabaseError:
    """The driver's error as ours, in one line."""
    return DatabaseError(f"database error: {_first_line(error)}")


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
