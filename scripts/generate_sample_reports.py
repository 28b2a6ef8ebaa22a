"""Generate a small, synthetic demo set of DMARC aggregate (RUA) reports.

The set covers one week (2026-11-23 to 2026-11-29, UTC) of daily reports for
the policy domain example.com (p=none), plus a few for example.org
(p=quarantine), as four receivers would send them:

* google/     google.com        .zip holding one .xml member
* microsoft/  Enterprise Outlook .xml.gz (one saved as .xml although it is
                                 gzip; one uses the DMARCbis namespace
                                 urn:ietf:params:xml:ns:dmarc-2.0)
* yahoo/      Yahoo             plain .xml (one with a UTF-8 byte-order mark,
                                 one with capitalised "Pass"/"Fail" words)
* mailru/     Mail.Ru           RFC 5322 messages (.eml) with a base64
                                 .xml.gz attachment (one with a .zip)

The mail streams are: the owner's servers, Twilio SendGrid (aligned),
Mailchimp and Amazon SES (not aligned), a legacy server that does not sign,
a mailing list, two spoofing hosts, and a one-day DKIM temperror/permerror
incident. All IP addresses come from documentation ranges (RFC 5737 and
RFC 3849) and all domains are reserved example domains or public providers.

The script also writes tests/data/sample_reports_manifest.json with per-file
totals computed from the in-memory data. Output is byte-identical on every run
(fixed seed, fixed timestamps, gzip mtime 0). Only the standard library is used.

Regenerate from the repository root with:

    python scripts/generate_sample_reports.py
"""

import calendar
import datetime
import gzip
import io
import ipaddress
import json
import random
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "sample_reports"
MANIFEST = ROOT / "tests" / "data" / "sample_reports_manifest.json"
SEED = 20261123
FIRST_DAY = calendar.timegm((2026, 11, 23, 0, 0, 0))
DAY_SECONDS = 86400
NUM_DAYS = 7
ALL_DAYS = tuple(range(NUM_DAYS))
WEEKDAYS = (0, 1, 2, 3, 4)  # 2026-11-23 is a Monday
INCIDENT_DAY = 3  # 2026-11-26
BIS_NAMESPACE = "urn:ietf:params:xml:ns:dmarc-2.0"
UTF8_BOM = b"\xef\xbb\xbf"

POLICIES = {
    "example.com": {
        "adkim": "r",
        "aspf": "r",
        "p": "none",
        "sp": "none",
        "pct": "100",
        "fo": "1",
    },
    "example.org": {
        "adkim": "r",
        "aspf": "r",
        "p": "quarantine",
        "sp": "quarantine",
        "pct": "100",
        "fo": "0",
    },
}


@dataclass(frozen=True)
class Sender:
    """One mail stream as a receiver sees it (same result for every IP)."""

    name: str
    header_from: str
    ips: tuple
    dkim: tuple  # (domain, selector, result) triples
    spf: tuple  # (domain, result) pairs, scope is always mfrom
    volume: tuple  # (low, high) messages per IP per day at Google scale
    days: tuple = ALL_DAYS
    always: bool = False  # appears in every report on its active days
    reporters: tuple = ("google", "microsoft", "yahoo", "mailru")
    reasons: tuple = ()  # override reasons to pick from, may include None
    scaled: bool = True  # scale volume by the reporter's share of traffic


@dataclass(frozen=True)
class Reporter:
    key: str
    org_name: str
    email: str
    folder: str
    share: float  # fraction of Google's volume this receiver sees
    coverage: float  # chance a non-"always" sender shows up on a day


REPORTERS = {
    "google": Reporter(
        "google",
        "google.com",
        "noreply-dmarc-support@google.com",
        "google",
        1.0,
        1.0,
    ),
    "microsoft": Reporter(
        "microsoft",
        "Enterprise Outlook",
        "dmarcreport@microsoft.com",
        "microsoft",
        0.6,
        0.9,
    ),
    "yahoo": Reporter(
        "yahoo",
        "Yahoo",
        "dmarchelp@yahooinc.com",
        "yahoo",
        0.15,
        0.7,
    ),
    "mailru": Reporter(
        "mailru",
        "Mail.Ru",
        "dmarc_support@corp.mail.ru",
        "mailru",
        0.05,
        0.6,
    ),
}

FORWARD_REASONS = (
    None,
    ("mailing_list", "list lists.example.net"),
    ("forwarded", "arc=pass"),
)

