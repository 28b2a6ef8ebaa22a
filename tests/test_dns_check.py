"""`dns check` against a real DNS server on 127.0.0.1, whose zones hold good
and broken DKIM, DMARC and SPF records. The keys are made here."""

import base64
import json
import socket
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, date, datetime

import dns.message
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
)

from dmarc_analyzer import api
from dmarc_analyzer.dnscheck import dkim, policy, run
from dmarc_analyzer.dnscheck.dkim_record import check_record
from dmarc_analyzer.dnscheck.findings import Finding
from dmarc_analyzer.errors import DnsUnavailable
from dmarc_analyzer.identify.reverse_dns import make_resolver, parse_nameserver
from dmarc_analyzer.storage.dns_checks import save_findings
from tests import dns_server
from tests.conftest import record_xml, report_xml

TIMEOUT = 0.5  # the silent server's cases wait this long


def spki(key) -> str:
    der = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def rsa_key(bits: int) -> str:
    private = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return spki(private.public_key())


def rsa_512() -> str:
    # cryptography no longer generates keys under 1024 bits; a public key
    # is only a modulus and an exponent, and any odd modulus of 512 bits
    # loads (nothing factors it).
    modulus = (1 << 511) | (0x1234567 << 200) | 1
    return spki(rsa.RSAPublicNumbers(65537, modulus).public_key())


def rsa_17000() -> str:
    # Over 16384 bits: a modulus of that size loads as rsa_512's does.
    modulus = (1 << 16999) | (0x1234567 << 200) | 1
    return spki(rsa.RSAPublicNumbers(65537, modulus).public_key())


def unknown_algorithm_key() -> str:
    """A SubjectPublicKeyInfo whose algorithm (OID 1.2.3.4.5.6) cryptography
    does not know: it raises UnsupportedAlgorithm, not ValueError."""
    algorithm = bytes.fromhex("3009" + "06052a03040506" + "0500")
    bits = bytes.fromhex("030400010203")
    body = algorithm + bits
    return base64.b64encode(bytes([0x30, len(body)]) + body).decode()


def ed25519_key() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def txt(text: str, size: int = 200) -> str:
    """One TXT record in zone-file form, cut into strings of `size` bytes,
    as DNS providers do with long keys."""
    return " ".join(
        f'"{text[start : start + size]}"' for start in range(0, len(text), size)
    )


@pytest.fixture(scope="module")
def keys() -> dict[str, str]:
    return {
        "2048": rsa_key(2048),
        "1024": rsa_key(1024),
        "512": rsa_512(),
        "17000": rsa_17000(),
        "unknown": unknown_algorithm_key(),
        "ed25519": ed25519_key(),
    }


def dkim_zone(keys) -> dict:
    good = keys["2048"]
    spaced = " ".join(good[start : start + 64] for start in range(0, len(good), 64))
    names = {
        "good": [txt(f"v=DKIM1; k=rsa; p={good}")],
        "weak": [txt(f"v=DKIM1; k=rsa; p={keys['1024']}")],
        "short": [txt(f"v=DKIM1; k=rsa; p={keys['512']}")],
        "ed": [txt(f"v=DKIM1; k=ed25519; p={keys['ed25519']}")],
        "revoked": ['"v=DKIM1; k=rsa; p="'],
        "testing": [txt(f"v=DKIM1; t=y; k=rsa; p={good}")],
        "badb64": ['"v=DKIM1; k=rsa; p=MIIB!!not*base64"'],
        "notakey": [txt("v=DKIM1; k=rsa; p=" + base64.b64encode(b"x" * 40).decode())],
        "multi": [txt(f"v=DKIM1; p={good}"), txt(f"v=DKIM1; p={keys['1024']}")],
        "quoted": [txt(f'\\"v=DKIM1; k=rsa; p={good}\\"')],
        "spaced": [txt(f"v=DKIM1; k=rsa; p={spaced}")],
        "dsa": [txt(f"v=DKIM1; k=dsa; p={good}")],
        "nokey": ['"v=DKIM1; k=rsa"'],
        "version": [txt(f"v=DKIM2; k=rsa; p={good}")],
        "notdkim": ['"hello world"'],
        "twice": [txt(f"v=DKIM1; k=rsa; p={good}; k=rsa")],
        "sha1": [txt(f"v=DKIM1; h=sha1; k=rsa; p={good}")],
        "web": [txt(f"v=DKIM1; s=web; k=rsa; p={good}")],
        "oddalgo": [txt(f"v=DKIM1; k=rsa; p={keys['unknown']}")],
        "huge": [txt(f"v=DKIM1; k=rsa; p={keys['17000']}")],
        "upper": [txt(f"V=DKIM1; K=RSA; P={good}")],
        "nbsp": [txt(f"v=DKIM1;\u00a0k=rsa; p={good}")],
        "padded": [txt(f"v=DKIM1; k=rsa; p={good}==")],
        "late": [txt(f"k=rsa; v=DKIM1; p={good}")],
        # 18 KB of empty tags: too long to be a key, and not parsed.
        "toolong": [txt("a=;" * 6000)],
    }
    zone = {
        f"{selector}._domainkey.example.com.": {"TXT": records}
        for selector, records in names.items()
    }
    zone |= {
        "vendor._domainkey.example.com.": {"CNAME": ["s1.dkim.vendor.example."]},
        "s1.dkim.vendor.example.": {"TXT": [txt(f"v=DKIM1; p={good}")]},
        "vendor.example.": {"A": ["192.0.2.7"]},
        "dangling._domainkey.example.com.": {"CNAME": ["gone.vendor.example."]},
        "notxt._domainkey.example.com.": {"A": ["192.0.2.1"]},
        "broken._domainkey.example.com.": dns_server.SERVFAIL,
        "slow._domainkey.example.com.": dns_server.SILENT,
        "refused._domainkey.example.com.": dns_server.REFUSED,
        "loop._domainkey.example.com.": {"CNAME": ["loop._domainkey.example.com."]},
    }
    # Past the 16 links resolvers follow.
    zone["longchain._domainkey.example.com."] = {"CNAME": ["c0.example.com."]}
    for link in range(20):
        zone[f"c{link}.example.com."] = {"CNAME": [f"c{link + 1}.example.com."]}
    zone["c20.example.com."] = {"TXT": [txt(f"v=DKIM1; p={good}")]}
    return zone


