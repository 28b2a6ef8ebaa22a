"""fetch maildir and fetch mbox: the same flow as IMAP, through the standard
library's mailbox module."""

import json
import mailbox
import os
import re
import stat
import subprocess
import sys
import time

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.errors import FolderNameError, MailboxError
from dmarc_analyzer.fetch import local, run
from dmarc_analyzer.fetch.imap import ImapMailbox
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


@pytest.mark.parametrize("kind", ["maildir", "mbox"])
def test_a_message_over_the_size_limit_goes_to_invalid_unread(
    tmp_path, monkeypatch, kind
):
    monkeypatch.setattr(local, "MAX_MESSAGE_BYTES", 500)
    make = make_maildir if kind == "maildir" else make_mbox
    make(tmp_path / "inbox", report_messages()[:1])
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    fetch = api.fetch_maildir if kind == "maildir" else api.fetch_mbox

    summary = fetch(database, tmp_path / "inbox")

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


def test_an_mbox_with_text_before_its_first_from_line_is_left_alone(tmp_path):
    make_mbox(tmp_path / "dmarc", report_messages()[:2])
    # A message without its "From " line: the mbox reader would skip it and
    # the rewrite at the end of the batch would lose it.
    content = report_messages()[2] + b"\n" + (tmp_path / "dmarc").read_bytes()
    (tmp_path / "dmarc").write_bytes(content)
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    with pytest.raises(MailboxError, match='text before its first "From " line'):
        api.fetch_mbox(database, tmp_path / "dmarc")

    assert (tmp_path / "dmarc").read_bytes() == content
    assert sorted(path.name for path in tmp_path.glob("dmarc*")) == ["dmarc"]


def nested(depth: int) -> bytes:
    """A message forwarded `depth` times: the standard library would parse
    it by recursion, deeper than Python allows."""
    message = report_messages()[0]
    for _ in range(depth):
        message = b"From: a@example.com\nContent-Type: message/rfc822\n\n" + message
    return message


def test_messages_are_moved_byte_for_byte_never_parsed_again(tmp_path):
    messages = [*report_messages()[:3], nested(2000), *invalid_messages()[:1]]
    make_maildir(tmp_path / "Maildir", messages)
    make_mbox(tmp_path / "dmarc", messages)
    before = mailbox.mbox(tmp_path / "dmarc")
    originals = [before.get_bytes(key, from_=True) for key in before.iterkeys()]
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    in_maildir = api.fetch_maildir(database, tmp_path / "Maildir")
    in_mbox = api.fetch_mbox(database, tmp_path / "dmarc")

    for summary in (in_maildir, in_mbox):
        assert summary.processed == 3 and len(summary.invalid) == 2
        assert summary.failed == []
    archived = mailbox.Maildir(tmp_path / "Maildir", create=False)
    moved = [
        folder.get_bytes(key)
        for name in archived.list_folders()
        for folder in [archived.get_folder(name)]
        for key in folder.iterkeys()
    ]
    assert sorted(moved) == sorted(messages)
    copies = [
        box.get_bytes(key, from_=True)
        for name in (FOLDERS.processed, FOLDERS.invalid)
        for box in [mailbox.mbox(tmp_path / name)]
        for key in box.iterkeys()
    ]
    assert sorted(copies) == sorted(originals)


