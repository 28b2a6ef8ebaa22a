"""Charts of a management summary as PNG images, in the reader's language.

Colours are from the Okabe-Ito palette, readable with colour-blindness;
hatching and order tell the series apart in grey print too. Every chart is
weighted by messages, not by sources or records.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from functools import cache
from io import BytesIO
from pathlib import Path

from dmarc_analyzer.analysis import causes
from dmarc_analyzer.analysis.findings import VendorFailures
from dmarc_analyzer.analysis.management import (
    ManagementSummary,
    TrendPoint,
    display_name,
)
from dmarc_analyzer.errors import DmarcAnalyzerError
from dmarc_analyzer.i18n import ENGLISH, N_, Language, clip
from dmarc_analyzer.reporting.labels import BUCKET_LABELS, BUCKETS, CAUSE_LABELS

BUCKET_STYLES = {  # colour, hatch
    causes.BUCKET_COMPLIANT: ("#0072B2", None),  # blue
    causes.BUCKET_NON_COMPLIANT: ("#E69F00", "//"),  # orange
    causes.BUCKET_FORWARDED: ("#56B4E9", ".."),  # sky blue
    causes.BUCKET_THREAT: ("#D55E00", "xx"),  # vermilion
}
PASS_COLOUR = "#0072B2"
FAIL_COLOUR = "#E69F00"
CJK_FAMILY = "Noto Sans CJK JP"
LATIN_FAMILY = "DejaVu Sans"  # matplotlib's own, always there
TOP_VENDORS = 10
DPI = 150


def render_charts(summary: ManagementSummary, language: Language) -> dict[str, bytes]:
    """The summary's charts as PNG bytes, by name; none for an empty period."""
    if summary.empty:
        return {}
    with chart_fonts(language):
        figures = {
            "daily-volume": daily_volume_chart(
                summary.volume_by_bucket, summary.volume_unit, language
            ),
            "pass-rate-trend": pass_rate_trend_chart(summary.trend, language),
            "failing-vendors": failing_vendors_chart(
                summary.overall.failing_vendors, language
            ),
            "causes": causes_chart(summary.overall.cause_messages, language),
        }
        return {name: _png(figure) for name, figure in figures.items()}


@contextmanager
def chart_fonts(language: Language) -> Iterator[None]:
    """Fonts that draw the language's script, never empty boxes; a font that
    draws Japanese also catches CJK names in reports in any language."""
    import matplotlib

    cjk = _cjk_font()
    if cjk is None and language.code != ENGLISH:
        raise DmarcAnalyzerError(
            f"no font that draws {language.code!r} text is installed: install "
            "Debian's fonts-noto-cjk (scripts/install-system-packages.sh does)"
        )
    families = [LATIN_FAMILY, cjk] if language.code == ENGLISH else [cjk, LATIN_FAMILY]
    with matplotlib.rc_context({"font.family": [f for f in families if f]}):
        yield


@cache  # a scan of the system's fonts, once per process
def _cjk_font() -> str | None:
    from matplotlib import font_manager

    def known() -> bool:
        return any(font.name == CJK_FAMILY for font in font_manager.fontManager.ttflist)

    if not known():
        # Installed after matplotlib cached its font list: add it by hand.
        for path in font_manager.findSystemFonts():
            if Path(path).name.startswith("NotoSansCJK"):
                font_manager.fontManager.addfont(path)
    return CJK_FAMILY if known() else None


def daily_volume_chart(
    periods: dict[date, dict[str, int]], unit: str, language: Language
):
    """Messages over time, stacked by the bucket of their source: per day
    ("day") or per month ("month"), as the summary read them; gaps stay
    gaps."""
    from matplotlib.figure import Figure

    starts = _every_start(periods, unit)
    figure = Figure(figsize=(8, 3.8), layout="constrained")
    axes = figure.add_subplot()
    bottoms = [0] * len(starts)
    for bucket in BUCKETS:
        heights = [periods.get(start, {}).get(bucket, 0) for start in starts]
        if not any(heights):
            continue
        colour, hatch = BUCKET_STYLES[bucket]
        axes.bar(
            range(len(starts)),
            heights,
            bottom=bottoms,
            color=colour,
            hatch=hatch if len(starts) <= 60 else None,  # thin bars show no hatch
            edgecolor="white" if len(starts) <= 60 else colour,
            linewidth=0.5,
            label=language.gettext(BUCKET_LABELS[bucket]),
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]

    _period_ticks(axes, starts, unit, language)
    axes.set_title(language.gettext(_VOLUME_TITLES[unit]))
    axes.set_ylabel(language.gettext("Messages"))
    axes.yaxis.set_major_formatter(_numbers(language))
    # Below the bars, where it hides none of them.
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, -0.14), ncols=4, fontsize="small"
    )
    return figure


