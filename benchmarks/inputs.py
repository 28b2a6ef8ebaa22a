"""Seeded synthetic aggregate reports for the benchmarks: the same seed gives
the same bytes, so two runs (or two machines) measure the same work.

    .venv/bin/python benchmarks/inputs.py big.xml.gz --records 200000

writes one report to try ingest on (200,000 records are about 4 MB of gzip
and 90 MB of XML). Its records come from random addresses, nearly one source
each: the most the analysis can be asked to name.
"""

import argparse
import gzip
import random
from pathlib import Path

SEED = 20261203
DOMAINS = ["example.com", "example.org", "shop.example.net", "news.example.com"]
SIGNERS = ["example.com", "mcsv.net", "sendgrid.net", "amazonses.com", "bad.example"]
RESULTS = ["pass", "pass", "pass", "fail", "neutral", "none"]


def write_report(path: Path, records: int, seed: int = SEED) -> Path:
    """One gzip-compressed report of `records` records, written as it is
    generated so that a large one never sits in memory."""
    rng = random.Random(seed)
    report_id = f"bench-{seed}-{records}"
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(_head(report_id, rng.choice(DOMAINS)))
        for _ in range(records):
            out.write(_record(rng))
        out.write("</feedback>\n")
    return path


def write_small_reports(folder: Path, count: int, records: int = 5) -> list[Path]:
    """`count` small reports, the kind most receivers send each day."""
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_report(folder / f"small-{n:05d}.xml.gz", records, seed=SEED + n)
        for n in range(count)
    ]


def _head(report_id: str, domain: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n'
        "<version>1.0</version>\n<report_metadata>"
        "<org_name>bench.example</org_name><email>dmarc@bench.example</email>"
        f"<report_id>{report_id}</report_id>"
        "<date_range><begin>1764547200</begin><end>1764633599</end></date_range>"
        "</report_metadata>\n<policy_published>"
        f"<domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>none</p>"
        "<sp>none</sp><pct>100</pct></policy_published>\n"
    )


def _record(rng: random.Random) -> str:
    octets = [rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255)]
    ip = ".".join(map(str, [*octets, rng.randint(1, 254)]))
    header_from = rng.choice(DOMAINS)
    signer = rng.choice([header_from, *SIGNERS])
    dkim, spf = rng.choice(RESULTS), rng.choice(RESULTS)
    evaluated = "pass" if dkim == "pass" and signer == header_from else "fail"
    reason = (
        "<reason><type>forwarded</type><comment>list</comment></reason>"
        if rng.random() < 0.05
        else ""
    )
    return (
        f"<record><row><source_ip>{ip}</source_ip>"
        f"<count>{rng.randint(1, 500)}</count><policy_evaluated>"
        f"<disposition>none</disposition><dkim>{evaluated}</dkim>"
        f"<spf>{'pass' if spf == 'pass' else 'fail'}</spf>{reason}"
        "</policy_evaluated></row>"
        f"<identifiers><header_from>{header_from}</header_from></identifiers>"
        f"<auth_results><dkim><domain>{signer}</domain><selector>s1</selector>"
        f"<result>{dkim}</result></dkim><spf><domain>{rng.choice(SIGNERS)}</domain>"
        f"<scope>mfrom</scope><result>{spf}</result></spf></auth_results>"
        "</record>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path, help="the report to write (gzip)")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=SEED)
    arguments = parser.parse_args()
    write_report(arguments.path, arguments.records, arguments.seed)
    print(f"wrote {arguments.path}: one report of {arguments.records:,} records")


if __name__ == "__main__":
    main()
