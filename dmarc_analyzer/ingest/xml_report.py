"""Parse the XML of one DMARC aggregate report into a `Report`.

The XML comes from strangers, so it is read with defusedxml: no DTD, no
entities, no network. Namespaces are ignored, so RFC 7489 reports (no
namespace or the draft one) and RFC 9990 reports (dmarc-2.0) read alike.
Values are kept as written, apart from trimming white space and lower-casing
result words, which receivers capitalise freely.
"""

import codecs
import ipaddress
import re
from datetime import UTC, datetime
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException

from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.model import (
    DkimResult,
    OverrideReason,
    PublishedPolicy,
    Record,
    Report,
    SpfResult,
)

# ASCII digits only: str.isdigit() and \d also take "²" and "٣".
_TIMESTAMP = re.compile(r"[0-9]{1,11}(\.[0-9]*)?")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,15}")
# No real report counts anywhere near this many messages in one row; the cap
# keeps every sum over millions of rows inside a 64-bit integer.
MAX_COUNT = 10**12
LATEST_YEAR = 2200
_DECLARED_ENCODING = re.compile(
    rb"""^(?:\xef\xbb\xbf)?\s*<\?xml[^>]*encoding=["']([A-Za-z0-9._-]+)["']"""
)
_XML_DECLARATION = re.compile(r"<\?xml[^>]*\?>")
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
_FEEDBACK_START = re.compile(r"<(?:[\w.-]+:)?feedback[\s>]")
_FEEDBACK_END = re.compile(r"</(?:[\w.-]+:)?feedback\s*>")


def parse_aggregate_report(data: bytes) -> Report:
    """Parse one report; raise `ReportRefused` saying why it is not one.

    Damage that real reporters do and that can be undone without guessing
    (bytes invalid in the declared encoding, control characters, markup
    around the <feedback> element) is repaired and named in `warnings`.
    """
    root, repairs = _parse_xml(data)
    if _local_name(root.tag) != "feedback":
        raise ReportRefused(
            f"XML root element is <{_local_name(root.tag)}>, not <feedback>: "
            "not a DMARC aggregate report"
        )

    metadata = _required_child(root, "report_metadata")
    date_range = _required_child(metadata, "date_range")
    begin = _timestamp(date_range, "begin")
    end = _timestamp(date_range, "end")
    if begin > end:
        raise ReportRefused(f"date_range begins ({begin}) after it ends ({end})")

    return Report(
        org_name=_org_name(metadata),
        org_email=_text(metadata, "email"),
        report_id=_required_text(metadata, "report_id"),
        begin=begin,
        end=end,
        policy=_published_policy(_required_child(root, "policy_published"), repairs),
        schema_version=_text(root, "version"),
        extra_contact_info=_text(metadata, "extra_contact_info"),
        records=tuple(
            _record(element, number)
            for number, element in enumerate(_children(root, "record"), start=1)
        ),
        warnings=tuple(repairs),
    )


def _parse_xml(data: bytes) -> tuple[Element, list[str]]:
    try:
        return _safe_parse(data), []
    except (ParseError, ValueError, LookupError) as error:
        # ValueError: expat reads no multi-byte encoding such as Shift_JIS;
        # the decoding below does, through Python's codecs.
        first_error = error

    repaired, repairs = repair_xml(data)
    if repaired is not None:
        try:
            return _safe_parse(repaired.encode("utf-8")), repairs
        except (ParseError, ValueError):
            pass
    raise ReportRefused(f"not well-formed XML: {_one_line(first_error)}")


def _safe_parse(data: bytes) -> Element:
    try:
        return safe_xml.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as error:
        raise ReportRefused(f"unsafe XML refused: {error}") from error


def repair_xml(data: bytes) -> tuple[str | None, list[str]]:
    """Decode the document and undo the kinds of damage that leave the
    report itself intact.

    Returns the document as text without its XML declaration (None when it
    cannot be decoded at all) and a list of what was repaired.
    """
    text, repairs = _decoded(data)
    if text is None:
        return None, []

    cleaned = _CONTROL_CHARACTERS.sub("", text.lstrip("\ufeff"))
    if cleaned != text.lstrip("\ufeff"):
        repairs.append("removed control characters")

    start = _FEEDBACK_START.search(cleaned)
    ends = list(_FEEDBACK_END.finditer(cleaned))
    if not start or not ends:
        return _XML_DECLARATION.sub("", cleaned, count=1), repairs
    before = _XML_DECLARATION.sub("", cleaned[: start.start()]).strip()
    after = cleaned[ends[-1].end() :].strip()
    if before:
        repairs.append("ignored markup before <feedback>")
    if after:
        repairs.append("ignored content after </feedback>")
    return cleaned[start.start() : ends[-1].end()], repairs


def _decoded(data: bytes) -> tuple[str | None, list[str]]:
    """The text in the declared encoding (UTF-8 when none is declared)."""
    declared = _DECLARED_ENCODING.search(data[:200])
    encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    try:
        encoding = codecs.lookup(encoding).name
        return data.decode(encoding), []
    except UnicodeDecodeError:
        pass
    except (LookupError, UnicodeError, ValueError):
        return None, []  # no such encoding, or not a text encoding (rot13)
    try:
        text = data.decode(encoding, errors="replace")
    except (UnicodeError, ValueError):
        return None, []
    return text, [f"replaced bytes that are not valid {encoding}"]


