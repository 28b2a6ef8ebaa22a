"""Parse the XML of one DMARC aggregate report, streaming its records.

The XML comes from strangers, so it is read with lxml with DTDs refused,
entities never expanded and no network. Namespaces are ignored, so RFC 7489
reports (no namespace or the draft one) and RFC 9990 reports (dmarc-2.0)
read alike. Values are kept as written, apart from trimming white space and
lower-casing result words, which receivers capitalise freely.

Records are parsed one at a time and their elements dropped at once, so a
report of half a million records needs no more memory than one of ten.
"""

import codecs
import io
import ipaddress
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import BinaryIO

from lxml import etree

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

# The children of <feedback> the parser stops at; "{*}" matches any
# namespace or none. The elements inside a record arrive with it.
_TOP_LEVEL = ("report_metadata", "policy_published", "record", "version")
_WATCHED = ("{*}feedback", *(f"{{*}}{name}" for name in _TOP_LEVEL))


# The children of one element by their local name, in document order.
Fields = dict[str, list[etree._Element]]


class DamagedXml(ReportRefused):
    """The document is not well-formed, or does not start at <feedback>.

    `repair_xml` may still make a report of it: the caller can try again on
    the repaired text, after undoing whatever it did with the records so far.
    """


@dataclass(frozen=True, slots=True)
class ReportStream:
    """A report whose records are read as they are asked for.

    `header` holds everything but the records. Iterating `records` can still
    raise `ReportRefused` (a bad record) or `DamagedXml` (broken markup).
    """

    header: Report
    records: Iterator[Record]


def parse_aggregate_report(data: bytes) -> Report:
    """Parse one report; raise `ReportRefused` saying why it is not one.

    Damage that real reporters do and that can be undone without guessing
    (bytes invalid in the declared encoding, control characters, markup
    around the <feedback> element) is repaired and named in `warnings`.
    """
    try:
        return _whole(stream_aggregate_report(io.BytesIO(data)))
    except DamagedXml as error:
        first_error = error

    repaired, repairs = repair_xml(data)
    if repaired is not None:
        try:
            report = _whole(stream_aggregate_report(io.BytesIO(repaired.encode())))
        except DamagedXml:
            pass
        else:
            return replace(report, warnings=(*repairs, *report.warnings))
    raise ReportRefused(str(first_error))


def stream_aggregate_report(source: BinaryIO) -> ReportStream:
    """Read up to the end of the report's metadata and policy; the records
    follow as they are iterated. Raises `DamagedXml` where
    `parse_aggregate_report` would try a repair."""
    elements = _top_level_elements(source)
    found: dict[str, etree._Element] = {}
    early_records: list[Record] = []
    for name, element in elements:
        if name == "record":
            # Records before the metadata: rare, kept until the header is known.
            early_records.append(_record(element, len(early_records) + 1))
        else:
            found.setdefault(name, element)
        if "report_metadata" in found and "policy_published" in found:
            break

    header = _header(found)
    return ReportStream(header, _records(elements, early_records))


def _whole(stream: ReportStream) -> Report:
    return replace(stream.header, records=tuple(stream.records))


def _records(
    elements: Iterator[tuple[str, etree._Element]], early: list[Record]
) -> Iterator[Record]:
    yield from early
    number = len(early)
    for name, element in elements:
        if name == "record":
            number += 1
            yield _record(element, number)


def _top_level_elements(source: BinaryIO) -> Iterator[tuple[str, etree._Element]]:
    """The children of <feedback> worth reading, each once complete; those
    already given are dropped from the tree, so memory stays flat."""
    parser = etree.iterparse(
        source,
        events=("end",),
        tag=_WATCHED,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        remove_comments=True,
        remove_pis=True,
    )
    root = None  # known at the first element read, and checked then
    try:
        for _event, element in parser:
            if root is None:
                root = _checked_root(element)
            if element.getparent() is root:
                yield _local_name(element.tag), element
                _drop_done(element, root)
            elif _local_name(element.tag) == "record":
                # Records anywhere else would be lost without a word.
                parent = _local_name(element.getparent().tag)
                raise ReportRefused(
                    f"<record> inside <{parent}>, not directly in <feedback>"
                )
    except etree.XMLSyntaxError as error:
        raise DamagedXml(f"not well-formed XML: {_one_line(error)}") from error
    if root is None:  # no <feedback> anywhere: say what the document is
        _checked_root(parser.root)


