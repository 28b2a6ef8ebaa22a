"""Reverse DNS against a real DNS server on 127.0.0.1."""

import dns.reversename
import pytest

from dmarc_analyzer.identify.reverse_dns import (
    NO_NAME,
    OK,
    SERVFAIL,
    TIMEOUT,
    ResolverError,
    ReverseDns,
    parse_nameserver,
)
from tests import dns_server

ZONE = {
    "10.100.51.198.in-addr.arpa.": {"PTR": ["mx1.example.com."]},
    "mx1.example.com.": {"A": ["198.51.100.10"]},
    "11.100.51.198.in-addr.arpa.": {"PTR": ["liar.example.net."]},
    "liar.example.net.": {"A": ["192.0.2.99"]},
    dns.reversename.from_address("2001:db8:10::25").to_text(): {
        "PTR": ["v6.example.com."]
    },
    "v6.example.com.": {"AAAA": ["2001:db8:10::25"]},
    "12.100.51.198.in-addr.arpa.": dns_server.SERVFAIL,
}


@pytest.fixture
def server():
    with dns_server.DnsServer(ZONE) as running:
        yield running


def test_ptr_names_forward_confirmed_or_not(server):
    resolver = ReverseDns([server.address], timeout=2)

    found = resolver.lookup_many(
        ["198.51.100.10", "198.51.100.11", "2001:db8:10::25", "203.0.113.1"]
    )

    assert (found["198.51.100.10"].name, found["198.51.100.10"].forward_confirmed) == (
        "mx1.example.com",
        True,
    )
    assert found["198.51.100.11"].forward_confirmed is False
    assert found["2001:db8:10::25"].name == "v6.example.com"
    assert found["2001:db8:10::25"].forward_confirmed is True
    assert (found["203.0.113.1"].status, found["203.0.113.1"].name) == (NO_NAME, None)
    assert found["198.51.100.10"].status == OK


def test_server_failure_and_timeout_are_not_missing_names(server):
    assert ReverseDns([server.address]).lookup("198.51.100.12").status == SERVFAIL

    with dns_server.DnsServer(ZONE, delay=1.0) as slow:
        result = ReverseDns([slow.address], timeout=0.3).lookup("198.51.100.10")
    assert result.status == TIMEOUT


def test_lookups_run_concurrently():
    ips = [f"198.51.100.{n}" for n in range(1, 41)]
    with dns_server.DnsServer(ZONE, delay=0.2) as slow:
        found = ReverseDns([slow.address], workers=8, confirm=False).lookup_many(ips)
    assert len(found) == 40
    assert slow.most_in_flight > 1


@pytest.mark.parametrize("text", ["mx.example.com", "127.0.0.1:99999", "1.2.3.4:x"])
def test_bad_nameservers_are_refused(text):
    with pytest.raises(ResolverError):
        parse_nameserver(text)


def test_nameserver_forms():
    assert parse_nameserver("127.0.0.1:5353").port == 5353
    assert parse_nameserver("[::1]:5300").address == "::1"
    assert parse_nameserver("192.0.2.53").port == 53


def test_failures_name_vendors_by_ptr_and_cache_the_answers(database, tmp_path):
    from dmarc_analyzer import api
    from tests.conftest import report_xml

    unsigned = (
        "<record><row><source_ip>{ip}</source_ip><count>5</count><policy_evaluated>"
        "<disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>"
        "</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
        "</identifiers><auth_results><spf><domain>example.com</domain>"
        "<result>fail</result></spf></auth_results></record>"
    )
    zone = {
        dns.reversename.from_address("198.51.100.77").to_text(): {
            "PTR": ["o1.ptr1234.sendgrid.net."]
        },
        "o1.ptr1234.sendgrid.net.": {"A": ["198.51.100.77"]},
    }
    path = tmp_path / "r.xml"
    path.write_bytes(
        report_xml(
            unsigned.format(ip="198.51.100.77") + unsigned.format(ip="203.0.113.8")
        )
    )
    api.ingest(database, [path])

    with dns_server.DnsServer(zone) as server:
        options = api.IdentifyOptions(offline=False, nameservers=(server.address,))
        first = {
            s.source_ip: s
            for v in api.failures(database, options=options)
            for s in v.sources
        }
        asked = server.queries
        again = {
            s.source_ip: s
            for v in api.failures(database, options=options)
            for s in v.sources
        }

    assert first["198.51.100.77"].vendor.name == "Twilio SendGrid"
    assert first["198.51.100.77"].vendor.evidence == (
        "PTR o1.ptr1234.sendgrid.net (forward-confirmed)"
    )
    # A PTR name says who runs the network, not that it sends for us: with
    # no passing DKIM or SPF domain, SendGrid's IP is still a stranger.
    assert first["198.51.100.77"].vendor.authorized is False
    assert first["198.51.100.77"].cause == "spoofing"
    assert first["203.0.113.8"].cause == "spoofing"
    assert asked == 3  # two PTR queries and one forward confirmation
    assert server.queries == asked  # the second run asked nothing
    assert again["198.51.100.77"].vendor.name == "Twilio SendGrid"


