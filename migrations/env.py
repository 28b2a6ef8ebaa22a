"""Alembic environment: runs migrations on the connection the application
hands over, or on `-x url=...` when a developer runs the alembic command."""

from alembic import context
from sqlalchemy import create_engine

from dmarc_analyzer.storage.schema import metadata


def run_migrations(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("give the database: alembic -x url=sqlite:///file.sqlite ...")
    with create_engine(url).begin() as developer_connection:
        run_migrations(developer_connection)
