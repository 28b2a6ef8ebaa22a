"""Find the report XML inside whatever a receiver sent: plain XML, gzip,
zip, or an e-mail message carrying any of those, nested to a small depth.

What a payload is gets decided by its bytes, never by its name or declared
MIME type: receivers name and label their attachments creatively.
"""

import email
import email.policy
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage

from dmarc_analyzer.errors import ReportRefused

# Far beyond any real report (the largest seen are a few hundred MB of XML).
MAX_EXPANDED_BYTES = 1024 * 1024 * 1024
MAX_DEPTH = 4
MAX_ZIP_MEMBERS = 1000

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


# An mbox "From " line: at the very start, or after a blank line.
_MBOX_SEPARATOR = re.compile(rb"(?:\A|\n\r?\n)From [^\n]*\n")


@dataclass(frozen=True, slots=True)
class Payload:
    """The bytes of one XML document and where they were found."""

    where: str
    data: bytes


def extract_payloads(data: bytes, where: str = "") -> Iterator[Payload]:
    """Yield every XML document in `data`; raise `ReportRefused` if none is a
    candidate or a container is broken."""
    yield from _extract(data, where, depth=0)


def _extract(data: bytes, where: str, depth: int) -> Iterator[Payload]:
    if depth > MAX_DEPTH:
        raise ReportRefused(f"{_at(where)}containers nested more than {MAX_DEPTH} deep")

    kind = sniff(data)
    if kind == "xml":
        yield Payload(where, data)
    elif kind == "gzip":
        yield from _extract(_gunzip(data, where), where, depth + 1)
    elif kind == "zip":
        yield from _unzip(data, where, depth)
    elif kind == "email" and data.startswith(b"From "):
        yield from _from_mbox(data, where, depth)
    elif kind == "email":
        yield from _from_email(data, where, depth)
    else:
        raise ReportRefused(f"{_at(where)}{describe_unknown(data)}")


def sniff(data: bytes) -> str:
    """Name the container format of `data` from its first bytes."""
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"

    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "xml"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"  # UTF-16 with a byte-order mark; the XML parser decodes it
    if _looks_like_email(head):
        return "email"
    return "unknown"


def describe_unknown(data: bytes) -> str:
    """Say in a few words what a payload that is no report seems to be."""
    stripped = data.strip()
    if not stripped:
        return "empty: no report in it"
    for magic, name in _OTHER_FORMATS.items():
        if stripped.startswith(magic):
            return f"{name}, not a DMARC report"
    if stripped.startswith((b"{", b"[")):
        if b'"policies"' in stripped[:65536]:
            return "an SMTP TLS report (JSON), not a DMARC aggregate report"
        return "JSON, not a DMARC aggregate report"

    preview = stripped[:40].decode("utf-8", "replace").splitlines()[0]
    return f"not XML, gzip, zip or e-mail (starts with {preview!r})"


def _looks_like_email(head: bytes) -> bool:
    """Header lines first (after an mbox "From " line), among them one that
    every message has."""
    if head.startswith(b"From "):
        head = head.partition(b"\n")[2]
    return bool(_HEADER_LINE.match(head)) and bool(_MESSAGE_HEADERS.search(head))


def _gunzip(data: bytes, where: str) -> bytes:
    # One decompressor, bounded output: a gzip bomb stops at the cap instead
    # of filling memory. Bytes after the end of the stream are ignored.
    # Members written one after another are one stream (RFC 1952); other
    # bytes after the end are ignored.
    expanded, rest = b"", data
    while rest.startswith(b"\x1f\x8b"):
        decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        try:
            expanded += decompressor.decompress(
                rest, MAX_EXPANDED_BYTES + 1 - len(expanded)
            )
        except zlib.error as error:
            raise ReportRefused(f"{_at(where)}broken gzip data: {error}") from error
        if len(expanded) > MAX_EXPANDED_BYTES:
            raise ReportRefused(
                f"{_at(where)}gzip expands beyond {MAX_EXPANDED_BYTES:,} bytes"
            )
        if not decompressor.eof:
            raise ReportRefused(f"{_at(where)}truncated gzip data")
        rest = decompressor.unused_data
    return expanded


