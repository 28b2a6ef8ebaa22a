"""Find the report XML inside whatever a receiver sent: plain XML, gzip,
zip, or an e-mail message carrying any of those, nested to a small depth.

What a payload is gets decided by its bytes, never by its name or declared
MIME type: receivers name and label their attachments creatively.

Payloads come out as streams: a report of half a million records is a few
hundred MB of XML, which gzip and zip members give out chunk by chunk
instead of all at once. E-mail messages are read whole; what they carry is
compressed.
"""

import contextlib
import email
import email.errors
import email.feedparser
import email.policy
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import BinaryIO

from dmarc_analyzer.errors import NoAggregateReport, OtherReportType, ReportRefused

# Enough to tell every format apart (sniff looks no further).
SNIFF_BYTES = 4096
CHUNK_BYTES = 256 * 1024

# Far beyond any real report (the largest seen are a few hundred MB of XML).
MAX_EXPANDED_BYTES = 1024 * 1024 * 1024
# All that one file's gzip and zip layers expand to, every member counted.
MAX_TOTAL_EXPANDED_BYTES = 2 * MAX_EXPANDED_BYTES
# One e-mail is parsed whole by the standard library, at about ten times its
# size in memory; report mails are a few MB, and servers refuse far less.
MAX_MESSAGE_BYTES = 100 * 1024 * 1024
# Report mails have a few parts; forwarded digests some dozens.
MAX_MESSAGE_PARTS = 1000
# A zip inside gzip or inside another zip is held in memory to be read.
MAX_NESTED_ZIP_BYTES = 100 * 1024 * 1024
# What is read of a payload that is no report, to say what it is instead.
DESCRIBED_BYTES = 64 * 1024
_WHITESPACE = b" \t\r\n"
MAX_DEPTH = 4
# gzip members one after another (RFC 1952); real reports have one.
MAX_GZIP_MEMBERS = 10_000
MAX_ZIP_MEMBERS = 1000
# Folders and macOS clutter included; checked before zipfile reads them all.
MAX_ZIP_ENTRIES = 10 * MAX_ZIP_MEMBERS
# The directory those entries take, names included (each is 46 bytes and its
# name, comment and extra fields); checked too, as the count may lie.
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024 * 1024

# A header line: a field name of printable ASCII but ":", a colon, a value.
_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_MESSAGE_HEADERS = re.compile(
    rb"^(from|to|subject|date|message-id|mime-version|content-type|received):",
    re.IGNORECASE | re.MULTILINE,
)
_OTHER_FORMATS = {
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"BZh": "a bzip2 file",
    b"\xfd7zXZ": "an xz file",
}


# What zipfile raises on a damaged archive or member (a version or method it
# does not know is NotImplementedError; a bad password, RuntimeError).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    EOFError,
    zlib.error,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)

# Eight or more of one character in a row, in a preview of unknown content.
_RUN = re.compile(r"(.)\1{7,}", re.DOTALL)
# What report archives use; zipfile's output of the others is unbounded.
_ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_ZIP_METHODS_KNOWN = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA"}

# An mbox "From " line after a blank line: where the next message starts.
_MBOX_SEPARATOR = re.compile(rb"\n\r?\nFrom [^\n]*\n")


@dataclass(frozen=True, slots=True)
class Payload:
    """The bytes of one XML document and where they were found."""

    where: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PayloadStream:
    """One XML document as a stream, and where it was found. Read it before
    asking for the next one: they may share the underlying file."""

    where: str
    stream: BinaryIO


def extract_payloads(data: bytes, where: str = "") -> Iterator[Payload]:
    """Yield every XML document in `data`; raise `ReportRefused` if none is a
    candidate or a container is broken."""
    for payload in stream_payloads(io.BytesIO(data), where):
        yield Payload(payload.where, payload.stream.read())


def stream_payloads(source: BinaryIO, where: str = "") -> Iterator[PayloadStream]:
    """Like `extract_payloads`, for a file: each XML document as a stream.
    Errors in compressed data surface while the stream is read."""
    yield from _extract(source, where, 0, _Expansion())


class _Expansion:
    """What one file's containers have expanded to so far, all together: each
    member within its cap, a thousand of them could still be a bomb."""

    def __init__(self):
        self._total = 0

    def add(self, size: int, where: str) -> None:
        self._total += size
        if self._total > MAX_TOTAL_EXPANDED_BYTES:
            raise ReportRefused(
                f"{_at(where)}the file's archives expand beyond "
                f"{MAX_TOTAL_EXPANDED_BYTES:,} bytes in all"
            )