def policy_zone() -> dict:
    includes = " ".join(f"include:i{n}.example.net" for n in range(11))
    rua = ",".join(f"mailto:d@r{n}.example" for n in range(12))
    zone = {
        "example.com.": {"A": ["192.0.2.1"]},  # no SPF, no DMARC
        "good.example.": {
            "TXT": ['"v=spf1 ip4:192.0.2.0/24 -all"'],
            "MX": ["10 mx.good.example."],
        },
        "_dmarc.good.example.": {
            "TXT": ['"v=DMARC1; p=reject; rua=mailto:dmarc@good.example"']
        },
        "nodmarc.example.": {"TXT": ['"v=spf1 -all"']},
        "malformed.example.": {"TXT": ['"v=spf1 -all"']},
        "_dmarc.malformed.example.": {"TXT": ['"v=DMARC1; p=bogus"']},
        "lookups.example.": {
            "TXT": [txt(f"v=spf1 {includes} -all")],
            "MX": ["10 mx.lookups.example."],
        },
        "_dmarc.lookups.example.": {
            "TXT": ['"v=DMARC1; p=reject; rua=mailto:d@lookups.example"']
        },
        "norua.example.": {"TXT": ['"v=spf1 -all"']},
        "_dmarc.norua.example.": {"TXT": ['"v=DMARC1; p=none"']},
        "nospf.example.": {"A": ["192.0.2.1"]},
        # An SPF include the server never answers for.
        "slowspf.example.": {"TXT": ['"v=spf1 include:_spf3.slowspf.example -all"']},
        "_spf3.slowspf.example.": dns_server.SILENT,
        "_dmarc.slowspf.example.": {"TXT": ['"v=DMARC1; p=reject"']},
        "refused.example.": dns_server.REFUSED,
        "mail.refused.example.": {"TXT": ['"v=spf1 -all"']},
        "_dmarc.refused.example.": dns_server.REFUSED,
        "servfail.example.": dns_server.SERVFAIL,
        "_dmarc.servfail.example.": dns_server.SERVFAIL,
        "silent.example.": dns_server.SILENT,
        "_dmarc.silent.example.": dns_server.SILENT,
    }
    for n in range(11):
        zone[f"i{n}.example.net."] = {"TXT": ['"v=spf1 ip4:198.51.100.0/24 -all"']}
    zone |= {
        "includegone.example.": {"TXT": ['"v=spf1 include:gone.example.net -all"']},
        "binary.example.": {"TXT": ['"v=spf1 -all \\255"']},
        # Timeouts met by checkdmarc on the way: an include, report addresses.
        "slowinclude.example.": {"TXT": ['"v=spf1 include:silent.example -all"']},
        "_dmarc.slowinclude.example.": {"TXT": [txt(f"v=DMARC1; p=reject; rua={rua}")]},
    }
    for n in range(12):
        zone[f"r{n}.example."] = dns_server.SILENT
        zone[f"slowinclude.example._report._dmarc.r{n}.example."] = dns_server.SILENT
    return zone


@pytest.fixture(scope="module")
def server(keys):
    with dns_server.DnsServer(dkim_zone(keys) | policy_zone()) as running:
        yield running


@pytest.fixture
def resolver(server):
    return make_resolver([parse_nameserver(server.address)], TIMEOUT)


@pytest.fixture
def sqlite_database(tmp_path):
    """SQLite only: the storage is tested on both backends elsewhere in this
    file, and these tests are about what is told."""
    database = api.open_database(str(tmp_path / "dns.sqlite"))
    yield database
    database.close()


def codes(findings) -> dict[str, str]:
    return {finding.code: finding.severity for finding in findings}