_VOLUME_TITLES = {
    "day": N_("Messages per day, by kind of sender (UTC)"),
    "month": N_("Messages per month, by kind of sender (UTC)"),
}


def _every_start(periods: dict[date, dict[str, int]], unit: str) -> list[date]:
    """Every period start from the first to the last with data."""
    if not periods:
        return []
    starts, current, last = [], min(periods), max(periods)
    while current <= last:
        starts.append(current)
        if unit == "month":
            current = (current + timedelta(days=32)).replace(day=1)
        else:
            current += timedelta(days=1)
    return starts


def _period_ticks(axes, starts: list[date], unit: str, language: Language) -> None:
    step = max(1, len(starts) // 12)
    ticks = list(range(0, len(starts), step))
    shown = language.month if unit == "month" else language.short_date
    axes.set_xticks(
        ticks,
        [shown(starts[i]) for i in ticks],
        rotation=30 if len(ticks) > 7 else 0,
        fontsize="small",
    )


def pass_rate_trend_chart(trend: list[TrendPoint], language: Language):
    """DMARC pass rate per period, the current one last; gaps stay gaps."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axes = figure.add_subplot()
    rates = [point.dmarc_pass_rate for point in trend]
    positions = range(len(trend))
    axes.plot(
        positions,
        [rate * 100 if rate is not None else float("nan") for rate in rates],
        marker="o",
        color=PASS_COLOUR,
    )
    axes.set_xticks(
        list(positions),
        [language.date(point.period.first) for point in trend],
        rotation=30,
        ha="right",
        fontsize="small",
    )
    axes.set_ylim(0, 105)
    axes.yaxis.set_major_formatter(lambda value, _: f"{value:.0f}%")
    axes.set_title(language.gettext("DMARC pass rate, period by period"))
    axes.set_xlabel(language.gettext("Period starting"))
    axes.grid(axis="y", alpha=0.3)
    if not any(rate is not None for rate in rates):
        _no_data(axes, language.gettext("No reports in these periods"))
    return figure


def failing_vendors_chart(vendors: list[VendorFailures], language: Language):
    """Messages failing DKIM per vendor, largest on top, in the colour of the
    vendor's main cause as in the causes chart."""
    shown = vendors[:TOP_VENDORS]
    return _horizontal_bars(
        language.gettext("Messages failing DKIM, by sending vendor"),
        [_plain(clip(display_name(vendor).render(language), 60)) for vendor in shown],
        [vendor.dkim_failed for vendor in shown],
        [BUCKET_STYLES[causes.bucket_of(vendor.cause)][0] for vendor in shown],
        language,
    )


def causes_chart(cause_messages: dict[str, int], language: Language):
    """Messages failing DKIM per cause, largest on top."""
    return _horizontal_bars(
        language.gettext("Why messages failed DKIM"),
        [language.gettext(CAUSE_LABELS[cause]) for cause in cause_messages],
        list(cause_messages.values()),
        [
            BUCKET_STYLES[causes.bucket_of(cause)][0]
            if cause != causes.COMPLIANT
            else PASS_COLOUR
            for cause in cause_messages
        ],
        language,
    )


def _horizontal_bars(
    title: str, labels: list[str], values: list[int], colours: list[str], language
):
    """Bars listed from the top down, each with its number at its end."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 1.3 + 0.42 * max(len(values), 1)), layout="constrained")
    axes = figure.add_subplot()
    bars = axes.barh(labels[::-1], values[::-1], color=colours[::-1])
    _label_bars(axes, bars, values[::-1], language)
    axes.set_title(title)
    axes.set_xlabel(language.gettext("Messages"))
    axes.xaxis.set_major_formatter(_numbers(language))
    if not values:
        _no_data(axes, language.gettext("No DKIM failures in this period"))
    return figure


def _label_bars(axes, bars, values: list[int], language: Language) -> None:
    """Each bar's number at its end: a bar of 4 next to one of 4,000 is
    invisible otherwise."""
    axes.bar_label(bars, labels=[language.number(v) for v in values], padding=3)
    axes.margins(x=0.12)


def _numbers(language: Language):
    return lambda value, _: language.number(int(value))


def _no_data(axes, message: str) -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_yticks([])
    axes.set_xticks([])


def _png(figure) -> bytes:
    buffer = BytesIO()
    # Fixed metadata: the same data gives the same bytes.
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _plain(label: str) -> str:
    """A label matplotlib shows as written: "$" would start math mode."""
    return label.replace("$", r"\$")
