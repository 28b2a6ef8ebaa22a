"""Machine-readable exports: CSV that is safe to open in a spreadsheet."""

import csv
import io

from dmarc_analyzer.analysis.findings import VendorFailures, ranked

FAILURE_COLUMNS = [
    "vendor",
    "vendor_type",
    "evidence",
    "source_ip",
    "ptr",
    "country",
    "asn",
    "as_name",
    "domains",
    "messages",
    "dkim_failed",
    "failed_share",
    "cause",
    "bucket",
    "fix",
    "receiver_disagrees",
    "dkim_results",
    "spf_results",
]


def failures_csv(vendors: list[VendorFailures]) -> str:
    """One row per vendor and source IP; result lists as `label: count; ...`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(FAILURE_COLUMNS)
    for vendor in vendors:
        for source in vendor.sources:
            row = source.as_dict()
            row["domains"] = " ".join(source.domains)
            row["dkim_results"] = _pairs(source.dkim_seen)
            row["spf_results"] = _pairs(source.spf_seen)
            writer.writerow([_cell(row[column]) for column in FAILURE_COLUMNS])
    return buffer.getvalue()


def _pairs(counts: dict[str, int]) -> str:
    return "; ".join(f"{label}: {count}" for label, count in ranked(counts).items())


def _cell(value) -> str:
    """Neutralise text a spreadsheet would run as a formula."""
    if value is None:
        return ""
    text = str(value)
    if isinstance(value, str) and text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
