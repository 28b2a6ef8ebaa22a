"""fetch imap against a real IMAP server (Dovecot on 127.0.0.1), loaded with
reports from the corpus and with messages that are no aggregate report."""

import dataclasses
import json
import subprocess
import sys
import uuid

import pytest
from imapclient import IMAPClient
from sqlalchemy import create_engine, text

from dmarc_analyzer import api
from dmarc_analyzer.errors import DatabaseError, MailboxError
from dmarc_analyzer.fetch import imap as imap_module
from dmarc_analyzer.fetch import run
from dmarc_analyzer.fetch.imap import ImapMailbox
from tests.imap_server import DOVECOT, PASSWORD, PREFIXED_USER, DovecotServer
from tests.mail_messages import (
    expected,
    invalid_messages,
    other_report_messages,
    report_messages,
)

FOLDERS = api.ArchiveFolders()


@pytest.fixture(scope="module")
def server():
    if not DOVECOT.exists():
        pytest.fail("dovecot is missing: run scripts/install-system-packages.sh")
    dovecot = DovecotServer().start()
    yield dovecot
    dovecot.stop()


@pytest.fixture
def imap(server) -> api.ImapSettings:
    """Settings for a mailbox of a user of its own: empty at first."""
    return api.ImapSettings(
        host="127.0.0.1",
        port=server.port,
        security="plain",
        user=f"dmarc-{uuid.uuid4().hex[:8]}",
        batch_size=7,
    )


def connect(imap: api.ImapSettings) -> IMAPClient:
    client = IMAPClient(imap.host, port=imap.port, ssl=False)
    client.login(imap.user, PASSWORD)
    return client


def deliver(imap: api.ImapSettings, messages: list[bytes]) -> None:
    with connect(imap) as client:
        for message in messages:
            client.append("INBOX", message)


def counts(imap: api.ImapSettings) -> dict[str, int]:
    """Messages per folder."""
    with connect(imap) as client:
        return {
            name: client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
            for flags, _delimiter, name in client.list_folders()
            if b"\\Noselect" not in flags  # a parent only, as "Archive"
        }


