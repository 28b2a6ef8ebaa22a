"""An IMAP folder as a mailbox, through IMAPClient (which parsedmarc
depends on already): TLS, STARTTLS or plain, messages by UID.

Archive folder names are put in the server's personal namespace unless
they are in it already: `dmarc-processed` is `INBOX.dmarc-processed` on a
server whose folders all live under `INBOX.` (Courier, many hosts). The
folders are subscribed when created, for clients that show only those."""

import ast
import contextlib
import ipaddress
import logging
import ssl
from collections.abc import Iterator, Sequence
from datetime import date

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from dmarc_analyzer.config import ImapSettings
from dmarc_analyzer.errors import MailboxError
from dmarc_analyzer.fetch.mailbox import MailMessage, check_folder_name
from dmarc_analyzer.ingest.containers import MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)

# Bodies downloaded in one FETCH, at most (a batch could be gigabytes).
MAX_FETCH_BYTES = 100 * 1024 * 1024


class ImapMailbox:
    """One folder on an IMAP server, logged in and selected."""

    def __init__(
        self, settings: ImapSettings, password: str, since: date | None = None
    ):
        check_settings(settings)
        self.settings, self.since = settings, since
        scheme = "imaps" if settings.security == "tls" else "imap"
        self.name = (
            f"{scheme}://{settings.user}@{settings.host}:{settings.effective_port}"
            f"/{settings.folder}"
        )
        self._prefix = ""
        self._existing: set[str] = set()
        self._deleted: list[int] = []
        with _imap_errors(f"cannot connect to {self.name}"):
            self._client = _connect(settings)
        try:
            with _imap_errors(f"cannot log in to {self.name}"):
                _login(self._client, settings.user, password)
            with _imap_errors(f"cannot open {self.name}"):
                self._prefix = _personal_prefix(self._client)
                self._client.select_folder(settings.folder)
        except MailboxError:
            with contextlib.suppress(OSError):
                self._client.shutdown()
            raise

    def check_folders(self, names: Sequence[str]) -> None:
        # Compared as moved to: in the personal namespace (`reports` is the
        # source `INBOX.reports` on a server whose prefix is `INBOX.`).
        source = self.settings.folder
        for name in names:
            folder = self.qualified(name)
            same = folder == source or folder.upper() == source.upper() == "INBOX"
            check_folder_name(name, name if same else source, forbidden="*%")

    def keys(self) -> list[int]:
        criteria: list = ["UNDELETED"]
        if self.since:
            criteria += ["SINCE", self.since]
        with _imap_errors(f"cannot search {self.name}"):
            return sorted(self._client.search(criteria))

    def read(self, keys: Sequence[int]) -> Iterator[MailMessage]:
        with _imap_errors(f"cannot read {self.name}"):
            sizes = self._client.fetch(keys, ["RFC822.SIZE"])
        # Not gone meanwhile (another client moved it), in groups of at most
        # MAX_FETCH_BYTES: one FETCH of a batch could be gigabytes.
        present = [uid for uid in keys if uid in sizes]
        for group in _by_size(present, sizes):
            small = [uid for uid in group if _size(sizes, uid) <= MAX_MESSAGE_BYTES]
            with _imap_errors(f"cannot read {self.name}"):
                # PEEK: a message left where it was stays unread for its owner.
                bodies = self._client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            for uid in group:
                size, where = _size(sizes, uid), f"{self.name};UID={uid}"
                if size > MAX_MESSAGE_BYTES:
                    yield MailMessage(uid, where, None, size)
                elif uid in bodies:
                    yield MailMessage(uid, where, bodies.pop(uid)[b"BODY[]"], size)

    def move(self, key: int, folder: str) -> None:
        folder = self.qualified(folder)
        with _imap_errors(f"cannot move UID {key} of {self.name} to {folder}"):
            self._ensure_folder(folder)
            if self._client.has_capability("MOVE"):
                self._client.move([key], folder)
            else:
                self._client.copy([key], folder)
                self._client.delete_messages([key])
                self._deleted.append(key)

    def end_batch(self) -> None:
        if not self._deleted:
            return
        with _imap_errors(f"cannot expunge {self.name}"):
            if self._client.has_capability("UIDPLUS"):
                self._client.uid_expunge(self._deleted)
            else:
                self._client.expunge()
        self._deleted.clear()

    def close(self) -> None:
        # A run stopped mid-batch still expunges the messages it copied.
        with contextlib.suppress(MailboxError):
            self.end_batch()
        with contextlib.suppress(IMAPClientError, OSError):
            self._client.logout()

    def qualified(self, folder: str) -> str:
        """`folder` in the personal namespace, unless it is there already."""
        if not self._prefix or folder.upper() == "INBOX":
            return folder
        if folder.startswith(self._prefix):
            return folder
        return self._prefix + folder

    def _ensure_folder(self, folder: str) -> None:
        if folder in self._existing:
            return
        if not self._client.folder_exists(folder):
            self._client.create_folder(folder)
            self._client.subscribe_folder(folder)
        self._existing.add(folder)


