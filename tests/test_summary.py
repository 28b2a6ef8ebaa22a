"""The management summary: periods, headline changes, actions and policy
steps worked out by hand, equality with `senders`/`failures`, escaping,
and both languages.

Rendering in a real browser and PDF pages are in test_summary_rendering.py.
"""

import json
import re
import warnings
from datetime import date

from dmarc_analyzer import api
from dmarc_analyzer.analysis.period import Period, chosen_days, last_full
from dmarc_analyzer.i18n import language
from dmarc_analyzer.reporting.charts import render_charts
from dmarc_analyzer.reporting.summary import render_html, render_markdown
from tests.conftest import SAMPLES, record_xml, report_xml
from tests.test_cli import MANIFEST, run

WEEK_1 = 1794787200  # 2026-11-16 00:00 UTC, a Monday
WEEK_2 = 1795392000  # 2026-11-23
DAY = 86400
SECOND_WEEK = Period(date(2026, 11, 23), date(2026, 11, 29))
SAMPLE_WEEK = ["--since", "2026-11-23", "--until", "2026-11-29"]
SAMPLE_REPORTS = [r for entry in MANIFEST for r in entry["reports"]]

OWN = (
    "<dkim><domain>example.com</domain><selector>s</selector>"
    "<result>pass</result></dkim>"
    "<spf><domain>example.com</domain><result>pass</result></spf>"
)
MAILCHIMP = (
    "<dkim><domain>mcsv.net</domain><selector>k1</selector><result>pass</result></dkim>"
    "<spf><domain>mail1.mcsv.net</domain><result>pass</result></spf>"
)
NOTHING = "<spf><domain>spoof.example</domain><result>fail</result></spf>"


def own(count: int) -> str:
    return record_xml("192.0.2.10", count, auth=OWN)


def mailchimp(count: int) -> str:
    return record_xml("192.0.2.20", count, dkim="fail", spf="fail", auth=MAILCHIMP)


def spoofer(count: int) -> str:
    return record_xml("203.0.113.9", count, dkim="fail", spf="fail", auth=NOTHING)


def store(database, tmp_path, *reports: tuple[int, str, str]) -> None:
    """Reports given as (begin, records, policy p=)."""
    for n, (begin, records, p) in enumerate(reports):
        path = tmp_path / f"r{n}.xml"
        policy = f"<adkim>r</adkim><aspf>r</aspf><p>{p}</p>"
        path.write_bytes(
            report_xml(
                records,
                report_id=f"r{n}",
                begin=begin,
                end=begin + DAY - 1,
                policy=policy,
            )
        )
        assert api.ingest(database, [path]).reports_added == 1


# -- periods -----------------------------------------------------------------


def test_default_periods_are_the_last_full_week_month_and_quarter():
    thursday = date(2026, 12, 3)

    assert last_full("week", thursday) == Period(
        date(2026, 11, 23), date(2026, 11, 29), "week"
    )
    assert last_full("week", date(2026, 11, 30)).first == date(2026, 11, 23)
    assert last_full("month", thursday) == Period(
        date(2026, 11, 1), date(2026, 11, 30), "month"
    )
    assert last_full("quarter", thursday) == Period(
        date(2026, 7, 1), date(2026, 9, 30), "quarter"
    )
    assert last_full("quarter", date(2026, 1, 15)).first == date(2025, 10, 1)


def test_previous_periods_and_trails():
    march = Period(date(2024, 3, 1), date(2024, 3, 31), "month")
    custom = Period(date(2026, 11, 20), date(2026, 11, 29))

    assert march.previous() == Period(date(2024, 2, 1), date(2024, 2, 29), "month")
    assert custom.previous() == Period(date(2026, 11, 10), date(2026, 11, 19))
    assert [p.first for p in SECOND_WEEK.trail(3)] == [
        date(2026, 11, 9),
        date(2026, 11, 16),
        date(2026, 11, 23),
    ]
    assert Period(date(1, 1, 1), date(1, 1, 7)).previous() is None
    assert chosen_days(None, date(2026, 11, 29), "week", date(2026, 12, 3)) == Period(
        date(2026, 11, 23), date(2026, 11, 29)
    )
    assert chosen_days(date(2026, 11, 1), None, "week", date(2026, 12, 3)) == Period(
        date(2026, 11, 1), date(2026, 12, 2)
    )