def _extract(
    source: BinaryIO,
    where: str,
    depth: int,
    expansion: _Expansion,
    container: str = "",
) -> Iterator[PayloadStream]:
    """The payloads in `source`; `container` names what it was unpacked
    from (gzip), for the reason given when it holds no report."""
    if depth > MAX_DEPTH:
        raise ReportRefused(f"{_at(where)}containers nested more than {MAX_DEPTH} deep")

    head, stream = _peek(source)
    if head and not head.lstrip(b"\xef\xbb\xbf" + _WHITESPACE):
        head, stream = _peek(_after_whitespace(stream, where))
    kind = sniff(head)
    if kind == "xml":
        yield PayloadStream(where, stream)
    elif kind == "gzip":
        gunzipped = _GunzipStream(stream, where, expansion)
        yield from _extract(gunzipped, where, depth + 1, expansion, "gzip")
    elif kind == "zip":
        yield from _unzip(stream, where, depth, expansion)
    elif kind == "email" and is_mbox(head):
        yield from _from_mbox(stream, where, depth, expansion)
    elif kind == "email":
        data = _read_capped(stream, where, MAX_MESSAGE_BYTES, "an e-mail message")
        yield from _from_email(data, where, depth, expansion)
    else:
        data = stream.read(DESCRIBED_BYTES)
        refused = OtherReportType if _is_tls_report(data) else ReportRefused
        what = describe_unknown(data, inside=container)
        raise refused(f"{_at(where)}{what}")


def sniff(data: bytes) -> str:
    """Name the container format of `data` from its first bytes."""
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"

    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")):
        return "xml"  # UTF-16 or -32 with a byte-order mark; lxml decodes it
    if _looks_like_email(head):
        return "email"
    return "unknown"


def describe_unknown(data: bytes, inside: str = "") -> str:
    """Say in a few words what a payload that is no report seems to be;
    `inside` names the container it came out of, if any (its content is
    what is described, not the container)."""
    stripped = data.strip()
    if not stripped:
        return (
            f"empty {inside}: no report in it" if inside else "empty: no report in it"
        )
    holding = f"{inside} holding " if inside else ""
    for magic, name in _OTHER_FORMATS.items():
        if stripped.startswith(magic):
            return f"{holding}{name}, not a DMARC report"
    if data[257:262] == b"ustar":  # a tar header's magic, after the file name
        return f"{holding}a tar archive, not a DMARC report"
    if stripped.startswith((b"{", b"[")):
        if _is_tls_report(stripped):
            return f"{holding}an SMTP TLS report (JSON), not a DMARC aggregate report"
        return f"{holding}JSON, not a DMARC aggregate report"

    preview = stripped[:40].decode("utf-8", "replace").splitlines()[0]
    # A run of one character ('\x00' forty times) is shown once, counted.
    preview = _RUN.sub(lambda run: f"{run.group(1)}[{len(run.group())} times]", preview)
    if inside:
        kind = "text" if _is_text(stripped[:200]) else "data"
        holding = f"{inside} holding {kind} that is "
    return f"{holding}not XML, gzip, zip or e-mail (starts with {preview!r})"


def _is_text(data: bytes) -> bool:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return "".join(text.split()).isprintable()


def _is_tls_report(data: bytes) -> bool:
    """JSON with the key every SMTP TLS report (RFC 8460) has."""
    stripped = data.lstrip()
    return stripped.startswith((b"{", b"[")) and b'"policies"' in stripped[:65536]


def is_mbox(head: bytes) -> bool:
    """An mbox file: e-mail messages, each after a "From " line."""
    return head.startswith(b"From ") and _looks_like_email(head)


def _looks_like_email(head: bytes) -> bool:
    """Header lines first (after an mbox "From " line), among them one that
    every message has."""
    if head.startswith(b"From "):
        head = head.partition(b"\n")[2]
    return bool(_HEADER_LINE.match(head)) and bool(_MESSAGE_HEADERS.search(head))


