"""A labelled set: each cause, each bucket, worked out by hand from the
records below (one report per policy, domain example.com)."""

import pytest

from dmarc_analyzer import api
from dmarc_analyzer.identify.inventory import parse_inventory
from tests.conftest import report_xml

SENDERS_FILE = """
[[sender]]
name = "Our servers"
own = true
cidrs = ["192.0.2.0/28"]
"""


def record(
    ip,
    count,
    *,
    dkim=(),
    spf=("example.com", "pass"),
    evaluated=("fail", "fail"),
    header_from="example.com",
    reason=None,
):
    signatures = "".join(
        f"<dkim><domain>{d}</domain><selector>{s}</selector><result>{r}</result></dkim>"
        for d, s, r in dkim
    )
    reason_xml = f"<reason><type>{reason}</type></reason>" if reason else ""
    return (
        f"<record><row><source_ip>{ip}</source_ip><count>{count}</count>"
        f"<policy_evaluated><disposition>none</disposition><dkim>{evaluated[0]}</dkim>"
        f"<spf>{evaluated[1]}</spf>{reason_xml}</policy_evaluated></row>"
        f"<identifiers><header_from>{header_from}</header_from></identifiers>"
        f"<auth_results>{signatures}<spf><domain>{spf[0]}</domain>"
        f"<result>{spf[1]}</result></spf></auth_results></record>"
    )


OWN_PASS = ("example.com", "mx", "pass")
RELAXED = "".join(
    [
        record("192.0.2.10", 50, dkim=[OWN_PASS], evaluated=("pass", "pass")),
        record(
            "198.51.100.30",
            20,
            dkim=[("sendgrid.net", "smtpapi", "pass")],
            spf=("sendgrid.net", "pass"),
        ),
        record("192.0.2.11", 7, evaluated=("fail", "pass")),
        record("198.51.100.50", 9, spf=("bounce.mailgun.net", "pass")),
        record(
            "192.0.2.12",
            6,
            dkim=[("example.com", "mx", "fail")],
            evaluated=("fail", "pass"),
        ),
        record(
            "203.0.113.5",
            4,
            dkim=[("example.com", "mx", "fail")],
            spf=("lists.example.org", "pass"),
            reason="mailing_list",
        ),
        record(
            "209.85.220.41",
            3,
            dkim=[("example.com", "mx", "fail")],
            spf=("gmail.com", "pass"),
        ),
        record(
            "192.0.2.13",
            2,
            dkim=[("example.com", "mx", "temperror")],
            evaluated=("fail", "pass"),
        ),
        record(
            "192.0.2.14",
            5,
            dkim=[
                ("example.com", "s1", "permerror"),
                ("sendgrid.net", "smtpapi", "pass"),
            ],
            evaluated=("fail", "pass"),
        ),
        record("203.0.113.66", 11, spf=("example.com", "fail")),
        record(
            "2001:0db8:0000:0000:0000:0000:0000:0066",
            8,
            dkim=[("example.com", "default", "fail")],
            spf=("example.com", "softfail"),
        ),
        record(
            "192.0.2.15",
            30,
            dkim=[OWN_PASS],
            header_from="news.example.com",
            evaluated=("pass", "pass"),
        ),
        record("192.0.2.9", 12, dkim=[OWN_PASS], evaluated=("fail", "pass")),
    ]
)
STRICT = record(
    "198.51.100.40",
    10,
    dkim=[("mail.example.com", "m1", "pass")],
    spf=("mail.example.com", "pass"),
)

EXPECTED = {
    # ip: (vendor, cause, bucket, messages failing DKIM). A source whose SPF
    # still passes DMARC is in the compliant bucket, yet has its DKIM cause.
    "198.51.100.30": (
        "Twilio SendGrid",
        "vendor_unaligned_signature",
        "non_compliant",
        20,
    ),
    "198.51.100.40": (
        "own domain (example.com)",
        "strict_alignment",
        "non_compliant",
        10,
    ),
    "192.0.2.11": ("Our servers", "no_signature", "compliant", 7),
    "198.51.100.50": ("Mailgun", "no_signature", "non_compliant", 9),
    "192.0.2.12": ("Our servers", "signature_broken", "compliant", 6),
    "203.0.113.5": ("example.org", "forwarded", "forwarded", 4),
    "209.85.220.41": (
        "Google (Including Gmail and Google Workspace)",
        "forwarded",
        "forwarded",
        3,
    ),
    "192.0.2.13": ("Our servers", "dns_temperror", "compliant", 2),
    "192.0.2.14": ("Our servers", "dns_permerror", "compliant", 5),
    "203.0.113.66": ("unknown", "spoofing", "threat_unknown", 11),
    "2001:db8::66": ("unknown", "spoofing", "threat_unknown", 8),
    # The receiver says fail although it lists an aligned pass: flagged.
    "192.0.2.9": ("Our servers", "signature_broken", "compliant", 12),
}


