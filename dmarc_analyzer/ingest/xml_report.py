"""Parse the XML of one DMARC aggregate report, streaming its records.

The XML comes from strangers, so it is read with lxml with DTDs refused,
entities never expanded and no network. Namespaces are ignored, so RFC 7489
reports (no namespace or the draft one) and RFC 9990 reports (dmarc-2.0)
read alike. Values are kept as written, apart from trimming white space and
lower-casing result words, which receivers capitalise freely.

Records are parsed one at a time and their elements dropped at once, so a
report of half a million records needs no more memory than one of ten. What
lxml reads is bounded too: a run of text, or a child of <feedback>, far
longer than any real one is refused as it is read.
"""

import functools
import io
import ipaddress
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import BinaryIO

from lxml import etree

from dmarc_analyzer.errors import ReportRefused
from dmarc_analyzer.ingest.repair import HTML_PAGE, DamagedXml, RepairingReader
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
# Real values are a few dozen bytes, a real record a few KB: a run of text
# (a value, white space, a comment) or a child of <feedback> beyond these is
# no report, and is refused before lxml has built it in memory.
MAX_TEXT_BYTES = 64 * 1024
MAX_ELEMENT_BYTES = 1024 * 1024
# Records before <report_metadata> wait in memory until the header is known.
MAX_EARLY_RECORDS = 10_000
# RFC 7489's words and the others receivers write (hardfail, unknown, error,
# invalid); a word outside them is a wrong value.
RESULT_WORDS = frozenset(
    {"pass", "fail", "none", "neutral", "policy", "softfail", "hardfail"}
    | {"temperror", "permerror", "unknown", "error", "invalid"}
)
DISPOSITIONS = frozenset({"none", "quarantine", "reject", "pass"})
_READ_BYTES = 32 * 1024  # at most MAX_TEXT_BYTES, for the text check
_UNDEFINED_ENTITY = re.compile(r"Entity '([^']*)' not defined")
_LXML_TAIL = re.compile(r" \(<string>, line \d+\)\s*$")

# The children of <feedback> the parser stops at; "{*}" matches any
# namespace or none. The elements inside a record arrive with it. Some
# reporters capitalise element names (<Record>); the parser's filter is
# case-sensitive, so it is given the spellings seen, and names are then
# compared lower-cased.
_TOP_LEVEL = ("report_metadata", "policy_published", "record", "version")
# Children of <feedback> that are no part of the report (RFC 9990's
# <extension>), ignored without a word.
_IGNORED = frozenset({"extension"})
WRONG_CASE = "element names in the wrong case"


def _spellings(name: str) -> list[str]:
    titled = "_".join(word.capitalize() for word in name.split("_"))
    return sorted({name, name.upper(), name.capitalize(), titled})


_WATCHED = tuple(
    f"{{*}}{spelling}"
    for name in ("feedback", *_TOP_LEVEL)
    for spelling in _spellings(name)
)


# The children of one element by their local name, in document order.
Fields = dict[str, list[etree._Element]]


@dataclass(frozen=True, slots=True)
class ReportStream:
    """A report whose records are read as they are asked for.

    `header` holds everything but the records. Iterating `records` can still
    raise `ReportRefused` (a bad record) or `DamagedXml` (broken markup), and
    add to `repairs` (damage repaired, content ignored).
    """

    header: Report
    records: Iterator[Record]
    repairs: list[str] = field(default_factory=list)

    @property
    def warnings(self) -> tuple[str, ...]:
        """Every warning about the report; complete once the records are read."""
        return (*self.repairs, *self.header.warnings)


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

    try:
        return _whole(stream_repaired_report(io.BytesIO(data)))
    except DamagedXml:
        raise ReportRefused(str(first_error)) from None


def stream_aggregate_report(source: BinaryIO) -> ReportStream:
    """Read up to the end of the report's metadata and policy; the records
    follow as they are iterated. Raises `DamagedXml` where
    `stream_repaired_report` may still read a report."""
    repairs: list[str] = []
    return _stream(source, repairs)


