"""E-mail messages for the fetch tests: reports from the real corpus as
receivers send them, and messages a rua= mailbox also gets that are no
aggregate report."""

import gzip
import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import make_msgid

from tests.conftest import CORPUS

# A few of each kind of container, from several reporters: plain XML,
# gzip, zip, and e-mails as received (.eml).
CORPUS_FILES = [
    "parsedmarc/!example.com!1538204542!1538463818.xml",
    "parsedmarc/Report domain- borschow.com Submitter- google.com "
    "Report-ID- 949348866075514174.eml",
    "parsedmarc/addisonfoods.com!example.com!1536105600!1536191999.xml",
    "parsedmarc/empty_reason.xml",
    "parsedmarc/estadocuenta1.infonacot.gob.mx!example.com!1536853302!1536939702"
    "!2940.xml.zip",
    "parsedmarc/example.net!example.com!1529366400!1529452799.xml",
    "parsedmarc/fastmail.com!example.com!1516060800!1516147199!102675056.xml.gz",
    "parsedmarc/mimecast-weird-gzip.eml",
    "parsedmarc/old_draft_from_wiki.xml",
    "parsedmarc/protection.outlook.com!example.com!1711756800!1711843200.xml",
    "parsedmarc/report_with_upper_cased_pass.xml",
    "parsedmarc/rfc9990-sample.xml",
    "parsedmarc/twilight.eml",
    "parsedmarc/usssa.com!example.com!1538784000!1538870399.xml",
    "parsedmarc/veeam.com!example.com!1530133200!1530219600.xml",
    "dmarc-report-viewer/google.xml",
    "dmarc-report-viewer/mailru.xml",
    "dmarc-report-viewer/outlook.xml",
    "dmarc-report-viewer/gmxnet.xml",
]
# Sent on by a colleague: the report e-mail inside another message.
FORWARDED_FILE = "dmarc-report-viewer/aol.xml"

_KINDS = {".xml": ("application", "xml"), ".gz": ("application", "gzip")}


@dataclass(frozen=True, slots=True)
class Expected:
    reports: set[tuple[str, str]]  # (domain, report_id)
    records: int
    messages: int


def report_messages() -> list[bytes]:
    """One message per corpus file, and one forwarded report."""
    messages = [_as_message(name) for name in CORPUS_FILES]
    inner = EmailMessage()
    inner.set_content("report attached")
    inner["From"], inner["Subject"] = "noreply@aol.example", "Report"
    inner.add_attachment(
        (CORPUS / FORWARDED_FILE).read_bytes(),
        maintype="application",
        subtype="xml",
        filename="aol.xml",
    )
    outer = _envelope("Fwd: DMARC report")
    outer.set_content("See the report below.")
    outer.add_attachment(inner)
    return [*messages, outer.as_bytes(policy=SMTP)]


def expected() -> Expected:
    """The reports of `report_messages`, as expected.jsonl has them."""
    wanted = {*CORPUS_FILES, FORWARDED_FILE}
    lines = [
        json.loads(line)
        for line in (CORPUS / "expected.jsonl").read_text().splitlines()
        if json.loads(line)["file"] in wanted
    ]
    return Expected(
        reports={(line["domain"], line["report_id"]) for line in lines},
        records=sum(line["records"] for line in lines),
        messages=sum(line["messages"] for line in lines),
    )


def invalid_messages() -> list[bytes]:
    """Messages with no aggregate report in them, each for a reason."""
    spam = _envelope("You have won")
    spam.set_content("Click here.")

    pdf = _envelope("Invoice")
    pdf.set_content("Attached.")
    pdf.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf")

    broken = _envelope("Report domain: example.com")
    broken.set_content("Report attached.")
    truncated = gzip.compress((CORPUS / CORPUS_FILES[2]).read_bytes())[:60]
    broken.add_attachment(
        truncated, maintype="application", subtype="gzip", filename="r.xml.gz"
    )

    damaged = _envelope("Report domain: example.com")
    damaged.set_content("Report attached.")
    damaged.add_attachment(
        (CORPUS / "parsedmarc/invalid_xml.xml").read_bytes(),
        maintype="application",
        subtype="xml",
        filename="invalid_xml.xml",
    )
    return [message.as_bytes(policy=SMTP) for message in (spam, pdf, broken, damaged)]


def half_broken_message() -> bytes:
    """A good report and a truncated one, attached to one message."""
    message = _envelope("Report domain: example.com (two attachments)")
    message.set_content("Two reports attached.")
    good = (CORPUS / CORPUS_FILES[2]).read_bytes()
    message.add_attachment(
        gzip.compress(good),
        maintype="application",
        subtype="gzip",
        filename="ok.xml.gz",
    )
    truncated = gzip.compress((CORPUS / CORPUS_FILES[5]).read_bytes())[:60]
    message.add_attachment(
        truncated, maintype="application", subtype="gzip", filename="cut.xml.gz"
    )
    return message.as_bytes(policy=SMTP)


def other_report_messages() -> list[bytes]:
    """A DMARC failure (forensic) report and an SMTP TLS report."""
    failure = _envelope("DMARC failure report")
    failure.set_content("A message claiming to be from you failed DMARC.")
    failure.add_attachment(
        b"Feedback-Type: auth-failure\r\nAuth-Failure: dmarc\r\n",
        maintype="message",
        subtype="feedback-report",
    )

    tls = _envelope("Report Domain: example.com Submitter: receiver.example")
    tls.set_content("This is an aggregate TLS report.")
    tls.add_attachment(
        gzip.compress(b'{"organization-name": "receiver.example", "policies": []}'),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename="receiver.example!example.com!1700000000!1700086399.json.gz",
    )
    return [message.as_bytes(policy=SMTP) for message in (failure, tls)]


def _as_message(name: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    if name.endswith(".eml"):
        return data
    message = _envelope(f"Report domain: example.com ({name})")
    message.set_content("This is a DMARC aggregate report.")
    suffix = "." + name.rsplit(".", 1)[-1]
    maintype, subtype = _KINDS.get(suffix, ("application", "zip"))
    filename = name.rsplit("/", 1)[-1]
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes(policy=SMTP)


def _envelope(subject: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply-dmarc@receiver.example"
    message["To"] = "dmarc@example.com"
    message["Subject"] = subject
    message["Date"] = "Mon, 23 Nov 2026 08:00:00 +0000"
    message["Message-ID"] = make_msgid(domain="receiver.example")
    return message