# -- figures, changes and actions, by hand -------------------------------------


def test_headline_against_the_week_before(database, tmp_path):
    store(
        database,
        tmp_path,
        (WEEK_1, own(100) + mailchimp(40), "none"),
        (WEEK_2, own(200) + mailchimp(50) + spoofer(10), "none"),
    )

    summary = api.summarize(database, SECOND_WEEK)
    now, before = summary.overall.headline, summary.overall.previous

    assert (now.messages, now.dmarc_pass, now.dkim_aligned_pass) == (260, 200, 200)
    assert (now.failing_known, now.spoofing) == (50, 10)
    assert (before.messages, before.dmarc_pass, before.failing_known) == (140, 100, 40)
    assert before.spoofing == 0
    assert [s.source.source_ip for s in summary.overall.new_senders] == ["203.0.113.9"]

    page = render_markdown(summary, language("en"), {})
    # 260 - 140 = +120, +85.7 %; 200/260 - 100/140 = 76.92 % - 71.43 % = +5.5 pp
    assert "| Messages reported | 260 | +120 (+85.7%) |" in page
    assert "| DMARC pass rate | 76.9% | +5.5 pp |" in page
    assert "| Likely spoofing (failing DKIM and SPF) | 10 | +10 |" in page
    assert "| Policy in force | none (monitoring only) | unchanged |" in page


def test_actions_are_ranked_and_the_policy_step_waits_for_the_fixes(database, tmp_path):
    store(database, tmp_path, (WEEK_2, own(200) + mailchimp(50) + spoofer(10), "none"))

    actions = api.summarize(database, SECOND_WEEK).overall.actions

    assert [(a.code, a.messages) for a in actions] == [
        ("vendor_unaligned_signature", 50),
        ("spoofing", 10),
        # Mailchimp's 50 of 250 messages from senders vouched for fail DMARC.
        ("policy_not_ready", 50),
    ]
    assert str(actions[0].title) == "Intuit Mailchimp does not sign with your domain"
    assert str(actions[1].title) == "Likely spoofing (sources: 1)"
    assert "p=none to p=quarantine" in str(actions[2].title)
    assert "50 of 250 messages (20.0%)" in str(actions[2].detail)


def test_a_domain_whose_own_mail_passes_is_safe_to_enforce(database, tmp_path):
    store(database, tmp_path, (WEEK_2, own(200) + spoofer(10), "quarantine"))

    (step,) = [a for a in api.summarize(database, SECOND_WEEK).overall.actions
               if a.code.startswith("policy")]  # fmt: skip

    assert step.code == "policy_ready" and step.messages == 10
    assert str(step.title) == "example.com: safe to move from p=quarantine to p=reject"


def test_the_volume_per_bucket_by_day(database, tmp_path):
    store(
        database,
        tmp_path,
        (WEEK_2, own(200) + mailchimp(50) + spoofer(10), "none"),
        (WEEK_2 + 2 * DAY, own(30), "none"),
    )

    summary = api.summarize(database, SECOND_WEEK)

    # Own mail passes; Mailchimp signs as itself only; nothing passed for the
    # stranger. Read on a connection of its own, beside the pages.
    assert summary.volume_unit == "day"
    assert summary.volume_by_bucket == {
        date(2026, 11, 23): {
            "compliant": 200,
            "non_compliant": 50,
            "threat_unknown": 10,
        },
        date(2026, 11, 25): {"compliant": 30},
    }