def stored(url: str) -> tuple[set, int, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        reports = set(connection.execute(text("SELECT domain, report_id FROM reports")))
        records, messages = connection.execute(
            text("SELECT count(*), coalesce(sum(count), 0) FROM records")
        ).one()
    engine.dispose()
    return {tuple(row) for row in reports}, records, int(messages)


def fetch(database_url: str, imap: api.ImapSettings):
    database = api.open_database(database_url)
    try:
        return api.fetch_imap(database, imap, FOLDERS, password=PASSWORD)
    finally:
        database.close()


def test_every_report_stored_and_every_message_archived(database_url, imap):
    reports, invalid, others = (
        report_messages(),
        invalid_messages(),
        (other_report_messages()),
    )
    deliver(imap, reports + invalid + others)
    want = expected()

    first = fetch(database_url, imap)
    after_first = stored(database_url)
    second = fetch(database_url, imap)

    assert after_first == (want.reports, want.records, want.messages)
    assert first.processed == len(reports) and first.reports_added == len(want.reports)
    assert len(first.invalid) == len(invalid) and len(first.other_reports) == 2
    assert first.failed == []
    assert counts(imap) == {
        "INBOX": 0,
        FOLDERS.processed: len(reports),
        FOLDERS.invalid: len(invalid),
        FOLDERS.other_reports: len(others),
    }
    assert second.messages == 0 and stored(database_url) == after_first


def test_a_report_delivered_again_is_a_duplicate(tmp_path, imap):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    deliver(imap, report_messages()[:5])
    fetch(url, imap)
    before = stored(url)

    deliver(imap, report_messages()[:5])
    again = fetch(url, imap)

    assert again.processed == 5 and again.reports_added == 0
    assert again.duplicates == 5
    assert stored(url) == before
    assert counts(imap)[FOLDERS.processed] == 10


def test_messages_move_only_after_their_reports_are_committed(
    tmp_path, imap, monkeypatch
):
    """At each move, another connection already sees the message's reports."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    deliver(imap, report_messages()[:6])
    seen_at_move = []
    real_move = ImapMailbox.move

    def checking_move(self, key, folder):
        engine = create_engine(url)
        with engine.connect() as connection:
            found = connection.execute(
                text("SELECT count(*) FROM reports WHERE source_file LIKE :uid"),
                {"uid": f"%;UID={key}"},
            ).scalar_one()
        engine.dispose()
        seen_at_move.append(found)
        real_move(self, key, folder)

    monkeypatch.setattr(ImapMailbox, "move", checking_move)
    fetch(url, imap)

    assert len(seen_at_move) == 6 and all(found >= 1 for found in seen_at_move)


def test_a_failure_between_commit_and_move_loses_and_duplicates_nothing(
    tmp_path, imap, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    messages = report_messages()
    deliver(imap, messages)
    real_move, moves = ImapMailbox.move, []

    def failing_move(self, key, folder):
        moves.append(key)
        if len(moves) == 4:
            raise MailboxError("connection lost")
        real_move(self, key, folder)

    monkeypatch.setattr(ImapMailbox, "move", failing_move)
    with pytest.raises(MailboxError):
        fetch(url, imap)
    assert counts(imap)["INBOX"] == len(messages) - 3  # the 4th stayed
    assert len(stored(url)[0]) >= 4

    monkeypatch.setattr(ImapMailbox, "move", real_move)
    rerun = fetch(url, imap)

    want = expected()
    assert stored(url) == (want.reports, want.records, want.messages)
    assert rerun.duplicates >= 1  # the 4th message's reports, stored before
    assert counts(imap) == {"INBOX": 0, FOLDERS.processed: len(messages)}


def test_a_message_that_could_not_be_stored_stays_for_the_next_run(
    tmp_path, imap, monkeypatch
):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    deliver(imap, report_messages()[:3])
    real_ingest = run.ingest_message

    def flaky_ingest(database, message, where, **options):
        if where.endswith(";UID=2"):
            raise DatabaseError("database error: disk I/O error")
        return real_ingest(database, message, where, **options)

    monkeypatch.setattr(run, "ingest_message", flaky_ingest)
    first = fetch(url, imap)
    monkeypatch.setattr(run, "ingest_message", real_ingest)
    second = fetch(url, imap)

    assert [item.reason for item in first.failed] == ["database error: disk I/O error"]
    assert first.processed == 2
    assert second.messages == 1 and second.processed == 1
    assert counts(imap) == {"INBOX": 0, FOLDERS.processed: 3}


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_and_starttls_with_the_server_certificate(server, imap, security):
    port = server.tls_port if security == "tls" else server.port
    secure = dataclasses.replace(
        imap, security=security, port=port, ca_file=server.certificate
    )
    deliver(imap, report_messages()[:2])

    summary = api.fetch_imap(api.open_database("sqlite://"), secure, password=PASSWORD)

    assert summary.processed == 2


def test_an_untrusted_certificate_is_refused_with_a_hint(server, imap):
    untrusted = dataclasses.replace(imap, security="tls", port=server.tls_port)
    with pytest.raises(MailboxError, match="certificate verify failed") as refused:
        ImapMailbox(untrusted, PASSWORD)

    assert str(refused.value).startswith("cannot connect to imaps://")
    assert "set ca_file" in str(refused.value)


def test_a_server_without_move_gets_copy_delete_and_expunge(imap, monkeypatch):
    without_move = IMAPClient.has_capability
    monkeypatch.setattr(
        IMAPClient,
        "has_capability",
        lambda client, name: name != "MOVE" and without_move(client, name),
    )
    deliver(imap, report_messages()[:3])

    summary = api.fetch_imap(api.open_database("sqlite://"), imap, password=PASSWORD)

    assert summary.processed == 3
    assert counts(imap) == {"INBOX": 0, FOLDERS.processed: 3}


def test_command_line_with_a_settings_file(tmp_path, imap):
    """The weekly job: settings in a file, the password in another."""
    deliver(imap, report_messages()[:4] + invalid_messages()[:1])
    (tmp_path / "imap-password").write_text(PASSWORD + "\n")
    (tmp_path / "dmarc-analyzer.toml").write_text(
        f"""
database = "dmarc.sqlite"
[imap]
host = "127.0.0.1"
port = {imap.port}
security = "plain"
user = "{imap.user}"
password_file = "imap-password"
[archive]
processed = "Archive.DMARC"
"""
    )
    command = [sys.executable, "-m", "dmarc_analyzer", "fetch", "imap", "--json"]

    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["processed"] == 4 and len(summary["invalid"]) == 1
    assert summary["invalid"][0]["reason"] == (
        "e-mail message carries no aggregate report"
    )
    assert PASSWORD not in done.stdout + done.stderr
    assert (tmp_path / "dmarc.sqlite").is_file()
    assert counts(imap)["Archive.DMARC"] == 4


def test_a_maildir_fetch_archives_where_imap_clients_see_it(server, imap):
    """`fetch maildir ~/Maildir/.DMARC`: Dovecot lists the archive folders as
    sub-folders of DMARC, and the moved messages keep Dovecot's file mode."""
    with connect(imap) as client:
        client.create_folder("DMARC")
        for message in report_messages()[:2] + invalid_messages()[:1]:
            client.append("DMARC", message)
    maildir = server.root / "home" / imap.user / "Maildir"

    summary = api.fetch_maildir(api.open_database("sqlite://"), maildir / ".DMARC")

    assert summary.processed == 2
    assert counts(imap) == {
        "INBOX": 0,
        "DMARC": 0,
        f"DMARC.{FOLDERS.processed}": 2,
        f"DMARC.{FOLDERS.invalid}": 1,
    }
    moved = list((maildir / f".DMARC.{FOLDERS.processed}").glob("cur/*"))
    moved += (maildir / f".DMARC.{FOLDERS.processed}").glob("new/*")
    owner = maildir.stat().st_uid
    assert {(file.stat().st_mode & 0o777, file.stat().st_uid) for file in moved} == {
        (0o600, owner)
    }


def test_archive_folders_go_in_the_servers_namespace_and_are_subscribed(imap):
    """A server whose folders all live under INBOX. (Courier, many hosts)."""
    courier = dataclasses.replace(imap, user=PREFIXED_USER)
    deliver(courier, report_messages()[:1] + invalid_messages()[:1])

    summary = api.fetch_imap(api.open_database("sqlite://"), courier, password=PASSWORD)

    assert summary.processed == 1 and len(summary.invalid) == 1
    archives = {f"INBOX.{FOLDERS.processed}": 1, f"INBOX.{FOLDERS.invalid}": 1}
    assert counts(courier) == {"INBOX": 0, **archives}
    with connect(courier) as client:
        assert {name for _, _, name in client.list_sub_folders()} >= set(archives)


def test_wrong_password_is_one_line_error_in_the_servers_words(imap):
    with pytest.raises(MailboxError) as refused:
        ImapMailbox(imap, "not the password")

    assert str(refused.value).startswith(f"cannot log in to imap://{imap.user}@")
    assert "[AUTHENTICATIONFAILED]" in str(refused.value)
    assert "b'" not in str(refused.value)


def test_without_settings_host_and_user_are_asked_for_first(tmp_path):
    command = [sys.executable, "-m", "dmarc_analyzer", "--db", "db.sqlite"]
    environment = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}

    done = subprocess.run(
        [*command, "fetch", "imap"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert "IMAP needs a host and a user" in done.stderr
    assert "password" not in done.stderr


def test_bodies_are_fetched_in_groups_bounded_by_bytes(imap, monkeypatch):
    messages = report_messages()[:6]
    limit = max(len(message) for message in messages)
    monkeypatch.setattr(imap_module, "MAX_FETCH_BYTES", limit)
    real_fetch, fetched = IMAPClient.fetch, []

    def counting_fetch(client, uids, data, *args, **kwargs):
        answer = real_fetch(client, uids, data, *args, **kwargs)
        if "BODY.PEEK[]" in data:
            fetched.append(sum(len(item[b"BODY[]"]) for item in answer.values()))
        return answer

    monkeypatch.setattr(IMAPClient, "fetch", counting_fetch)
    deliver(imap, messages)

    summary = api.fetch_imap(api.open_database("sqlite://"), imap, password=PASSWORD)

    assert summary.processed == 6
    assert len(fetched) >= 2 and all(total <= limit for total in fetched)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"user": "dmarc-ü"}, "cannot log in"),
        ({"host": "a" * 70 + ".example"}, "cannot connect"),
    ],
)
def test_names_beyond_ascii_are_one_line_errors(imap, change, message):
    with pytest.raises(MailboxError, match=message):
        ImapMailbox(dataclasses.replace(imap, **change), PASSWORD)


def test_a_password_beyond_ascii_goes_as_utf_8(imap, monkeypatch):
    sent = []
    monkeypatch.setattr(
        IMAPClient, "plain_login", lambda client, *login: sent.append(login)
    )
    monkeypatch.setattr(IMAPClient, "select_folder", lambda client, folder: None)

    ImapMailbox(imap, "pässword").close()

    assert sent == [(imap.user, "pässword")]
