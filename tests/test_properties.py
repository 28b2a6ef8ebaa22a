"""Property-based tests of the parser and of ingest: reports generated with
random valid and invalid values are either read with exactly the values
written, or refused with one line naming the value at fault."""

import itertools
import re
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dmarc_analyzer import api
from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest.xml_report import MAX_COUNT, parse_aggregate_report
from tests.conftest import record_xml, report_xml


class Fault(str):
    """An invalid value: the reason its refusal must name."""


def mostly(valid, invalid):
    """Valid 19 times in 20: a report is refused for its first fault, and
    a report of several records must often have none."""
    return st.integers(0, 19).flatmap(lambda n: invalid if n == 0 else valid)


# Each strategy gives what is written and the value expected, or a Fault.
counts = mostly(
    st.one_of(
        st.integers(0, MAX_COUNT).map(lambda n: (str(n), n)),
        st.integers(0, 10**6).map(lambda n: (f" {n}\n", n)),
    ),
    st.one_of(
        st.integers(MAX_COUNT + 1, 10**20).map(str),
        st.integers(max_value=-1).map(str),
        st.sampled_from(["", "1.5", "many", "\u0663", "0x10", "1e3"]),
    ).map(lambda text: (text, Fault("invalid count"))),
)
addresses = mostly(
    st.one_of(
        st.ip_addresses().map(lambda ip: (str(ip), str(ip))),
        st.ip_addresses(v=6).map(lambda ip: (ip.exploded.upper(), str(ip))),
    ),
    st.one_of(
        st.sampled_from(["999.1.1.1", "1.2.3", "example.com", "fe80::1%eth0"]).map(
            lambda text: (text, Fault("invalid source_ip"))
        ),
    ),
)
# A record without a source_ip is skipped, with a warning: None.
addresses = st.one_of(addresses, st.just(("", None)))
words = st.sampled_from(["pass", "fail", "softfail", "hardfail", "none", "temperror"])
result_words = mostly(
    st.tuples(words, st.booleans()).map(
        lambda pair: (pair[0].upper() if pair[1] else pair[0], pair[0])
    ),
    st.sampled_from(["banana", "passed", "ok"]).map(
        lambda word: (word, Fault("unknown dkim result"))
    ),
)
# Free text as reporters write it, control characters included (removed,
# with a warning); never what XML cannot carry at all.
free_text = st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cs",),
        exclude_characters="\r\ufffe\uffff",
    ),
    max_size=30,
)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
LATEST = 7_258_118_399  # the last second of the year 2199
dates = mostly(
    st.tuples(st.integers(0, LATEST), st.integers(0, 10**7)).map(
        lambda pair: ((pair[0], min(pair[0] + pair[1], LATEST)), None)
    ),
    st.one_of(
        st.tuples(st.integers(1, LATEST), st.integers(1, 10**7)).map(
            lambda pair: ((pair[0], max(pair[0] - pair[1], 0)), Fault("begins"))
        ),
        st.integers(10**12, 10**13).map(
            lambda ms: ((ms, ms), Fault("not a Unix time"))
        ),
    ),
)
_report_ids = itertools.count()


@st.composite
def reports(draw):
    """The XML of a report, the reason it must be refused for (None when it
    is valid), and what must be read from it."""
    rows = draw(st.lists(st.tuples(addresses, counts, result_words), max_size=6))
    (begin, end), date_fault = draw(dates)
    org_name = draw(free_text)

    xml = report_xml(
        "".join(
            record_xml(escape(ip), escape(count), dkim=word)
            for (ip, _), (count, _), (word, _) in rows
        ),
        org_name="org-" + escape(org_name),
        report_id=f"r-{next(_report_ids)}",
        begin=begin,
        end=end,
    )
    # The header is read first, then each record's source_ip, count and words.
    values = [value for row in rows for (_, value) in row]
    reason = next((v for v in [date_fault, *values] if isinstance(v, Fault)), None)
    stored = [row for row in rows if row[0][1] is not None]
    expected = {
        "messages": 0 if reason else sum(count for _, (_, count), _ in stored),
        "dkim": [word for _, _, (_, word) in stored],
        "org_name": ("org-" + _CONTROL.sub("", org_name)).strip(),
        "repaired": bool(_CONTROL.search(org_name)),
        "skipped": len(rows) - len(stored),
    }
    return xml, reason, expected


def _check_refusal(message: str, reason: str) -> None:
    assert reason in message
    assert "\n" not in message and len(message) < 300


@settings(max_examples=200, deadline=None)
@given(reports())
def test_parsed_values_are_those_written_or_the_fault_is_named(report):
    xml, reason, expected = report

    event("refused" if reason else "read")
    if reason:
        with pytest.raises(ReportRefused) as refused:
            parse_aggregate_report(xml)
        _check_refusal(str(refused.value), reason)
        return

    parsed = parse_aggregate_report(xml)
    assert parsed.messages == expected["messages"]
    assert [record.dkim for record in parsed.records] == expected["dkim"]
    assert parsed.org_name == expected["org_name"]
    assert ("removed control characters" in parsed.warnings) == expected["repaired"]
    skipped = [w for w in parsed.warnings if w.startswith("skipped")]
    assert len(skipped) == bool(expected["skipped"])
    if skipped:
        assert skipped[0].startswith(f"skipped {expected['skipped']} record(s)")


@pytest.fixture(scope="module")
def scratch_database(tmp_path_factory):
    folder = tmp_path_factory.mktemp("properties")
    database = api.open_database(f"sqlite:///{folder / 'db.sqlite'}")
    yield database, folder
    database.close()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(reports())
def test_ingest_stores_the_totals_written_or_nothing(scratch_database, report):
    database, folder = scratch_database
    xml, reason, expected = report
    path = folder / "report.xml"
    path.write_bytes(xml)
    before = len(api.stored_reports(database))

    summary = api.ingest(database, [path])

    if reason:
        (refusal,) = summary.refused
        _check_refusal(refusal.reason, reason)
        assert len(api.stored_reports(database)) == before
    else:
        assert not summary.refused
        assert (summary.reports_added, summary.messages_added) == (
            1,
            expected["messages"],
        )