def test_the_numbers_equal_those_of_senders_and_failures(tmp_path):
    db = str(tmp_path / "samples.sqlite")
    run("ingest", SAMPLES, db=db)

    summary = json.loads(
        run(
            "summary", "--json", "--offline", "--out", tmp_path, *SAMPLE_WEEK, db=db
        ).stdout
    )
    senders = json.loads(
        run("senders", "--json", "--offline", *SAMPLE_WEEK, db=db).stdout
    )
    vendors = json.loads(
        run("failures", "--json", "--offline", *SAMPLE_WEEK, db=db).stdout
    )

    headline = summary["headline"]
    expected = [r for entry in MANIFEST for r in entry["reports"]]
    assert headline["messages"] == sum(r["messages"] for r in expected)
    assert headline["dmarc_pass"] == sum(r["dmarc_pass"] for r in expected)
    assert headline["dkim_aligned_pass"] == sum(
        r["dkim_aligned_pass"] for r in expected
    )
    assert headline["messages"] == sum(s["messages"] for s in senders)

    groups = [
        group
        for vendor in vendors
        for source in vendor["sources"]
        for group in source["by_header_from"]
    ]
    by_cause = {}
    for group in groups:
        by_cause[group["cause"]] = (
            by_cause.get(group["cause"], 0) + group["dkim_failed"]
        )
    assert summary["dkim_failed_by_cause"] == by_cause
    assert headline["dkim_failed_spoofing"] == by_cause.get("spoofing", 0)
    assert headline["dkim_failed_known_senders"] == sum(
        n for cause, n in by_cause.items() if cause not in ("spoofing", "forwarded")
    )
    assert [v["vendor"] for v in summary["failing_vendors"]] == [
        v["vendor"] for v in vendors
    ]
    assert sorted(summary["new_senders"]) == sorted(
        s["source_ip"] for s in senders if s["new"]
    )


def test_several_domains_get_a_page_each(tmp_path):
    db = str(tmp_path / "samples.sqlite")
    run("ingest", SAMPLES, db=db)

    result = run(
        "summary", "--json", "--offline", "--out", tmp_path, *SAMPLE_WEEK, db=db
    )
    summary = json.loads(result.stdout)

    domains = sorted({r["domain"] for entry in MANIFEST for r in entry["reports"]})
    assert [d["domain"] for d in summary["domains"]] == domains
    for section in summary["domains"]:
        expected = [
            r for entry in MANIFEST for r in entry["reports"]
            if r["domain"] == section["domain"]
        ]  # fmt: skip
        assert section["headline"]["messages"] == sum(r["messages"] for r in expected)
    html = (tmp_path / "dmarc-summary-2026-11-23_2026-11-29.html").read_text()
    assert html.count('<section class="domain"') == len(domains)


def test_a_source_has_one_name_and_cause_on_every_page(database, tmp_path):
    # One source sends for two domains: for a.example its esp.example key
    # passes, for b.example the same key fails (a footer added in transit,
    # say). Judged by b.example's reports alone, nothing would vouch for it.
    signed = (
        "<dkim><domain>esp.example</domain><selector>k1</selector>"
        "<result>{result}</result></dkim>"
    )
    for name, domain, result, dkim in [
        ("a", "a.example", "pass", "fail"),
        ("b", "b.example", "fail", "fail"),
    ]:
        records = record_xml(
            "192.0.2.77",
            10,
            dkim=dkim,
            spf="fail",
            header_from=domain,
            auth=signed.format(result=result),
        ) + record_xml("192.0.2.1", 5, header_from=domain)
        (tmp_path / f"{name}.xml").write_bytes(
            report_xml(
                records, report_id=name, domain=domain, begin=WEEK_2, end=WEEK_2 + DAY
            )
        )
    assert api.ingest(database, [tmp_path]).reports_added == 2

    summary = api.summarize(database, SECOND_WEEK)

    def source(section):
        [found] = [s for s in section.senders if s.source.source_ip == "192.0.2.77"]
        return found.source

    pages = [summary.overall, *summary.domains]
    assert [section.domain for section in summary.domains] == ["a.example", "b.example"]
    assert {source(section).vendor.name for section in pages} == {"esp.example"}
    # The key passed somewhere in the period: genuine, so not spoofing.
    b_page = summary.domains[1]
    assert source(b_page).cause == "forwarded"
    assert source(b_page).messages == 10  # its page counts its own mail only
    assert source(summary.overall).messages == 20


