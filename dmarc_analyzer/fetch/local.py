"""Maildir and mbox as mailboxes, through the standard library.

Archive folders are where a Maildir++ server (Dovecot, Courier) shows them
as sub-folders of the folder fetched: for `~/Maildir/.DMARC` the sibling
`~/Maildir/.DMARC.dmarc-processed`, for the top `~/Maildir` itself
`~/Maildir/.dmarc-processed`. For an mbox they are mbox files beside it (an
absolute name goes where it says).

Messages are moved as they are, byte for byte, never parsed again: a
Maildir message is renamed into its archive (atomic: two runs at once cannot
both move it), so it is never in neither place and keeps its mode, owner and
flags; an mbox message is copied to the end of its archive before it is
removed from the mbox at the end of the batch, so a crash between the two
leaves it in both, never in neither. When the job runs as root on someone
else's mailbox, what it creates or rewrites keeps the mailbox's owner,
group and mode.
"""

import contextlib
import logging
import mailbox
import os
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dmarc_analyzer.errors import FolderNameError, MailboxError, MessageError
from dmarc_analyzer.fetch.mailbox import MailMessage, check_folder_name
from dmarc_analyzer.ingest.containers import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

# A dot-lock refused while the fcntl lock was free: no run of ours holds it
# (they hold both), and programs that use dot-locks alone hold one for the
# moment of a delivery. Older than this, it was left by a killed run.
STALE_LOCK_SECONDS = 60
_COPY_BYTES = 1024 * 1024


class MaildirMailbox:
    def __init__(self, path: Path):
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise MailboxError(f"{path} is not a Maildir (no cur/ and new/ in it)")
        self.name = str(path)
        self._path = path
        self._box = mailbox.Maildir(path, factory=None, create=False)
        self._folders: dict[str, Path] = {}
        self._files: dict[str, str] = {}  # key: "new/NAME" or "cur/NAME:2,S"

    def check_folders(self, names: Sequence[str]) -> None:
        # Maildir++ names: dots make the hierarchy, a slash would leave it.
        for name in names:
            check_folder_name(name, "", forbidden="/\\")
            if name.startswith(".") or name.endswith("."):
                raise FolderNameError(
                    f"archive folder name {name!r}: it cannot begin or end with a dot"
                )
            if maildir_archive(self._path, name).resolve() == self._path.resolve():
                raise FolderNameError(
                    f"archive folder name {name!r} is the Maildir being fetched"
                )

    def keys(self) -> list[str]:
        with _local_errors(f"cannot list {self.name}"):
            self._files = _maildir_files(self._path)
        return sorted(self._files)

    def read(self, keys: Sequence[str]) -> Iterator[MailMessage]:
        for key in keys:
            where = f"{self.name}/{key}"
            try:
                found = _read_regular_file(self._path / self._files[key])
            except FileNotFoundError:
                continue  # gone meanwhile: another program moved it
            except OSError as error:
                reason = f"cannot read it: {error.strerror or error}"
                yield MailMessage(key, where, None, 0, unreadable=reason)
                continue
            if isinstance(found, str):
                yield MailMessage(key, where, None, 0, refused=found)
            elif isinstance(found, int):
                yield MailMessage(key, where, None, found)
            else:
                yield _message(key, where, found)

    def move(self, key: str, folder: str) -> bool:
        with _local_errors(f"cannot move {key} of {self.name} to {folder}", key):
            target = self._folder(folder)
            # Renamed into the same sub-folder (new/ or cur/) under the same
            # name: its flags and whether it was seen stay as they were.
            relative = self._files[key]
            try:
                os.rename(self._path / relative, target / relative)
            except FileNotFoundError:
                return False  # gone meanwhile: another program moved it
        return True

    def end_batch(self) -> None:
        pass  # each move is final already

    def close(self) -> None:
        self._box.close()

    def _folder(self, name: str) -> Path:
        if name not in self._folders:
            path = maildir_archive(self._path, name)
            owner = self._path.stat()
            for part in (path, path / "tmp", path / "new", path / "cur"):
                part.mkdir(mode=0o700, exist_ok=True)
                _same_owner(part, owner)
            marker = path / "maildirfolder"  # Maildir++: this is a sub-folder
            if not marker.exists():
                marker.touch(mode=0o600)
                _same_owner(marker, owner)
            self._folders[name] = path
        return self._folders[name]


