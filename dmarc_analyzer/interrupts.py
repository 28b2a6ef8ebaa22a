"""Where an interrupt has to wait a moment, or be raised again.

The command line turns Ctrl-C and SIGTERM into an exception raised wherever
the program is (cli.py), so that the transaction open then is rolled back.
Two places need more care:

- Between a commit and the counting of what it stored, an interrupt would
  leave reports stored that the run's summary does not mention: the parts
  that commit and count hold interrupts (`held`), and the command line's
  handler asks `arrived` whether to wait.
- A database driver may turn the interrupt into an error of its own (an
  interrupted query leaves its connection unusable, and the next statement
  fails). Where such an error would make the ingest try again another way,
  `raise_if_arrived` raises the interrupt instead.
"""

import contextlib
from collections.abc import Callable, Iterator

_depth = 0
_arrived: Callable[[], None] | None = None


def arrived(raise_it: Callable[[], None]) -> bool:
    """For a signal handler: note that an interrupt arrived, and whether it
    must wait. If so, `raise_it` is called as soon as the held part ends."""
    global _arrived
    _arrived = raise_it
    return _depth > 0


def raise_if_arrived() -> None:
    """Raise the interrupt that arrived, if one did, unless it waits."""
    if _arrived is not None and not _depth:
        _arrived()


def forget() -> None:
    """The interrupts noted so far are dealt with (the command has ended)."""
    global _arrived
    _arrived = None


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Interrupts wait until the block ends."""
    global _depth
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        raise_if_arrived()
