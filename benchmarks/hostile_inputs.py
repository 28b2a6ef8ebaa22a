"""Write the inputs of docs/hostile-input.md's measurements into a folder:

    .venv/bin/python benchmarks/hostile_inputs.py /tmp/hostile
    /usr/bin/time -v .venv/bin/dmarc-analyzer --db /tmp/h.sqlite \
        ingest /tmp/hostile/damaged-500k.xml.gz

Each is measured in a run of its own, into a new database.
"""

import gzip
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.inputs import write_report
from tests.conftest import record_xml, report_xml


def damaged_large_report(folder: Path) -> None:
    """The benchmark's 500,000-record report with one invalid byte near its end."""
    clean = write_report(folder / "clean-500k.xml.gz", 500_000)
    data = gzip.decompress(clean.read_bytes())
    where = data.rfind(b"<header_from>") + len(b"<header_from>")
    with gzip.open(folder / "damaged-500k.xml.gz", "wb", compresslevel=1) as out:
        out.write(data[:where] + b"\xff" + data[where:])


def white_space_between_records(folder: Path) -> None:
    with gzip.open(folder / "white-space.xml.gz", "wb", compresslevel=1) as out:
        out.write(report_xml(record_xml(count=3)).replace(b"</feedback>", b""))
        for _ in range(300):
            out.write(b" " * (1 << 20))
        out.write(record_xml(count=4).encode() + b"</feedback>")


def large_mbox(folder: Path) -> None:
    with open(folder / "large.mbox", "wb") as out:
        for number in range(300):
            message = EmailMessage()
            message["From"] = "dmarc@receiver.example"
            message["Subject"] = "Report"
            message.set_content("x" * 1_000_000)
            report = report_xml(record_xml(), report_id=f"mbox-{number}")
            message.add_attachment(
                gzip.compress(report),
                maintype="application",
                subtype="gzip",
                filename="r.xml.gz",
            )
            out.write(b"From dmarc@receiver.example Thu Nov 26 00:00:00 2026\n")
            out.write(message.as_bytes() + b"\n")


def zip_of_many_entries(folder: Path) -> None:
    with zipfile.ZipFile(folder / "entries.zip", "w", zipfile.ZIP_STORED) as archive:
        for number in range(1_000_000):
            archive.writestr(zipfile.ZipInfo(f"{number}/"), b"")
        archive.writestr("r.xml", report_xml(record_xml(), report_id="entries"))


def main() -> None:
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for write in (
        damaged_large_report,
        white_space_between_records,
        large_mbox,
        zip_of_many_entries,
    ):
        write(folder)


if __name__ == "__main__":
    main()
