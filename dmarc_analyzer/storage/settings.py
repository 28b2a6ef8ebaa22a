"""Settings kept in the database, so that a team shares them."""

from sqlalchemy import Connection, delete, select

from dmarc_analyzer.storage.schema import settings
from dmarc_analyzer.storage.upsert import upsert

SENDERS_FILE = "senders_file"


def get_setting(connection: Connection, key: str) -> str | None:
    query = select(settings.c.value).where(settings.c.key == key)
    return connection.execute(query).scalar_one_or_none()


def set_setting(connection: Connection, key: str, value: str | None) -> None:
    if value is None:
        connection.execute(delete(settings).where(settings.c.key == key))
    else:
        connection.execute(
            upsert(connection, settings, ["key"]), {"key": key, "value": value}
        )
