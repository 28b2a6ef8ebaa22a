"""Undo, as the document flows to the parser, the damage real reporters do
that leaves the report itself intact: bytes invalid in the declared
encoding, control characters, markup before or after <feedback>.

The document is decoded chunk by chunk and handed on as UTF-8, so a report
of half a million records with one bad byte is repaired in the memory of a
few chunks, never held whole.
"""

import codecs
import re
from typing import BinaryIO

from dmarc_analyzer.errors import ReportRefused

CHUNK_BYTES = 32 * 1024
# How far <feedback> is looked for, and how much text after </feedback> is
# held back to see whether another one follows; beyond it the text goes on
# to the parser, which refuses it.
LOOKAHEAD_CHARS = 1024 * 1024
# Text kept back at each step so that a tag cut by a chunk boundary is seen
# whole; longer than any </prefix:feedback > a report writes.
_CARRY_CHARS = 256

_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']"""
)
_XML_DECLARATION = re.compile(r"<\?xml[^>]*\?>")
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FEEDBACK_START = re.compile(r"<(?:[\w.-]+:)?feedback[\s>]")
_FEEDBACK_END = re.compile(r"</(?:[\w.-]+:)?feedback\s*>")
_DOCTYPE = re.compile(r"<!DOCTYPE", re.IGNORECASE)
HTML_PAGE = "an HTML page, not a DMARC aggregate report"
# HTML is rarely well-formed XML: recognised by its start instead.
_HTML_START = re.compile(
    r"\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<(?:!DOCTYPE\s+)?html[\s>]",
    re.IGNORECASE | re.DOTALL,
)


class DamagedXml(ReportRefused):
    """The document is not well-formed, or does not start at <feedback>.

    `RepairingReader` may still make a report of it: the caller can try again
    on the repaired document, after undoing whatever it did with the records
    so far.
    """


class Undecodable(ReportRefused):
    """The declared encoding is unknown or is not a text encoding: there is
    nothing to repair with, and this says why better than the parser did."""


class RepairingReader:
    """A file-like object giving the repaired document as UTF-8 bytes; what
    was repaired is appended to `repairs` (each kind once) as it is found."""

    def __init__(self, source: BinaryIO, repairs: list[str]):
        self._source = source
        self._repairs = repairs
        head = source.read(CHUNK_BYTES)
        self._encoding = _encoding_of(head)
        self._decoder = _decoder(self._encoding, "strict")
        self._pending = head  # bytes read but not decoded yet
        self._unsent = ""  # repaired text not handed on yet
        self._started = False  # <feedback> found, or given up looking
        self._ended = False  # a </feedback> handed on
        self._out = b""
        self._eof = False

    def read(self, size: int = -1) -> bytes:
        size = size if size > 0 else CHUNK_BYTES
        while len(self._out) < size and not self._eof:
            self._step()
        data, self._out = self._out[:size], self._out[size:]
        return data

    def _step(self) -> None:
        raw = self._pending or self._source.read(CHUNK_BYTES)
        self._pending = b""
        final = not raw
        self._unsent += self._clean(self._decode(raw, final))
        if not self._started:
            self._look_for_start(final)
        if self._started:
            self._hand_on(final)
        self._eof = final

    def _decode(self, raw: bytes, final: bool) -> str:
        state = self._decoder.getstate()
        try:
            return self._decoder.decode(raw, final)
        except UnicodeDecodeError:
            pass
        except (UnicodeError, TypeError, ValueError) as error:
            raise Undecodable(f"cannot decode as {self._encoding}") from error

        # The chunk again, with the bad bytes replaced; then strict again.
        replacing = _decoder(self._encoding, "replace")
        replacing.setstate(state)
        text = replacing.decode(raw, final)
        self._decoder.setstate(replacing.getstate())
        self._note(f"replaced bytes that are not valid {self._encoding}")
        return text

    def _clean(self, text: str) -> str:
        if not self._started and not self._unsent:
            text = text.lstrip("\ufeff")
        cleaned = _CONTROL_CHARACTERS.sub("", text)
        if len(cleaned) != len(text):
            self._note("removed control characters")
        return cleaned

    def _look_for_start(self, final: bool) -> None:
        start = _FEEDBACK_START.search(self._unsent)
        if start:
            before = self._unsent[: start.start()]
            if _DOCTYPE.search(before):
                raise ReportRefused(
                    "unsafe XML refused: a DTD (entities are never expanded)"
                )
            if _XML_DECLARATION.sub("", before, count=1).strip():
                self._note("ignored markup before <feedback>")
            self._unsent = self._unsent[start.start() :]
            self._started = True
        elif final or len(self._unsent) > LOOKAHEAD_CHARS:
            if _HTML_START.match(self._unsent):
                raise ReportRefused(HTML_PAGE)
            # No report here: the parser says what the document is instead.
            self._unsent = _XML_DECLARATION.sub("", self._unsent, count=1)
            self._started = True

    def _hand_on(self, final: bool) -> None:
        ends = list(_FEEDBACK_END.finditer(self._unsent))
        if ends:
            self._send(self._unsent[: ends[-1].end()])
            self._unsent = self._unsent[ends[-1].end() :]
            self._ended = True

        if final:
            if self._ended and self._unsent.strip():
                self._note("ignored content after </feedback>")
            elif not self._ended:
                self._send(self._unsent)
            self._unsent = ""
        elif not self._ended or len(self._unsent) > LOOKAHEAD_CHARS:
            keep = min(len(self._unsent), _CARRY_CHARS)
            self._send(self._unsent[: len(self._unsent) - keep])
            self._unsent = self._unsent[len(self._unsent) - keep :]

    def _send(self, text: str) -> None:
        self._out += text.encode("utf-8", "replace")

    def _note(self, repair: str) -> None:
        if repair not in self._repairs:
            self._repairs.append(repair)


def _encoding_of(head: bytes) -> str:
    """The declared encoding (UTF-8 when none is declared), by its Python name."""
    if head.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "utf-32"  # before UTF-16, whose mark starts UTF-32LE's
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    declared = _DECLARED_ENCODING.search(head[:200])
    name = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codec = codecs.lookup(name)
    except LookupError:
        codec = None
    # "uu", "zlib", "rot13"... are codecs too, but not from bytes to text.
    if codec is None or not codec._is_text_encoding:
        raise Undecodable(f"unknown or non-text encoding {name[:40]!r}")
    return codec.name


def _decoder(encoding: str, errors: str) -> codecs.IncrementalDecoder:
    try:
        return codecs.getincrementaldecoder(encoding)(errors)
    except (LookupError, TypeError) as error:
        raise Undecodable(f"cannot decode as {encoding}") from error
