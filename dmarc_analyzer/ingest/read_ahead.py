"""Read a large file in a forked process while this one stores it.

Parsing a record costs about as much as storing it. On two cores, a child
process reads the file, parses it and prepares the rows of each batch of
records while this process writes the batch before. What crosses the pipe
is plain data (a report's header, rows as tuples), and the pipe's small
buffer holds the child back whenever the writer falls behind, so memory
stays flat on both sides.

The child only reads. Whether a report is stored, and every write, stays
with this process, in its transaction: the child asks before it sends a
report's records, and is told to skip those of a report already stored.
"""

import contextlib
import gc
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection

from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest.parallel import cores, exit_with_parent

# The messages of the child.
REPORT = "report"  # a report's header: store its records? (the child waits)
RECORDS = "records"  # a batch of its records, prepared as rows
READ = "read"  # the end of a report's records, with its warnings
ERROR = "error"  # what the child raised; nothing follows
END = "end"  # every report of the file was sent


def worth_it() -> bool:
    """A second core to parse on, and processes that can be forked."""
    return cores() >= 2


class Child:
    """The parent's side of the pipe: each report the child read, then its
    batches of records."""

    def __init__(self, pipe: Connection):
        self._pipe = pipe
        self._state = _DONE
        self._warnings: tuple[str, ...] = ()

    def reports(self) -> Iterator:
        """Each report's header, in the file's order."""
        while (message := self._receive())[0] == REPORT:
            self._state = _ASKED
            yield message[1]
        self._expect(message, END)

    def records(self) -> Iterator:
        """The batches of the report given last: the child sends them once
        this is first iterated."""
        if self._state == _ASKED:
            self._answer(True)
        while self._state == _SENDING:
            message = self._receive()
            if message[0] == RECORDS:
                yield message[1]
            else:
                self._expect(message, READ)
                self._warnings, self._state = message[1], _DONE

    def warnings(self) -> tuple[str, ...]:
        """The report's warnings, once its records are read or skipped."""
        if self._state == _ASKED:  # never stored: a duplicate
            self._answer(False)
        for _ in self.records():  # what a failed store left unread
            pass
        return self._warnings

    def _answer(self, store: bool) -> None:
        self._pipe.send(store)
        self._state = _SENDING

    def _receive(self) -> tuple:
        try:
            message = self._pipe.recv()
        except (EOFError, OSError):
            raise ReportRefused(
                "the process reading the file ended before it was read"
            ) from None
        if message[0] == ERROR:
            raise message[1]
        return message

    @staticmethod
    def _expect(message: tuple, kind: str) -> None:
        if message[0] != kind:
            raise RuntimeError(f"the reading process sent {message[0]!r}, not {kind!r}")


# Where the parent is in the exchange about the report given last.
_ASKED, _SENDING, _DONE = "asked", "sending", "done"


class Channel:
    """The child's side of the pipe."""

    def __init__(self, pipe: Connection):
        self._pipe = pipe

    def offer(self, header) -> bool:
        """Send a report's header; True if its records are wanted."""
        self._pipe.send((REPORT, header))
        return self._pipe.recv()

    def send_records(self, batch) -> None:
        self._pipe.send((RECORDS, batch))

    def report_read(self, warnings: tuple[str, ...]) -> None:
        self._pipe.send((READ, warnings))

    def end(self) -> None:
        self._pipe.send((END, None))

    def fail(self, error: BaseException) -> int:
        """Hand `error` to the parent to raise; the exit status."""
        try:
            pickle.dumps(error)
        except Exception:
            error = RuntimeError(f"{type(error).__name__}: {error}")
        try:
            self._pipe.send((ERROR, error))
        except OSError:  # the parent is gone
            return 1
        return 0


@contextlib.contextmanager
def reading_in_child(read: Callable[[Channel], None]) -> Iterator[Child]:
    """Run `read` in a forked process, talking through a `Channel`; the
    child ends with the block, whatever happens in it."""
    ours, theirs = multiprocessing.Pipe()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        ours.close()
        _run_child(read, Channel(theirs), parent)
    theirs.close()
    try:
        yield Child(ours)
    finally:
        ours.close()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _run_child(read: Callable[[Channel], None], channel: Channel, parent: int):
    # Interrupts are the parent's to handle; the child ends with it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    gc.freeze()  # what is inherited stays shared with the parent
    exit_with_parent(parent)
    status = 0
    try:
        read(channel)
        channel.end()
    except BaseException as error:  # handed to the parent to raise
        status = channel.fail(error)
    # Nothing inherited may run its clean-up here: not the parent's
    # database connections, nor its buffered output.
    os._exit(status)