def maildir_archive(path: Path, name: str) -> Path:
    """Where a Maildir++ client sees `name` as a sub-folder of `path`: for
    the folder `.DMARC` of a Maildir, its sibling `.DMARC.name`; for the top
    Maildir, `.name` inside it."""
    parent = path.parent
    if path.name.startswith(".") and (parent / "cur").is_dir():
        return parent / f"{path.name}.{name}"
    return path / f".{name}"


class MboxMailbox:
    """An mbox file, locked while it is read and rewritten. Moved messages
    are removed from it at the end of each batch, by rewriting the file."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise MailboxError(f"no mbox file at {path}")
        self.name = str(path)
        self._path = path
        with _local_errors(f"cannot open {self.name}"):
            self._stat = path.stat()
            self._box = mailbox.mbox(path, create=False)
        self._folders: dict[str, mailbox.mbox] = {}
        _lock(self._box, path)
        try:
            _refuse_leading_text(self._box, path)
        except MailboxError:
            self._box.close()
            raise

    def check_folders(self, names: Sequence[str]) -> None:
        for name in names:
            check_folder_name(name, "")
            path = self._path.parent / name
            if path.resolve() == self._path.resolve():
                raise FolderNameError(
                    f"archive folder name {name!r} is the mbox being fetched"
                )
            if path.is_dir() or name.endswith("/"):
                raise FolderNameError(
                    f"archive folder name {name!r}: a folder, not an mbox file"
                )

    def keys(self) -> list[int]:
        with _local_errors(f"cannot read {self.name}"):
            return sorted(self._box.keys())

    def read(self, keys: Sequence[int]) -> Iterator[MailMessage]:
        for key in keys:
            with (
                _local_errors(f"cannot read {self.name}"),
                self._box.get_file(key) as handle,
            ):
                handle.seek(0, os.SEEK_END)  # one over the limit stays unread
                size = handle.tell()
                handle.seek(0)
                data = (
                    handle.read(MAX_MESSAGE_BYTES + 1)
                    if size <= MAX_MESSAGE_BYTES
                    else b""
                )
            where = f"{self.name}:message {key + 1}"
            if size > MAX_MESSAGE_BYTES:
                yield MailMessage(key, where, None, size)
            else:
                yield _message(key, where, data)

    def move(self, key: int, folder: str) -> bool:
        doing = f"cannot move message {key + 1} of {self.name} to {folder}"
        with _local_errors(doing, key):
            target = self._folder(folder)
            with self._box.get_file(key, from_=True) as message:
                _append_to_mbox(message, target)
            self._box.discard(key)
        return True

    def end_batch(self) -> None:
        with _local_errors(f"cannot rewrite {self.name}"):
            self._box.flush()  # a new file, renamed over the old one
            _same_owner(self._path, self._stat)

    def close(self) -> None:
        with _local_errors(f"cannot close {self.name}"):
            self._box.close()  # flushes and unlocks
            _same_owner(self._path, self._stat)
            for target in self._folders.values():
                target.close()

    def _folder(self, name: str) -> mailbox.mbox:
        if name not in self._folders:
            path = self._path.parent / name
            with _local_errors(f"cannot open {path}"):
                if not path.exists():
                    # Created as private as the mbox itself, never
                    # world-readable.
                    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
                    os.chmod(path, self._stat.st_mode & 0o7777)
                    _same_owner(path, self._stat)
                target = mailbox.mbox(path, create=True)
            _lock(target, path)
            self._folders[name] = target
        return self._folders[name]


def _maildir_files(path: Path) -> dict[str, str]:
    """Every message of a Maildir by its key (the unique part of its name),
    as its path under the Maildir; files whose name begins with a dot are
    not messages."""
    found = {}
    for sub in ("new", "cur"):
        with os.scandir(path / sub) as entries:
            for entry in entries:
                if not entry.name.startswith("."):
                    found[entry.name.split(":")[0]] = f"{sub}/{entry.name}"
    return found


def _read_regular_file(path: Path) -> bytes | int | str:
    """The bytes of a regular file; its size when that is over the limit
    (not read); or why it is no message. A link or a device is never
    followed nor read (/dev/zero never ends), and a FIFO never waited on."""
    if not stat.S_ISREG(os.lstat(path).st_mode):
        return "not a regular file"
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with open(descriptor, "rb") as handle:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            return "not a regular file"
        if status.st_size > MAX_MESSAGE_BYTES:
            return status.st_size
        return handle.read(MAX_MESSAGE_BYTES + 1)


# The mbox files are read and written through the mailbox module's own file
# handles: closing another handle to a file would drop this process's fcntl
# lock on it.


def _refuse_leading_text(box: mailbox.mbox, path: Path) -> None:
    """The standard library's mbox skips whatever comes before the first
    "From " line, and rewriting the file would drop it: a message without
    that line would be lost. Such a file is left alone; one without any
    "From " line is no mbox at all."""
    handle = box._file
    with _local_errors(f"cannot read {path}"):
        handle.seek(0)
        at_line_start, text_before = True, False
        while line := handle.readline(64 * 1024):
            if at_line_start and line.startswith(b"From "):
                break
            text_before = text_before or bool(line.strip())
            at_line_start = line.endswith(b"\n")
        else:
            if text_before:
                reason = 'it does not start with "From "'
                raise MailboxError(f"{path} is not an mbox file ({reason})")
            return  # empty, or blank lines only
    if text_before:
        raise MailboxError(
            f'{path}: text before its first "From " line, which the '
            "mbox reader would skip and rewriting would lose; left as it is"
        )


def _append_to_mbox(message, box: mailbox.mbox) -> None:
    """Copy one message, its "From " line included, to the end of the mbox
    `box` as it is, byte for byte and a megabyte at a time. A copy that
    fails is cut off again."""
    target = box._file
    start = target.seek(0, os.SEEK_END)
    try:
        if start:
            target.seek(max(0, start - 2))
            tail = target.read(2)
            target.seek(0, os.SEEK_END)
            target.write(b"\n" * (2 - len(tail) + len(tail.rstrip(b"\n"))))
        last = b""
        while chunk := message.read(_COPY_BYTES):
            target.write(chunk)
            last = chunk
        target.write(b"\n\n" if not last.endswith(b"\n") else b"\n")
        target.flush()
        os.fsync(target.fileno())
    except BaseException:
        target.truncate(start)
        raise


def _lock(box: mailbox.mbox, path: Path) -> None:
    """Lock an mbox (fcntl and a dot-lock). A dot-lock left by a killed run
    would refuse every later run: one older than STALE_LOCK_SECONDS, on a
    file whose fcntl lock was free, is removed, with a warning."""
    lock = Path(f"{path}.lock")
    try:
        box.lock()
        return
    except mailbox.ExternalClashError as error:
        try:
            age = time.time() - lock.stat().st_mtime
        except OSError:
            age = 0
        if "dot lock" not in str(error):
            box.close()
            raise MailboxError(
                f"cannot lock {path}: another program is using it"
            ) from error
        if age < STALE_LOCK_SECONDS:
            box.close()
            raise MailboxError(
                f"cannot lock {path}: another program holds {lock}; if none "
                f"does, remove it (after {STALE_LOCK_SECONDS} s it is removed "
                "as left by a killed run)"
            ) from error
    log.warning(
        "removing %s, a lock left %d seconds ago by a run that did not end",
        lock,
        age,
    )
    with _local_errors(f"cannot lock {path}"):
        lock.unlink(missing_ok=True)
        box.lock()


def _same_owner(path: Path, owner: os.stat_result) -> None:
    """Give `path` the owner and group of the mailbox, when running as root
    (only root can give a file away)."""
    if os.geteuid() == 0:
        shutil.chown(path, owner.st_uid, owner.st_gid)
    elif path.stat().st_gid != owner.st_gid:
        with contextlib.suppress(PermissionError):
            os.chown(path, -1, owner.st_gid)  # a group the user is in


def _message(key, where: str, data: bytes) -> MailMessage:
    if len(data) > MAX_MESSAGE_BYTES:
        return MailMessage(key, where, None, len(data))
    return MailMessage(key, where, data, len(data))


@contextlib.contextmanager
def _local_errors(doing: str, key=None) -> Iterator[None]:
    """OSError and the mailbox module's errors as one MailboxError line;
    with `key`, as a MessageError about that message alone."""
    try:
        yield
    except (OSError, mailbox.Error, KeyError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise (MailboxError if key is None else MessageError)(
            f"{doing}: {reason}"
        ) from error