def _org_name(metadata: Element) -> str:
    """The reporter's name, or the domain of its address when the name is empty."""
    org_name = _text(metadata, "org_name")
    if org_name:
        return org_name

    email = _text(metadata, "email") or ""
    domain = email.rpartition("@")[2].strip(" >")
    if "@" in email and domain:
        return domain
    raise ReportRefused("report_metadata has neither org_name nor a reporter e-mail")


def _published_policy(element: Element, warnings: list[str]) -> PublishedPolicy:
    domain = _required_text(element, "domain")
    if len(domain) > 253:
        raise ReportRefused(
            f"policy domain is {len(domain)} characters long: no domain"
        )
    return PublishedPolicy(
        domain=domain,
        adkim=_word(element, "adkim"),
        aspf=_word(element, "aspf"),
        p=_word(element, "p"),
        sp=_word(element, "sp"),
        pct=_percentage(element, warnings),
        fo=_text(element, "fo"),
        np=_word(element, "np"),
        testing=_word(element, "testing"),
        discovery_method=_word(element, "discovery_method"),
    )


def _record(element: Element, number: int) -> Record:
    row = _required_child(element, "row", where=f"record {number}")
    evaluated = _child(row, "policy_evaluated")
    # Some early reporters wrote <identities> where the RFC says <identifiers>.
    identifiers = _child(element, "identifiers")
    if identifiers is None:
        identifiers = _child(element, "identities")
    auth_results = _child(element, "auth_results")

    return Record(
        source_ip=_source_ip(row, number),
        count=_count(row, number),
        disposition=_word(evaluated, "disposition"),
        dkim=_word(evaluated, "dkim"),
        spf=_word(evaluated, "spf"),
        reasons=tuple(
            OverrideReason(type=_word(reason, "type"), comment=_text(reason, "comment"))
            for reason in _children(evaluated, "reason")
        ),
        header_from=_text(identifiers, "header_from"),
        envelope_from=_text(identifiers, "envelope_from"),
        envelope_to=_text(identifiers, "envelope_to"),
        dkim_results=tuple(
            DkimResult(
                domain=_text(result, "domain"),
                selector=_text(result, "selector"),
                result=_word(result, "result"),
            )
            for result in _children(auth_results, "dkim")
        ),
        spf_results=tuple(
            SpfResult(
                domain=_text(result, "domain"),
                scope=_word(result, "scope"),
                result=_word(result, "result"),
            )
            for result in _children(auth_results, "spf")
        ),
    )


def _source_ip(row: Element, number: int) -> str:
    text = _text(row, "source_ip")
    if text is None:
        raise ReportRefused(f"record {number} has no source_ip")
    try:
        address = ipaddress.ip_address(text) if "%" not in text else None
    except ValueError:
        address = None
    if address is None:
        raise ReportRefused(f"record {number} has an invalid source_ip {text[:60]!r}")
    # ::ffff:192.0.2.1 is the IPv4 host 192.0.2.1, written the IPv6 way.
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _count(row: Element, number: int) -> int:
    text = _text(row, "count")
    if text is None or not _WHOLE_NUMBER.fullmatch(text) or int(text) > MAX_COUNT:
        shown = text if text is None else text[:30]
        raise ReportRefused(f"record {number} has an invalid count {shown!r}")
    return int(text)


def _timestamp(date_range: Element, name: str) -> datetime:
    text = _required_text(date_range, name, where="date_range")
    if not _TIMESTAMP.fullmatch(text):
        raise ReportRefused(f"date_range {name} is not a Unix time: {text[:30]!r}")
    moment = datetime.fromtimestamp(int(text.split(".")[0]), tz=UTC)
    if moment.year > LATEST_YEAR:
        raise ReportRefused(f"date_range {name} is in the year {moment.year}")
    return moment


def _percentage(element: Element, warnings: list[str]) -> int | None:
    """pct is advisory: a value that is no percentage is dropped, not fatal."""
    text = _text(element, "pct")
    if text is None:
        return None
    if _WHOLE_NUMBER.fullmatch(text) and int(text) <= 100:
        return int(text)
    warnings.append(f"ignored pct {text[:30]!r}: not a percentage")
    return None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [child for child in element if _local_name(child.tag) == name]


def _child(element: Element | None, name: str) -> Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _required_child(element: Element, name: str, where: str = "") -> Element:
    child = _child(element, name)
    if child is None:
        place = f" in {where}" if where else ""
        raise ReportRefused(f"missing <{name}>{place}")
    return child


def _text(element: Element | None, name: str) -> str | None:
    child = _child(element, name)
    if child is None:
        return None
    text = "".join(child.itertext()).strip()
    return text or None


def _required_text(element: Element, name: str, where: str = "") -> str:
    text = _text(element, name)
    if text is None:
        place = f" in {where}" if where else f" in <{_local_name(element.tag)}>"
        raise ReportRefused(f"missing or empty <{name}>{place}")
    return text


def _word(element: Element | None, name: str) -> str | None:
    text = _text(element, name)
    return text.lower() if text else None
