"""Maildir and mbox as mailboxes, through the standard library.

Archive folders are Maildir++ sub-folders of a Maildir (`.dmarc-processed`),
and mbox files beside an mbox (an absolute name goes where it says). A
message is added to its archive before it is removed from where it was:
a crash between the two leaves it in both, never in neither.
"""

import contextlib
import mailbox
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
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._folders: dict[str, mailbox.Maildir] = {}

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
            if folder not in self._folders:
                self._folders[folder] = self._box.add_folder(folder)
            # A MaildirMessage keeps its flags and whether it was seen.
            self._folders[folder].add(self._box.get_message(key))
            self._box.discard(key)

    def end_batch(self) -> None:
        pass  # each move is final already

    def close(self) -> None:
        self._box.close()


class MboxMailbox:
    """An mbox file, locked while it is read and rewritten. Moved messages
    are removed from it at the end of each batch, by rewriting the file."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise MailboxError(f"no mbox file at {path}")
        self.name = str(path)
        self._path = path
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
            self._box.flush()

    def close(self) -> None:
        with _local_errors(f"cannot close {self.name}"):
            self._box.close()  # flushes and unlocks
            for target in self._folders.values():
                target.close()

    def _folder(self, name: str) -> mailbox.mbox:
        if name not in self._folders:
            target = mailbox.mbox(self._path.parent / name, create=True)
            target.lock()
            self._folders[name] = target
        return self._folders[name]


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
