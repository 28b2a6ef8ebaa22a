"""fetch maildir and fetch mbox: the same flow as IMAP, through the standard
library's mailbox module."""

import json
import mailbox
import os
import stat
import subprocess
import sys

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.errors import MailboxError
from dmarc_analyzer.fetch import local
from dmarc_analyzer.fetch.local import MaildirMailbox, MboxMailbox, maildir_archive
from tests.mail_messages import (
    expected,
    half_broken_message,
    invalid_messages,
    other_report_messages,
    report_messages,
)

FOLDERS = api.ArchiveFolders()


def make_maildir(path, messages: list[bytes]) -> None:
    box = mailbox.Maildir(path, create=True)
    for message in messages:
        box.add(message)


def make_mbox(path, messages: list[bytes]) -> None:
    box = mailbox.mbox(path, create=True)
    for message in messages:
        box.add(message)
    box.close()


def maildir_counts(path) -> dict[str, int]:
    box = mailbox.Maildir(path, create=False)
    found = {"": len(box)}
    found.update({name: len(box.get_folder(name)) for name in box.list_folders()})
    return found


def mbox_count(path) -> int:
    return len(mailbox.mbox(path, create=False)) if path.exists() else 0


def stored_totals(url: str) -> tuple[set, int]:
    database = api.open_database(url)
    found = api.stored_reports(database)
    database.close()
    return {(r.domain, r.report_id) for r in found}, sum(r.messages for r in found)


def test_maildir_reports_stored_and_messages_archived(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    reports, invalid = report_messages(), invalid_messages()
    make_maildir(tmp_path / "Maildir", reports + invalid + other_report_messages())
    database = api.open_database(url)

    first = api.fetch_maildir(database, tmp_path / "Maildir", batch_size=4)
    second = api.fetch_maildir(database, tmp_path / "Maildir")

    want = expected()
    assert stored_totals(url) == (want.reports, want.messages)
    assert first.processed == len(reports) and second.messages == 0
    assert maildir_counts(tmp_path / "Maildir") == {
        "": 0,
        FOLDERS.processed: len(reports),
        FOLDERS.invalid: len(invalid),
        FOLDERS.other_reports: 2,
    }


def test_mbox_reports_stored_and_messages_archived(tmp_path):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    reports, invalid = report_messages(), invalid_messages()
    make_mbox(tmp_path / "dmarc", reports + invalid + other_report_messages())
    database = api.open_database(url)

    first = api.fetch_mbox(database, tmp_path / "dmarc", batch_size=4)
    second = api.fetch_mbox(database, tmp_path / "dmarc")

    want = expected()
    assert stored_totals(url) == (want.reports, want.messages)
    assert first.reports_added == len(want.reports) and second.messages == 0
    assert mbox_count(tmp_path / "dmarc") == 0
    assert mbox_count(tmp_path / FOLDERS.processed) == len(reports)
    assert mbox_count(tmp_path / FOLDERS.invalid) == len(invalid)
    assert mbox_count(tmp_path / FOLDERS.other_reports) == 2


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_failure_between_commit_and_move_loses_and_duplicates_nothing(
    tmp_path, monkeypatch, kind
):
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    messages = report_messages()[:8]
    source = tmp_path / "inbox"
    make = make_maildir if kind == "maildir" else make_mbox
    fetch = api.fetch_maildir if kind == "maildir" else api.fetch_mbox
    box_class = MaildirMailbox if kind == "maildir" else MboxMailbox
    make(source, messages)
    real_move, moves = box_class.move, []

    def failing_move(self, key, folder):
        moves.append(key)
        if len(moves) == 3:
            raise MailboxError("disk full")
        real_move(self, key, folder)

    monkeypatch.setattr(box_class, "move", failing_move)
    database = api.open_database(url)
    with pytest.raises(MailboxError):
        fetch(database, source, batch_size=2)
    monkeypatch.setattr(box_class, "move", real_move)
    rerun = fetch(database, source)

    reports, _ = stored_totals(url)
    assert len(reports) == 8
    assert rerun.duplicates >= 1 and rerun.reports_added == 8 - len(moves)
    if kind == "maildir":
        assert maildir_counts(source) == {"": 0, FOLDERS.processed: 8}
    else:
        assert mbox_count(source) == 0
        assert mbox_count(tmp_path / FOLDERS.processed) == 8


def test_a_message_over_the_size_limit_goes_to_invalid_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "MAX_MESSAGE_BYTES", 500)
    make_maildir(tmp_path / "Maildir", report_messages()[:1])
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    summary = api.fetch_maildir(database, tmp_path / "Maildir")

    assert summary.processed == 0
    assert "e-mail message of more than" in summary.invalid[0].reason


def test_not_a_maildir_is_an_error(tmp_path):
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    with pytest.raises(MailboxError, match="not a Maildir"):
        api.fetch_maildir(database, tmp_path)