@pytest.mark.parametrize(
    ("selector", "code", "severity"),
    [
        ("good", "dkim-ok", "ok"),  # a 2048-bit key in two TXT strings
        ("weak", "dkim-rsa-1024", "warning"),
        ("short", "dkim-rsa-too-short", "error"),
        ("ed", "dkim-ok", "ok"),
        ("revoked", "dkim-revoked", "error"),
        ("testing", "dkim-testing", "warning"),
        ("badb64", "dkim-bad-base64", "error"),
        ("notakey", "dkim-bad-key", "error"),
        ("multi", "dkim-multiple-records", "error"),
        ("quoted", "dkim-stray-quotes", "error"),
        ("spaced", "dkim-space-in-key", "warning"),
        ("dsa", "dkim-unknown-key-type", "error"),
        ("nokey", "dkim-no-key", "error"),
        ("version", "dkim-bad-version", "error"),
        ("notdkim", "dkim-syntax", "error"),
        ("twice", "dkim-duplicate-tag", "error"),
        ("sha1", "dkim-sha1-only", "error"),
        ("web", "dkim-not-for-email", "error"),
        ("oddalgo", "dkim-bad-key", "error"),
        ("huge", "dkim-rsa-too-long", "warning"),
        ("upper", "dkim-tag-case", "error"),
        ("nbsp", "dkim-nbsp", "error"),
        ("padded", "dkim-bad-base64", "error"),
        ("late", "dkim-bad-version", "error"),
        ("toolong", "dkim-record-too-long", "error"),
        ("vendor", "dkim-cname", "info"),
        ("dangling", "dkim-cname-dangling", "error"),
        ("loop", "dkim-cname-loop", "error"),
        ("longchain", "dkim-cname-loop", "error"),
        ("missing", "dkim-nxdomain", "error"),
        ("notxt", "dkim-no-txt", "error"),
        ("broken", "dns-servfail", "error"),
        ("slow", "dns-timeout", "error"),
        ("refused", "dns-refused", "error"),
    ],
)
def test_dkim_key_records(resolver, selector, code, severity):
    findings = dkim.check_selector(resolver, "example.com", selector)

    assert codes(findings).get(code) == severity, findings
    assert all(f.name == f"{selector}._domainkey.example.com" for f in findings)
    assert all(f.selector == selector for f in findings)
    if severity in ("error", "warning"):
        assert all(f.fix for f in findings if f.severity == severity)
    if severity == "error":
        assert "dkim-ok" not in codes(findings)
    if code.startswith("dns-"):  # never also "missing", nor anything else
        assert list(codes(findings)) == [code]


def test_key_details_are_told(resolver):
    good = dkim.check_selector(resolver, "example.com", "good")
    vendor = dkim.check_selector(resolver, "example.com", "vendor")
    quoted = dkim.check_selector(resolver, "example.com", "quoted")

    # A good key is one row, which says what the key is.
    assert [(f.code, f.message) for f in good] == [
        ("dkim-ok", "a usable DKIM key record; RSA key of 2048 bits")
    ]
    assert "s1.dkim.vendor.example" in next(
        f.message for f in vendor if f.code == "dkim-cname"
    )
    # Past the quotes the key itself is fine, and said to be.
    assert "dkim-key" in codes(quoted)
    late = dkim.check_selector(resolver, "example.com", "late")
    assert "v=DKIM1 must be the first tag" in late[0].message


def test_a_long_record_of_empty_tags_is_judged_quickly():
    # Counting each tag's repeats over the list took seconds at 64 KB.
    started = time.monotonic()
    found = check_record(b"v=DKIM1; " + b"a=;" * 5000)

    assert [p.code for p in found] == ["dkim-duplicate-tag"]
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("domain", "dmarc_code", "spf_code"),
    [
        ("good.example", "dmarc-ok", "spf-ok"),
        ("nodmarc.example", "dmarc-missing", "spf-ok"),
        ("malformed.example", "dmarc-bad-value", "spf-ok"),
        ("nospf.example", "dmarc-missing", "spf-missing"),
        ("lookups.example", "dmarc-ok", "spf-too-many-lookups"),
        ("norua.example", "dmarc-warning", "spf-ok"),
        ("nxdomain.example", "domain-nxdomain", "domain-nxdomain"),
        ("servfail.example", "dns-servfail", "dns-servfail"),
        ("refused.example", "dns-refused", "dns-refused"),
        ("silent.example", "dns-timeout", "dns-timeout"),
        ("includegone.example", "dmarc-missing", "spf-include-missing"),
        ("binary.example", "dmarc-missing", "spf-not-text"),
    ],
)
def test_dmarc_and_spf_records(resolver, domain, dmarc_code, spf_code):
    policy.forget_cached_answers()

    dmarc = policy.check_dmarc(resolver, domain)
    spf = policy.check_spf(resolver, domain)

    assert {f.code for f in dmarc} == {dmarc_code}, dmarc
    assert {f.code for f in spf} == {spf_code}, spf
    assert dmarc[0].name == f"_dmarc.{domain}"
    assert spf[0].name == domain
    for finding in dmarc + spf:
        if finding.code.endswith("-ok"):
            assert finding.severity == "ok"
        elif finding.code.endswith("-warning"):
            assert finding.severity == "warning" and finding.fix
            if finding.message.startswith("rua tag"):
                assert "Add rua=mailto:" in finding.fix
            if "p tag value of none" in finding.message:
                assert "publish p=quarantine" in finding.fix
        else:
            assert finding.severity == "error" and finding.fix
        if finding.code.startswith("dns-"):  # the name asked, as asked
            assert domain in finding.message
        if finding.code == "dns-refused":
            assert "REFUSED" in finding.message
            assert "recursive resolver" in finding.fix
        if finding.code == "domain-nxdomain":  # not "publish a record"
            assert "--nameserver" in finding.fix
            assert "Publish" not in finding.fix


