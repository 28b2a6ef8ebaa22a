"""Charts as matplotlib Figures; the caller saves them.

Colours are from the Okabe-Ito palette, readable with colour-blindness and
told apart by lightness in grey print too.
"""

from matplotlib.figure import Figure

from dmarc_analyzer.analysis.failures import VendorFailures
from dmarc_analyzer.analysis.overview import DailyVolume

PASS_COLOUR = "#0072B2"  # blue
FAIL_COLOUR = "#E69F00"  # orange


def daily_volume_chart(daily: list[DailyVolume]) -> Figure:
    """Messages per day on a time axis, stacked: passing DMARC below, failing
    above. Days without reports stay visible as gaps."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.add_subplot()
    days = [entry.day for entry in daily]
    passed = [entry.dmarc_pass for entry in daily]
    failed = [entry.dmarc_fail for entry in daily]

    axes.bar(days, passed, width=0.8, color=PASS_COLOUR, label="DMARC pass")
    axes.bar(
        days,
        failed,
        width=0.8,
        bottom=passed,
        color=FAIL_COLOUR,
        label="DMARC fail",
        hatch="//",
        edgecolor="white",
    )

    locator = AutoDateLocator()
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    axes.set_title("Messages per day (UTC)")
    axes.set_ylabel("Messages")
    axes.legend(loc="upper left")
    axes.yaxis.set_major_formatter("{x:,.0f}")
    return figure


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
