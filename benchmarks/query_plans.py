"""The plans of the queries the analysis runs, as the database makes them.

    .venv/bin/python benchmarks/query_plans.py sqlite:///stored.sqlite
    .venv/bin/python benchmarks/query_plans.py postgresql+psycopg://postgres@127.0.0.1/dmarc

Runs `failures`, `senders` and the management summary of the last year
(offline) through the Python API, and asks the database to explain every
distinct SELECT they send, with the parameters they sent it: EXPLAIN QUERY
PLAN on SQLite, EXPLAIN on PostgreSQL. A plan that scans a whole table where
it should search an index is what this shows.
"""

import argparse
import re
import sys
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from dmarc_analyzer import api
from dmarc_analyzer.analysis.period import Period
from dmarc_analyzer.analysis.scope import Scope

# Statements told apart by their text, parameters aside: "IN (?, ?, ?)" of
# different lengths is one statement.
_PLACEHOLDERS = re.compile(r"\((?:\?|%\(\w+\)s|%s)(?:, (?:\?|%\(\w+\)s|%s))*\)")


def main() -> None:
    options = _arguments()
    database = api.open_database(options.url, create=False)
    plans = explained_plans(database, options.until)
    for statement, plan in plans.items():
        print(f"-- {_shortened(statement)}")
        print("\n".join(f"   {line}" for line in plan))
        print()
    print(f"{len(plans)} distinct queries")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (SQLAlchemy), e.g. sqlite:///x")
    parser.add_argument(
        "--until",
        type=date.fromisoformat,
        default=date(2026, 11, 30),
        help="last day of the year summarised (default: 2026-11-30, the last "
        "day of benchmarks/large_database.py's data)",
    )
    return parser.parse_args()


def explained_plans(database, until: date) -> dict[str, list[str]]:
    """Each distinct SELECT of the analysis, with its plan."""
    plans: dict[str, list[str]] = {}
    explain = _explainer(database.dialect)

    def before_execute(_conn, cursor, statement, parameters, _context, many):
        key = _PLACEHOLDERS.sub("(...)", statement)
        if many or key in plans or not statement.lstrip().startswith("SELECT"):
            return
        plans[key] = explain(cursor, statement, parameters)

    event.listen(database.engine, "before_cursor_execute", before_execute)
    try:
        _run_the_analysis(database, until)
    finally:
        event.remove(database.engine, "before_cursor_execute", before_execute)
    return plans


def _run_the_analysis(database, until: date) -> None:
    year = Period(until - timedelta(days=364), until)
    api.failures(database, Scope())
    api.senders(database, Scope())
    api.summarize(database, year)


def _explainer(dialect: str):
    """How to ask for a plan on the cursor of the statement, with its
    parameters: the same connection, so temporary tables are there."""
    if dialect == "sqlite":

        def sqlite_plan(cursor, statement, parameters) -> list[str]:
            explained = cursor.connection.execute(
                f"EXPLAIN QUERY PLAN {statement}", parameters
            )
            return [detail for _id, _parent, _unused, detail in explained]

        return sqlite_plan

    def postgres_plan(cursor, statement, parameters) -> list[str]:
        explained = cursor.connection.execute(f"EXPLAIN {statement}", parameters)
        return [line for (line,) in explained]

    return postgres_plan


def _shortened(statement: str, length: int = 160) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= length else flat[: length - 3] + "..."


if __name__ == "__main__":
    main()