def stream_repaired_report(source: BinaryIO) -> ReportStream:
    """Like `stream_aggregate_report`, with the damage that leaves the report
    intact (bytes invalid in the declared encoding, control characters,
    markup before or after <feedback>) undone as the document is read, and
    named in `repairs`."""
    repairs: list[str] = []
    return _stream(RepairingReader(source, repairs), repairs)


def _stream(source: BinaryIO, repairs: list[str]) -> ReportStream:
    elements = _top_level_elements(source, repairs)
    found: dict[str, etree._Element] = {}
    early: list[Record | etree._Element] = []
    for name, element in elements:
        if name != "record":
            _refuse_a_second(name, found)
            found[name] = element
        elif "report_metadata" in found and "policy_published" in found:
            early.append(element)  # read after the header, still in the tree
            break
        elif len(early) < MAX_EARLY_RECORDS:
            # Records before the metadata: rare, kept until the header is known.
            early.append(_record(element, len(early) + 1))
        else:
            raise ReportRefused(
                f"more than {MAX_EARLY_RECORDS:,} records before the report's "
                "metadata and policy"
            )

    header = _header(found)
    records = _records(elements, early, found, repairs)
    return ReportStream(header, records, repairs)


def _whole(stream: ReportStream) -> Report:
    records = tuple(stream.records)
    return replace(stream.header, records=records, warnings=stream.warnings)


def _records(
    elements: Iterator[tuple[str, etree._Element]],
    early: list[Record | etree._Element],
    header: dict[str, etree._Element],
    repairs: list[str],
) -> Iterator[Record]:
    """The records in document order, those read with the header first."""
    number = skipped = unstored_messages = 0
    for name, element in _chain_records(early, elements):
        if name == "record":
            number += 1
            record = (
                element if isinstance(element, Record) else _record(element, number)
            )
            if record.source_ip:
                yield record
            else:
                skipped, unstored_messages = (
                    skipped + 1,
                    unstored_messages + record.count,
                )
        elif name == "version" and name not in header:
            # The header is stored by now, and only the schema version is lost.
            header[name] = element
            repairs.append("ignored <version> after the records")
        else:
            _refuse_a_second(name, header)
    if not number:
        # Stored, as the reporter sent it, but not without a word: records
        # under a name not known would otherwise vanish unseen.
        repairs.append("report has no records")
    if skipped:
        # Nothing to store them under, but the loss is said.
        repairs.append(
            f"skipped {skipped:,} record(s) without a source_ip "
            f"({unstored_messages:,} messages)"
        )


def _chain_records(
    early: list[Record | etree._Element],
    elements: Iterator[tuple[str, etree._Element]],
) -> Iterator[tuple[str, Record | etree._Element]]:
    for element in early:
        yield "record", element
    yield from elements


def _refuse_a_second(name: str, found: dict[str, etree._Element]) -> None:
    """One report per document: a second metadata or policy would leave it
    unclear which one the records belong to."""
    if name in found:
        raise ReportRefused(f"a second <{name}> in <feedback>: not one report")


