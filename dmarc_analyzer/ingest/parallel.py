"""Run a function over many files in worker processes, results in order.

Parsing is most of what ingesting a small file costs, and the database
writes of many small files are cheap once grouped: on two cores, two
processes parse while this one writes. Workers are forked, so that they
start at once with everything imported.
"""

import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import chain, islice
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

Result = TypeVar("Result")

# Workers are worth starting from this many files; each task is this many
# files, so that a task is worth sending to another process.
POOL_FROM_FILES = 40
FILES_PER_TASK = 20
# ... or fewer, of at most this many bytes together: a task's results wait
# in memory, and a file of a few hundred kilobytes holds thousands of records.
TASK_BYTES = 256 * 1024
MAX_WORKERS = 4
PARENT_CHECK_SECONDS = 0.5
# Workers go on parsing while this process stores what they parsed before,
# up to this many tasks per worker ahead, or this many bytes of files: the
# results wait in memory (a file parsed whole has at most 5,000 records).
TASKS_AHEAD = 8
BYTES_AHEAD = 2 * 1024 * 1024


def map_in_order(
    work: Callable[[Path], Result | None],
    paths: Iterator[Path],
    before_workers: Callable[[], object] = lambda: None,
) -> Iterator[tuple[Path, Result | None]]:
    """Each path with `work(path)`, in the order of `paths`; in worker
    processes when there are enough files and cores, started after
    `before_workers()` (which closes what they must not inherit). `work`
    never raises; a task lost with its worker (out of memory, say) gives
    None for each of its files."""
    first = list(islice(paths, POOL_FROM_FILES))
    workers = min(cores(), MAX_WORKERS)
    if len(first) < POOL_FROM_FILES or workers < 2:
        for path in chain(first, paths):
            yield path, work(path)
        return

    before_workers()
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    )
    with _shut_down_at_the_end(pool):
        pending: deque = deque()
        ahead = 0
        for task, size in _tasks(chain(first, paths)):
            pending.append((task, size, _submitted(pool, work, task)))
            ahead += size
            while len(pending) > TASKS_AHEAD * workers or (
                ahead > BYTES_AHEAD and len(pending) > workers
            ):
                done, size, future = pending.popleft()
                ahead -= size
                yield from _results(done, future)
        while pending:
            done, _, future = pending.popleft()
            yield from _results(done, future)


@contextlib.contextmanager
def _shut_down_at_the_end(pool: ProcessPoolExecutor) -> Iterator[None]:
    """Left early (an interrupt, an error in the caller), the tasks not yet
    started are dropped rather than parsed for nothing, and the workers are
    not waited for: one killed by a signal while it sent its results can
    leave the pool waiting for the rest of them forever."""
    try:
        yield
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _submitted(pool: ProcessPoolExecutor, work: Callable, task: list[Path]) -> Future:
    """The task, handed to a worker. When a worker was killed (out of
    memory, say), the pool is broken and takes no more: the task's files
    then get None, and the caller parses them itself."""
    try:
        return pool.submit(_work_on, work, task)
    except BrokenProcessPool as error:
        failed: Future = Future()
        failed.set_exception(error)
        return failed


def _start_worker(parent: int) -> None:
    # Interrupts are the parent's to handle (Ctrl-C reaches every process
    # of the terminal's group); the pool ends a worker with SIGTERM, which
    # must end it, not run the command line's handler inherited by fork.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # Frozen, the objects inherited are left alone by the worker's garbage
    # collector, and their memory stays shared (copy on write).
    gc.freeze()
    exit_with_parent(parent)


def exit_with_parent(parent: int) -> None:
    """End this process when `parent` ends. A worker whose parent was
    killed would wait for work forever (it holds the write end of its own
    task queue), and keep a copy of the parent's database socket open."""
    watchdog = threading.Thread(target=_exit_with, args=(parent,), daemon=True)
    watchdog.start()


def _exit_with(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    os._exit(1)


def _work_on(work: Callable[[Path], Result | None], paths: list[Path]) -> list:
    return [work(path) for path in paths]


def _results(task: list[Path], future: Future) -> Iterator[tuple[Path, object]]:
    try:
        results = future.result()
    except Exception:  # the worker is gone: None for each of its files
        log.debug("a worker process failed", exc_info=True)
        results = [None] * len(task)
    return zip(task, results, strict=True)


def _tasks(paths: Iterator[Path]) -> Iterator[tuple[list[Path], int]]:
    """The paths in tasks of FILES_PER_TASK files or TASK_BYTES bytes, each
    with its bytes."""
    task: list[Path] = []
    size = 0
    for path in paths:
        task.append(path)
        size += _bytes_of(path)
        if len(task) == FILES_PER_TASK or size >= TASK_BYTES:
            yield task, size
            task, size = [], 0
    if task:
        yield task, size


def _bytes_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:  # said when the file is read
        return 0


def cores() -> int:
    """The cores this process may use; 1 where workers cannot be forked."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
