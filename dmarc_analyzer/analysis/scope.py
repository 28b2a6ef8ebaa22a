"""Which part of the stored data a question is about."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


@dataclass(frozen=True, slots=True)
class Scope:
    """A domain (or all) and a period of report begin times.

    `since` is inclusive and `until` exclusive, both timezone-aware
    midnights UTC: the stored totals are per whole day.
    """

    domain: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self):
        for moment in (self.since, self.until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("Scope times must be timezone-aware (UTC)")
            if moment is not None and moment.astimezone(UTC).time() != time.min:
                raise ValueError("Scope times must be midnights UTC (whole days)")
        if self.since and self.until and self.until <= self.since:
            raise ValueError("Scope ends before it begins")

    @classmethod
    def from_dates(
        cls,
        domain: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> "Scope":
        """Whole UTC days: `until` is the last day included."""
        end = None
        if until and until < date.max:  # the last day there is has no end
            end = _start_of(until + timedelta(days=1))
        return cls(domain=domain, since=_start_of(since) if since else None, until=end)


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)