def test_a_period_partly_covered_says_so(database, tmp_path):
    store(database, tmp_path, (WEEK_1, own(10), "none"), (WEEK_2, own(10), "none"))

    summary = api.summarize(database, Period(date(2026, 11, 1), date(2026, 11, 30)))

    page = render_markdown(summary, language("en"), {})
    assert "Reports start on 2 of the 30 days of this period." in page


def test_an_empty_period_is_a_short_summary_not_an_error(tmp_path):
    db = str(tmp_path / "samples.sqlite")
    run("ingest", SAMPLES, db=db)

    # The week after the samples' week: the feed may have stopped.
    result = run("summary", "--since", "2026-11-30", "--until", "2026-12-06",
                 "--out", tmp_path, "--format", "all", db=db)  # fmt: skip
    nowhere = run("summary", "--domain", "nosuch.example", "--out", tmp_path, db=db)

    assert result.returncode == 0
    assert "stored ones start from 2026-11-23 to 2026-11-29" in result.stderr
    html = (tmp_path / "dmarc-summary-2026-11-30_2026-12-06.html").read_text()
    assert "No aggregate reports were received for this period." in html
    assert f"The period before had {sum(r['messages'] for r in SAMPLE_REPORTS):,} " \
        f"messages in {len(SAMPLE_REPORTS)} reports" in html  # fmt: skip
    assert (tmp_path / "dmarc-summary-2026-11-30_2026-12-06.pdf").stat().st_size > 0
    assert nowhere.returncode == 0
    assert "no reports are stored for nosuch.example" in nowhere.stderr


# -- escaping ------------------------------------------------------------------

MARKUP = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_reporter_markup_is_shown_as_text(database, tmp_path):
    xml = report_xml(
        own(5) + spoofer(3), org_name="evil.example", begin=WEEK_2, end=WEEK_2 + DAY
    )
    escaped = MARKUP.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    marked = xml.replace(b"evil.example</org_name>", escaped.encode() + b"</org_name>")
    (tmp_path / "r.xml").write_bytes(marked)
    assert api.ingest(database, [tmp_path / "r.xml"]).reports_added == 1
    summary = api.summarize(database, SECOND_WEEK)

    html = render_html(summary, language("en"), {})
    markdown = render_markdown(summary, language("en"), {})

    assert summary.overall.overview.reporters == [MARKUP]
    assert "<script" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert not re.search(r"(?<!\\)<", markdown)  # every < escaped
    assert "\\<script\\>" in markdown


# -- languages -----------------------------------------------------------------


def test_japanese_numbers_dates_and_words(database, tmp_path):
    store(database, tmp_path, (WEEK_2, own(2000) + mailchimp(50), "none"))
    summary = api.summarize(database, SECOND_WEEK)

    page = render_markdown(summary, language("ja"), {})

    assert "期間：2026/11/23～2026/11/29" in page
    assert "| 報告されたメッセージ数 | 2,050 |" in page
    assert "Intuit Mailchimp が自社ドメインで署名していない" in page
    english_sentences = [
        message
        for message in _catalogue_ids()
        if len(message.split()) >= 3 and "{" not in message and "%(" not in message
    ]
    assert [m for m in english_sentences if m in page] == []