def _personal_prefix(client: IMAPClient) -> str:
    """The prefix of the personal namespace, ending in its delimiter: "" on
    most servers, "INBOX." on Courier."""
    if not client.has_capability("NAMESPACE"):
        return ""
    personal = client.namespace().personal
    if not personal:
        return ""
    prefix, delimiter = personal[0]
    prefix = prefix.decode() if isinstance(prefix, bytes) else prefix or ""
    delimiter = delimiter.decode() if isinstance(delimiter, bytes) else delimiter
    if prefix and delimiter and not prefix.endswith(delimiter):
        prefix += delimiter
    return prefix


def check_settings(settings: ImapSettings) -> None:
    """Raise `MailboxError` when the server or the user is not named."""
    if not settings.host or not settings.user:
        raise MailboxError("IMAP needs a host and a user (options or settings)")


def _connect(settings: ImapSettings) -> IMAPClient:
    context = ssl.create_default_context(
        cafile=str(settings.ca_file) if settings.ca_file else None
    )
    client = IMAPClient(
        settings.host,
        port=settings.effective_port,
        ssl=settings.security == "tls",
        ssl_context=context,
        timeout=settings.timeout,
    )
    if settings.security == "starttls":
        client.starttls(context)
    elif settings.security == "plain" and not _is_loopback(settings.host):
        log.warning(
            "logging in to %s without TLS: the password is sent in the clear",
            settings.host,
        )
    return client


def _login(client: IMAPClient, user: str, password: str) -> None:
    """LOGIN takes ASCII only; a user name or password beyond it goes as
    UTF-8 through AUTHENTICATE PLAIN, where the server offers it."""
    if user.isascii() and password.isascii():
        client.login(user, password)
    elif client.has_capability("AUTH=PLAIN"):
        client.plain_login(user, password)
    else:
        raise MailboxError(
            "the server takes no user name or password beyond ASCII "
            "(it offers no AUTHENTICATE PLAIN)"
        )


def _by_size(uids: list[int], sizes: dict) -> Iterator[list[int]]:
    """`uids` in groups whose messages add up to MAX_FETCH_BYTES at most
    (one larger than that alone); those over the size limit, never
    downloaded, count for nothing."""
    group: list[int] = []
    total = 0
    for uid in uids:
        size = _size(sizes, uid)
        size = size if size <= MAX_MESSAGE_BYTES else 0
        if group and total + size > MAX_FETCH_BYTES:
            yield group
            group, total = [], 0
        group.append(uid)
        total += size
    if group:
        yield group


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _size(sizes: dict, uid: int) -> int:
    return int(sizes.get(uid, {}).get(b"RFC822.SIZE", 0))


@contextlib.contextmanager
def _imap_errors(doing: str) -> Iterator[None]:
    """Errors of the server, the network or TLS, as one MailboxError line."""
    try:
        yield
    # Timeouts and TLS included; UnicodeError: a host name IDNA refuses.
    except (IMAPClientError, OSError, UnicodeError) as error:
        raise MailboxError(f"{doing}: {_reason(error)}") from error


def _reason(error: Exception) -> str:
    reason = str(error) or type(error).__name__
    # IMAPClient gives the server's words as bytes, or as their repr (a
    # LoginError): b'[AUTHENTICATIONFAILED] Authentication failed.'
    if reason[:2] in ("b'", 'b"') and reason.endswith(reason[1]):
        with contextlib.suppress(ValueError, SyntaxError):
            reason = ast.literal_eval(reason).decode("utf-8", "replace")
    if isinstance(error, ssl.SSLCertVerificationError):
        reason += " (a server with its own certificate: set ca_file, or --ca-file)"
    return reason
