"""Charts as matplotlib Figures; the caller saves them.

Colours are from the Okabe-Ito palette, readable with colour-blindness and
told apart by lightness in grey print too.
"""

from datetime import date, timedelta

from matplotlib.figure import Figure

from dmarc_analyzer.analysis.findings import VendorFailures
from dmarc_analyzer.analysis.overview import DailyVolume

PASS_COLOUR = "#0072B2"  # blue
FAIL_COLOUR = "#E69F00"  # orange


def daily_volume_chart(daily: list[DailyVolume]) -> Figure:
    """Messages over time, stacked: passing DMARC below, failing above. Per
    day for up to three months, else per week, else per month, so that the
    bars stay visible; gaps without reports stay gaps."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    unit, width = _time_unit(daily)
    periods = _added_up(daily, unit)
    starts = list(periods)
    passed = [periods[start][1] for start in starts]
    failed = [periods[start][0] - periods[start][1] for start in starts]

    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.add_subplot()
    axes.bar(starts, passed, width=width, color=PASS_COLOUR, label="DMARC pass")
    axes.bar(
        starts,
        failed,
        width=width,
        bottom=passed,
        color=FAIL_COLOUR,
        label="DMARC fail",
        # Hatching tells the two apart in grey print; thin bars show no hatch.
        hatch="//" if unit == "day" else None,
        edgecolor="white" if unit == "day" else FAIL_COLOUR,
    )

    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_title(f"Messages per {unit} (UTC)")
    axes.set_ylabel("Messages")
    axes.legend(loc="upper left")
    axes.yaxis.set_major_formatter("{x:,.0f}")
    return figure


def _time_unit(daily: list[DailyVolume]) -> tuple[str, float]:
    """The bar's unit and width in days, from the span of the data."""
    span = (daily[-1].day - daily[0].day).days if daily else 0
    if span <= 92:
        return "day", 0.8
    if span <= 2 * 365:
        return "week", 6
    return "month", 25


def _added_up(daily: list[DailyVolume], unit: str) -> dict[date, tuple[int, int]]:
    """(messages, DMARC passes) per period start."""
    periods: dict[date, tuple[int, int]] = {}
    for entry in daily:
        if unit == "week":
            start = entry.day - timedelta(days=entry.day.weekday())
        elif unit == "month":
            start = entry.day.replace(day=1)
        else:
            start = entry.day
        messages, passed = periods.get(start, (0, 0))
        periods[start] = (messages + entry.messages, passed + entry.dmarc_pass)
    return periods


def failing_vendors_chart(vendors: list[VendorFailures], top: int = 10) -> Figure:
    """Horizontal bars: messages failing DKIM per vendor, largest on top."""
    shown = vendors[:top][::-1]
    figure = Figure(figsize=(8, 1.2 + 0.45 * max(len(shown), 1)), layout="constrained")
    axes = figure.add_subplot()

    axes.barh(
        [_plain(vendor.vendor) for vendor in shown],
        [vendor.dkim_failed for vendor in shown],
        color=FAIL_COLOUR,
    )

    axes.set_title("Messages failing DKIM, by sending vendor")
    axes.set_xlabel("Messages")
    axes.xaxis.set_major_formatter("{x:,.0f}")
    if not shown:
        axes.text(
            0.5,
            0.5,
            "No DKIM failures in this period",
            ha="center",
            transform=axes.transAxes,
        )
        axes.set_yticks([])
        axes.set_xticks([])
    return figure


def _plain(label: str) -> str:
    """A label matplotlib shows as written: "$" would start math mode."""
    return label.replace("$", r"\$")