def _unzip(data: bytes, where: str, depth: int) -> Iterator[Payload]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if _is_report_member(info)]
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise ReportRefused(f"{_at(where)}broken zip archive: {error}") from error

    if not members:
        raise ReportRefused(f"{_at(where)}zip archive holds no files")
    if len(members) > MAX_ZIP_MEMBERS:
        raise ReportRefused(
            f"{_at(where)}zip archive holds {len(members):,} files "
            f"(more than {MAX_ZIP_MEMBERS:,})"
        )

    for info in members:
        member_where = f"{where}:{info.filename}" if where else info.filename
        yield from _extract(
            _read_member(archive, info, member_where), member_where, depth + 1
        )


def _is_report_member(info: zipfile.ZipInfo) -> bool:
    """Skip folders and the resource-fork files macOS adds to archives."""
    name = info.filename
    base = name.rsplit("/", 1)[-1]
    return not (info.is_dir() or name.startswith("__MACOSX/") or base.startswith("._"))


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> bytes:
    if info.flag_bits & 0x1:
        raise ReportRefused(f"{_at(where)}zip member is encrypted")
    if info.file_size > MAX_EXPANDED_BYTES:
        raise ReportRefused(
            f"{_at(where)}zip member expands beyond {MAX_EXPANDED_BYTES:,} bytes"
        )
    try:
        with archive.open(info) as member:
            content = member.read(MAX_EXPANDED_BYTES + 1)
    except (
        zipfile.BadZipFile,
        EOFError,
        zlib.error,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OSError,
    ) as error:
        raise ReportRefused(f"{_at(where)}unreadable zip member: {error}") from error

    if len(content) > MAX_EXPANDED_BYTES:
        raise ReportRefused(
            f"{_at(where)}zip member expands beyond {MAX_EXPANDED_BYTES:,} bytes"
        )
    return content


def _from_mbox(data: bytes, where: str, depth: int) -> Iterator[Payload]:
    """Every message of an mbox file, each of which must carry a report."""
    starts = [match.end() for match in _MBOX_SEPARATOR.finditer(data)]
    for number, (start, end) in enumerate(
        zip(starts, [*starts[1:], len(data)], strict=True), start=1
    ):
        message_where = f"{where}:message {number}" if where else f"message {number}"
        yield from _from_email(data[start:end], message_where, depth)


def _from_email(data: bytes, where: str, depth: int) -> Iterator[Payload]:
    message = email.message_from_bytes(data, policy=email.policy.default)
    report_type = _other_report_type(message)
    if report_type:
        raise ReportRefused(f"{_at(where)}{report_type}, not a DMARC aggregate report")

    found = False
    for part_number, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        content = _decoded_payload(part)
        if not content or sniff(content) not in ("xml", "gzip", "zip"):
            continue  # a logo, a signature...
        if _is_body_text(part) and b"<feedback" not in content[:65536]:
            continue  # the message's own text or HTML, not an attached report
        name = part.get_filename() or f"part {part_number}"
        part_where = f"{where}:{name}" if where else name
        found = True
        yield from _extract(content, part_where, depth + 1)

    if not found:
        raise ReportRefused(f"{_at(where)}e-mail message carries no aggregate report")


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


def _other_report_type(message: EmailMessage) -> str | None:
    """Recognise the other kinds of report that reach a rua= mailbox."""
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/feedback-report":
            return "a DMARC failure (forensic) report"
        if content_type in ("application/tlsrpt+gzip", "application/tlsrpt+json"):
            return "an SMTP TLS report"
    return None


def _at(where: str) -> str:
    return f"{where}: " if where else ""
