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