def test_a_dead_first_server_leaves_time_for_the_next(server):
    with dns_server.DnsServer(ZONE, delay=5) as silent:
        resolver = ReverseDns([silent.address, server.address], timeout=2)
        result = resolver.lookup("198.51.100.10")
    assert (result.status, result.name) == (OK, "mx1.example.com")


def test_dead_servers_are_not_asked_for_everything_nor_cached(database, tmp_path):
    from dmarc_analyzer import api
    from dmarc_analyzer.storage.dns_cache import cached_lookups
    from tests.conftest import record_xml, report_xml

    records = "".join(record_xml(f"198.51.100.{n}") for n in range(1, 60))
    (tmp_path / "r.xml").write_bytes(report_xml(records))
    api.ingest(database, [tmp_path / "r.xml"])

    with dns_server.DnsServer(ZONE, delay=3) as silent:
        options = api.IdentifyOptions(
            offline=False, nameservers=(silent.address,), dns_timeout=0.2
        )
        api.failures(database, options=options)
        asked = silent.queries

    assert asked < 59  # one round of lookups, then it gave up
    with database.connect() as connection:
        assert cached_lookups(connection, ["198.51.100.1"]) == {}


@pytest.mark.parametrize("text", ["127.0.0.1:\u00b2", "[::1]garbage", "1.2.3.4:"])
def test_odd_nameserver_ports_are_refused(text):
    with pytest.raises(ResolverError):
        parse_nameserver(text)


def test_tree_walk_reports_are_judged_by_the_tree_walk(database, tmp_path):
    from dmarc_analyzer import api
    from dmarc_analyzer.identify.treewalk import TreeWalk
    from tests.conftest import record_xml, report_xml

    # corp.example runs a public suffix (psd=y): news.corp.example and
    # hr.corp.example are two organizations, though the public suffix list
    # makes both part of corp.example.
    zone = {
        "_dmarc.corp.example.": {"TXT": ['"v=DMARC1; p=reject; psd=y"']},
        "_dmarc.news.corp.example.": {"TXT": ['"v=DMARC1; p=none"']},
    }
    auth = (
        "<dkim><domain>hr.corp.example</domain><selector>s</selector>"
        "<result>pass</result></dkim>"
        "<spf><domain>hr.corp.example</domain><result>pass</result></spf>"
    )
    xml = report_xml(
        record_xml(
            count=6, dkim="fail", spf="fail", header_from="news.corp.example", auth=auth
        ),
        domain="news.corp.example",
        policy="<p>none</p><discovery_method>treewalk</discovery_method>",
    )
    (tmp_path / "r.xml").write_bytes(xml)
    api.ingest(database, [tmp_path / "r.xml"])

    offline = {s.source_ip: s for v in api.failures(database) for s in v.sources}
    with dns_server.DnsServer(zone) as server:
        walk = TreeWalk([server.address])
        assert walk.organizational_domain("news.corp.example") == "news.corp.example"
        # The name one label below the public suffix operator:
        assert walk.organizational_domain("a.b.hr.corp.example") == "hr.corp.example"
        options = api.IdentifyOptions(offline=False, nameservers=(server.address,))
        online = {
            s.source_ip: s
            for v in api.failures(database, options=options)
            for s in v.sources
        }

    source = online["192.0.2.1"].as_dict()
    assert source["receiver_used_treewalk"] == 6
    assert source["by_header_from"][0]["treewalk_checked"] is True
    # By the public suffix list the signature looks aligned, so the receiver
    # seems to disagree; by the tree walk it is a foreign signature.
    assert offline["192.0.2.1"].cause == "signature_broken"
    assert online["192.0.2.1"].cause == "vendor_unaligned_signature"