def _checked_root(element: etree._Element) -> etree._Element:
    document = element.getroottree()
    root = document.getroot()
    # Any DOCTYPE, internal subset or not: lxml was told to load and expand
    # nothing, and a report has no use for one.
    if document.docinfo.doctype or document.docinfo.internalDTD is not None:
        raise ReportRefused("unsafe XML refused: a DTD (entities are never expanded)")
    if _local_name(root.tag) != "feedback":
        raise DamagedXml(
            f"XML root element is <{_local_name(root.tag)}>, not <feedback>: "
            "not a DMARC aggregate report"
        )
    return root


def _drop_done(element: etree._Element, root: etree._Element) -> None:
    """Once a record is read, it and everything before it leave the tree
    (metadata and policy live on in the caller's hands)."""
    if _local_name(element.tag) == "record":
        element.clear()
        while element.getprevious() is not None:
            del root[0]


def _header(found: dict[str, etree._Element]) -> Report:
    if "report_metadata" not in found:
        raise ReportRefused("missing <report_metadata>")
    metadata = _fields(found["report_metadata"])
    date_range = _fields(_required_child(metadata, "date_range"))
    begin = _timestamp(date_range, "begin")
    end = _timestamp(date_range, "end")
    if begin > end:
        raise ReportRefused(f"date_range begins ({begin}) after it ends ({end})")

    if "policy_published" not in found:
        raise ReportRefused("missing <policy_published>")
    warnings: list[str] = []
    version = found.get("version")
    return Report(
        org_name=_org_name(metadata),
        org_email=_text(metadata, "email"),
        report_id=_required_text(metadata, "report_id", "<report_metadata>"),
        begin=begin,
        end=end,
        policy=_published_policy(_fields(found["policy_published"]), warnings),
        schema_version=_element_text(version) if version is not None else None,
        extra_contact_info=_text(metadata, "extra_contact_info"),
        warnings=tuple(warnings),
    )


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


def _org_name(metadata: Fields) -> str:
    """The reporter's name, or the domain of its address when the name is empty."""
    org_name = _text(metadata, "org_name")
    if org_name:
        return org_name

    email = _text(metadata, "email") or ""
    domain = email.rpartition("@")[2].strip(" >")
    if "@" in email and domain:
        return domain
    raise ReportRefused("report_metadata has neither org_name nor a reporter e-mail")


def _published_policy(policy: Fields, warnings: list[str]) -> PublishedPolicy:
    domain = _required_text(policy, "domain", "<policy_published>")
    if len(domain) > 253:
        raise ReportRefused(
            f"policy domain is {len(domain)} characters long: no domain"
        )
    return PublishedPolicy(
        domain=domain,
        adkim=_word(policy, "adkim"),
        aspf=_word(policy, "aspf"),
        p=_word(policy, "p"),
        sp=_word(policy, "sp"),
        pct=_percentage(policy, warnings),
        fo=_text(policy, "fo"),
        np=_word(policy, "np"),
        testing=_word(policy, "testing"),
        discovery_method=_word(policy, "discovery_method"),
    )


def _record(element: etree._Element, number: int) -> Record:
    sections = _fields(element)
    row = _required_child(sections, "row", where=f"record {number}")
    values, reasons = _row_values(row)
    # Some early reporters wrote <identities> where the RFC says <identifiers>.
    identifiers = _fields(
        _child(sections, "identifiers")
        if "identifiers" in sections
        else _child(sections, "identities")
    )
    dkim_results, spf_results = _auth_results(_child(sections, "auth_results"))

    return Record(
        source_ip=_source_ip(_node_text(values.get("source_ip")), number),
        count=_count(_node_text(values.get("count")), number),
        disposition=_node_word(values.get("disposition")),
        dkim=_node_word(values.get("dkim")),
        spf=_node_word(values.get("spf")),
        reasons=tuple(
            OverrideReason(
                type=_node_word(reason.get("type")),
                comment=_node_text(reason.get("comment")),
            )
            for reason in reasons
        ),
        header_from=_text(identifiers, "header_from"),
        envelope_from=_text(identifiers, "envelope_from"),
        envelope_to=_text(identifiers, "envelope_to"),
        dkim_results=tuple(
            DkimResult(
                domain=_node_text(result.get("domain")),
                selector=_node_text(result.get("selector")),
                result=_node_word(result.get("result")),
            )
            for result in dkim_results
        ),
        spf_results=tuple(
            SpfResult(
                domain=_node_text(result.get("domain")),
                scope=_node_word(result.get("scope")),
                result=_node_word(result.get("result")),
            )
            for result in spf_results
        ),
    )


# A record is read in one walk over the elements of each of its parts: with
# half a million records, the cost per element is what counts. Within a part
# every name means one thing, so the walk need not track nesting.
Nodes = dict[str, etree._Element]