def test_archive_folders_are_maildir_plus_plus_sub_folders(tmp_path):
    top = tmp_path / "Maildir"
    make_maildir(top, [])
    make_maildir(top / ".DMARC", [])

    assert maildir_archive(top, "done") == top / ".done"
    assert maildir_archive(top / ".DMARC", "done") == top / ".DMARC.done"
    assert maildir_archive(tmp_path / "plain", "done") == tmp_path / "plain/.done"


def test_maildir_messages_keep_their_mode(tmp_path):
    make_maildir(tmp_path / "Maildir", report_messages()[:2])
    for file in (tmp_path / "Maildir").glob("*/*"):
        file.chmod(0o600)

    api.fetch_maildir(api.open_database("sqlite://"), tmp_path / "Maildir")

    moved = list((tmp_path / "Maildir" / f".{FOLDERS.processed}").glob("*/*"))
    assert len(moved) == 2
    assert {stat.S_IMODE(file.stat().st_mode) for file in moved} == {0o600}


def test_mbox_keeps_its_owner_and_mode_and_archives_are_as_private(tmp_path):
    source = tmp_path / "dmarc"
    make_mbox(source, report_messages()[:2] + invalid_messages()[:1])
    source.chmod(0o660)
    if os.geteuid() == 0:  # as a mail job run by root on a user's mbox
        os.chown(source, 65534, 8)
    before = source.stat()

    api.fetch_mbox(api.open_database("sqlite://"), source)

    for path in (source, tmp_path / FOLDERS.processed, tmp_path / FOLDERS.invalid):
        after = path.stat()
        assert stat.S_IMODE(after.st_mode) == 0o660, path
        assert (after.st_uid, after.st_gid) == (before.st_uid, before.st_gid), path


def test_a_readable_report_beside_a_broken_one_is_stored(tmp_path):
    make_mbox(tmp_path / "dmarc", [half_broken_message()])

    summary = api.fetch_mbox(api.open_database("sqlite://"), tmp_path / "dmarc")

    assert summary.processed == 1 and summary.reports_added == 1
    assert summary.invalid == []
    [warning] = summary.warnings
    assert "cut.xml.gz: truncated gzip data" in warning.reason
    assert mbox_count(tmp_path / FOLDERS.processed) == 1


def test_a_file_with_a_broken_member_is_still_refused_whole(tmp_path):
    (tmp_path / "two.eml").write_bytes(half_broken_message())
    database = api.open_database("sqlite://")

    summary = api.ingest(database, [tmp_path / "two.eml"])

    assert summary.reports_added == 0
    assert "cut.xml.gz: truncated gzip data" in summary.refused[0].reason


def test_not_an_mbox_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("Dear diary\n")
    command = [sys.executable, "-m", "dmarc_analyzer", "--db", "db.sqlite"]

    done = subprocess.run(
        [*command, "fetch", "mbox", "notes.txt"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        'notes.txt is not an mbox file (it does not start with "From ")'
    )
    assert len(done.stderr.strip().splitlines()) == 1


def test_command_line_mbox_json(tmp_path):
    make_mbox(tmp_path / "dmarc", report_messages()[:2] + invalid_messages()[:1])
    command = [sys.executable, "-m", "dmarc_analyzer", "--db", "db.sqlite"]

    done = subprocess.run(
        [*command, "fetch", "mbox", "dmarc", "--json", "--invalid-folder", "bad"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    [invalid] = summary["invalid"]
    assert summary["processed"] == 2 and invalid["message"] == "dmarc:message 3"
    assert invalid["folder"] == "bad" and invalid["subject"] == "You have won"
    assert invalid["message_id"].endswith("@receiver.example>")
    assert mbox_count(tmp_path / "bad") == 1


def test_command_line_names_each_message_set_aside(tmp_path):
    make_mbox(tmp_path / "dmarc", [*invalid_messages()[:1], half_broken_message()])
    command = [sys.executable, "-m", "dmarc_analyzer", "--db", "db.sqlite"]

    done = subprocess.run(
        [*command, "fetch", "mbox", "dmarc"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    warning, invalid = done.stderr.splitlines()
    assert warning == (
        "WARNING: dmarc:message 2: attachment skipped: cut.xml.gz: truncated gzip data"
    )
    assert invalid.startswith(
        "invalid dmarc:message 1 -> dmarc-invalid (Subject: You have won, Message-ID: <"
    )
    assert done.stdout.startswith("2 messages: 1 processed (1 report added,")


@pytest.mark.parametrize(
    "command", [["fetch", "imap"], ["fetch", "maildir"], ["fetch", "mbox"], ["prune"]]
)
def test_help_has_an_example(command):
    from typer.testing import CliRunner

    from dmarc_analyzer.cli import app

    result = CliRunner().invoke(app, [*command, "--help"])

    assert result.exit_code == 0
    assert "dmarc-analyzer " + " ".join(command) in result.stdout