def test_the_organisational_domain_that_failed_is_named(resolver):
    # No _dmarc.mail.refused.example: checkdmarc asks _dmarc.refused.example,
    # which the server refuses.
    policy.forget_cached_answers()

    [finding] = policy.check_dmarc(resolver, "mail.refused.example")

    assert finding.code == "dns-refused"
    assert finding.name == "_dmarc.mail.refused.example"
    assert finding.message.startswith(
        "the DNS server refused to answer (REFUSED) for _dmarc.refused.example, "
        "so _dmarc.mail.refused.example could not be checked"
    )


def test_a_failed_spf_include_is_named(resolver):
    policy.forget_cached_answers()

    [finding] = policy.check_spf(resolver, "slowspf.example")

    assert finding.code == "dns-timeout"
    assert finding.name == "slowspf.example"
    assert finding.message.startswith(
        "no DNS server answered in time for _spf3.slowspf.example, so "
        "slowspf.example could not be checked"
    )


def test_timeouts_inside_checkdmarc_are_told_for_their_name(resolver, server):
    policy.forget_cached_answers()
    asked = server.queries
    started = time.monotonic()

    dmarc = policy.check_dmarc(resolver, "slowinclude.example")
    spf = policy.check_spf(resolver, "slowinclude.example")

    # Never "not found" nor a mere warning: the names that did not answer.
    # Kept under the record checked; the message names the name that failed.
    assert [(f.code, f.name) for f in spf] == [("dns-timeout", "slowinclude.example")]
    assert "in time for silent.example, so slowinclude.example" in spf[0].message
    assert {f.code for f in dmarc} >= {"dns-timeout"}
    assert not [f for f in dmarc if "not found" in f.message or f.severity == "ok"]
    timeouts = [f for f in dmarc if f.code == "dns-timeout"]
    assert all(f.name == "_dmarc.slowinclude.example" for f in timeouts)
    assert all("._report._dmarc.r" in f.message for f in timeouts)
    # Twelve silent report addresses: after three timeouts, no more asked.
    assert len(timeouts) == policy.TIMEOUTS_PER_DOMAIN
    assert "further names for slowinclude.example were not asked" in (
        timeouts[0].message
    )
    assert server.queries - asked < 30
    assert time.monotonic() - started < 8 * TIMEOUT


def dkim_xml(domain: str, selector: str, result: str) -> str:
    return (
        f"<dkim><domain>{domain}</domain><selector>{selector}</selector>"
        f"<result>{result}</result></dkim>"
    )


def store_reports(database, tmp_path) -> None:
    spf = "<spf><domain>example.com</domain><result>pass</result></spf>"
    records = "".join(
        [
            record_xml("192.0.2.1", 10, auth=dkim_xml("example.com", "good", "pass")),
            record_xml(
                "192.0.2.2",
                7,
                dkim="fail",
                auth=dkim_xml("example.com", "short", "permerror") + spf,
            ),
            record_xml(
                "192.0.2.3",
                4,
                dkim="fail",
                auth=dkim_xml("vendor.example", "s1", "pass") + spf,
            ),
            # SPF could not be checked at the receiver: linked to SPF's finding.
            record_xml(
                "192.0.2.5",
                2,
                spf="fail",
                auth=dkim_xml("example.com", "good", "pass")
                + "<spf><domain>example.com</domain><result>temperror</result></spf>",
            ),
            # Not a DNS name: not asked.
            record_xml(
                "192.0.2.4",
                1,
                dkim="fail",
                auth=dkim_xml("example.com", "no such;selector", "fail") + spf,
            ),
            # A forged signature: another domain's, failing. Not checked.
            record_xml(
                "203.0.113.9",
                1,
                dkim="fail",
                spf="fail",
                auth=dkim_xml("forged.example", "x", "fail"),
            ),
        ]
    )
    # Two days of reports: the permerror is linked with its first and last.
    for day, begin in enumerate((1709424000, 1709510400)):
        path = tmp_path / f"report-{day}.xml"
        path.write_bytes(
            report_xml(records, report_id=f"r-{day}", begin=begin, end=begin + 86399)
        )
        api.ingest(database, [path])


