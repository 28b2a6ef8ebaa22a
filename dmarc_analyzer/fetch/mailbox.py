"""What the fetch needs of a mailbox, whatever kind it is."""

import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from dmarc_analyzer.errors import FolderNameError


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message as read from a mailbox. `data` is None when the message
    is over the size limit and was not downloaded, when it is `refused`
    unread (it goes to invalid), or when it is `unreadable` (it stays)."""

    key: Hashable
    where: str
    data: bytes | None
    size: int
    refused: str | None = None
    unreadable: str | None = None


class Mailbox(Protocol):
    """A folder of messages that can be listed, read in batches, and moved
    away one by one. Every method raises `MailboxError` on failure."""

    name: str  # for messages and logs; never holds a password

    def check_folders(self, names: Sequence[str]) -> None:
        """Raise `FolderNameError` for an archive folder name that cannot
        work here, before anything is read."""
        ...

    def keys(self) -> list[Hashable]:
        """The messages to look at, oldest first."""
        ...

    def read(self, keys: Sequence[Hashable]) -> Iterator[MailMessage]:
        """The messages of `keys` that still exist, in that order."""
        ...

    def move(self, key: Hashable, folder: str) -> bool | None:
        """Move one message to an archive folder, created when missing.
        False: it was gone (another program moved it). `MessageError`: this
        message cannot be moved, the others may be."""
        ...

    def end_batch(self) -> None:
        """Make the moves of the batch final (an expunge, a rewrite)."""
        ...

    def close(self) -> None: ...


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_folder_name(name: str, source: str, forbidden: str = "") -> None:
    """The checks every kind of mailbox makes: a name, printable, that is
    not the source; `forbidden` characters refused too."""
    if not name.strip() or _CONTROL.search(name):
        raise FolderNameError(f"archive folder name {name!r}: empty or unprintable")
    for character in forbidden:
        if character in name:
            raise FolderNameError(
                f"archive folder name {name!r}: {character!r} is not allowed here"
            )
    if name == source:
        raise FolderNameError(
            f"archive folder name {name!r} is the mailbox being fetched"
        )
