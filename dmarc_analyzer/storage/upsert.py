"""INSERT ... ON CONFLICT DO UPDATE on both backends: two runs writing the
same key at once must not fail on the unique constraint."""

from importlib import import_module

from sqlalchemy import Connection, Table


def upsert(connection: Connection, table: Table, keys: list[str]):
    """An insert statement that overwrites the row with the same `keys`."""
    statement = dialect_insert(connection, table)
    updated = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in keys
    }
    return statement.on_conflict_do_update(index_elements=keys, set_=updated)


def dialect_insert(connection: Connection, table: Table):
    """The dialect's own INSERT, which has ON CONFLICT."""
    # The dialect's module is imported here, not above: SQLAlchemy's
    # PostgreSQL dialect alone would add a tenth of the start-up time of a
    # command on SQLite.
    name = "postgresql" if connection.dialect.name == "postgresql" else "sqlite"
    return import_module(f"sqlalchemy.dialects.{name}").insert(table)