def _top_level_elements(
    source: BinaryIO, repairs: list[str]
) -> Iterator[tuple[str, etree._Element]]:
    """The children of <feedback> worth reading, each once complete; those
    already given are dropped from the tree, so memory stays flat. Elements
    in the wrong case, and children of <feedback> not known, are noted in
    `repairs`."""
    reader = _BoundedReader(source)
    parser = etree.iterparse(
        reader,
        events=("end",),
        tag=_WATCHED,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
        # Kept, so that a comment inside a value is refused, not joined:
        # <count>1<!-- x -->2</count> would read as 12.
        remove_comments=False,
        remove_pis=False,
    )
    root = None  # known at the first element read, and checked then
    unknown: dict[str, int] = {}
    checked = 0
    try:
        for _event, element in parser:
            if root is None:
                root = _checked_root(element)
            if element.getparent() is root:
                reader.element_done()
                checked = _check_case(element, checked, repairs)
                name = _plain_name(element.tag)
                yield name, element
                _drop_done(name, element, root, unknown)
            elif _local_name(element.tag) == "record":
                # Records anywhere else would be lost without a word.
                parent = _local_name(element.getparent().tag)
                raise ReportRefused(
                    f"<record> inside <{parent}>, not directly in <feedback>"
                )
    except etree.XMLSyntaxError as error:
        _refuse_undefined_entity(parser.error_log, error)
        raise DamagedXml(f"not well-formed XML: {_one_line(error)}") from error
    if root is None:  # no <feedback> anywhere: say what the document is
        _checked_root(parser.root)
    for child in root:
        _note_unknown(child, unknown)
    if unknown:
        names = ", ".join(f"<{name}> ({n:,})" for name, n in unknown.items())
        repairs.append(f"ignored unknown elements in <feedback>: {names}")


# Reporters are consistent: a wrong case is looked for in the root, the
# header and the first record (every element of each), and in the name of
# every child of <feedback>; what is after is matched alike, unchecked.
_CASE_CHECKED = 4


def _check_case(element: etree._Element, checked: int, repairs: list[str]) -> int:
    if WRONG_CASE in repairs:
        return checked
    if checked >= _CASE_CHECKED:
        if not _raw_local_name(element.tag).islower():
            repairs.append(WRONG_CASE)
        return checked
    # Elements only: comments are kept, to refuse them inside values.
    elements = [element.getparent(), *element.iter(etree.Element)]
    if any(not _raw_local_name(e.tag).islower() for e in elements):
        repairs.append(WRONG_CASE)
    return checked + 1


def _note_unknown(element: etree._Element, unknown: dict[str, int]) -> None:
    if not isinstance(element.tag, str):
        return
    name = _local_name(element.tag)
    if name not in _TOP_LEVEL and name not in _IGNORED:
        shown = _raw_local_name(element.tag)[:40]
        unknown[shown] = unknown.get(shown, 0) + 1


class _BoundedReader:
    """The document as lxml reads it, refused as soon as it holds a run of
    text longer than MAX_TEXT_BYTES, or MAX_ELEMENT_BYTES pass without a
    child of <feedback> ending. lxml's own limit on a text node is 10 MB,
    and on an element none."""

    def __init__(self, source: BinaryIO):
        self._source = source
        self._text_run = 0  # bytes since the last "<"
        self._since_element = 0

    def read(self, size: int = -1) -> bytes:
        # Chunks no longer than the text limit: a run of text too long is
        # then always one that spans chunks, and is seen.
        chunk = self._source.read(min(size, _READ_BYTES) if size > 0 else _READ_BYTES)
        first = chunk.find(b"<")
        run = self._text_run + (len(chunk) if first < 0 else first)
        self._text_run = run if first < 0 else len(chunk) - chunk.rfind(b"<") - 1
        if run > MAX_TEXT_BYTES:
            raise ReportRefused(
                f"a text of more than {MAX_TEXT_BYTES:,} bytes without markup: "
                "no value of a report is that long"
            )

        self._since_element += len(chunk)
        if self._since_element > MAX_ELEMENT_BYTES:
            raise ReportRefused(
                f"more than {MAX_ELEMENT_BYTES:,} bytes without a complete "
                "<record> or other child of <feedback>: a record is a few KB"
            )
        return chunk

    def element_done(self) -> None:
        self._since_element = 0


def _refuse_undefined_entity(
    log: etree._ListErrorLog, error: etree.XMLSyntaxError
) -> None:
    """lxml reports an entity it does not know as "no element found"; the
    reason is in the parser's log."""
    for entry in log:
        undefined = _UNDEFINED_ENTITY.search(entry.message or "")
        if undefined:
            raise ReportRefused(
                f"reference to an undefined entity &{undefined.group(1)[:40]};"
                " (a report has no entities, and none are ever expanded)"
            ) from error


