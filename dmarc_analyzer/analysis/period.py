"""Reporting periods: the last full week, month or quarter, or days chosen
by the user, and the periods before them for comparison and trends."""

from dataclasses import dataclass
from datetime import date, timedelta

from dmarc_analyzer.analysis.scope import Scope

WEEK, MONTH, QUARTER, DAYS = "week", "month", "quarter", "days"
KINDS = (WEEK, MONTH, QUARTER)
_LENGTH_IN_DAYS = {WEEK: 7, MONTH: 30, QUARTER: 91}


@dataclass(frozen=True, slots=True)
class Period:
    """Whole UTC days from `first` to `last`, both included."""

    first: date
    last: date
    kind: str = DAYS

    def __post_init__(self):
        if self.last < self.first:
            raise ValueError("a period cannot end before it begins")

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def scope(self, domain: str | None = None) -> Scope:
        return Scope.from_dates(domain=domain, since=self.first, until=self.last)

    def previous(self) -> "Period | None":
        """The period of the same kind just before; None before year 1."""
        try:
            if self.kind == MONTH:
                return month_of(self.first - timedelta(days=1))
            if self.kind == QUARTER:
                return quarter_of(self.first - timedelta(days=1))
            last = self.first - timedelta(days=1)
            return Period(last - timedelta(days=self.days - 1), last, self.kind)
        except OverflowError:
            return None

    def trail(self, count: int) -> list["Period"]:
        """This period and up to `count - 1` before it, oldest first."""
        periods: list[Period] = [self]
        while len(periods) < count and (earlier := periods[-1].previous()):
            periods.append(earlier)
        return periods[::-1]


def last_full(kind: str, today: date) -> Period:
    """The last whole week (Monday to Sunday), month or quarter before `today`."""
    if kind == WEEK:
        this_monday = today - timedelta(days=today.weekday())
        return Period(this_monday - timedelta(days=7), this_monday - timedelta(1), WEEK)
    if kind == MONTH:
        return month_of(today.replace(day=1) - timedelta(days=1))
    if kind == QUARTER:
        return quarter_of(quarter_of(today).first - timedelta(days=1))
    raise ValueError(f"unknown period {kind!r}; use one of {', '.join(KINDS)}")


def chosen_days(
    since: date | None, until: date | None, kind: str, today: date
) -> Period:
    """The period for --since/--until: both given, or one of them with the
    length of `kind` before or after it (never past yesterday)."""
    if since and until:
        return Period(since, until)
    if until:
        back = timedelta(days=_LENGTH_IN_DAYS[kind] - 1)
        return Period(until - back if until - date.min > back else date.min, until)
    assert since is not None
    return Period(since, max(since, today - timedelta(days=1)))


def month_of(day: date) -> Period:
    first = day.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return Period(first, following - timedelta(days=1), MONTH)


def quarter_of(day: date) -> Period:
    first = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    last_month = month_of(date(day.year, first.month + 2, 1))
    return Period(first, last_month.last, QUARTER)
