"""The management summary: a Markdown page and its PNG charts."""

import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import Connection

from dmarc_analyzer.analysis.failures import OFFLINE, VendorFailures, dkim_failures
from dmarc_analyzer.analysis.identification import IdentifyOptions
from dmarc_analyzer.analysis.overview import Overview, overview
from dmarc_analyzer.analysis.scope import Scope
from dmarc_analyzer.errors import DmarcAnalyzerError
from dmarc_analyzer.reporting.console import share

TOP_VENDORS = 10
LISTED_DOMAINS = 20


@dataclass(frozen=True, slots=True)
class Summary:
    scope: Scope
    overview: Overview
    failing_vendors: list[VendorFailures]

    @property
    def first_day(self) -> date | None:
        moment = self.scope.since or self.overview.first_begin
        return moment.date() if moment else None

    @property
    def last_day(self) -> date | None:
        if self.scope.until:
            return (self.scope.until - timedelta(seconds=1)).date()
        return self.overview.last_begin.date() if self.overview.last_begin else None

    @property
    def period_label(self) -> str:
        """First to last day of report starts, from the scope or else the data."""
        first, last = self.first_day, self.last_day
        if first and last:
            return f"{first} to {last}"
        if first:
            return f"from {first}"
        return f"until {last}" if last else "no data"

    @property
    def title(self) -> str:
        if self.scope.domain:
            return self.scope.domain
        domains = self.overview.domains
        if len(domains) <= 3:
            return ", ".join(domains) or "no domains"
        return f"{len(domains)} domains"


def build_summary(
    connection: Connection, scope: Scope = Scope(), options: IdentifyOptions = OFFLINE
) -> Summary:
    failing = dkim_failures(connection, scope, options)
    return Summary(scope, overview(connection, scope), failing)


def write_summary(summary: Summary, out_dir: Path) -> list[Path]:
    """Write the Markdown page and, when there is data, its charts under
    `out_dir`; return the paths written, the page first."""
    try:
        return _write(summary, out_dir)
    except OSError as error:
        reason = error.strerror or str(error)
        raise DmarcAnalyzerError(f"cannot write to {out_dir}: {reason}") from error


def _write(summary: Summary, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = _file_stem(summary)
    page = out_dir / f"{stem}.md"
    if not summary.overview.messages:
        page.write_text(render_markdown(summary), encoding="utf-8")
        return [page]

    volume_png = out_dir / f"{stem}-daily-volume.png"
    vendors_png = out_dir / f"{stem}-failing-vendors.png"
    _save_charts(summary, volume_png, vendors_png)
    page.write_text(
        render_markdown(summary, volume_png.name, vendors_png.name), encoding="utf-8"
    )
    return [page, volume_png, vendors_png]


def _save_charts(summary: Summary, volume_png: Path, vendors_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from dmarc_analyzer.reporting.charts import (
        daily_volume_chart,
        failing_vendors_chart,
    )

    charts = [
        (daily_volume_chart(summary.overview.daily), volume_png),
        (failing_vendors_chart(summary.failing_vendors, TOP_VENDORS), vendors_png),
    ]
    for figure, path in charts:
        figure.savefig(path, dpi=120, bbox_inches="tight")


def _file_stem(summary: Summary) -> str:
    parts = ["dmarc-summary"]
    if summary.scope.domain:
        parts.append(summary.scope.domain)
    parts.append(summary.period_label.replace(" to ", "_"))
    # Only characters that are safe in a file name on every system.
    return re.sub(r"[^A-Za-z0-9._-]+", "-", "-".join(parts))


def render_markdown(
    summary: Summary, volume_png: str | None = None, vendors_png: str | None = None
) -> str:
    figures = summary.overview
    lines = [
        f"# DMARC summary: {_md(summary.title)}",
        "",
        f"Period: {summary.period_label} (UTC, by the day each report starts).",
        "",
    ]
    if not figures.messages:
        lines += ["No aggregate reports were received for this period.", ""]
        return "\n".join(lines)

    lines += [
        "| Figure | Value |",
        "| --- | ---: |",
        f"| Messages reported | {figures.messages:,} |",
        f"| DMARC pass | {_percent(figures.rate(figures.dmarc_pass))} |",
        f"| DKIM aligned pass | {_percent(figures.rate(figures.dkim_aligned_pass))} |",
        f"| SPF aligned pass | {_percent(figures.rate(figures.spf_aligned_pass))} |",
        f"| Messages failing DKIM | {figures.messages - figures.dkim_aligned_pass:,} |",
        f"| Reports | {figures.reports:,} from {len(figures.reporters):,} reporters |",
        "",
        "Domains: " + _listed(figures.domains) + ".",
        "",
        "Reporters: " + _listed(figures.reporters) + ".",
        "",
        "## Senders failing DKIM",
        "",
        *_vendor_table(summary.failing_vendors[:TOP_VENDORS]),
        "",
        "## Charts",
        "",
        f"![Messages per day]({volume_png})",
        "",
        f"![Messages failing DKIM by vendor]({vendors_png})",
        "",
    ]
    return "\n".join(lines)


def _vendor_table(vendors: list[VendorFailures]) -> list[str]:
    if not vendors:
        return ["Every message passed DKIM with an aligned signature."]
    rows = [
        "| Vendor | Messages failing DKIM | Share of its mail | Source IPs | Cause |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for vendor in vendors:
        rows.append(
            f"| {_md(vendor.vendor)} | {vendor.dkim_failed:,} | "
            f"{_percent(vendor.failed_share)} | {len(vendor.sources):,} | "
            f"{_md(vendor.cause)} |"
        )
    return rows


def _listed(names: list[str]) -> str:
    shown = ", ".join(_md(name) for name in names[:LISTED_DOMAINS])
    hidden = len(names) - LISTED_DOMAINS
    return f"{shown} and {hidden:,} more" if hidden > 0 else shown


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else share(rate)


def _md(text: str) -> str:
    """Reporter-controlled text as one inert table cell."""
    cleaned = " ".join(str(text).split())
    for special in ("\\", "|", "*", "_", "`", "[", "]", "<", ">", "#", "&", "~", "$"):
        cleaned = cleaned.replace(special, "\\" + special)
    return cleaned
