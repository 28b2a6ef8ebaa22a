"""Python's cycle collector, paused while the analysis builds its results.

An analysis over millions of records makes hundreds of thousands of small
objects and no reference cycles among them; the collector would walk them
again and again as they are made (about a fifth of the time of `failures`
over ten million records). It runs as usual again afterwards.
"""

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cycles_not_collected() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def cycles_not_collected_then_frozen() -> Iterator[None]:
    """For a command that builds a large analysis, prints it and ends: as
    `cycles_not_collected`, and what was made meanwhile is then frozen
    (gc.freeze), so that the collector, on again, does not walk it all once
    more after the analysis and again at exit (0.4 s each over ten million
    records). Frozen objects are still freed when unused; only a cycle among
    them would stay, which is why this is for a process about to end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