def _checked_root(element: etree._Element) -> etree._Element:
    document = element.getroottree()
    root = document.getroot()
    if "html" in (_local_name(root.tag).lower(), document.docinfo.root_name):
        raise ReportRefused(HTML_PAGE)
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


def _drop_done(
    name: str, element: etree._Element, root: etree._Element, unknown: dict[str, int]
) -> None:
    """Once a record is read, it and everything before it leave the tree
    (metadata and policy live on in the caller's hands)."""
    if name == "record":
        element.clear()
        while element.getprevious() is not None:
            _note_unknown(root[0], unknown)
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
    """One record; the common shape is read in one pass (`_plain_record`),
    and anything else with every check (`_checked_record`)."""
    plain = _plain_record(element)
    if plain is None:
        return _checked_record(element, number)
    return _built_record(*plain, number)


def _checked_record(element: etree._Element, number: int) -> Record:
    sections = _fields(element)
    for name in _SINGLE_SECTIONS:
        if len(sections.get(name, ())) > 1:
            raise ReportRefused(f"record {number} has a second <{name}> in <record>")
    row = _required_child(sections, "row", where=f"record {number}")
    values, reasons = _row_values(row, number)
    # Some early reporters wrote <identities> where the RFC says <identifiers>.
    identifiers = _singles(
        _child(sections, "identifiers")
        if "identifiers" in sections
        else _child(sections, "identities"),
        _IDENTIFIERS,
        number,
    )
    dkim_results, spf_results = _auth_results(_child(sections, "auth_results"), number)
    return _built_record(
        _texts(values),
        [_texts(reason) for reason in reasons],
        _texts(identifiers),
        [_texts(result) for result in dkim_results],
        [_texts(result) for result in spf_results],
        number,
    )


# The values of a part of a record, by name.
Texts = dict[str, str | None]


def _built_record(
    values: Texts,
    reasons: list[Texts],
    identifiers: Texts,
    dkim_results: list[Texts],
    spf_results: list[Texts],
    number: int,
) -> Record:
    """The record, its values checked."""
    return Record(
        source_ip=_source_ip(values.get("source_ip"), number),
        count=_count(values.get("count"), number),
        disposition=_known(
            values.get("disposition"), DISPOSITIONS, "disposition", number
        ),
        dkim=_known(values.get("dkim"), RESULT_WORDS, "dkim", number),
        spf=_known(values.get("spf"), RESULT_WORDS, "spf", number),
        reasons=tuple(
            _override_reason(_lower(reason.get("type")), reason.get("comment"))
            for reason in reasons
        ),
        header_from=identifiers.get("header_from"),
        envelope_from=identifiers.get("envelope_from"),
        envelope_to=identifiers.get("envelope_to"),
        dkim_results=tuple(
            _dkim_result(
                result.get("domain"),
                result.get("selector"),
                _known(result.get("result"), RESULT_WORDS, "result", number),
            )
            for result in dkim_results
        ),
        spf_results=tuple(
            _spf_result(
                result.get("domain"),
                _lower(result.get("scope")),
                _known(result.get("result"), RESULT_WORDS, "result", number),
            )
            for result in spf_results
        ),
    )


# A report repeats a few results and reasons in every record: each is made
# once, which also makes the alignment check of a repeated one a cache hit.
_override_reason = functools.lru_cache(maxsize=4096)(OverrideReason)
_dkim_result = functools.lru_cache(maxsize=4096)(DkimResult)
_spf_result = functools.lru_cache(maxsize=4096)(SpfResult)