def test_japanese_charts_have_every_glyph(database, tmp_path):
    store(database, tmp_path, (WEEK_2, own(200) + mailchimp(50) + spoofer(5), "none"))
    summary = api.summarize(database, SECOND_WEEK)

    with warnings.catch_warnings():
        # matplotlib warns "Glyph ... missing from font(s)" for each box it draws.
        warnings.filterwarnings("error", message=".*[Gg]lyph.*missing.*")
        charts = render_charts(summary, language("ja"))

    assert sorted(charts) == ["causes", "daily-volume", "failing-vendors",
                              "pass-rate-trend"]  # fmt: skip
    assert all(png.startswith(b"\x89PNG") for png in charts.values())


def test_every_text_has_a_japanese_translation_with_the_same_placeholders():
    from babel.messages.pofile import read_po

    with _po_path("ja").open("rb") as source:
        catalogue = read_po(source)
    translated = {m.id if isinstance(m.id, str) else m.id[0]: m for m in catalogue}

    for message in _catalogue_ids():
        entry = translated.get(message)
        assert entry is not None, f"no Japanese for {message!r}"
        assert not entry.fuzzy, message
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        for string in strings:
            assert string, f"empty Japanese for {message!r}"
            assert _placeholders(string) == _placeholders(message), message


def test_an_unknown_language_is_a_usage_error(tmp_path):
    result = run("summary", "--lang", "xx", "--out", tmp_path, db=str(tmp_path / "a"))

    assert result.returncode == 2
    assert "no translation for 'xx'; available: en, ja" in result.stderr
    assert "Traceback" not in result.stderr


def _catalogue_ids() -> list[str]:
    """Every text marked in the code and templates, as the gettext tools see it."""
    from babel.messages.extract import extract_from_dir

    method_map = [
        ("dmarc_analyzer/**.py", "python"),
        ("dmarc_analyzer/reporting/templates/**.j2", "jinja2"),
    ]
    options = {"dmarc_analyzer/reporting/templates/**.j2": {"trimmed": "true"}}
    root = SAMPLES.parent
    found = extract_from_dir(
        root, method_map, options, keywords={"_": None, "N_": None,
                                             "gettext": None, "ngettext": (1, 2)},
    )  # fmt: skip
    ids = []
    for _, _, message, _, _ in found:
        ids.extend([message] if isinstance(message, str) else message[:1])
    return sorted(set(ids))


def _po_path(code: str):
    from dmarc_analyzer.i18n import LOCALES

    return LOCALES / code / "LC_MESSAGES" / "dmarc_analyzer.po"


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{[a-z_]+\}|%\([a-z_]+\)s", text))


def test_hostile_names_are_cut_and_the_policy_escaped(database, tmp_path):
    long_domain = "x" * 240 + ".com"  # as long as a domain name can be
    signed = (
        f"<dkim><domain>{long_domain}</domain><selector>s</selector>"
        "<result>pass</result></dkim>"
    )
    store(
        database,
        tmp_path,
        (WEEK_1, own(5), "[l](http://evil.example) | x"),
        (WEEK_2, own(5) + record_xml("192.0.2.30", 4, auth=signed), "none"),
    )
    summary = api.summarize(database, SECOND_WEEK)

    markdown = render_markdown(summary, language("en"), {})
    html = render_html(summary, language("en"), {})

    assert long_domain not in html and "x" * 98 + "…" in html
    assert "was \\[l\\](http://evil.example) \\| x |" in markdown


def test_file_names_keep_the_period_and_never_collide(database, tmp_path):
    from dmarc_analyzer.reporting.summary import file_stem

    names = {
        file_stem(api.summarize(database, period, domain), language(code))
        for period in (SECOND_WEEK, SECOND_WEEK.previous())
        for domain in ("a" * 63 + ".example", "bücher.example", "bächer.example")
        for code in ("en", "ja")
    }

    assert len(names) == 12
    assert all("2026-11" in name and len(name) < 120 for name in names)
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", name) for name in names)