SENDERS = (
    Sender(
        "own servers",
        "example.com",
        ("198.51.100.10", "2001:db8:10::25"),
        dkim=(("example.com", "mx2026", "pass"),),
        spf=(("example.com", "pass"),),
        volume=(400, 2000),
        always=True,
    ),
    Sender(
        "Twilio SendGrid",
        "example.com",
        ("192.0.2.21", "192.0.2.22"),
        dkim=(("example.com", "s1", "pass"), ("sendgrid.net", "smtpapi", "pass")),
        spf=(("em1234.example.com", "pass"),),
        volume=(200, 1500),
        always=True,
    ),
    Sender(
        "Intuit Mailchimp",
        "example.com",
        ("192.0.2.130", "192.0.2.131"),
        dkim=(("mcsv.net", "k2", "pass"),),
        spf=(("mail187.suw121.mcsv.net", "pass"),),
        volume=(150, 900),
        days=(1, 3, 4),
    ),
    Sender(
        "Amazon SES",
        "example.com",
        ("192.0.2.200",),
        dkim=(("amazonses.com", "ihchk4r2mzq7xwd5fvbl3nt6ogsyuepa", "pass"),),
        spf=(("eu-west-1.amazonses.com", "pass"),),
        volume=(40, 400),
        days=WEEKDAYS,
    ),
    Sender(
        "legacy application server",
        "example.com",
        ("198.51.100.20",),
        dkim=(),
        spf=(("example.com", "pass"),),
        volume=(20, 150),
        days=WEEKDAYS,
    ),
    Sender(
        "mailing list",
        "example.com",
        ("203.0.113.140",),
        dkim=(("example.com", "mx2026", "fail"),),
        spf=(("lists.example.net", "pass"),),
        volume=(10, 120),
        days=(0, 2, 3, 5),
        reasons=FORWARD_REASONS,
    ),
    Sender(
        "spoofer (no DKIM)",
        "example.com",
        ("203.0.113.66",),
        dkim=(),
        spf=(("example.com", "fail"),),
        volume=(10, 300),
        days=(1, 2, 5, 6),
    ),
    Sender(
        "spoofer (forged DKIM)",
        "example.com",
        ("203.0.113.67",),
        dkim=(("example.com", "default", "fail"),),
        spf=(("example.com", "softfail"),),
        volume=(10, 200),
        days=(2, 3, 6),
    ),
    Sender(
        "own servers, DKIM temperror",
        "example.com",
        ("198.51.100.10",),
        dkim=(("example.com", "mx2026", "temperror"),),
        spf=(("example.com", "pass"),),
        volume=(2, 6),
        days=(INCIDENT_DAY,),
        always=True,
        reporters=("google",),
        scaled=False,
    ),
    Sender(
        "SendGrid, DKIM permerror",
        "example.com",
        ("192.0.2.21",),
        dkim=(("example.com", "s1", "permerror"), ("sendgrid.net", "smtpapi", "pass")),
        spf=(("em1234.example.com", "pass"),),
        volume=(2, 6),
        days=(INCIDENT_DAY,),
        always=True,
        reporters=("microsoft",),
        scaled=False,
    ),
    Sender(
        "own servers (example.org)",
        "example.org",
        ("198.51.100.10",),
        dkim=(("example.org", "mx2026", "pass"),),
        spf=(("example.org", "pass"),),
        volume=(20, 120),
        always=True,
    ),
    Sender(
        "mailing list (example.org)",
        "example.org",
        ("203.0.113.140",),
        dkim=(("example.org", "mx2026", "fail"),),
        spf=(("lists.example.net", "pass"),),
        volume=(5, 30),
        always=True,
        reasons=FORWARD_REASONS[1:],
    ),
    Sender(
        "spoofer (example.org)",
        "example.org",
        ("203.0.113.67",),
        dkim=(),
        spf=(("example.org", "softfail"),),
        volume=(5, 60),
        always=True,
    ),
)


# --- Which reports exist ---------------------------------------------------


@dataclass
class ReportPlan:
    reporter: str
    domain: str
    day: int
    style: str = "plain"  # plain, bis, mislabeled, bom, capitalised, zip