def test_check_links_findings_to_reported_failures_and_stores_them(
    database, tmp_path, server
):
    store_reports(database, tmp_path)
    options = api.DnsCheckOptions(nameservers=(server.address,), timeout=TIMEOUT)

    first = api.check_dns(database, "example.com", options)
    second = api.check_dns(database, None, options)

    checked = {(s.domain, s.selector) for s in first.selectors}
    assert checked == {
        ("example.com", "good"),
        ("example.com", "short"),
        ("vendor.example", "s1"),
    }
    short = next(f for f in first.findings if f.code == "dkim-rsa-too-short")
    assert [r.as_dict() for r in short.reported] == [
        {
            "result": "permerror",
            "messages": 14,
            "first_day": "2024-03-03",
            "last_day": "2024-03-04",
        }
    ]
    assert short.reported[0].describe() == (
        "permerror at receivers for 14 messages from 2024-03-03 to 2024-03-04"
    )
    spf = next(f for f in first.findings if f.kind == "spf")
    assert [r.describe() for r in spf.reported] == [
        "temperror at receivers for 4 messages from 2024-03-03 to 2024-03-04"
    ]
    # The vendor's own key is theirs to fix: a warning, with that said.
    vendor = [f for f in first.findings if f.domain == "vendor.example"]
    assert [(f.code, f.severity, f.vendor_key) for f in vendor] == [
        ("dkim-nxdomain", "warning", True)
    ]
    assert "tell the vendor" in vendor[0].fix
    assert first.findings[0].severity == "error"  # worst first
    assert first.domains == ["example.com"]

    history = api.dns_check_history(database, name="short._domainkey.example.com")
    assert [(h.code, h.severity) for h in history] == [
        ("dkim-rsa-too-short", "error"),
        ("dkim-rsa-too-short", "error"),
    ]
    assert [h.checked_at for h in history] == [first.checked_at, second.checked_at]
    assert len(api.dns_check_history(database)) == len(first.findings) + len(
        second.findings
    )


def test_a_missing_selector_is_linked_to_its_fail_results(
    sqlite_database, tmp_path, server
):
    records = record_xml(  # the user's own server: SPF vouches for it
        "192.0.2.10",
        200,
        dkim="fail",
        auth=dkim_xml("example.com", "default", "fail")
        + "<spf><domain>example.com</domain><result>pass</result></spf>",
    ) + record_xml(  # a stranger's forged signature: nothing passed
        "203.0.113.7",
        3,
        dkim="fail",
        spf="fail",
        auth=dkim_xml("example.com", "forged", "fail")
        + "<spf><domain>example.com</domain><result>fail</result></spf>",
    )
    path = tmp_path / "report.xml"
    path.write_bytes(report_xml(records, begin=1709424000, end=1709510399))
    api.ingest(sqlite_database, [path])
    options = api.DnsCheckOptions(nameservers=(server.address,), timeout=TIMEOUT)

    check = api.check_dns(sqlite_database, "example.com", options)

    found = {f.selector: f for f in check.findings if f.kind == "dkim"}
    own, forged = found["default"], found["forged"]
    assert (own.code, own.severity) == ("dkim-nxdomain", "error")
    assert [r.describe() for r in own.reported] == [
        "fail at receivers for 200 messages on 2024-03-03"
    ]
    assert (forged.code, forged.severity) == ("dkim-nxdomain", "warning")
    assert "probably forged" in forged.message
    assert forged.fix.startswith("Only if s=forged is your own")


def test_a_resolver_that_knows_no_domain_is_not_told_as_missing_records(
    sqlite_database, tmp_path
):
    store_reports(sqlite_database, tmp_path)

    with dns_server.DnsServer({}) as nxdomain_for_all:
        options = api.DnsCheckOptions(nameservers=(nxdomain_for_all.address,))
        check = api.check_dns(sqlite_database, "example.com", options)
    summary = api.summarize(
        sqlite_database, api.Period(date(2024, 3, 3), date(2024, 3, 9))
    )

    # Its own records and the vendor's key alike: the resolver's doing.
    assert {f.code for f in check.findings} == {"domain-nxdomain"}
    assert all("--nameserver" in f.fix for f in check.findings)
    vendor = next(f for f in check.findings if f.domain == "vendor.example")
    assert (vendor.severity, vendor.vendor_key) == ("warning", True)
    assert not [a for a in summary.overall.actions if a.code.startswith("dns_record")]


