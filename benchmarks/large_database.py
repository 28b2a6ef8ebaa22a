"""A SQLite database of many stored records, for timing the analysis.

    .venv/bin/python benchmarks/large_database.py PATH --records 10000000

Ingesting ten million records through the parser would take most of an
hour; the analysis only reads the tables, so they are filled directly, with
a fixed seed: reports of 1,000 records over a year from a pool of source
IPs, each of which sends for one domain in one way most of the time (as real
senders do), one DKIM and one SPF result per record, and our alignment
outcomes as ingest would have computed them.
"""

import argparse
import random
import sys
from datetime import datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from dmarc_analyzer.alignment import (  # noqa: E402
    ALIGNED_FAIL,
    ALIGNED_PASS,
    NO_SIGNATURE,
    UNALIGNED_PASS,
)
from dmarc_analyzer.storage.database import Database  # noqa: E402
from dmarc_analyzer.storage.schema import (  # noqa: E402
    dkim_results,
    records,
    reports,
    spf_results,
)

RECORDS_PER_REPORT = 1000
DOMAINS = [f"brand{n}.example" for n in range(20)]
REPORTERS = ["google.com", "Outlook.com", "Yahoo", "Mail.Ru", "comcast.net"]
START = datetime(2025, 12, 1)
# (policy dkim, policy spf, our DKIM outcome, d= of the signature, result)
KINDS = [
    ("pass", "pass", ALIGNED_PASS, "own", "pass"),
    ("fail", "pass", UNALIGNED_PASS, "sendgrid.net", "pass"),
    ("fail", "fail", ALIGNED_FAIL, "own", "fail"),
    ("fail", "fail", NO_SIGNATURE, None, None),
]
WEIGHTS = [80, 10, 5, 5]


def build(path: Path, total: int, distinct_ips: int, seed: int = 5) -> None:
    chance = random.Random(seed)
    database = Database(f"sqlite:///{path}")
    # Each source: its address, its domain, and how it usually authenticates.
    pool = [
        (_ip(chance), chance.choice(DOMAINS), chance.choices(KINDS, WEIGHTS)[0])
        for _ in range(distinct_ips)
    ]
    record_id = 0
    for report_number in range(max(1, total // RECORDS_PER_REPORT)):
        begin = START + timedelta(days=chance.randrange(365))
        with database.transaction() as connection:
            report_pk = connection.execute(
                reports.insert().values(
                    natural_key=f"{report_number:064d}",
                    org_name=chance.choice(REPORTERS),
                    report_id=str(report_number),
                    domain=chance.choice(DOMAINS),
                    begin=begin,
                    end=begin + timedelta(days=1, seconds=-1),
                    adkim="r",
                    aspf="r",
                    p="none",
                    ingested_at=START,
                )
            ).inserted_primary_key[0]
            rows, dkims, spfs = [], [], []
            for _ in range(RECORDS_PER_REPORT):
                record_id += 1
                ip, domain, usual = chance.choice(pool)
                kind = usual if chance.random() < 0.95 else chance.choice(KINDS)
                dkim, spf, outcome, signer, result = kind
                rows.append(
                    {
                        "id": record_id,
                        "report_pk": report_pk,
                        "source_ip": ip,
                        "count": chance.randint(1, 50),
                        "disposition": "none",
                        "dkim": dkim,
                        "spf": spf,
                        "header_from": domain,
                        "dkim_outcome": outcome,
                        "spf_outcome": ALIGNED_PASS if spf == "pass" else "other",
                    }
                )
                if signer:
                    dkims.append(
                        {
                            "record_pk": record_id,
                            "domain": domain if signer == "own" else signer,
                            "selector": "s1",
                            "result": result,
                        }
                    )
                spfs.append(
                    {
                        "record_pk": record_id,
                        "domain": domain,
                        "scope": "mfrom",
                        "result": spf,
                    }
                )
            connection.execute(records.insert(), rows)
            connection.execute(dkim_results.insert(), dkims)
            connection.execute(spf_results.insert(), spfs)
        if report_number % 500 == 0:
            print(f"{record_id:,} records", file=sys.stderr, flush=True)
    database.close()


def _ip(chance: random.Random) -> str:
    return ".".join(
        str(part)
        for part in (chance.randint(11, 222), *chance.choices(range(256), k=3))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--records", type=int, default=10_000_000)
    parser.add_argument("--ips", type=int, default=50_000)
    arguments = parser.parse_args()
    build(arguments.path, arguments.records, arguments.ips)


if __name__ == "__main__":
    main()
