"""What the fetch needs of a mailbox, whatever kind it is."""

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


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