def _peek(source: BinaryIO) -> tuple[bytes, BinaryIO]:
    """The first bytes of `source`, and a stream that still starts with them."""
    head, ended = b"", False
    while len(head) < SNIFF_BYTES:
        chunk = source.read(SNIFF_BYTES - len(head))
        if not chunk:
            ended = True
            break
        head += chunk
    if source.seekable():
        source.seek(-len(head), io.SEEK_CUR)
        return head, source
    if ended:  # a small payload, all read: no buffers needed around it
        return head, _Held(head)
    return head, io.BufferedReader(_Prefixed(head, source), CHUNK_BYTES)


class _Held(io.BytesIO):
    """All of a stream that could not seek, read while it was sniffed. It
    still says it cannot seek, so that it is taken as that stream would be
    (a zip in it is held, and capped, as any nested zip)."""

    def seekable(self) -> bool:
        return False


def _read_capped(
    stream: BinaryIO,
    where: str,
    limit: int = MAX_EXPANDED_BYTES,
    what: str = "",
) -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        subject = f"{what} of more than" if what else "expands beyond"
        raise ReportRefused(f"{_at(where)}{subject} {limit:,} bytes")
    return data


def _after_whitespace(stream: BinaryIO, where: str) -> BinaryIO:
    """The stream from its first byte that is not blank: a report may follow
    any amount of whitespace, which is skipped without being kept."""
    skipped = 0
    while chunk := stream.read(CHUNK_BYTES):
        rest = chunk.lstrip(b"\xef\xbb\xbf" + _WHITESPACE)
        if rest:
            return io.BufferedReader(_Prefixed(rest, stream), CHUNK_BYTES)
        skipped += len(chunk)
        if skipped > MAX_EXPANDED_BYTES:
            raise ReportRefused(
                f"{_at(where)}more than {MAX_EXPANDED_BYTES:,} blank bytes"
            )
    return io.BytesIO(b"")


