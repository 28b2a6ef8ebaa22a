"""The reverse DNS cache: answers kept a month, failures a day."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, delete, select

from dmarc_analyzer.identify.reverse_dns import ANSWERED, PtrResult
from dmarc_analyzer.storage.schema import reverse_dns as cache
from dmarc_analyzer.storage.upsert import upsert

ANSWER_TTL = timedelta(days=30)
FAILURE_TTL = timedelta(days=1)
CHUNK = 500


def cached_lookups(
    connection: Connection, ips: Iterable[str], now: datetime | None = None
) -> dict[str, PtrResult]:
    """The cached results for `ips` that are still fresh."""
    now = now or datetime.now(UTC)
    found = {}
    wanted = sorted(set(ips))
    for start in range(0, len(wanted), CHUNK):
        query = select(cache).where(cache.c.ip.in_(wanted[start : start + CHUNK]))
        for row in connection.execute(query):
            looked_up_at = row.looked_up_at.replace(tzinfo=UTC)
            ttl = ANSWER_TTL if row.status in ANSWERED else FAILURE_TTL
            if now - looked_up_at < ttl:
                found[row.ip] = PtrResult(
                    row.ip, row.name, row.forward_confirmed, row.status, looked_up_at
                )
    return found


def save_lookups(connection: Connection, results: Iterable[PtrResult]) -> None:
    rows = [
        {
            "ip": result.ip,
            "name": result.name,
            "forward_confirmed": result.forward_confirmed,
            "status": result.status,
            "looked_up_at": result.looked_up_at.astimezone(UTC).replace(tzinfo=None),
        }
        for result in results
    ]
    statement = upsert(connection, cache, ["ip"])
    for start in range(0, len(rows), CHUNK):
        connection.execute(statement, rows[start : start + CHUNK])


def forget_lookups(connection: Connection) -> int:
    return connection.execute(delete(cache)).rowcount