@pytest.fixture
def labelled(database, tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "relaxed.xml").write_bytes(report_xml(RELAXED, report_id="relaxed"))
    (inbox / "strict.xml").write_bytes(
        report_xml(
            STRICT,
            report_id="strict",
            policy="<adkim>s</adkim><aspf>s</aspf><p>none</p>",
        )
    )
    assert api.ingest(database, [inbox]).reports_added == 2
    return database


def options():
    return api.IdentifyOptions(offline=True, inventory=parse_inventory(SENDERS_FILE))


def test_every_failing_source_gets_its_cause(labelled):
    vendors = api.failures(labelled, options=options())

    found = {
        source.source_ip: (
            source.vendor.name,
            source.cause,
            source.as_dict()["bucket"],
            source.dkim_failed,
        )
        for vendor in vendors
        for source in vendor.sources
    }
    assert found == EXPECTED


def test_fixes_name_the_vendor_the_key_and_our_own_signer(labelled):
    sources = {
        s.source_ip: s
        for v in api.failures(labelled, options=options())
        for s in v.sources
    }

    assert "set up custom DKIM there" in str(sources["198.51.100.30"].fix)
    assert "s1._domainkey.example.com is malformed" in str(sources["192.0.2.14"].fix)
    assert "OpenDKIM" in str(sources["192.0.2.11"].fix)
    assert "enable DKIM signing for example.com there" in str(
        sources["198.51.100.50"].fix
    )
    assert "adkim=r" in str(sources["198.51.100.40"].fix)
    assert "p=quarantine" in str(sources["203.0.113.66"].fix)
    assert sources["192.0.2.9"].as_dict()["receiver_disagrees"] == 12


def test_senders_buckets_and_subdomain_from(labelled):
    found = {s.source.source_ip: s for s in api.senders(labelled, options=options())}

    assert len(found) == 14  # 13 sources in one report, 1 in the other
    assert found["192.0.2.10"].bucket == "compliant"
    assert found["192.0.2.15"].bucket == "compliant"  # news.example.com, relaxed
    assert found["192.0.2.15"].rate(found["192.0.2.15"].dkim_pass) == 1.0
    assert found["203.0.113.66"].bucket == "threat_unknown"
    assert found["203.0.113.5"].bucket == "forwarded"
    assert found["209.85.220.41"].as_dict()["asn"] == "AS15169"
    assert found["192.0.2.10"].new is None


def test_without_the_senders_file_own_servers_are_named_by_domain(labelled):
    sources = {s.source_ip: s for v in api.failures(labelled) for s in v.sources}

    assert sources["192.0.2.11"].vendor.name == "own domain (example.com)"
    assert sources["192.0.2.11"].vendor.evidence == "spf example.com passed"


def test_a_source_cause_adds_up_its_from_domains(database, tmp_path):
    broken = [("example.com", "mx", "fail")]
    records = "".join(
        [
            record("192.0.2.10", 50, dkim=[OWN_PASS], evaluated=("pass", "pass")),
            record("192.0.2.50", 4, dkim=broken, evaluated=("fail", "pass")),
            record(
                "192.0.2.50",
                4,
                dkim=broken,
                header_from="a.example.com",
                evaluated=("fail", "pass"),
            ),
            record(
                "192.0.2.50", 5, header_from="b.example.com", evaluated=("fail", "pass")
            ),
        ]
    )
    (tmp_path / "r.xml").write_bytes(report_xml(records))
    api.ingest(database, [tmp_path / "r.xml"])

    (source,) = [s for v in api.failures(database) for s in v.sources]

    assert (source.source_ip, source.cause) == ("192.0.2.50", "signature_broken")
    assert "fails" in str(source.fix)  # the fix of that cause, not of the largest group


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('[[senders]]\nname = "x"\n', "unknown section 'senders'"),
        ('[[sender]]\nname = "x"\ncidr = ["192.0.2.0/24"]\n', "unknown key 'cidr'"),
        ('[[sender]]\nname = "x"\nown = "false"\n', "own must be true or false"),
        ('[[sender]]\nname = ""\n', "needs a name"),
        ('[[sender]]\nname = "x"\nown = true\nforwarder = true\n', "both own and"),
        (
            '[[sender]]\nname = "x"\ncidrs = "192.0.2.0/24"\n',
            "'x': cidrs must be a list",
        ),
        ('[[sender]]\nname = "x"\ncidrs = ["nonsense"]\n', "sender 1"),
    ],
)
def test_senders_file_mistakes_are_named(text, reason):
    from dmarc_analyzer.identify.inventory import InventoryError

    with pytest.raises(InventoryError, match=reason):
        parse_inventory(text)