class _Prefixed(io.RawIOBase):
    """Bytes already read from a stream, then the rest of that stream."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self._head, self._rest = head, rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head:
            size = min(len(buffer), len(self._head))
            buffer[:size], self._head = self._head[:size], self._head[size:]
            return size
        # Straight into the buffer: read() would first make a zeroed copy
        # of the buffer's size (256 KB), for a few KB of a small report.
        return self._rest.readinto(buffer)


class _GunzipStream(io.RawIOBase):
    """gzip data decompressed as it is read, with bounded output: a gzip bomb
    stops at the cap instead of filling memory.

    Members written one after another are one stream (RFC 1952); other bytes
    after the end are ignored, as most readers do.
    """

    def __init__(self, compressed: BinaryIO, where: str, expansion: _Expansion):
        self._compressed = compressed
        self._where = where
        self._expansion = expansion
        self._decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self._pending = b""  # compressed bytes not yet given to the decompressor
        self._expanded = 0
        self._members = 1
        self._done = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._done:
            chunk = self._decompress(len(buffer))
            if chunk:
                buffer[: len(chunk)] = chunk
                return len(chunk)
        return 0

    def _decompress(self, size: int) -> bytes:
        if not self._pending:
            self._pending = self._compressed.read(CHUNK_BYTES)
            if not self._pending and not self._decompressor.eof:
                raise ReportRefused(f"{_at(self._where)}truncated gzip data")
        try:
            chunk = self._decompressor.decompress(self._pending, size)
        except zlib.error as error:
            raise ReportRefused(
                f"{_at(self._where)}broken gzip data: {error}"
            ) from error
        self._pending = self._decompressor.unconsumed_tail
        self._count(len(chunk))
        if self._decompressor.eof:
            self._next_member()
        return chunk

    def _count(self, size: int) -> None:
        self._expansion.add(size, self._where)
        self._expanded += size
        if self._expanded > MAX_EXPANDED_BYTES:
            raise ReportRefused(
                f"{_at(self._where)}gzip expands beyond {MAX_EXPANDED_BYTES:,} bytes"
            )

    def _next_member(self) -> None:
        rest = self._decompressor.unused_data + self._pending
        if len(rest) < 2:
            rest += self._compressed.read(2)
        if rest.startswith(b"\x1f\x8b"):
            # Thousands of empty members cost far more than their bytes.
            self._members += 1
            if self._members > MAX_GZIP_MEMBERS:
                raise ReportRefused(
                    f"{_at(self._where)}gzip of more than {MAX_GZIP_MEMBERS:,} members"
                )
            self._decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
            self._pending = rest
        else:
            self._done, self._pending = True, b""


def _unzip(
    source: BinaryIO, where: str, depth: int, expansion: _Expansion
) -> Iterator[PayloadStream]:
    if not source.seekable():
        # A zip inside gzip or zip: zipfile needs to seek; the archive is
        # still compressed, so holding it is cheap.
        data = _read_capped(source, where, MAX_NESTED_ZIP_BYTES, "a nested zip")
        source = io.BytesIO(data)
    _check_entry_count(source, where)
    try:
        archive = zipfile.ZipFile(source)
        members = [info for info in archive.infolist() if _is_report_member(info)]
    except _ZIP_ERRORS as error:
        raise ReportRefused(f"{_at(where)}broken zip archive: {error}") from error

    if not members:
        raise ReportRefused(
            f"{_at(where)}zip archive holds no files but folders, empty files "
            "and desktop clutter"
        )
    if len(members) > MAX_ZIP_MEMBERS:
        raise ReportRefused(
            f"{_at(where)}zip archive holds {len(members):,} files "
            f"(more than {MAX_ZIP_MEMBERS:,})"
        )

    for info in members:
        member_where = f"{where}:{info.filename}" if where else info.filename
        member = _open_member(archive, info, member_where, expansion)
        yield from _extract(member, member_where, depth + 1, expansion)


def _check_entry_count(source: BinaryIO, where: str) -> None:
    """Refuse a zip whose directory lists more entries than any report
    archive, before zipfile builds an object for each of them."""
    size = source.seek(0, io.SEEK_END)
    source.seek(max(0, size - 65_536 - 22))
    tail = source.read()
    source.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or len(tail) < end + 22:
        return  # zipfile says what is wrong
    entries = int.from_bytes(tail[end + 10 : end + 12], "little")
    directory = int.from_bytes(tail[end + 12 : end + 16], "little")
    zip64 = tail.rfind(b"PK\x06\x06", 0, end)
    if zip64 >= 0 and len(tail) >= zip64 + 48:
        if entries == 0xFFFF:
            entries = int.from_bytes(tail[zip64 + 32 : zip64 + 40], "little")
        if directory == 0xFFFFFFFF:
            directory = int.from_bytes(tail[zip64 + 40 : zip64 + 48], "little")
    # The count can lie: zipfile reads as many entries as the directory holds.
    if directory > MAX_ZIP_DIRECTORY_BYTES:
        raise ReportRefused(
            f"{_at(where)}zip archive's directory is {directory:,} bytes "
            f"(more than {MAX_ZIP_DIRECTORY_BYTES:,})"
        )
    if entries > MAX_ZIP_ENTRIES:
        raise ReportRefused(
            f"{_at(where)}zip archive lists {entries:,} entries "
            f"(more than {MAX_ZIP_ENTRIES:,})"
        )


# Files the archiver's desktop adds beside what was zipped: the Finder's
# folder settings (.DS_Store), Windows Explorer's thumbnail cache and folder
# settings. They are never a report, and refusing a real report for them
# would lose it. AppleDouble "._" files and __MACOSX/ hold macOS resource
# forks.
_CLUTTER_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini", "ehthumbs.db"})


def _is_report_member(info: zipfile.ZipInfo) -> bool:
    """Skip folders, desktop clutter and empty files (nothing to read)."""
    name = info.filename
    base = name.rsplit("/", 1)[-1]
    return not (
        info.is_dir()
        or name.startswith("__MACOSX/")
        or base.startswith("._")
        or base.lower() in _CLUTTER_NAMES
        or info.file_size == 0
    )


def _open_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, expansion: _Expansion
) -> BinaryIO:
    if info.flag_bits & 0x1:
        raise ReportRefused(f"{_at(where)}zip member is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        # zipfile gives bzip2 and LZMA chunks out unbounded: a few KB of
        # bzip2 become GBs in memory before any cap of ours is checked.
        method = _ZIP_METHODS_KNOWN.get(
            info.compress_type, f"method {info.compress_type}"
        )
        raise ReportRefused(
            f"{_at(where)}zip member compressed with {method}: "
            "only stored and deflate members are read"
        )
    if info.file_size > MAX_EXPANDED_BYTES:
        raise ReportRefused(
            f"{_at(where)}zip member expands beyond {MAX_EXPANDED_BYTES:,} bytes"
        )
    with _zip_errors(where):
        member = archive.open(info)
    return io.BufferedReader(_ZipMemberStream(member, where, expansion), CHUNK_BYTES)


class _ZipMemberStream(io.RawIOBase):
    """A zip member as it is decompressed: its errors (a bad CRC shows only at
    the end) become refusals, and its size is capped whatever the header
    claimed."""

    def __init__(self, member: BinaryIO, where: str, expansion: _Expansion):
        self._member, self._where, self._expanded = member, where, 0
        self._expansion = expansion

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        with _zip_errors(self._where):
            chunk = self._member.read(len(buffer))
        self._expansion.add(len(chunk), self._where)
        self._expanded += len(chunk)
        if self._expanded > MAX_EXPANDED_BYTES:
            raise ReportRefused(
                f"{_at(self._where)}zip member expands beyond "
                f"{MAX_EXPANDED_BYTES:,} bytes"
            )
        buffer[: len(chunk)] = chunk
        return len(chunk)


@contextlib.contextmanager
def _zip_errors(where: str) -> Iterator[None]:
    try:
        yield
    except _ZIP_ERRORS as error:
        raise ReportRefused(f"{_at(where)}unreadable zip member: {error}") from error


def _from_mbox(
    stream: BinaryIO, where: str, depth: int, expansion: _Expansion
) -> Iterator[PayloadStream]:
    """Every message of an mbox nested in an archive, each of which must
    carry a report (an mbox file given to ingest is read message by message
    by the pipeline, each on its own)."""
    for number, message in enumerate(mbox_messages(stream, where), start=1):
        message_where = f"{where}:message {number}" if where else f"message {number}"
        yield from _from_email(message, message_where, depth, expansion)


def mbox_messages(stream: BinaryIO, where: str = "") -> Iterator[bytes]:
    """The messages of an mbox one at a time, without their "From " lines:
    only one message, within MAX_MESSAGE_BYTES, is held at once."""
    buffer, searched = bytearray(), 1
    while True:
        chunk = stream.read(CHUNK_BYTES)
        buffer += chunk
        while found := _MBOX_SEPARATOR.search(buffer, searched):
            yield _without_from_line(buffer[: found.start()])
            del buffer[: found.start()]
            searched = 1
        if len(buffer) > MAX_MESSAGE_BYTES:
            raise ReportRefused(
                f"{_at(where)}an e-mail message of more than "
                f"{MAX_MESSAGE_BYTES:,} bytes"
            )
        if not chunk:
            break
        # A separator cut by the end of this chunk is found next time.
        searched = max(1, len(buffer) - 1024)
    if buffer.strip():
        yield _without_from_line(buffer)


def _without_from_line(message: bytearray) -> bytes:
    message = message.lstrip(b"\r\n")
    if message.startswith(b"From "):
        message = message.partition(b"\n")[2]
    return bytes(message)


def _from_email(
    data: bytes, where: str, depth: int, expansion: _Expansion
) -> Iterator[PayloadStream]:
    for attachment in email_attachments(data, where):
        yield from _extract(
            io.BytesIO(attachment.content), attachment.where, depth + 1, expansion
        )


@dataclass(frozen=True, slots=True)
class Attachment:
    """A part of an e-mail message that may hold a report, and its name."""

    where: str
    content: bytes


def email_attachments(data: bytes, where: str = "") -> list[Attachment]:
    """The parts of an e-mail message that may hold a report, forwarded
    messages' included. Raises `OtherReportType` for a failure or SMTP TLS
    report, `ReportRefused` when no part may hold a report."""
    parts = _message_parts(data, where)
    found, damaged = [], ""
    for part_number, part in enumerate(parts):
        if part.is_multipart() or part.get_content_type() in _OTHER_REPORTS:
            continue
        content = _decoded_payload(part)
        if not content or sniff(content) not in ("xml", "gzip", "zip"):
            damaged = damaged or _damage(part, content)
            continue  # a logo, a signature...
        if _is_body_text(part) and b"<feedback" not in content[:65536]:
            continue  # the message's own text or HTML, not an attached report
        name = part.get_filename() or f"part {part_number}"
        found.append(Attachment(f"{where}: {name}" if where else name, content))

    # A failure or TLS report beside an aggregate one does not hide it.
    report_type = None if found else _other_report_type(parts)
    if report_type:
        raise OtherReportType(
            f"{_at(where)}{report_type}, not a DMARC aggregate report"
        )
    if not found and damaged:
        raise ReportRefused(f"{_at(where)}{damaged}")
    if not found and _cut_short(parts):
        raise ReportRefused(
            f"{_at(where)}e-mail message cut short (its closing MIME boundary "
            "is missing), no whole report in it"
        )
    if not found:
        raise NoAggregateReport(
            f"{_at(where)}e-mail message carries no aggregate report"
        )
    return found


def expansion_budget() -> _Expansion:
    """What the archives of one file or message may expand to, in all: give
    the same budget to each `attachment_payloads` call of a message."""
    return _Expansion()


def attachment_payloads(
    attachment: Attachment, budget: _Expansion
) -> Iterator[PayloadStream]:
    """`stream_payloads` for one attachment of an e-mail message."""
    return _extract(io.BytesIO(attachment.content), attachment.where, 1, budget)


_BASE64_DEFECTS = (
    email.errors.InvalidBase64PaddingDefect,
    email.errors.InvalidBase64CharactersDefect,
    email.errors.InvalidBase64LengthDefect,
)


def _damage(part: EmailMessage, content: bytes | None) -> str:
    """Why an attachment that could have been a report was not read: its
    base64 damaged or cut short (a message saved half-way), or empty. The
    defects of the decoding are known once the content was decoded."""
    name = part.get_filename()
    if not name or _is_body_text(part):
        return ""
    if any(isinstance(defect, _BASE64_DEFECTS) for defect in part.defects):
        return f"{name}: the attachment's base64 is damaged or cut short"
    if not content:
        return f"{name}: the attachment is empty"
    return ""


def _cut_short(parts: list[EmailMessage]) -> bool:
    return any(
        isinstance(defect, email.errors.CloseBoundaryNotFoundDefect)
        for part in parts
        for defect in part.defects
    )


def _is_body_text(part: EmailMessage) -> bool:
    return (
        part.get_content_type() in ("text/plain", "text/html")
        and part.get_content_disposition() != "attachment"
    )


def _decoded_payload(part: EmailMessage) -> bytes | None:
    try:
        content = part.get_payload(decode=True)
    except (ValueError, LookupError):
        return None
    return content if isinstance(content, bytes) else None


def _message_parts(data: bytes, where: str) -> list[EmailMessage]:
    """The message and every part of it, forwarded messages included. The
    standard library parses and walks nested parts by recursion: a message
    nested a thousand deep is refused, not a crash."""
    policy = email.policy.default.clone(message_factory=_PartCounter(where))
    try:
        parser = email.feedparser.BytesFeedParser(policy=policy)
        # In chunks: fed whole, the message is copied to text whole first.
        for start in range(0, len(data), CHUNK_BYTES):
            parser.feed(data[start : start + CHUNK_BYTES])
        return list(parser.close().walk())
    except RecursionError:
        raise ReportRefused(
            f"{_at(where)}e-mail message nested too deeply to read"
        ) from None


_OTHER_REPORTS = {
    "message/feedback-report": "a DMARC failure (forensic) report",
    "application/tlsrpt+gzip": "an SMTP TLS report",
    "application/tlsrpt+json": "an SMTP TLS report",
}


class _PartCounter:
    """Makes the parts of one message as the parser finds them, and refuses
    the message at MAX_MESSAGE_PARTS: a few MB of tiny parts are millions of
    objects, and minutes to walk."""

    def __init__(self, where: str):
        self._where, self._parts = where, 0

    def __call__(self, policy: email.policy.Policy) -> EmailMessage:
        self._parts += 1
        if self._parts > MAX_MESSAGE_PARTS:
            raise ReportRefused(
                f"{_at(self._where)}e-mail message of more than "
                f"{MAX_MESSAGE_PARTS:,} parts"
            )
        return EmailMessage(policy)


def _other_report_type(parts: list[EmailMessage]) -> str | None:
    """Recognise the other kinds of report that reach a rua= mailbox."""
    for part in parts:
        if part.get_content_type() in _OTHER_REPORTS:
            return _OTHER_REPORTS[part.get_content_type()]
    return None


def _at(where: str) -> str:
    return f"{where}: " if where else ""
