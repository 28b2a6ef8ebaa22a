"""Tables for a terminal (rich), built from the analysis results.

Nothing is cut: cells fold onto more lines instead of ending in an ellipsis,
so an IP address or a domain is always shown whole.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:  # the analysis is loaded only by the commands that run it
    from dmarc_analyzer.analysis.findings import VendorFailures
    from dmarc_analyzer.analysis.senders import Sender
    from dmarc_analyzer.dnscheck.findings import Finding
    from dmarc_analyzer.storage.reports import StoredReport

# Longer lists of results are cut to their largest entries in the table;
# --json and --csv always carry them all.
LISTED_RESULTS = 5

# What a terminal would act on rather than show: C0 and C1 controls (the
# 8-bit CSI U+009B among them), line and paragraph separators, and the
# bidirectional overrides and isolates that reorder what follows them.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def print_json(value: object, *, ensure_ascii: bool = True) -> None:
    """JSON on stdout: indented for a person at a terminal, on one line for
    a script (written in C, which matters for a large analysis)."""
    indent = 2 if sys.stdout.isatty() else None
    print(json.dumps(value, indent=indent, ensure_ascii=ensure_ascii))


def print_json_list(items: Iterable[object]) -> None:
    """A JSON list on stdout, as `print_json` writes it, each item made and
    written in turn: the analysis of hundreds of thousands of sources is
    never held as dictionaries and as text all at once."""
    if sys.stdout.isatty():
        print_json(list(items))
        return
    write = sys.stdout.write
    write("[")
    for number, item in enumerate(items):
        write(", " if number else "")
        write(json.dumps(item))
    write("]\n")


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}" if count == 1 else f"{count:,} {word}s"


def share(rate: float) -> str:
    """A percentage that never rounds a real failure down to zero."""
    if 0 < rate < 0.001:
        return "<0.1%"
    return f"{rate:.1%}"


def reports_table(stored: list[StoredReport]) -> Table:
    table = _table(
        "Reporter",
        "Report ID",
        "Domain",
        "Begin (UTC)",
        "Records",
        "Messages",
        "DKIM pass",
        "SPF pass",
        "DMARC pass",
    )
    for report in stored:
        table.add_row(
            _shown(report.org_name),
            _shown(report.report_id),
            _shown(report.domain),
            f"{report.begin:%Y-%m-%d %H:%M}",
            f"{report.records:,}",
            f"{report.messages:,}",
            f"{report.dkim_aligned_pass:,}",
            f"{report.spf_aligned_pass:,}",
            f"{report.dmarc_pass:,}",
        )
    return table


def failures_table(vendors: list[VendorFailures], limit: int = 0) -> Table:
    """Vendor rows in bold, each followed by its failing source IPs; at most
    `limit` sources (0: all), the vendors with most failed messages first."""
    table = _table(
        "Vendor",
        "Source IP",
        "Network",
        "Messages",
        "Failed DKIM",
        "Share",
        "Cause",
        "DKIM results of failed",
        "SPF results of failed",
        "Evidence",
    )
    remaining = limit or sum(len(vendor.sources) for vendor in vendors)
    for vendor in vendors:
        if remaining <= 0:
            break
        table.add_row(
            f"[bold]{_shown(vendor.vendor)}[/bold]",
            "",
            "",
            f"[bold]{vendor.messages:,}[/bold]",
            f"[bold]{vendor.dkim_failed:,}[/bold]",
            f"[bold]{share(vendor.failed_share)}[/bold]",
            f"[bold]{vendor.cause}[/bold]",
            "",
            "",
            "",
        )
        for source in vendor.sources[:remaining]:
            table.add_row(
                "",
                source.source_ip,
                _shown(_network(source.identity)),
                f"{source.messages:,}",
                f"{source.dkim_failed:,}",
                share(source.failed_share),
                source.cause,
                _listing(source.dkim_seen),
                _listing(source.spf_seen),
                _shown(source.vendor.evidence),
            )
        remaining -= len(vendor.sources)
    return table


def not_shown(shown: int, total: int, what: str) -> str | None:
    """The line under a table cut at its first `shown` rows, or None."""
    if total <= shown:
        return None
    return (
        f"{plural(total - shown, what)} more not shown (the table has the first "
        f"{shown:,}): --limit 0 shows all, --json lists every one"
    )


def fixes(vendors: list[VendorFailures], limit: int = 15) -> list[str]:
    """What to do, one line per vendor and fix, most messages at stake first."""
    at_stake: dict[tuple[str, str, str], int] = {}
    for vendor in vendors:
        for source in vendor.sources:
            for group in source.groups:
                if group.dkim_failed:
                    key = (vendor.vendor, group.cause, str(group.fix))
                    at_stake[key] = at_stake.get(key, 0) + group.dkim_failed
    ranked = sorted(at_stake.items(), key=lambda item: (-item[1], item[0]))
    lines = [
        f"[bold]{_shown(name)}[/bold] ({cause}, {plural(messages, 'message')}): "
        f"{_shown(fix)}"
        for (name, cause, fix), messages in ranked[:limit]
    ]
    if len(ranked) > limit:
        lines.append(f"… {len(ranked) - limit:,} more in --json")
    return lines


def senders_table(found: list[Sender]) -> Table:
    table = _table(
        "Source IP",
        "Vendor",
        "Network",
        "First seen",
        "Last seen",
        "Messages",
        "DKIM pass",
        "SPF pass",
        "DMARC pass",
        "Bucket",
        "New",
    )
    for sender in found:
        source = sender.source
        table.add_row(
            source.source_ip,
            _shown(source.vendor.name),
            _shown(_network(source.identity)),
            f"{sender.first_seen:%Y-%m-%d}",
            f"{sender.last_seen:%Y-%m-%d}",
            f"{source.messages:,}",
            share(sender.rate(sender.dkim_pass)),
            share(sender.rate(sender.spf_pass)),
            share(sender.rate(sender.dmarc_pass)),
            sender.bucket,
            {True: "new", False: "", None: "?"}[sender.new],
        )
    return table


def dns_findings_table(findings: list[Finding]) -> Table:
    """One row per finding, worst first; the fix and what the receivers
    reported beneath what is wrong."""
    table = _table("Severity", "Record", "Code", "What is wrong, and the fix")
    for finding in findings:
        lines = [_shown(finding.message)]
        if finding.fix:
            lines.append(f"[bold]Fix:[/bold] {_shown(finding.fix)}")
        lines += [f"Reports: {_shown(item.describe())}" for item in finding.reported]
        table.add_row(
            _SEVERITY_STYLE.get(finding.severity, finding.severity),
            _shown(finding.name),
            finding.code,
            "\n".join(lines),
        )
    return table


_SEVERITY_STYLE = {
    "error": "[red]error[/red]",
    "warning": "[yellow]warning[/yellow]",
    "ok": "[green]ok[/green]",
}


def _network(identity) -> str:
    parts = [identity.network.country_code, identity.network.label, identity.ptr_name]
    return " ".join(part for part in parts if part)


# Short codes that read badly when broken across lines.
_UNBROKEN = {"Source IP", "Cause", "Bucket", "Severity", "Code"}


def _table(*columns: str) -> Table:
    table = Table()
    for column in columns:
        table.add_column(column, overflow="fold", no_wrap=column in _UNBROKEN)
    return table


def _listing(counts: dict[str, int]) -> str:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    lines = [f"{_shown(label)}: {count:,}" for label, count in ranked[:LISTED_RESULTS]]
    if len(ranked) > LISTED_RESULTS:
        lines.append(f"… {len(ranked) - LISTED_RESULTS:,} more (see --json)")
    return "\n".join(lines)


def _shown(text: str) -> str:
    """Text from reports or DNS as one line of plain text for rich: markup
    escaped, and control and bidi characters written as \\xNN or \\uNNNN."""
    return escape(_UNSAFE.sub(_code_point, text))


def _code_point(match: re.Match[str]) -> str:
    point = ord(match.group())
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}"