def plan_reports():
    """Return the list of reports to generate, in a fixed order."""
    plans = []
    for day in ALL_DAYS:
        plans.append(ReportPlan("google", "example.com", day))
        ms_style = {2: "bis", 5: "mislabeled"}.get(day, "plain")
        plans.append(ReportPlan("microsoft", "example.com", day, ms_style))
        if day in (1, 3, 5):
            yahoo_style = {1: "capitalised", 3: "bom"}.get(day, "plain")
            plans.append(ReportPlan("yahoo", "example.com", day, yahoo_style))
        if day in (0, 2, 4, 6):
            mailru_style = "zip" if day == 4 else "plain"
            plans.append(ReportPlan("mailru", "example.com", day, mailru_style))
        if day in (1, 4):
            plans.append(ReportPlan("google", "example.org", day))
        if day == 4:
            plans.append(ReportPlan("microsoft", "example.org", day))
    return plans


# --- Report data -------------------------------------------------------------


def organizational_domain(domain):
    """Last two labels; good enough for the domains used in this set."""
    return ".".join(domain.lower().split(".")[-2:])


def aligned_pass(results, header_from):
    """True if any result passes for a domain aligned (relaxed) with From."""
    org = organizational_domain(header_from)
    return any(
        result[-1].lower() == "pass" and organizational_domain(result[0]) == org
        for result in results
    )


def evaluate(record, policy):
    """Fill in policy_evaluated (disposition, dkim, spf) for a record."""
    dkim_ok = aligned_pass(record["dkim"], record["from"])
    spf_ok = aligned_pass(record["spf"], record["from"])
    record["dkim_eval"] = "pass" if dkim_ok else "fail"
    record["spf_eval"] = "pass" if spf_ok else "fail"
    if "pass" in (record["dkim_eval"], record["spf_eval"]):
        record["disposition"] = "none"
    elif record["reason"] is not None:
        record["disposition"] = "none"  # receiver overrode the policy
    else:
        record["disposition"] = policy["p"]


def sender_count(rng, sender, reporter):
    low, high = sender.volume
    if sender.scaled:
        low = max(5, round(low * reporter.share))
        high = max(low, round(high * reporter.share))
    return rng.randint(low, high)


def build_records(rng, plan):
    """Records for one report: senders active that day, seen by that receiver."""
    reporter = REPORTERS[plan.reporter]
    records = []
    for sender in SENDERS:
        if sender.header_from != plan.domain or plan.day not in sender.days:
            continue
        if plan.reporter not in sender.reporters:
            continue
        if not sender.always and rng.random() >= reporter.coverage:
            continue
        for ip in sender.ips:
            record = {
                "ip": ip,
                "count": sender_count(rng, sender, reporter),
                "from": sender.header_from,
                "dkim": sender.dkim,
                "spf": sender.spf,
                "reason": rng.choice(sender.reasons) if sender.reasons else None,
            }
            evaluate(record, POLICIES[plan.domain])
            records.append(record)
    return records