def _plain_record(record: etree._Element) -> tuple | None:
    """The values of a record as nearly every reporter writes it, read in
    one pass over its elements, for `_built_record`. None for anything
    unusual (a comment, a part or value twice, markup in a value, an
    element not known, <identities>), which `_checked_record` then reads,
    and refuses where it must."""
    sections = _plain_values(record, _PLAIN_SECTIONS)
    if sections is None or "row" not in sections:
        return None
    row = _plain_values(sections["row"], _PLAIN_ROW)
    if row is None:
        return None
    values, reasons = row, []
    if "policy_evaluated" in row:
        evaluated = _plain_values(row.pop("policy_evaluated"), _PLAIN_EVALUATED)
        if evaluated is None:
            return None
        for reason in evaluated.pop("reason", ()):
            texts = _plain_values(reason, _PLAIN_REASON)
            if texts is None:
                return None
            reasons.append(texts)
        values.update(evaluated)

    identifiers: Texts = {}
    if "identifiers" in sections:
        identifiers = _plain_values(sections["identifiers"], _PLAIN_IDENTIFIERS)
        if identifiers is None:
            return None
    results = {"dkim": [], "spf": []}
    if "auth_results" in sections:
        found = _plain_values(sections["auth_results"], _PLAIN_AUTH_RESULTS)
        if found is None:
            return None
        for kind, listed in results.items():
            for result in found.get(kind, ()):
                texts = _plain_values(result, _PLAIN_RESULT)
                if texts is None:
                    return None
                listed.append(texts)
    return values, reasons, identifiers, results["dkim"], results["spf"]


def _plain_values(parent: etree._Element, names: dict[str, str]) -> dict | None:
    """The children of `parent` by name, as `names` says, or None where a
    child is not as it says."""
    found: dict = {}
    for child in parent:
        tag = child.tag
        name = _PLAIN_NAMES.get(tag) or _plain_name(tag)
        kind = names.get(name)
        if kind == "value" and name not in found and not len(child):
            text = child.text
            found[name] = (text.strip() or None) if text else None
        elif kind == "part" and name not in found:
            found[name] = child
        elif kind == "parts":
            found.setdefault(name, []).append(child)
        else:
            return None
    return found


_PLAIN_NAMES: dict[str, str] = {}


def _plain_name(tag) -> str | None:
    """The local name of a tag, remembered for the few tags a report uses;
    None for a comment or processing instruction."""
    name = _PLAIN_NAMES.get(tag)
    if name is None and isinstance(tag, str):
        name = _local_name(tag)
        if len(_PLAIN_NAMES) < 256:  # a hostile report may use any number
            _PLAIN_NAMES[tag] = name
    return name


def _lower(text: str | None) -> str | None:
    return text.lower() if text else None


# The parts of a record read by name: each directly in its parent, and at
# most once there, so that no value is taken from the wrong place (a <count>
# inside an extension) nor a second one dropped without a word.
_SINGLE_SECTIONS = ("row", "identifiers", "identities", "auth_results")
_ROW = frozenset({"source_ip", "count", "policy_evaluated"})
_POLICY_EVALUATED = frozenset({"disposition", "dkim", "spf"})
_REASON = frozenset({"type", "comment"})
_IDENTIFIERS = frozenset({"header_from", "envelope_from", "envelope_to"})
_RESULT = frozenset({"domain", "selector", "scope", "result", "human_result"})
Nodes = dict[str, etree._Element]


# For each part of a plain record, the names of its children: a name maps to
# "value" (text, once), "part" (an element, once) or "parts" (elements, any
# number of times). Any other child makes the record not plain.
_PLAIN_SECTIONS = {"row": "part", "identifiers": "part", "auth_results": "part"}
_PLAIN_ROW = {"source_ip": "value", "count": "value", "policy_evaluated": "part"}
_PLAIN_EVALUATED = {**dict.fromkeys(_POLICY_EVALUATED, "value"), "reason": "parts"}
_PLAIN_REASON = dict.fromkeys(_REASON, "value")
_PLAIN_IDENTIFIERS = dict.fromkeys(_IDENTIFIERS, "value")
_PLAIN_AUTH_RESULTS = {"dkim": "parts", "spf": "parts"}
_PLAIN_RESULT = dict.fromkeys(_RESULT, "value")


