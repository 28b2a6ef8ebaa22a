"""INSERT ... ON CONFLICT DO UPDATE on both backends: two runs writing the
same key at once must not fail on the unique constraint."""

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def upsert(connection: Connection, table: Table, keys: list[str]):
    """An insert statement that overwrites the row with the same `keys`."""
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(table)
    updated = {
        column.name: statement.excluded[column.name]
        for column in table.columns
        if column.name not in keys
    }
    return statement.on_conflict_do_update(index_elements=keys, set_=updated)
