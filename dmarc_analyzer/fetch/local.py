"""Maildir and mbox as mailboxes, through the standard library.

Archive folders are where a Maildir++ server (Dovecot, Courier) shows them
as sub-folders of the folder fetched: for `~/Maildir/.DMARC` the sibling
`~/Maildir/.DMARC.dmarc-processed`, for the top `~/Maildir` itself
`~/Maildir/.dmarc-processed`. For an mbox they are mbox files beside it (an
absolute name goes where it says).

A Maildir message is renamed into its archive, so it is never in neither
place and keeps its mode, owner and flags. An mbox message is added to its
archive before it is removed: a crash between the two leaves it in both.
When the job runs as root on someone else's mailbox, what it creates or
rewrites keeps the mailbox's owner, group and mode.
"""

import contextlib
import mailbox
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from dmarc_analyzer.errors import MailboxError
from dmarc_analyzer.fetch.mailbox import MailMessage
from dmarc_analyzer.ingest.containers import MAX_MESSAGE_BYTES


class MaildirMailbox:
    def __init__(self, path: Path):
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise MailboxError(f"{path} is not a Maildir (no cur/ and new/ in it)")
        self.name = str(path)
        self._path = path
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._folders: dict[str, Path] = {}

    def keys(self) -> list[str]:
        with _local_errors(f"cannot list {self.name}"):
            return sorted(self._box.keys())

    def read(self, keys: Sequence[str]) -> Iterator[MailMessage]:
        for key in keys:
            with _local_errors(f"cannot read {self.name}/{key}"):
                try:
                    handle = self._box.get_file(key)
                except KeyError:
                    continue  # gone meanwhile
                with handle:
                    data = handle.read(MAX_MESSAGE_BYTES + 1)
            yield _message(key, f"{self.name}/{key}", data)

    def move(self, key: str, folder: str) -> None:
        with _local_errors(f"cannot move {key} of {self.name} to {folder}"):
            target = self._folder(folder)
            try:
                # "new/name" or "cur/name:2,S": the flags are in the name.
                relative = self._box._lookup(key)
            except KeyError:
                return  # gone meanwhile: another client moved it
            os.rename(self._path / relative, target / relative)

    def end_batch(self) -> None:
        pass  # each move is final already

    def close(self) -> None:
        self._box.close()

    def _folder(self, name: str) -> Path:
        if name not in self._folders:
            path = maildir_archive(self._path, name)
            owner = self._path.stat()
            for part in (path, path / "tmp", path / "new", path / "cur"):
                part.mkdir(mode=0o700, exist_ok=True)
                _same_owner(part, owner)
            marker = path / "maildirfolder"  # Maildir++: this is a sub-folder
            if not marker.exists():
                marker.touch(mode=0o600)
                _same_owner(marker, owner)
            self._folders[name] = path
        return self._folders[name]


def maildir_archive(path: Path, name: str) -> Path:
    """Where a Maildir++ client sees `name` as a sub-folder of `path`: for
    the folder `.DMARC` of a Maildir, its sibling `.DMARC.name`; for the top
    Maildir, `.name` inside it."""
    parent = path.parent
    if path.name.startswith(".") and (parent / "cur").is_dir():
        return parent / f"{path.name}.{name}"
    return path / f".{name}"


class MboxMailbox:
    """An mbox file, locked while it is read and rewritten. Moved messages
    are removed from it at the end of each batch, by rewriting the file."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise MailboxError(f"no mbox file at {path}")
        self.name = str(path)
        self._path = path
        _check_mbox(path)
        self._stat = path.stat()
        self._box = mailbox.mbox(path, create=False)
        self._folders: dict[str, mailbox.mbox] = {}
        with _local_errors(f"cannot lock {self.name}"):
            self._box.lock()

    def keys(self) -> list[int]:
        with _local_errors(f"cannot read {self.name}"):
            return sorted(self._box.keys())

    def read(self, keys: Sequence[int]) -> Iterator[MailMessage]:
        for key in keys:
            with (
                _local_errors(f"cannot read {self.name}"),
                self._box.get_file(key) as handle,
            ):
                data = handle.read(MAX_MESSAGE_BYTES + 1)
            yield _message(key, f"{self.name}:message {key + 1}", data)

    def move(self, key: int, folder: str) -> None:
        with _local_errors(f"cannot move a message of {self.name} to {folder}"):
            target = self._folder(folder)
            target.add(self._box.get_message(key))
            target.flush()
            self._box.discard(key)

    def end_batch(self) -> None:
        with _local_errors(f"cannot rewrite {self.name}"):
            self._box.flush()  # a new file, renamed over the old one
            _same_owner(self._path, self._stat)

    def close(self) -> None:
        with _local_errors(f"cannot close {self.name}"):
            self._box.close()  # flushes and unlocks
            _same_owner(self._path, self._stat)
            for target in self._folders.values():
                target.close()

    def _folder(self, name: str) -> mailbox.mbox:
        if name not in self._folders:
            path = self._path.parent / name
            if not path.exists():
                # Created as private as the mbox itself, never world-readable.
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                os.chmod(path, self._stat.st_mode & 0o7777)
                _same_owner(path, self._stat)
            target = mailbox.mbox(path, create=True)
            target.lock()
            self._folders[name] = target
        return self._folders[name]


def _check_mbox(path: Path) -> None:
    with _local_errors(f"cannot read {path}"), path.open("rb") as handle:
        head = handle.read(5)
    if head and head != b"From ":
        reason = 'it does not start with "From "'
        raise MailboxError(f"{path} is not an mbox file ({reason})")


def _same_owner(path: Path, owner: os.stat_result) -> None:
    """Give `path` the owner and group of the mailbox, when running as root
    (only root can give a file away)."""
    if os.geteuid() == 0:
        shutil.chown(path, owner.st_uid, owner.st_gid)
    elif path.stat().st_gid != owner.st_gid:
        with contextlib.suppress(PermissionError):
            os.chown(path, -1, owner.st_gid)  # a group the user is in


def _message(key, where: str, data: bytes) -> MailMessage:
    if len(data) > MAX_MESSAGE_BYTES:
        return MailMessage(key, where, None, len(data))
    return MailMessage(key, where, data, len(data))


@contextlib.contextmanager
def _local_errors(doing: str) -> Iterator[None]:
    try:
        yield
    except (OSError, mailbox.Error) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise MailboxError(f"{doing}: {reason}") from error
