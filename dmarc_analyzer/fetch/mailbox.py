"""What the fetch needs of a mailbox, whatever kind it is."""

from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message as read from a mailbox. `data` is None when the message
    is over the size limit and was not downloaded."""

    key: Hashable
    where: str
    data: bytes | None
    size: int


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

    def move(self, key: Hashable, folder: str) -> None:
        """Move one message to an archive folder, created when missing."""
        ...

    def end_batch(self) -> None:
        """Make the moves of the batch final (an expunge, a rewrite)."""
        ...

    def close(self) -> None: ...
