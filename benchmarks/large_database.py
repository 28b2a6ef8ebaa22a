"""A SQLite database of many stored records, for timing the analysis.

    .venv/bin/python benchmarks/large_database.py PATH --records 10000000

Ingesting ten million records through the parser would take most of an
hour; the analysis only reads the tables, so they are filled directly, with
a fixed seed, in the shape real reports have: every day, each reporter
sends one report per domain, listing the sources that sent that domain's
mail to its users. A domain's sources send for it in one way most of the
time (as real senders do), and a few send most of its mail, so the large
reporters see them every day. One DKIM and one SPF result per record, and
our alignment outcomes as ingest would have computed them. The totals the
analysis reads are added day by day by the code that ingest uses.
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
from dmarc_analyzer.model import DkimResult, Record, SpfResult  # noqa: E402
from dmarc_analyzer.storage.database import Database  # noqa: E402
from dmarc_analyzer.storage.schema import (  # noqa: E402
    dkim_results,
    records,
    reports,
    spf_results,
)
from dmarc_analyzer.storage.totals import (  # noqa: E402
    ReportKey,
    Totals,
    lock_for_adding,
    write_totals,
)

DAYS = 365
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


def build(path: Path, total: int, distinct_ips: int, seed: int = 5) -> int:
    """Fill the database; return how many records it holds: `total` rounded
    down to the same number per report (at least one)."""
    chance = random.Random(seed)
    database = Database(f"sqlite:///{path}")
    senders = _senders(chance, distinct_ips)
    per_report = max(1, total // (DAYS * len(DOMAINS) * len(REPORTERS)))

    ids = {"report": 0, "record": 0}
    for day in range(DAYS):
        begin = START + timedelta(days=day)
        with database.transaction() as connection:
            lock_for_adding(connection)
            totals = Totals()
            for domain in DOMAINS:
                where = ReportKey(begin.date(), domain, begin, _end_of(begin), False)
                for reporter in REPORTERS:
                    report_pk = _add_report(connection, ids, reporter, domain, begin)
                    chosen = _distinct_senders(chance, senders[domain], per_report)
                    for record, outcomes in _add_records(
                        connection, chance, ids, report_pk, domain, chosen
                    ):
                        totals.add(where, record, *outcomes)
            write_totals(connection, totals.rows())
        print(f"{ids['record']:,} records", file=sys.stderr, flush=True)
    database.close()
    return ids["record"]


def _end_of(begin):
    return begin + timedelta(days=1, seconds=-1)


class _Pool:
    """The sources of one domain, and how much of its mail each sends."""

    def __init__(self):
        self.ips: list[tuple[str, tuple]] = []
        self.weights: list[float] = []


def _senders(chance: random.Random, distinct_ips: int) -> dict[str, _Pool]:
    pools = {domain: _Pool() for domain in DOMAINS}
    for rank in range(distinct_ips):
        pool = pools[DOMAINS[rank % len(DOMAINS)]]
        usual = chance.choices(KINDS, WEIGHTS)[0]
        pool.ips.append((_ip(chance), usual))
        pool.weights.append(1 / (1 + len(pool.weights)))  # Zipf: few send most
    return pools


def _distinct_senders(chance: random.Random, pool: _Pool, wanted: int) -> list:
    """`wanted` different sources of the pool, most likely its busiest."""
    wanted = min(wanted, len(pool.ips))
    chosen: dict = {}
    while len(chosen) < wanted:
        for sender in chance.choices(pool.ips, pool.weights, k=wanted):
            chosen[sender] = None
    return list(chosen)[:wanted]


def _add_report(connection, ids, reporter: str, domain: str, begin) -> int:
    ids["report"] += 1
    return connection.execute(
        reports.insert().values(
            natural_key=f"{ids['report']:064d}",
            org_name=reporter,
            report_id=str(ids["report"]),
            domain=domain,
            begin=begin,
            end=_end_of(begin),
            adkim="r",
            aspf="r",
            p="none",
            ingested_at=START,
        )
    ).inserted_primary_key[0]


def _add_records(connection, chance, ids, report_pk: int, domain: str, chosen):
    """Store the records; each as the totals see it, with its outcomes."""
    rows, dkims, spfs, added = [], [], [], []
    for ip, usual in chosen:
        ids["record"] += 1
        record_id = ids["record"]
        kind = usual if chance.random() < 0.95 else chance.choice(KINDS)
        dkim, spf, outcome, signer, result = kind
        spf_outcome = ALIGNED_PASS if spf == "pass" else "other"
        row = {
            "id": record_id,
            "report_pk": report_pk,
            "source_ip": ip,
            "count": chance.randint(1, 50),
            "disposition": "none",
            "dkim": dkim,
            "spf": spf,
            "header_from": domain,
            "dkim_outcome": outcome,
            "spf_outcome": spf_outcome,
        }
        rows.append(row)
        signature = {
            "record_pk": record_id,
            "domain": domain if signer == "own" else signer,
            "selector": "s1",
            "result": result,
        }
        if signer:
            dkims.append(signature)
        checked = {"record_pk": record_id, "domain": domain, "scope": "mfrom"}
        spfs.append({**checked, "result": spf})
        record = Record(
            source_ip=ip,
            count=row["count"],
            disposition="none",
            dkim=dkim,
            spf=spf,
            header_from=domain,
            dkim_results=(
                (DkimResult(signature["domain"], "s1", result),) if signer else ()
            ),
            spf_results=(SpfResult(domain, "mfrom", spf),),
        )
        added.append((record, (outcome, spf_outcome)))
    for table, values in ((records, rows), (dkim_results, dkims), (spf_results, spfs)):
        if values:  # an empty list would insert one row of defaults
            connection.execute(table.insert(), values)
    return added


def _ip(chance: random.Random) -> str:
    return ".".join(
        str(part)
        for part in (chance.randint(11, 222), *chance.choices(range(256), k=3))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument(
        "--records",
        type=int,
        default=10_000_000,
        help="about this many: the same number in each of the 36,500 reports",
    )
    parser.add_argument(
        "--ips", type=int, default=50_000, help="distinct source IPs to draw from"
    )
    arguments = parser.parse_args()
    reports_made = DAYS * len(DOMAINS) * len(REPORTERS)
    if arguments.path.exists():
        parser.error(f"{arguments.path} exists: give a new file")
    if arguments.records < reports_made or arguments.ips < len(DOMAINS):
        parser.error(
            f"--records at least {reports_made:,} (one per report), "
            f"--ips at least {len(DOMAINS)} (one per domain)"
        )
    stored = build(arguments.path, arguments.records, arguments.ips)
    last = START + timedelta(days=DAYS - 1)
    print(
        f"{arguments.path}: {stored:,} records in {reports_made:,}"
        f" reports from {START:%Y-%m-%d} to {last:%Y-%m-%d}, {len(DOMAINS)} domains,"
        f" up to {arguments.ips:,} sources"
    )


if __name__ == "__main__":
    main()