def make_report_id(rng, plan, begin, end):
    if plan.reporter == "google":
        return str(rng.randrange(10**19, 10**20))
    if plan.reporter == "microsoft":
        return "%032x" % rng.getrandbits(128)
    if plan.reporter == "yahoo":
        return "%d.%06d" % (end + rng.randrange(3600, 7200), rng.randrange(10**6))
    return "%d%010d" % (begin // DAY_SECONDS, rng.randrange(10**10))


def build_report(rng, plan):
    begin = FIRST_DAY + plan.day * DAY_SECONDS
    end = begin + DAY_SECONDS - 1
    return {
        "plan": plan,
        "reporter": REPORTERS[plan.reporter],
        "report_id": make_report_id(rng, plan, begin, end),
        "domain": plan.domain,
        "begin": begin,
        "end": end,
        "records": build_records(rng, plan),
    }


# --- XML rendering -----------------------------------------------------------


class XmlWriter:
    """Tiny indenting XML writer, so each receiver's layout can differ."""

    def __init__(self, indent, newline):
        self.indent = indent
        self.newline = newline
        self.depth = 0
        self.lines = []

    def open(self, name, attributes=""):
        self.lines.append(self.indent * self.depth + "<%s%s>" % (name, attributes))
        self.depth += 1

    def close(self, name):
        self.depth -= 1
        self.lines.append(self.indent * self.depth + "</%s>" % name)

    def leaf(self, name, value):
        text = escape(str(value))
        self.lines.append(self.indent * self.depth + "<%s>%s</%s>" % (name, text, name))

    def text(self):
        return self.newline.join(self.lines) + self.newline


XML_STYLES = {
    "google": {
        "declaration": '<?xml version="1.0" encoding="UTF-8" ?>',
        "indent": "  ",
        "newline": "\n",
        "root": "",
    },
    "microsoft": {
        "declaration": '<?xml version="1.0"?>',
        "indent": "  ",
        "newline": "\r\n",
        "root": ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"'
        ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"',
    },
    "yahoo": {
        "declaration": '<?xml version="1.0"?>',
        "indent": "  ",
        "newline": "\n",
        "root": "",
    },
    "mailru": {
        "declaration": '<?xml version="1.0" encoding="UTF-8"?>',
        "indent": "\t",
        "newline": "\n",
        "root": "",
    },
}


def result_word(word, report):
    """Lowercase result words, except in the one 'capitalised' report."""
    if report["plan"].style == "capitalised" and word in ("pass", "fail"):
        return word.capitalize()
    return word


def write_metadata(xml, report):
    reporter = report["reporter"]
    xml.open("report_metadata")
    xml.leaf("org_name", reporter.org_name)
    xml.leaf("email", reporter.email)
    if reporter.key == "google":
        xml.leaf("extra_contact_info", "https://support.google.com/a/answer/2466580")
    xml.leaf("report_id", report["report_id"])
    xml.open("date_range")
    xml.leaf("begin", report["begin"])
    xml.leaf("end", report["end"])
    xml.close("date_range")
    xml.close("report_metadata")


def write_policy(xml, report):
    policy = POLICIES[report["domain"]]
    is_bis = report["plan"].style == "bis"
    xml.open("policy_published")
    xml.leaf("domain", report["domain"])
    for key in ("adkim", "aspf", "p", "sp"):
        xml.leaf(key, policy[key])
    if is_bis:
        xml.leaf("np", policy["sp"])
        xml.leaf("testing", "n")
        xml.leaf("discovery_method", "psl")
    else:
        xml.leaf("pct", policy["pct"])
    xml.leaf("fo", policy["fo"])
    xml.close("policy_published")


def write_identifiers(xml, record, reporter_key):
    envelope_from = record["spf"][0][0]
    xml.open("identifiers")
    if reporter_key == "microsoft":
        xml.leaf("envelope_to", "outlook.com")
        xml.leaf("envelope_from", envelope_from)
    xml.leaf("header_from", record["from"])
    if reporter_key == "mailru":
        xml.leaf("envelope_from", envelope_from)
    xml.close("identifiers")


def write_record(xml, record, report):
    reporter_key = report["reporter"].key
    source_ip = record["ip"]
    if reporter_key == "mailru":
        source_ip = ipaddress.ip_address(source_ip).exploded
    xml.open("record")
    xml.open("row")
    xml.leaf("source_ip", source_ip)
    xml.leaf("count", record["count"])
    xml.open("policy_evaluated")
    xml.leaf("disposition", record["disposition"])
    xml.leaf("dkim", result_word(record["dkim_eval"], report))
    xml.leaf("spf", result_word(record["spf_eval"], report))
    if record["reason"] is not None:
        xml.open("reason")
        xml.leaf("type", record["reason"][0])
        xml.leaf("comment", record["reason"][1])
        xml.close("reason")
    xml.close("policy_evaluated")
    xml.close("row")
    write_identifiers(xml, record, reporter_key)
    xml.open("auth_results")
    for domain, selector, result in record["dkim"]:
        xml.open("dkim")
        xml.leaf("domain", domain)
        xml.leaf("selector", selector)
        xml.leaf("result", result_word(result, report))
        xml.close("dkim")
    for domain, result in record["spf"]:
        xml.open("spf")
        xml.leaf("domain", domain)
        xml.leaf("scope", "mfrom")
        xml.leaf("result", result_word(result, report))
        xml.close("spf")
    xml.close("auth_results")
    xml.close("record")


def render_xml(report):
    style = XML_STYLES[report["reporter"].key]
    root_attributes = style["root"]
    if report["plan"].style == "bis":
        root_attributes = ' xmlns="%s"' % BIS_NAMESPACE
    xml = XmlWriter(style["indent"], style["newline"])
    xml.lines.append(style["declaration"])
    xml.open("feedback", root_attributes)
    xml.leaf("version", "1.0")
    write_metadata(xml, report)
    write_policy(xml, report)
    for record in report["records"]:
        write_record(xml, record, report)
    xml.close("feedback")
    return xml.text().encode("utf-8")


# --- Containers --------------------------------------------------------------


def utc_tuple(timestamp):
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    return moment.timetuple()[:6]


def as_gzip(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def as_zip(member_name, data, timestamp):
    info = zipfile.ZipInfo(member_name, date_time=utc_tuple(timestamp))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 0
    info.external_attr = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, data)
    return buffer.getvalue()


def as_email(report, attachment_name, attachment, subtype):
    """An RFC 5322 message from Mail.Ru carrying the report as an attachment."""
    sent = report["end"] + 4 * 3600 + 1234
    moscow = datetime.timezone(datetime.timedelta(hours=3))
    message = EmailMessage()
    message["From"] = report["reporter"].email
    message["To"] = "dmarc-rua@example.com"
    message["Subject"] = "Report Domain: %s Submitter: Mail.Ru Report-ID: %s" % (
        report["domain"],
        report["report_id"],
    )
    message["Date"] = format_datetime(datetime.datetime.fromtimestamp(sent, moscow))
    message["Message-ID"] = "<%s@corp.mail.ru>" % report["report_id"]
    message.set_content(
        "This is an aggregate DMARC report for domain %s.\n" % report["domain"]
    )
    message.add_attachment(
        attachment, maintype="application", subtype=subtype, filename=attachment_name
    )
    message.set_boundary("----=_Part_%s" % report["report_id"])
    for part in message.iter_parts():
        del part["MIME-Version"]  # only the top-level header is needed
    return message.as_bytes()


def base_name(report, reporter_domain, end=None):
    if end is None:
        end = report["end"]
    return "%s!%s!%d!%d" % (reporter_domain, report["domain"], report["begin"], end)


def package(report):
    """Return (relative path, file bytes) the way this receiver delivers it."""
    xml = render_xml(report)
    folder = report["reporter"].folder
    style = report["plan"].style
    key = report["reporter"].key
    if key == "google":
        name = base_name(report, "google.com")
        data = as_zip(name + ".xml", xml, report["end"] + 1 + 5 * 3600)
        return "%s/%s.zip" % (folder, name), data
    if key == "microsoft":
        # Microsoft names the file with the next midnight as end time.
        name = base_name(report, "enterprise.protection.outlook.com", report["end"] + 1)
        suffix = ".xml" if style == "mislabeled" else ".xml.gz"
        return "%s/%s%s" % (folder, name, suffix), as_gzip(xml)
    if key == "yahoo":
        data = UTF8_BOM + xml if style == "bom" else xml
        return "%s/%s.xml" % (folder, base_name(report, "yahoo.com")), data
    name = base_name(report, "mail.ru")
    if style == "zip":
        attachment = as_zip(name + ".xml", xml, report["end"] + 1 + 3 * 3600)
        message = as_email(report, name + ".zip", attachment, "zip")
    else:
        message = as_email(report, name + ".xml.gz", as_gzip(xml), "gzip")
    day = datetime.datetime.fromtimestamp(report["begin"], datetime.UTC)
    file_name = "report-%s-%s.eml" % (report["domain"], day.strftime("%Y%m%d"))
    return "%s/%s" % (folder, file_name), message


# --- Manifest and main -------------------------------------------------------


def summarize(report):
    records = report["records"]

    def messages(condition):
        return sum(record["count"] for record in records if condition(record))

    return {
        "org_name": report["reporter"].org_name,
        "report_id": report["report_id"],
        "domain": report["domain"],
        "begin": report["begin"],
        "end": report["end"],
        "records": len(records),
        "messages": messages(lambda record: True),
        "dkim_aligned_pass": messages(lambda record: record["dkim_eval"] == "pass"),
        "spf_aligned_pass": messages(lambda record: record["spf_eval"] == "pass"),
        "dmarc_pass": messages(
            lambda record: "pass" in (record["dkim_eval"], record["spf_eval"])
        ),
    }


def write_file(relative_path, data):
    path = OUT_DIR / relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def main():
    rng = random.Random(SEED)
    manifest = []
    for plan in plan_reports():
        report = build_report(rng, plan)
        relative_path, data = package(report)
        write_file(relative_path, data)
        manifest.append({"file": relative_path, "reports": [summarize(report)]})
    manifest.sort(key=lambda entry: entry["file"])
    manifest_text = json.dumps(manifest, indent=2) + "\n"
    MANIFEST.write_text(manifest_text, encoding="utf-8")
    reports = [summary for entry in manifest for summary in entry["reports"]]
    print(
        "wrote %d files: %d reports, %d records, %d messages"
        % (
            len(manifest),
            len(reports),
            sum(summary["records"] for summary in reports),
            sum(summary["messages"] for summary in reports),
        )
    )


if __name__ == "__main__":
    main()