def test_only_regular_files_are_read_and_one_bad_message_stops_nothing(
    tmp_path, monkeypatch
):
    make_maildir(tmp_path / "Maildir", report_messages()[:3])
    new = tmp_path / "Maildir" / "new"
    unreadable = sorted(new.iterdir())[-1]
    (new / "1-zero").symlink_to("/dev/zero")
    os.mkfifo(new / "2-fifo")
    real_read = local._read_regular_file

    def read(path):
        if path == unreadable:
            raise PermissionError(13, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(local, "_read_regular_file", read)
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    summary = api.fetch_maildir(database, tmp_path / "Maildir")

    assert summary.processed == 2
    assert [item.reason for item in summary.invalid] == ["not a regular file"] * 2
    assert [item.reason for item in summary.failed] == [
        "cannot read it: Permission denied"
    ]
    assert sorted(new.iterdir()) == [unreadable]


def test_a_message_gone_meanwhile_is_counted_not_a_crash(tmp_path, monkeypatch):
    """Another fetch of the same Maildir took it: before it was read, or
    between its storing and its move."""
    make_maildir(tmp_path / "Maildir", report_messages()[:4])
    files = sorted((tmp_path / "Maildir" / "new").iterdir())
    real_ingest = run.ingest_message

    def ingest_and_lose(database, message, where, **options):
        result = real_ingest(database, message, where, **options)
        if where.endswith(files[1].name.split(":")[0]):
            files[1].unlink()
        return result

    monkeypatch.setattr(run, "ingest_message", ingest_and_lose)
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    summary = api.fetch_maildir(
        database, tmp_path / "Maildir", on_start=lambda _total: files[3].unlink()
    )

    assert summary.gone == 2 and summary.failed == []
    assert summary.processed == 3
    assert maildir_counts(tmp_path / "Maildir") == {"": 0, FOLDERS.processed: 2}


def test_a_message_that_cannot_be_moved_stays_and_the_others_go(tmp_path, monkeypatch):
    make_mbox(tmp_path / "dmarc", report_messages()[:4])
    real_append, appended = local._append_to_mbox, []

    def failing_append(message, box):
        appended.append(box)
        if len(appended) == 2:
            raise OSError(28, "No space left on device")
        real_append(message, box)

    monkeypatch.setattr(local, "_append_to_mbox", failing_append)
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    first = api.fetch_mbox(database, tmp_path / "dmarc")
    monkeypatch.setattr(local, "_append_to_mbox", real_append)
    second = api.fetch_mbox(database, tmp_path / "dmarc")

    assert first.processed == 4 and len(first.failed) == 1
    assert "cannot move message 2 of" in first.failed[0].reason
    assert "No space left on device" in first.failed[0].reason
    assert second.processed == 1 and second.duplicates == 1
    assert mbox_count(tmp_path / "dmarc") == 0
    assert mbox_count(tmp_path / FOLDERS.processed) == 4


def test_a_message_set_aside_that_cannot_be_moved_is_listed_as_left(
    tmp_path, monkeypatch
):
    """Not also as moved to the invalid folder it never reached."""
    make_mbox(tmp_path / "dmarc", invalid_messages()[:1])

    def failing_append(message, box):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(local, "_append_to_mbox", failing_append)
    summary = api.fetch_mbox(api.open_database("sqlite://"), tmp_path / "dmarc")

    assert summary.invalid == [] and len(summary.failed) == 1
    assert summary.failed[0].folder is None
    assert summary.failed[0].message_id
    assert mbox_count(tmp_path / "dmarc") == 1


def test_a_stale_dot_lock_is_removed_a_fresh_one_named(tmp_path, caplog):
    make_mbox(tmp_path / "dmarc", report_messages()[:1])
    lock = tmp_path / "dmarc.lock"
    lock.touch()
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    with pytest.raises(MailboxError, match=f"another program holds {lock}"):
        api.fetch_mbox(database, tmp_path / "dmarc")
    old = time.time() - local.STALE_LOCK_SECONDS - 60
    os.utime(lock, (old, old))
    summary = api.fetch_mbox(database, tmp_path / "dmarc")

    assert summary.processed == 1 and not lock.exists()
    assert f"removing {lock}" in caplog.text


def test_an_mbox_that_cannot_be_opened_is_one_line(tmp_path, monkeypatch):
    make_mbox(tmp_path / "dmarc", report_messages()[:1])

    def unreadable(path, create):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(local.mailbox, "mbox", unreadable)
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")

    with pytest.raises(MailboxError, match=r"cannot open .*: Permission denied"):
        api.fetch_mbox(database, tmp_path / "dmarc")


@pytest.mark.parametrize(
    ("kind", "option", "name", "message"),
    [
        ("maildir", "--processed-folder", "../escape", "'/' is not allowed"),
        ("maildir", "--invalid-folder", ".hidden", "begin or end with a dot"),
        ("mbox", "--processed-folder", "dmarc", "is the mbox being fetched"),
        ("mbox", "--other-folder", ".", "a folder, not an mbox file"),
        ("imap", "--processed-folder", "inbox", "is the mailbox being fetched"),
        ("imap", "--invalid-folder", "Archive.*", "'*' is not allowed"),
    ],
)
def test_archive_folder_names_are_checked_before_anything_is_fetched(
    tmp_path, kind, option, name, message
):
    from tests.imap_server import PASSWORD

    make_maildir(tmp_path / "Maildir", report_messages()[:1])
    make_mbox(tmp_path / "dmarc", report_messages()[:1])
    database = api.open_database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    folders = {
        "--processed-folder": "processed",
        "--invalid-folder": "invalid",
        "--other-folder": "other_reports",
    }
    chosen = api.ArchiveFolders(**{folders[option]: name})
    if kind == "imap":
        box = FakeImap(api.ImapSettings(folder="INBOX"), PASSWORD)
    elif kind == "maildir":
        box = MaildirMailbox(tmp_path / "Maildir")
    else:
        box = MboxMailbox(tmp_path / "dmarc")

    with pytest.raises(FolderNameError, match=re.escape(message)):
        run.fetch_mailbox(database, box, chosen)
    box.close()

    assert stored_totals(f"sqlite:///{tmp_path / 'db.sqlite'}")[0] == set()
    assert mbox_count(tmp_path / "dmarc") == 1
    assert maildir_counts(tmp_path / "Maildir") == {"": 1}


def test_a_maildir_folder_is_renamed_into_its_sibling_keeping_flags_and_mode(
    tmp_path,
):
    """Both at once: the byte-for-byte rename (hardening) into the Maildir++
    sibling of the folder fetched (`.DMARC.dmarc-processed`)."""
    top = tmp_path / "Maildir"
    make_maildir(top, [])
    folder = mailbox.Maildir(top, create=False).add_folder("DMARC")
    seen = mailbox.MaildirMessage(report_messages()[0])
    seen.set_subdir("cur")
    seen.set_flags("S")
    key = folder.add(seen)
    folder.add(report_messages()[1])
    for file in (top / ".DMARC").glob("*/*"):
        file.chmod(0o640)
    before = sorted(file.read_bytes() for file in (top / ".DMARC").glob("*/*"))

    summary = api.fetch_maildir(api.open_database("sqlite://"), top / ".DMARC")

    assert summary.processed == 2 and summary.failed == []
    archive = top / f".DMARC.{FOLDERS.processed}"
    assert (archive / "maildirfolder").exists()
    assert (
        list(archive.glob(f"cur/{key}:2,S")) and len(list(archive.glob("new/*"))) == 1
    )
    moved = list(archive.glob("cur/*")) + list(archive.glob("new/*"))
    assert {stat.S_IMODE(file.stat().st_mode) for file in moved} == {0o640}
    assert sorted(file.read_bytes() for file in moved) == before
    assert not (top / ".DMARC" / f".{FOLDERS.processed}").exists()


def test_maildir_folder_names_are_checked_in_the_sibling_layout(tmp_path):
    top = tmp_path / "Maildir"
    make_maildir(top, [])
    make_maildir(top / ".DMARC", report_messages()[:1])
    box = MaildirMailbox(top / ".DMARC")

    box.check_folders(["done", "done.sub"])
    for name, message in [
        (".done", "begin or end with a dot"),
        ("done.", "begin or end with a dot"),
        ("a/b", "'/' is not allowed"),
    ]:
        with pytest.raises(FolderNameError, match=re.escape(message)):
            box.check_folders([name])
    box.close()


@pytest.mark.parametrize("name", ["reports", "INBOX.reports"])
def test_imap_folder_names_are_checked_in_the_servers_namespace(name):
    """On a server whose folders live under INBOX., `reports` is moved to
    `INBOX.reports`: the folder being fetched."""
    box = FakeImap(api.ImapSettings(folder="INBOX.reports"), "")
    box._prefix = "INBOX."

    with pytest.raises(FolderNameError, match="is the mailbox being fetched"):
        box.check_folders([name])
    box.check_folders(["dmarc-processed", "INBOX"])


class FakeImap(ImapMailbox):
    """Folder names are checked before the server is asked anything."""

    def __init__(self, settings, _password):
        self.settings, self.name, self._prefix = settings, "imap://fake", ""

    def keys(self):
        raise AssertionError("nothing may be fetched")

    def close(self):
        pass


def test_command_line_usage_errors_exit_2(tmp_path):
    make_mbox(tmp_path / "dmarc", report_messages()[:1])
    (tmp_path / "broken.toml").write_text("database = ")
    command = [sys.executable, "-m", "dmarc_analyzer", "--db", "db.sqlite"]

    def cli(*arguments):
        return subprocess.run(
            [*command, *arguments],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )

    same = cli("fetch", "mbox", "dmarc", "--processed-folder", "dmarc")
    port = cli("fetch", "imap", "--host", "127.0.0.1", "--user", "u", "--port", "70000")
    missing = cli("--config", "nonexist.toml", "prune", "--older-than", "400d")
    broken = cli("--config", "broken.toml", "reports")

    assert same.returncode == 2 and "is the mbox being fetched" in same.stderr
    assert port.returncode == 2 and "65535" in port.stderr
    assert missing.returncode == 1
    assert "error: cannot read nonexist.toml" in missing.stderr
    assert broken.returncode == 1 and "is not valid TOML" in broken.stderr
    assert mbox_count(tmp_path / "dmarc") == 1
    for done in (same, port, missing, broken):
        assert "Traceback" not in done.stderr
