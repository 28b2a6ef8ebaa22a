"""What a check found: one finding per problem, or one `ok` per record."""

import re
from dataclasses import dataclass, field, replace
from datetime import date

ERROR = "error"
WARNING = "warning"
INFO = "info"
OK = "ok"
SEVERITIES = (ERROR, WARNING, INFO, OK)  # the worst first

DKIM = "dkim"
DMARC = "dmarc"
SPF = "spf"

# Control characters (C0, DEL, C1) and the invisible ones that turn or hide
# text: DNS text is anyone's, and reaches terminals and databases (PostgreSQL
# refuses NUL in text).
_UNSHOWABLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]"
)


def visible(text: str) -> str:
    """`text` with its control and invisible characters as escapes (\\x1b),
    and tabs and line breaks as spaces."""
    text = text.replace("\t", " ").replace("\n", " ")
    return _UNSHOWABLE.sub(lambda found: ascii(found.group())[1:-1], text)


@dataclass(frozen=True, slots=True)
class ReportedFailures:
    """Messages whose DKIM result for one d= and selector was `result` at
    the receivers, and the days of the reports that said so."""

    result: str  # permerror or temperror
    messages: int
    first_day: date
    last_day: date

    def describe(self) -> str:
        when = (
            f"on {self.first_day}"
            if self.first_day == self.last_day
            else f"from {self.first_day} to {self.last_day}"
        )
        return f"{self.result} at receivers for {self.messages} messages {when}"

    def as_dict(self) -> dict:
        return {
            "result": self.result,
            "messages": self.messages,
            "first_day": self.first_day.isoformat(),
            "last_day": self.last_day.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with the record at `name`, or `ok` when it has none.

    `code` is stable, for scripts: `dkim-rsa-too-short`, `dns-timeout`.
    """

    kind: str  # dkim, dmarc or spf
    name: str  # the name queried: s1._domainkey.example.com, _dmarc.example.com
    domain: str
    severity: str
    code: str
    message: str
    fix: str = ""
    selector: str | None = None
    reported: tuple[ReportedFailures, ...] = field(default=())
    # A key under a vendor's own domain (d=mcsv.net), not the user's.
    vendor_key: bool = False

    def __post_init__(self):
        for name in ("name", "domain", "message", "fix", "selector"):
            value = getattr(self, name)
            if value is not None and value != visible(value):
                object.__setattr__(self, name, visible(value))

    def linked(self, reported: tuple[ReportedFailures, ...]) -> "Finding":
        return replace(self, reported=reported)

    def as_vendor_key(self) -> "Finding":
        """Not the user's to fix: an error of theirs becomes a warning."""
        if self.severity not in (ERROR, WARNING):
            return replace(self, vendor_key=True)
        return replace(
            self,
            vendor_key=True,
            severity=WARNING,
            fix=f"This key is {self.domain}'s, not your domain's: tell the "
            "vendor. Better, set up custom DKIM there so that it signs with "
            "your domain's own key.",
        )

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "kind": self.kind,
            "domain": self.domain,
            "selector": self.selector,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "fix": self.fix,
            "vendor_key": self.vendor_key,
            "reported_failures": [item.as_dict() for item in self.reported],
        }


def worst_first(findings: list[Finding]) -> list[Finding]:
    return sorted(
        findings,
        key=lambda f: (SEVERITIES.index(f.severity), f.domain, f.kind, f.name, f.code),
    )
