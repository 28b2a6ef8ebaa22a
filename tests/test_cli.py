"""The command line as a user runs it: exit codes, stdout, stderr, JSON."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from dmarc_analyzer import api
from tests.conftest import DATA, SAMPLES, record_xml, report_xml

MANIFEST = json.loads((DATA / "sample_reports_manifest.json").read_text())


def run(*args, db, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "--db", db, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.sqlite")


def test_help_shows_every_command_with_an_example():
    for command in ["ingest", "reports", "failures", "summary"]:
        result = subprocess.run(
            [sys.executable, "-m", "dmarc_analyzer", command, "--help"],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0
        assert "dmarc-analyzer " + command in result.stdout


@pytest.mark.parametrize(
    "command", [[], ["prune"], ["fetch", "mbox"], ["db", "upgrade"], ["summary"]]
)
def test_help_shows_on_off_flags_without_a_value(command):
    from typer.testing import CliRunner

    from dmarc_analyzer.cli import app

    result = CliRunner().invoke(app, [*command, "--help"])

    assert result.exit_code == 0
    assert "<bool>" not in result.stdout
    assert "--help " in result.stdout


def test_help_names_the_settings_file_keys_behind_defaults():
    from typer.testing import CliRunner

    from dmarc_analyzer.cli import app

    def words(*command: str) -> str:
        shown = CliRunner().invoke(app, [*command, "--help"]).stdout
        return " ".join(shown.replace("│", " ").split())

    assert "the settings file's database" in words()
    assert "the settings file's senders_file" in words("summary")


def test_ingest_samples_then_reports_match_the_manifest(db):
    first = run("ingest", "--json", SAMPLES, db=db)
    again = run("ingest", "--json", SAMPLES, db=db)
    listing = run("reports", "--json", db=db)

    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout)
    expected_reports = [r for entry in MANIFEST for r in entry["reports"]]
    assert summary["files"] == len(MANIFEST)
    assert summary["reports_added"] == len(expected_reports)
    assert summary["messages_added"] == sum(r["messages"] for r in expected_reports)
    assert summary["refused"] == []
    assert json.loads(again.stdout)["duplicates"] == len(expected_reports)

    stored = {(r["org_name"], r["report_id"]): r for r in json.loads(listing.stdout)}
    for expected in expected_reports:
        got = stored[(expected["org_name"], expected["report_id"])]
        for key in [
            "domain",
            "records",
            "messages",
            "dkim_aligned_pass",
            "spf_aligned_pass",
            "dmarc_pass",
        ]:
            assert got[key] == expected[key], (expected["report_id"], key)
        assert got["begin"].endswith("+00:00")


def test_refused_files_exit_1_name_the_file_and_store_the_rest(db, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "notes.txt").write_text("hello")
    (inbox / "empty.xml").write_bytes(b"")
    sample = next(SAMPLES.rglob("*.zip"))
    (inbox / "good.zip").write_bytes(sample.read_bytes())

    human = run("ingest", inbox, db=db)
    as_json = run("ingest", "--json", inbox, db=db)

    assert human.returncode == 1 and as_json.returncode == 1
    assert "Traceback" not in human.stderr
    lines = [line for line in human.stderr.splitlines() if line.startswith("refused")]
    assert len(lines) == 2
    assert any("notes.txt: not XML" in line for line in lines)
    assert any("empty.xml: empty" in line for line in lines)
    assert "1 report added" in human.stdout
    refused = json.loads(as_json.stdout)["refused"]
    assert sorted(r["file"].rsplit("/", 1)[1] for r in refused) == [
        "empty.xml",
        "notes.txt",
    ]


def test_failures_json_and_csv(db):
    run("ingest", SAMPLES, db=db)

    as_json = run(
        "failures", "--json", "--since", "2026-11-23", "--until", "2026-11-29", db=db
    )
    as_csv = run("failures", "--csv", db=db)
    table = run("failures", "--domain", "example.com", db=db)

    vendors = json.loads(as_json.stdout)
    assert as_json.returncode == 0
    assert {"vendor", "messages", "dkim_failed", "sources"} <= set(vendors[0])
    assert {"source_ip", "vendor", "messages", "dkim_failed"} <= set(
        vendors[0]["sources"][0]
    )
    names = [v["vendor"] for v in vendors]
    assert "Intuit Mailchimp" in names and "Amazon SES" in names
    assert as_csv.stdout.splitlines()[0].startswith(
        "vendor,vendor_type,evidence,source_ip"
    )
    assert "Intuit Mailchimp" in table.stdout


def test_summary_writes_markdown_and_charts(db, tmp_path):
    run("ingest", SAMPLES, db=db)

    result = run(
        "summary", "--out", tmp_path / "out", "--json", "--format", "md",
        "--since", "2026-11-23", "--until", "2026-11-29", db=db,
    )  # fmt: skip

    written = json.loads(result.stdout)["files"]
    assert result.returncode == 0
    assert [name.rsplit(".", 1)[1] for name in written] == ["md"] + ["png"] * 4
    assert "2026-11-23_2026-11-29" in written[0]


def test_bad_usage_and_bad_database_are_one_line_errors(db, tmp_path):
    bad_date = run("failures", "--since", "yesterday", db=db)
    bad_db = run("reports", db="postgresql+psycopg://nobody@127.0.0.1:1/none")

    assert bad_date.returncode == 2
    assert bad_db.returncode == 1
    assert bad_db.stderr.startswith("error: ") and "Traceback" not in bad_db.stderr
    assert len(bad_db.stderr.strip().splitlines()) == 1


def test_reading_commands_never_create_a_database(tmp_path):
    missing = tmp_path / "typo" / "missing.sqlite"

    result = run("reports", db=str(missing))

    assert result.returncode == 1
    assert "no database at" in result.stderr
    assert not missing.parent.exists()


def test_no_reports_is_told_apart_from_no_failures(db, tmp_path):
    clean_report = tmp_path / "clean.xml"
    clean_report.write_bytes(report_xml(record_xml(count=3)))
    run("ingest", clean_report, db=db)

    nothing = run("failures", "--domain", "nosuch.example", db=db)
    clean = run("failures", db=db)

    assert nothing.returncode == 0 and "No reports are stored" in nothing.stdout
    assert clean.returncode == 0 and "No message failed DKIM" in clean.stdout


def test_senders_and_a_senders_file(db, tmp_path):
    run("ingest", SAMPLES, db=db)
    senders_file = tmp_path / "senders.toml"
    senders_file.write_text(
        '[[sender]]\nname = "Legacy app server"\nown = true\n'
        'cidrs = ["198.51.100.20/32"]\n'
    )

    stored = run("senders-file", "set", senders_file, db=db)
    listing = run(
        "senders",
        "--offline",
        "--json",
        "--since",
        "2026-11-27",
        "--until",
        "2026-11-29",
        db=db,
    )
    failing = run("failures", "--offline", "--json", db=db)
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sender]\n")
    refused = run("senders-file", "set", broken, db=db)

    assert stored.returncode == 0
    senders = {s["source_ip"]: s for s in json.loads(listing.stdout)}
    assert {
        "bucket",
        "first_seen",
        "last_seen",
        "dkim_pass_rate",
        "new",
        "country",
    } <= set(senders["192.0.2.131"])
    assert senders["203.0.113.66"]["bucket"] == "threat_unknown"
    sources = {
        s["source_ip"]: s for v in json.loads(failing.stdout) for s in v["sources"]
    }
    assert sources["198.51.100.20"]["vendor"] == "Legacy app server"
    assert sources["198.51.100.20"]["cause"] == "no_signature"
    assert "OpenDKIM" in sources["198.51.100.20"]["fix"]
    assert refused.returncode == 1 and "not valid TOML" in refused.stderr


def test_a_bad_nameserver_is_a_usage_error(db):
    run("ingest", SAMPLES, db=db)

    result = run("failures", "--nameserver", "dns.example", db=db)

    assert result.returncode == 2
    assert "nameserver 'dns.example': give an IP address" in result.stderr


def test_edges_of_dates_paths_and_markup_are_one_line_errors_or_work(db, tmp_path):
    marked = tmp_path / "marked.xml"
    marked.write_bytes(
        report_xml(
            record_xml(), org_name="[link=https://evil.example]Google[/link] [/]"
        )
    )
    run("ingest", marked, db=db)

    far = run("reports", "--until", "9999-12-31", db=db)
    into_a_file = run("summary", "--offline", "--out", marked, db=db)

    assert (
        far.returncode == 0 and "[link=https://evil.example]Google[/link]" in far.stdout
    )
    assert into_a_file.returncode == 1
    assert into_a_file.stderr.startswith("error: cannot write to")
    assert "Traceback" not in far.stderr + into_a_file.stderr


def test_more_edges_are_one_line_errors(db, tmp_path):
    import os

    run("ingest", SAMPLES, db=db)
    fifo = tmp_path / "senders.toml"
    os.mkfifo(fifo)

    early = run(
        "senders", "--offline", "--since", "0001-01-01", "--until", "0001-01-02", db=db
    )
    piped = run("failures", "--offline", "--senders-file", fifo, db=db)
    no_folder = run("ingest", SAMPLES, db=str(tmp_path / "typo" / "x.sqlite"))

    assert early.returncode == 0
    assert piped.returncode == 1 and "not a regular file" in piped.stderr
    assert no_folder.returncode == 1 and "no folder" in no_folder.stderr
    assert not (tmp_path / "typo").exists()
    for result in (early, piped, no_folder):
        assert "Traceback" not in result.stderr


def _inbox_of_400_reports_and_a_note(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "000-notes.txt").write_text("hello")
    for n in range(400):
        xml = report_xml(record_xml(), report_id=f"r-{n}")
        (inbox / f"{n:03}-report.xml").write_bytes(xml)
    return inbox


def _ingest_in_background(database_url, inbox):
    return subprocess.Popen(
        [sys.executable, "-m", "dmarc_analyzer", "--db", database_url, "ingest", inbox],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("signal_number", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_ingest_has_said_its_refusals_and_what_it_stored(
    database_url, tmp_path, signal_number
):
    ingest = _ingest_in_background(
        database_url, _inbox_of_400_reports_and_a_note(tmp_path)
    )

    # Said as it happens, not when the run ends.
    first = ingest.stderr.readline()
    ingest.send_signal(signal_number)
    stdout, stderr = ingest.communicate(timeout=60)

    assert first.startswith("refused ") and "000-notes.txt: not XML" in first
    assert ingest.returncode == 128 + signal_number
    assert "Traceback" not in stderr and "interrupted" in stderr
    assert stdout.startswith("interrupted after ") and "1 refused" in stdout
    added = int(stdout.split(": ")[1].split(" report")[0])
    files = int(stdout.removeprefix("interrupted after ").split(" file")[0])
    database = api.open_database(database_url)
    assert len(api.stored_reports(database)) == added < 400
    assert files == added + 1  # the notes refused, the rest stored
    database.close()


def test_an_interrupted_ingest_of_files_stored_one_by_one_counts_each_it_stored(
    tmp_path,
):
    # Markup before <feedback> sends each file to a transaction of its own;
    # an interrupt during one's commit used to leave it stored but uncounted.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(300):
        xml = report_xml(record_xml(), report_id=f"r-{n}")
        (inbox / f"{n:03}.xml").write_bytes(b"<html>junk</html>" + xml)

    # At different moments, so that some land during a commit.
    for run_number, delay in enumerate([0.0, 0.03, 0.07, 0.11, 0.17, 0.23]):
        db = str(tmp_path / f"one-by-one-{run_number}.sqlite")
        ingest = _ingest_in_background(db, inbox)
        ingest.stderr.readline()  # the first file's repair: storing has begun
        time.sleep(delay)
        ingest.send_signal(signal.SIGTERM)
        stdout, stderr = ingest.communicate(timeout=60)

        assert ingest.returncode == 128 + signal.SIGTERM, stderr
        added = int(stdout.split(": ")[1].split(" report")[0])
        database = api.open_database(f"sqlite:///{db}")
        assert len(api.stored_reports(database)) == added
        database.close()


def test_an_interrupted_mbox_counts_the_messages_it_stored(db, tmp_path):
    import mailbox
    from email.message import EmailMessage

    box = mailbox.mbox(tmp_path / "reports.mbox", create=True)
    for n in range(400):
        message = EmailMessage()
        message["From"], message["Subject"] = "dmarc@receiver.example", f"r-{n}"
        message.set_content("An aggregate report.")
        # Markup before <feedback>: each message says it was repaired.
        xml = b"<html>junk</html>" + report_xml(record_xml(), report_id=f"r-{n}")
        message.add_attachment(xml, maintype="text", subtype="xml", filename="r.xml")
        box.add(message)
    box.close()
    ingest = _ingest_in_background(db, tmp_path / "reports.mbox")

    first = ingest.stderr.readline()  # a message stored
    ingest.send_signal(signal.SIGINT)
    stdout, stderr = ingest.communicate(timeout=60)

    assert "message 1: repaired" in first
    assert ingest.returncode == 130, stderr
    added = int(stdout.split(": ")[1].split(" report")[0])
    database = api.open_database(f"sqlite:///{db}")
    assert 0 < len(api.stored_reports(database)) == added < 400
    database.close()


def test_an_ingest_waiting_for_another_writer_stops_at_ctrl_c(db, tmp_path):
    import sqlite3

    run("ingest", SAMPLES / "google", db=db)  # the database made
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        ingest = _ingest_in_background(db, SAMPLES)
        waiting = ingest.stderr.readline()
        ingest.send_signal(signal.SIGINT)
        stdout, _ = ingest.communicate(timeout=30)  # not the 5 minutes' wait
    finally:
        writer.close()

    assert "waiting for another process" in waiting
    assert ingest.returncode == 130
    assert stdout.startswith("interrupted after ")


def test_sigterm_ends_any_command_as_ctrl_c_does(db):
    import socket

    run("ingest", SAMPLES, db=db)
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    silent.settimeout(60)
    nameserver = "127.0.0.1:%d" % silent.getsockname()[1]
    command = ["dns", "check", "--nameserver", nameserver]
    check = subprocess.Popen(
        [sys.executable, "-m", "dmarc_analyzer", "--db", db, *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        silent.recvfrom(512)  # its first query: the command is at work
        check.send_signal(signal.SIGTERM)
        _, stderr = check.communicate(timeout=30)
    finally:
        silent.close()

    assert check.returncode == 128 + signal.SIGTERM
    assert "Traceback" not in stderr


def test_a_second_interrupt_ends_the_ingest_at_once(db, tmp_path):
    ingest = _ingest_in_background(db, _inbox_of_400_reports_and_a_note(tmp_path))

    ingest.stderr.readline()
    ingest.send_signal(signal.SIGINT)
    ingest.send_signal(signal.SIGINT)
    _, stderr = ingest.communicate(timeout=60)

    # Killed by the signal itself (-2) when it lands as Python ends.
    assert ingest.returncode in (130, -signal.SIGINT)
    assert "Traceback" not in stderr
    database = api.open_database(f"sqlite:///{db}")
    assert len(api.stored_reports(database)) < 400
    database.close()


def test_the_analysis_commands_leave_no_write_ahead_log_beside_the_database(
    db, tmp_path
):
    from pathlib import Path

    run("ingest", SAMPLES, db=db)
    for command in (["senders"], ["failures"], ["summary", "--out", tmp_path]):
        result = run(*command, "--offline", db=db)
        left = sorted(p.name for p in Path(db).parent.glob("cli.sqlite-*"))
        assert result.returncode == 0 and left == [], command


def test_an_interrupt_while_a_group_is_counted_waits_for_the_whole_group(tmp_path):
    from dmarc_analyzer.cli import _Interrupted, _Signals
    from dmarc_analyzer.ingest.pipeline import IngestSummary

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for n in range(30):
        xml = report_xml(record_xml(), report_id=f"r-{n}")
        (inbox / f"{n:02}-report.xml").write_bytes(xml)
    database = api.open_database(f"sqlite:///{tmp_path / 'group.sqlite'}")
    summary = IngestSummary()
    signals = _Signals()

    counted = []

    def interrupted_at_the_first_count(path, _result) -> None:
        counted.append(path)
        if len(counted) == 1:
            os.kill(os.getpid(), signal.SIGINT)
        signals.check()

    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(_Interrupted), signals:
            api.ingest(database, [inbox], interrupted_at_the_first_count, summary)
    finally:  # an interrupted _Signals leaves handlers that end the process
        for number, handler in handlers.items():
            signal.signal(number, handler)

    stored = len(api.stored_reports(database))
    assert summary.reports_added == summary.files == len(counted) == stored > 1
    database.close()


def test_on_a_terminal_refusals_print_whole_above_the_progress_bar(db, tmp_path):
    import os
    import pty

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-notes-with-a-long-name-that-a-narrow-terminal-wraps.txt").write_text(
        "hello there"
    )
    (inbox / "b.xml").write_bytes(report_xml(record_xml()))
    main, terminal = pty.openpty()
    ingest = subprocess.Popen(
        [sys.executable, "-m", "dmarc_analyzer", "--db", db, "ingest", str(inbox)],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "COLUMNS": "60", "TERM": "xterm"},
    )
    os.close(terminal)
    shown = b""
    while chunk := _read_terminal(main):
        shown += chunk
    ingest.wait(timeout=60)

    text = shown.decode(errors="replace")
    assert "Ingesting" in text and "progress.description" not in text
    assert "wraps.txt: not XML, gzip, zip or e-mail (starts with 'hello there')" in (
        text
    )


def _read_terminal(main: int) -> bytes:
    import os

    try:
        return os.read(main, 65536)
    except OSError:  # the other end closed
        return b""


def test_reporter_text_reaches_the_terminal_as_text(db, tmp_path):
    # A C1 CSI, a next line, bidi overrides and a newline: each would move
    # the cursor, reorder the row or split it.
    org_name = "Evil\u009b2J\u0085Corp\u202e\u2066x\nNext row [b]"
    report = tmp_path / "evil.xml"
    report.write_bytes(report_xml(record_xml(), org_name=org_name))
    run("ingest", report, db=db)

    shown = subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "--db", db, "reports"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
    )

    assert shown.returncode == 0
    assert not set(shown.stdout) & set("\u009b\u0085\u202e\u2066")
    assert r"Evil\x9b2J\x85Corp\u202e\u2066x\x0aNext row [b]" in shown.stdout


def test_tables_show_the_largest_rows_up_to_the_limit(db):
    run("ingest", SAMPLES, db=db)
    every = {
        command: json.loads(run(command, "--offline", "--json", db=db).stdout)
        for command in ("senders", "failures")
    }
    reports = json.loads(run("reports", "--json", db=db).stdout)

    senders = run("senders", "--offline", "--limit", "2", db=db)
    failures = run("failures", "--offline", "--limit", "1", db=db)
    listing = run("reports", "--limit", "3", db=db)
    whole = run("senders", "--offline", "--limit", "0", db=db)

    sender_ips = [s["source_ip"] for s in every["senders"]]  # most messages first
    assert [ip for ip in sender_ips if ip in senders.stdout] == sender_ips[:2]
    assert f"{len(sender_ips) - 2} senders more not shown" in senders.stdout
    assert all(ip in whole.stdout for ip in sender_ips)
    assert "not shown" not in whole.stdout
    failing = [s["source_ip"] for v in every["failures"] for s in v["sources"]]
    assert [ip for ip in failing if ip in failures.stdout] == failing[:1]
    assert f"{len(failing) - 1} sources more not shown" in failures.stdout
    assert "What to do" in failures.stdout
    newest = [r["report_id"] for r in reports[-3:]]
    assert all(report_id in listing.stdout for report_id in newest)
    assert reports[0]["report_id"] not in listing.stdout
    assert f"{len(reports) - 3} older reports not shown" in listing.stdout
    # The footer counts every report of the scope, not those shown.
    expected = [r for entry in MANIFEST for r in entry["reports"]]
    messages = sum(r["messages"] for r in expected)
    assert f"{len(expected)} reports, {messages:,} messages" in listing.stdout
    domain = expected[0]["domain"]
    of_domain = [r for r in expected if r["domain"] == domain]
    one = run("reports", "--domain", domain.upper(), "--limit", "1", db=db)
    messages = sum(r["messages"] for r in of_domain)
    assert f"{len(of_domain)} reports, {messages:,} messages" in one.stdout


def test_the_last_month_there_is_is_a_period_like_any(db):
    run("ingest", SAMPLES, db=db)
    for command in ("senders", "failures"):
        done = run(command, "--offline", "--since", "9999-12-15", db=db)
        assert done.returncode == 0, done.stderr
        assert "No reports are stored for this period" in done.stdout
