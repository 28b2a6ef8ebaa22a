"""Python's cycle collector, paused while the analysis builds its results.

An analysis over millions of records makes hundreds of thousands of small
objects and no reference cycles among them; the collector would walk them
again and again as they are made (about a fifth of the time of `failures`
over ten million records). It runs as usual again afterwards, but never
walks what was made meanwhile: those objects are frozen (gc.freeze), so that
the first collection after a large analysis does not walk them all once
more. Frozen objects are still freed when no longer used; only a reference
cycle among them would stay until the process ends, and the analysis makes
none.
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
            gc.freeze()
            gc.enable()