def _row_values(row: etree._Element) -> tuple[Nodes, list[Nodes]]:
    """The first element of each name in <row> (source_ip, count, and the
    words of <policy_evaluated>), and the type and comment of each <reason>."""
    values: Nodes = {}
    reasons: list[Nodes] = []
    reason: Nodes | None = None
    for node in row.iterdescendants():
        name = _local_name(node.tag)
        if name == "reason":
            reason = {}
            reasons.append(reason)
        elif reason is not None and name in ("type", "comment"):
            reason.setdefault(name, node)
        else:
            values.setdefault(name, node)
    return values, reasons


def _auth_results(
    auth_results: etree._Element | None,
) -> tuple[list[Nodes], list[Nodes]]:
    """The fields of each <dkim> and each <spf> result, in document order."""
    results: dict[str, list[Nodes]] = {"dkim": [], "spf": []}
    current: Nodes | None = None
    if auth_results is None:
        return [], []
    for node in auth_results.iterdescendants():
        name = _local_name(node.tag)
        if name in results:
            current = {}
            results[name].append(current)
        elif current is not None:
            current.setdefault(name, node)
    return results["dkim"], results["spf"]


def _source_ip(text: str | None, number: int) -> str:
    if text is None:
        raise ReportRefused(f"record {number} has no source_ip")
    if _is_canonical_ipv4(text):
        return text
    try:
        address = ipaddress.ip_address(text) if "%" not in text else None
    except ValueError:
        address = None
    if address is None:
        raise ReportRefused(f"record {number} has an invalid source_ip {text[:60]!r}")
    # ::ffff:192.0.2.1 is the IPv4 host 192.0.2.1, written the IPv6 way.
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


def _is_canonical_ipv4(text: str) -> bool:
    """The common case, checked in C: an IPv4 address written the way
    ipaddress would write it back (a fraction of ipaddress's cost)."""
    try:
        return (
            socket.inet_ntop(socket.AF_INET, socket.inet_pton(socket.AF_INET, text))
            == text
        )
    except OSError:
        return False


def _count(text: str | None, number: int) -> int:
    if text is None or not _WHOLE_NUMBER.fullmatch(text) or int(text) > MAX_COUNT:
        shown = text if text is None else text[:30]
        raise ReportRefused(f"record {number} has an invalid count {shown!r}")
    return int(text)


def _timestamp(date_range: Fields, name: str) -> datetime:
    text = _required_text(date_range, name, where="date_range")
    if not _TIMESTAMP.fullmatch(text):
        raise ReportRefused(f"date_range {name} is not a Unix time: {text[:30]!r}")
    moment = datetime.fromtimestamp(int(text.split(".")[0]), tz=UTC)
    if moment.year > LATEST_YEAR:
        raise ReportRefused(f"date_range {name} is in the year {moment.year}")
    return moment


def _percentage(policy: Fields, warnings: list[str]) -> int | None:
    """pct is advisory: a value that is no percentage is dropped, not fatal."""
    text = _text(policy, "pct")
    if text is None:
        return None
    if _WHOLE_NUMBER.fullmatch(text) and int(text) <= 100:
        return int(text)
    warnings.append(f"ignored pct {text[:30]!r}: not a percentage")
    return None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


def _fields(element: etree._Element | None) -> Fields:
    """The children of `element` by local name, found in one pass: a record
    is read field by field, and searching its children for each field would
    cost more than the XML parse."""
    fields: Fields = {}
    if element is not None:
        for child in element:
            fields.setdefault(_local_name(child.tag), []).append(child)
    return fields


def _child(fields: Fields, name: str) -> etree._Element | None:
    found = fields.get(name)
    return found[0] if found else None


def _required_child(fields: Fields, name: str, where: str = "") -> etree._Element:
    child = _child(fields, name)
    if child is None:
        place = f" in {where}" if where else ""
        raise ReportRefused(f"missing <{name}>{place}")
    return child


def _text(fields: Fields, name: str) -> str | None:
    return _node_text(_child(fields, name))


def _node_text(element: etree._Element | None) -> str | None:
    return None if element is None else _element_text(element)


def _node_word(element: etree._Element | None) -> str | None:
    text = _node_text(element)
    return text.lower() if text else None


def _element_text(element: etree._Element) -> str | None:
    # Most values are a single text node; itertext is for the rest.
    text = element.text if len(element) == 0 else "".join(element.itertext())
    text = text.strip() if text else None
    return text or None


def _required_text(fields: Fields, name: str, where: str) -> str:
    text = _text(fields, name)
    if text is None:
        raise ReportRefused(f"missing or empty <{name}> in {where}")
    return text


def _word(fields: Fields, name: str) -> str | None:
    text = _text(fields, name)
    return text.lower() if text else None
