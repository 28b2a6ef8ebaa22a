"""The management summary: a Markdown page and its PNG charts."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from dmarc_analyzer.analysis.failures import VendorFailures, dkim_failures
from dmarc_analyzer.analysis.overview import Overview, overview
from dmarc_analyzer.analysis.scope import Scope

TOP_VENDORS = 10


@dataclass(frozen=True, slots=True)
class Summary:
    scope: Scope
    overview: Overview
    failing_vendors: list[VendorFailures]

    @property
    def period_label(self) -> str:
        """The period as first day to last day, from the scope or the data."""
        first = self.scope.since or self.overview.first_begin
        last = self.overview.last_end
        if self.scope.until:
            from datetime import timedelta

            last = self.scope.until - timedelta(seconds=1)
        if not first or not last:
            return "no data"
        return f"{first:%Y-%m-%d} to {last:%Y-%m-%d}"


def build_summary(connection: Connection, scope: Scope = Scope()) -> Summary:
    return Summary(scope, overview(connection, scope), dkim_failures(connection, scope))


def write_summary(summary: Summary, out_dir: Path) -> list[Path]:
    """Write the Markdown page and its charts under `out_dir`; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    from dmarc_analyzer.reporting.charts import (
        daily_volume_chart,
        failing_vendors_chart,
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "dmarc-summary-" + summary.period_label.replace(" to ", "_").replace(
        " ", "-"
    )
    volume_png = out_dir / f"{stem}-daily-volume.png"
    vendors_png = out_dir / f"{stem}-failing-vendors.png"
    page = out_dir / f"{stem}.md"

    daily_volume_chart(summary.overview.daily).savefig(volume_png, dpi=120)
    failing_vendors_chart(summary.failing_vendors, TOP_VENDORS).savefig(
        vendors_png, dpi=120
    )
    page.write_text(
        render_markdown(summary, volume_png.name, vendors_png.name), encoding="utf-8"
    )
    return [page, volume_png, vendors_png]


def render_markdown(summary: Summary, volume_png: str, vendors_png: str) -> str:
    figures = summary.overview
    domains = ", ".join(_md(domain) for domain in figures.domains) or "none"
    lines = [
        f"# DMARC summary: {domains}",
        "",
        f"Period: {summary.period_label} (UTC, by report start).",
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
        f"| Reports | {figures.reports:,} from {len(figures.reporters)} reporters |",
        "",
        "Reporters: " + ", ".join(_md(name) for name in figures.reporters) + ".",
        "",
        "## Senders failing DKIM",
        "",
    ]
    lines += _vendor_table(summary.failing_vendors[:TOP_VENDORS])
    lines += [
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
        "| Vendor | Messages failing DKIM | Share of its mail | Source IPs |",
        "| --- | ---: | ---: | ---: |",
    ]
    for vendor in vendors:
        rows.append(
            f"| {_md(vendor.vendor)} | {vendor.dkim_failed:,} | "
            f"{_percent(vendor.failed_share)} | {len(vendor.sources)} |"
        )
    return rows


def _percent(rate: float | None) -> str:
    return "n/a" if rate is None else f"{rate:.1%}"


def _md(text: str) -> str:
    """Reporter-controlled text as one inert table cell."""
    cleaned = " ".join(str(text).split())
    for special in ("\\", "|", "*", "_", "`", "[", "]", "<", ">", "#"):
        cleaned = cleaned.replace(special, "\\" + special)
    return cleaned
