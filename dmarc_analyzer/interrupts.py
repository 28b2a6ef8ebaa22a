"""Where an interrupt has to wait a moment.

The command line turns Ctrl-C and SIGTERM into an exception raised wherever
the program is (cli.py), so that the transaction open then is rolled back.
Between a commit and the counting of what it stored, that would leave
reports stored that the run's summary does not mention: the parts that
commit and count hold interrupts (`held`), and the command line's handler
asks `defer` before it raises.
"""

import contextlib
from collections.abc import Callable, Iterator

_depth = 0
_raise_later: Callable[[], None] | None = None


def defer(raise_later: Callable[[], None]) -> bool:
    """For a signal handler: whether the interrupt must wait. If so,
    `raise_later` is called as soon as the held part ends."""
    global _raise_later
    if not _depth:
        return False
    _raise_later = raise_later
    return True


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Interrupts wait until the block ends."""
    global _depth, _raise_later
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if not _depth and _raise_later is not None:
            later, _raise_later = _raise_later, None
            later()