def test_no_dns_server_answering_is_one_line_and_stores_nothing(tmp_path):
    db = str(tmp_path / "cli.sqlite")
    database = api.open_database(db)
    store_reports(database, tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        nothing_there = f"127.0.0.1:{closed.getsockname()[1]}"

    result = run_cli(
        "dns", "check", "--nameserver", nothing_there, "--timeout", 0.3, db=db
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: no DNS server answered (127.0.0.1:")
    assert "check --nameserver" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert api.dns_check_history(database) == []
    database.close()


def test_the_history_says_when_a_record_was_broken_and_mended(database, tmp_path, keys):
    store_reports(database, tmp_path)
    short = "short._domainkey.example.com."
    vendor = {"CNAME": ["s1.dkim.vendor.example."]}
    zone = dkim_zone(keys) | {"s1._domainkey.vendor.example.": vendor}

    with dns_server.DnsServer(zone) as running:
        options = api.DnsCheckOptions(nameservers=(running.address,), timeout=TIMEOUT)
        broken = [api.check_dns(database, "example.com", options) for _ in range(2)]
        running.records[short] = zone["good._domainkey.example.com."]
        mended = api.check_dns(database, "example.com", options)

    spans = {
        span.name: span
        for span in api.dns_broken_spans(database)
        if span.kind == "dkim"
    }
    assert set(spans) == {"short._domainkey.example.com"}
    span = spans["short._domainkey.example.com"]
    assert span.codes == ("dkim-rsa-too-short",)
    assert (span.first_seen, span.last_seen, span.mended_at) == (
        broken[0].checked_at,
        broken[1].checked_at,
        mended.checked_at,
    )


def test_the_summary_tells_when_records_were_broken(database, tmp_path):
    store_reports(database, tmp_path)  # permerror for s=short on March 3 and 4
    short = "short._domainkey.example.com"

    def at(day: int, month: int = 3) -> datetime:
        return datetime(2024, month, day, 12, tzinfo=UTC)

    def finding(name, severity, code, kind="dkim", selector="short"):
        return Finding(kind, name, "example.com", severity, code, "...", "", selector)

    bad = finding(short, "error", "dkim-bad-base64")
    good = finding("good._domainkey.example.com", "ok", "dkim-ok", selector="good")
    with database.transaction() as connection:
        # Broken twice in the period: one action, not two.
        save_findings(connection, at(2), [bad, good])
        save_findings(connection, at(3), [bad])
        save_findings(connection, at(4), [replace(bad, severity="ok", code="dkim-ok")])
        save_findings(connection, at(6), [bad])
        # A failed lookup neither breaks nor mends a record.
        timeout = finding(short, "error", "dns-timeout")
        lost = replace(good, severity="error", code="dns-timeout")
        save_findings(connection, at(7), [timeout, lost])
        save_findings(connection, at(8), [replace(bad, severity="ok", code="dkim-ok")])
        spf = finding("example.com", "error", "spf-missing", "spf", None)
        save_findings(connection, at(4), [spf])
        # Broken and mended before the period: not told.
        old = finding("old._domainkey.example.com", "error", "dkim-nxdomain")
        save_findings(connection, at(1), [old])
        save_findings(connection, at(2), [replace(old, severity="ok", code="dkim-ok")])
        # Broken after the period and still broken: told.
        dmarc = finding("_dmarc.example.com", "error", "dmarc-missing", "dmarc", None)
        save_findings(connection, at(1, month=5), [dmarc])

    summary = api.summarize(database, api.Period(date(2024, 3, 3), date(2024, 3, 9)))
    actions = [
        a
        for a in api.summary_dict(summary, api.language("en"))["actions"]
        if a["code"].startswith("dns_record")
    ]

    titles = [a["title"] for a in actions]
    assert sorted(titles) == [
        "Fix the DMARC record of example.com (_dmarc.example.com)",
        "Fix the SPF record of example.com",
        f"The DKIM key record {short} was broken",
    ]
    mended = next(a for a in actions if a["code"] == "dns_record_mended")
    assert mended["messages"] == 14
    assert mended["domain"] == "example.com"
    assert "(dkim-bad-base64) from Mar 2, 2024 to Mar 6, 2024" in mended["detail"]
    assert "mended by Mar 8, 2024" in mended["detail"]
    spf_action = next(a for a in actions if "SPF" in a["title"])
    assert "(spf-missing) on Mar 4, 2024, and not mended since" in spf_action["detail"]
    assert all(a["domain"] == "example.com" for a in actions)


def test_a_broken_key_is_one_action_with_the_record_s_fix(sqlite_database, tmp_path):
    store_reports(sqlite_database, tmp_path)  # permerror for s=short on March 3 and 4
    week = api.Period(date(2024, 3, 3), date(2024, 3, 9))

    before = api.summarize(sqlite_database, week).overall.actions
    short = Finding(
        "dkim",
        "short._domainkey.example.com",
        "example.com",
        "error",
        "dkim-rsa-too-short",
        "...",
        selector="short",
    )
    with sqlite_database.transaction() as connection:
        save_findings(connection, datetime(2024, 3, 4, tzinfo=UTC), [short])
    after = api.summarize(sqlite_database, week).overall.actions

    assert "dns_permerror" in [a.code for a in before]
    assert "dns_permerror" not in [a.code for a in after]
    [record] = [a for a in after if a.code == "dns_record_broken"]
    assert str(record.title) == "Fix the DKIM key record short._domainkey.example.com"
    assert record.messages == 14


def test_the_policy_step_waits_for_broken_records(sqlite_database, tmp_path):
    own = record_xml("192.0.2.10", 200, auth=dkim_xml("example.com", "s", "pass"))
    stranger = record_xml("203.0.113.9", 10, dkim="fail", spf="fail", auth="")
    path = tmp_path / "report.xml"
    policy = "<adkim>r</adkim><aspf>r</aspf><p>quarantine</p>"
    path.write_bytes(
        report_xml(own + stranger, begin=1709424000, end=1709510399, policy=policy)
    )
    api.ingest(sqlite_database, [path])
    week = api.Period(date(2024, 3, 3), date(2024, 3, 9))
    dmarc = Finding(
        "dmarc", "_dmarc.example.com", "example.com", "error", "dmarc-missing", "..."
    )

    before = api.summarize(sqlite_database, week).overall.actions
    with sqlite_database.transaction() as connection:
        save_findings(connection, datetime(2024, 3, 5, tzinfo=UTC), [dmarc])
    after = api.summarize(sqlite_database, week).overall.actions

    assert [a.code for a in before if a.domain] == ["policy_ready"]
    step = next(a for a in after if a.code.startswith("policy"))
    assert step.code == "policy_not_ready"
    assert str(step.title) == (
        "example.com: fix its DNS records before moving to p=reject"
    )
    assert "dns check finds _dmarc.example.com broken" in str(step.detail)


def run_cli(*args, db):
    return subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "--db", db, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_json_and_exit_status(tmp_path, server):
    db = str(tmp_path / "cli.sqlite")
    database = api.open_database(db)
    store_reports(database, tmp_path)
    database.close()
    ns = ("--nameserver", server.address, "--timeout", TIMEOUT)

    broken = run_cli("dns", "check", *ns, "--json", db=db)
    table = run_cli("dns", "check", *ns, db=db)
    # Usage is checked before the database: this one does not exist.
    missing = str(tmp_path / "missing.sqlite")
    bad_ns = run_cli("dns", "check", "--nameserver", "dns.example", db=missing)

    assert broken.returncode == 1, broken.stderr
    findings = json.loads(broken.stdout)
    short = next(f for f in findings if f["code"] == "dkim-rsa-too-short")
    assert short["name"] == "short._domainkey.example.com"
    assert short["severity"] == "error" and short["fix"] and short["message"]
    assert short["reported_failures"][0]["result"] == "permerror"
    assert table.returncode == 1
    assert "short._domainkey.example.com" in table.stdout
    assert "permerror at receivers for 14 messages" in table.stdout
    assert bad_ns.returncode == 2


def test_help_has_an_example():
    result = subprocess.run(
        [sys.executable, "-m", "dmarc_analyzer", "dns", "check", "--help"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0
    assert "dmarc-analyzer dns check --domain" in result.stdout


def test_cli_exits_0_when_nothing_is_wrong(tmp_path, keys):
    good = txt(f"v=DKIM1; k=rsa; p={keys['2048']}")
    zone = {
        "good._domainkey.example.com.": {"TXT": [good]},
        "example.com.": {"TXT": ['"v=spf1 -all"'], "MX": ["10 mx.example.com."]},
        "_dmarc.example.com.": {
            "TXT": ['"v=DMARC1; p=reject; rua=mailto:d@example.com"']
        },
    }
    db = str(tmp_path / "cli.sqlite")
    database = api.open_database(db)
    path = tmp_path / "report.xml"
    path.write_bytes(
        report_xml(record_xml(auth=dkim_xml("example.com", "good", "pass")))
    )
    api.ingest(database, [path])
    database.close()

    with dns_server.DnsServer(zone) as running:
        result = run_cli("dns", "check", "--nameserver", running.address, db=db)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 domain, 1 selector checked: 0 errors, 0 warnings" in result.stdout


HOSTILE_ZONE = {
    # A NUL and a terminal escape (clear screen) in the DNS text.
    "s1._domainkey.example.com.": {"TXT": ['"v=DKIM1; k=\\000rsa\\027[2J; p="']},
    "example.com.": {"TXT": ['"v=spf1 include:a\\000b.example \\027[2J -all"']},
    "_dmarc.example.com.": {"TXT": ['"v=DMARC1; p=re\\000ject"']},
}


def store_report(database, tmp_path, domain: str, selectors, name="r") -> None:
    spf = "<spf><domain>example.com</domain><result>pass</result></spf>"
    records = "".join(
        record_xml(auth=dkim_xml(domain, selector, "pass") + spf)
        for selector in selectors
    )
    path = tmp_path / f"{name}.xml"
    path.write_bytes(report_xml(records, domain=domain, report_id=name))
    api.ingest(database, [path])


def test_control_characters_are_escaped_stored_and_shown(database, tmp_path):
    store_report(database, tmp_path, "example.com", ["s1"])

    with dns_server.DnsServer(HOSTILE_ZONE) as running:
        options = api.DnsCheckOptions(nameservers=(running.address,), timeout=TIMEOUT)
        check = api.check_dns(database, "example.com", options)

    stored = api.dns_check_history(database)
    assert len(stored) == len(check.findings)
    for text in [f.message for f in check.findings] + [s.message for s in stored]:
        assert "\x00" not in text and "\x1b" not in text
    key = next(f for f in check.findings if f.code == "dkim-unknown-key-type")
    assert "\\x00rsa\\x1b[2j" in key.message  # k= is read in lower case


def test_names_that_are_not_dns_names_are_never_asked(
    sqlite_database, tmp_path, caplog
):
    database = sqlite_database
    not_names = ["exa mple.com", "ex;ample.com", "-", "*.example.com", "a..b", "b.."]
    for number, domain in enumerate([*not_names, "ex\\ample.com"]):
        store_report(database, tmp_path, domain, ["s1"], name=f"bad-{number}")
    # From a report: a 5,000-character selector, a label over 63 characters.
    store_report(database, tmp_path, "example.com", ["a" * 5000, "b" * 64, "s1"])

    asked = []
    with dns_server.DnsServer({}) as running:
        respond = running._respond

        def noted(data: bytes):
            asked.append(dns.message.from_wire(data).question[0].name.to_text())
            return respond(data)

        running._respond = noted
        options = api.DnsCheckOptions(nameservers=(running.address,), timeout=TIMEOUT)
        check = api.check_dns(database, None, options)

    assert check.domains == ["example.com"]
    assert [(s.domain, s.selector) for s in check.selectors] == [("example.com", "s1")]
    expected = {"s1._domainkey.example.com.", "example.com.", "_dmarc.example.com."}
    assert set(asked) == expected
    warned = [r.message for r in caplog.records if "not DNS names" in r.message]
    assert len(warned) == 1 and "7 policy domains" in warned[0]


def test_long_names_are_stored_cut(database):
    name = "x" * 5000 + "._domainkey.example.com"
    with database.transaction() as connection:
        save_findings(
            connection,
            datetime.now(UTC),
            [Finding("dkim", name, "example.com", "error", "dkim-nxdomain", "m")],
        )

    assert [len(s.name) for s in api.dns_check_history(database)] == [255]


def test_an_internationalised_domain_is_found_in_either_form(sqlite_database, tmp_path):
    from dmarc_analyzer.dnscheck.run import plan_check

    database = sqlite_database
    store_report(database, tmp_path, "bücher.example", ["s1"])

    for given in ("bücher.example", "BÜCHER.EXAMPLE", "xn--bcher-kva.example"):
        with database.connect() as connection:
            check = plan_check(connection, given)
        assert check.domains == ["xn--bcher-kva.example"], given
        assert [s.domain for s in check.selectors] == ["xn--bcher-kva.example"]


def test_one_record_failing_unexpectedly_stops_no_other(
    sqlite_database, tmp_path, server, keys, monkeypatch
):
    database = sqlite_database
    store_reports(database, tmp_path)
    judge = dkim.check_record

    def failing(data: bytes):
        if keys["512"].encode() in data:
            raise RuntimeError("unexpected")
        return judge(data)

    monkeypatch.setattr(dkim, "check_record", failing)
    options = api.DnsCheckOptions(nameservers=(server.address,), timeout=TIMEOUT)
    check = api.check_dns(database, "example.com", options)

    found = {(f.name, f.code) for f in check.findings}
    assert ("short._domainkey.example.com", "dns-check-error") in found
    assert ("good._domainkey.example.com", "dkim-ok") in found
    failed = next(f for f in check.findings if f.code == "dns-check-error")
    assert "RuntimeError: unexpected" in failed.message and failed.selector == "short"


def test_cli_escapes_dns_text_and_shows_findings_it_could_not_store(tmp_path):
    import sqlite3

    from typer.testing import CliRunner

    from dmarc_analyzer.cli import app

    db = str(tmp_path / "cli.sqlite")
    database = api.open_database(db)
    store_report(database, tmp_path, "example.com", ["s1"])
    database.close()

    with dns_server.DnsServer(HOSTILE_ZONE) as running:
        ns = ("--nameserver", running.address, "--timeout", TIMEOUT)
        table = run_cli("dns", "check", *ns, db=db)
        empty = CliRunner().invoke(app, ["--db", db, "dns", "check", "--domain", ""])
        with sqlite3.connect(db) as connection:
            connection.execute("DROP TABLE dns_checks")
        unstored = run_cli("dns", "check", *ns, "--json", db=db)

    assert table.returncode == 1, table.stderr
    assert "s1._domainkey.example.com" in table.stdout
    assert "\x1b" not in table.stdout and "\\x1b[2j" in table.stdout
    assert empty.exit_code == 2 and "--domain" in empty.output
    assert unstored.returncode == 1
    assert {f["code"] for f in json.loads(unstored.stdout)} >= {"dkim-unknown-key-type"}
    assert "the findings were not stored" in unstored.stderr


def test_a_run_stops_asking_when_no_server_answers(sqlite_database, tmp_path):
    selectors = [f"sel{n}" for n in range(60)]
    store_report(sqlite_database, tmp_path, "example.com", selectors)
    zone = {f"{s}._domainkey.example.com.": dns_server.SILENT for s in selectors}
    zone |= {
        "example.com.": dns_server.SILENT,
        "_dmarc.example.com.": dns_server.SILENT,
    }
    started = time.monotonic()

    # No server answered at all: one DnsUnavailable error, nothing stored,
    # and the records past the first 16 were not asked.
    with dns_server.DnsServer(zone) as running:
        options = api.DnsCheckOptions(nameservers=(running.address,), timeout=TIMEOUT)
        with pytest.raises(DnsUnavailable, match="no DNS server answered"):
            api.check_dns(sqlite_database, "example.com", options)
        asked = running.queries

    assert asked < 40
    assert time.monotonic() - started < 6 * TIMEOUT
    assert api.dns_check_history(sqlite_database) == []


def test_records_not_asked_once_servers_die_are_timeouts_never_broken():
    silent = Finding("dkim", "x", "example.com", "error", "dns-timeout", "", "")
    outage = run._Outage()
    jobs = [
        run._guarded(lambda r: [silent], replace(silent, name=f"s{n}"), outage)
        for n in range(run._Outage.DEAD_AFTER + 2)
    ]

    found = [finding for job in jobs for finding in job(None)]
    assert outage.dead
    not_asked = [f for f in found if "was not asked" in f.message]
    assert [f.name for f in not_asked] == ["s16", "s17"]
    assert {f.code for f in found} == {"dns-timeout"}

    # Some record answered, then the servers died: every record is still
    # asked, each with its own timeout (a lookup failure, never "broken").
    ok = replace(silent, severity="ok", code="dkim-ok")
    outage = run._Outage()
    assert run._guarded(lambda r: [ok], silent, outage)(None) == [ok]
    for _ in range(run._Outage.DEAD_AFTER + 2):
        assert run._guarded(lambda r: [silent], silent, outage)(None) == [silent]
    assert not outage.dead