def _singles(
    element: etree._Element | None, names: frozenset[str], number: int
) -> Nodes:
    """The children of `element` with one of `names`, by name; a name found
    twice refuses the report."""
    found: Nodes = {}
    if element is None:
        return found
    for child in element.iterchildren(etree.Element):
        name = _local_name(child.tag)
        if name in names:
            if name in found:
                raise ReportRefused(
                    f"record {number} has a second <{name}> "
                    f"in <{_local_name(element.tag)}>"
                )
            found[name] = child
    return found


def _texts(nodes: Nodes) -> Texts:
    return {name: _element_text(element) for name, element in nodes.items()}


def _row_values(row: etree._Element, number: int) -> tuple[Nodes, list[Nodes]]:
    """source_ip, count and the words of <policy_evaluated>, and the type and
    comment of each <reason>."""
    values = _singles(row, _ROW, number)
    policy = values.pop("policy_evaluated", None)
    if policy is None:
        return values, []
    values.update(_singles(policy, _POLICY_EVALUATED, number))
    reasons = [
        _singles(child, _REASON, number)
        for child in policy.iterchildren(etree.Element)
        if _local_name(child.tag) == "reason"
    ]
    return values, reasons


def _auth_results(
    auth_results: etree._Element | None, number: int
) -> tuple[list[Nodes], list[Nodes]]:
    """The fields of each <dkim> and each <spf> result, in document order."""
    results: dict[str, list[Nodes]] = {"dkim": [], "spf": []}
    if auth_results is None:
        return [], []
    for child in auth_results.iterchildren(etree.Element):
        name = _local_name(child.tag)
        if name in results:
            results[name].append(_singles(child, _RESULT, number))
    return results["dkim"], results["spf"]


def _known(
    text: str | None, known: frozenset[str], what: str, number: int
) -> str | None:
    """A result word of the vocabulary receivers use, the RFC's and beyond."""
    word = _lower(text)
    if word is None or word in known:
        return word
    raise ReportRefused(f"record {number} has an unknown {what} result {word[:30]!r}")


def _source_ip(text: str | None, number: int) -> str:
    if text is None:
        return ""  # the record is skipped, with a warning
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
    # lxml ends its message with "(<string>, line 1)": the name of no file,
    # and the line said once already.
    text = _LXML_TAIL.sub("", str(error))
    return " ".join(text.split())[:200]


def _raw_local_name(tag: str) -> str:
    return tag.rpartition("}")[2] if tag[0] == "{" else tag


def _local_name(tag: str) -> str:
    """The name without its namespace, lower-cased: <Record> is <record>."""
    name = tag.rpartition("}")[2] if tag[0] == "{" else tag
    return name if name.islower() else name.lower()


def _fields(element: etree._Element | None) -> Fields:
    """The children of `element` by local name, found in one pass: a record
    is read field by field, and searching its children for each field would
    cost more than the XML parse."""
    fields: Fields = {}
    if element is not None:
        for child in element.iterchildren(etree.Element):
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
    if len(element):
        # <count>1<b>2</b></count> is not 12: markup has no place in a value.
        inner = element[0]
        if inner.tag is etree.Comment:
            markup = "a comment"
        elif inner.tag is etree.PI:
            markup = "a processing instruction"
        else:
            markup = f"<{_local_name(inner.tag)}>"
        raise ReportRefused(
            f"<{_local_name(element.tag)}> holds markup ({markup}), not a value"
        )
    text = element.text.strip() if element.text else None
    return text or None


def _required_text(fields: Fields, name: str, where: str) -> str:
    text = _text(fields, name)
    if text is None:
        raise ReportRefused(f"missing or empty <{name}> in {where}")
    return text


def _word(fields: Fields, name: str) -> str | None:
    text = _text(fields, name)
    return text.lower() if text else None
