"""Why messages failed DKIM: one cause from a fixed vocabulary, its fix in
words an administrator can act on, and the bucket users know from the
commercial services.

A cause is judged for messages that share a source, a From domain and our
own DKIM and SPF outcomes (alignment.py); a group of mixed messages gets
the cause that covers most of its failed messages.

Two facts carry most of the judgement. Is the source *authorized*: does
the senders file, a passing DKIM/SPF domain of a known service, or the
domain itself vouch for it (vendors.py)? And is a failing signature for
the domain *genuine*: does its selector pass elsewhere in the period? A
genuine signature that fails on someone else's server was changed in
transit (forwarding); a signature with a selector that never passes, from
a source nothing vouches for, was forged.
"""

from dataclasses import dataclass
from datetime import date

from dmarc_analyzer import alignment
from dmarc_analyzer.analysis.vendors import Vendor
from dmarc_analyzer.i18n import N_, NO_TEXT, Text, text

COMPLIANT = "compliant"
VENDOR_UNALIGNED_SIGNATURE = "vendor_unaligned_signature"
STRICT_ALIGNMENT = "strict_alignment"
NO_SIGNATURE = "no_signature"
SIGNATURE_BROKEN = "signature_broken"
FORWARDED = "forwarded"
DNS_TEMPERROR = "dns_temperror"
DNS_PERMERROR = "dns_permerror"
SPOOFING = "spoofing"

# The order breaks ties between causes covering the same number of messages.
CAUSES = (
    SPOOFING,
    VENDOR_UNALIGNED_SIGNATURE,
    NO_SIGNATURE,
    SIGNATURE_BROKEN,
    STRICT_ALIGNMENT,
    DNS_PERMERROR,
    DNS_TEMPERROR,
    FORWARDED,
)

BUCKET_COMPLIANT = "compliant"
BUCKET_NON_COMPLIANT = "non_compliant"
BUCKET_FORWARDED = "forwarded"
BUCKET_THREAT = "threat_unknown"

_SIGNED_FOR_THE_DOMAIN = {alignment.ALIGNED_FAIL, alignment.OTHER}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the receivers saw for some failed messages of a group."""

    dkim_outcome: str
    spf_outcome: str
    forwarding_reason: bool = False
    genuine_signature: bool = False  # a failing selector that passes elsewhere


def cause_of(evidence: Evidence, vendor: Vendor) -> str:
    """The one cause for failed messages with this evidence from this sender."""
    dkim, spf = evidence.dkim_outcome, evidence.spf_outcome
    if evidence.forwarding_reason or vendor.forwarder:
        return FORWARDED
    if not vendor.authorized:
        if dkim in _SIGNED_FOR_THE_DOMAIN and evidence.genuine_signature:
            return FORWARDED
        if spf != alignment.ALIGNED_PASS:
            return SPOOFING
    if dkim == alignment.TEMPERROR or (
        spf == alignment.TEMPERROR and dkim == alignment.NO_SIGNATURE
    ):
        return DNS_TEMPERROR
    if dkim == alignment.PERMERROR:
        return DNS_PERMERROR
    if dkim == alignment.STRICT_MISMATCH:
        return STRICT_ALIGNMENT
    if dkim == alignment.UNALIGNED_PASS:
        return VENDOR_UNALIGNED_SIGNATURE
    if dkim == alignment.NO_SIGNATURE:
        return NO_SIGNATURE
    # A signature for the domain that failed, results that say nothing
    # clearer, or a receiver that evaluated fail although it lists an
    # aligned pass.
    return SIGNATURE_BROKEN


def bucket_of(cause: str | None) -> str:
    if cause in (None, COMPLIANT):
        return BUCKET_COMPLIANT
    if cause == FORWARDED:
        return BUCKET_FORWARDED
    if cause == SPOOFING:
        return BUCKET_THREAT
    return BUCKET_NON_COMPLIANT


@dataclass(frozen=True, slots=True)
class FixContext:
    """The names and facts a fix text needs."""

    vendor: Vendor
    header_from: str
    signing_domain: str | None = None
    selector: str | None = None
    selector_passes_elsewhere: bool = False
    spf_aligned: bool = True
    first_day: date | None = None
    last_day: date | None = None


def fix_for(cause: str, context: FixContext) -> Text:
    """What to do about `cause`, in words an administrator can act on."""
    writer = _FIXES.get(cause)
    return (
        writer(context)
        if writer
        else text(N_("Passes DKIM with an aligned signature."))
    )


def _vendor_unaligned(context: FixContext) -> Text:
    return text(
        N_(
            "{vendor} signs with d={signing_domain}, not with {domain}. If you "
            "send through {vendor}, set up custom DKIM there (publish the selector "
            "records they give you in your DNS) so that it signs as {domain}; if "
            "you do not, someone else's {vendor} account sends as your domain."
        ),
        vendor=context.vendor.name,
        signing_domain=context.signing_domain or "?",
        domain=_domain(context),
    )


def _strict(context: FixContext) -> Text:
    return text(
        N_(
            "Signed with d={signing_domain}, in the same organization as {domain} "
            "but not equal, while adkim=s: sign with d={domain}, or publish "
            "adkim=r."
        ),
        signing_domain=context.signing_domain or "?",
        domain=_domain(context),
    )


def _no_signature(context: FixContext) -> Text:
    domain, vendor = _domain(context), context.vendor.name
    if context.vendor.own and context.spf_aligned:
        return text(
            N_(
                "Your own server sends {domain} mail without a DKIM signature: "
                "check that the signer runs and that this host's mail passes "
                "through it (for example an OpenDKIM milter whose socket the MTA "
                "cannot reach or create)."
            ),
            domain=domain,
        )
    if context.vendor.own:
        return text(
            N_(
                "Your own server sends {domain} mail without a DKIM signature: "
                "check that the signer runs and that this host's mail passes "
                "through it (for example an OpenDKIM milter whose socket the MTA "
                "cannot reach or create). It fails SPF too: add it to your SPF "
                "record."
            ),
            domain=domain,
        )
    if context.vendor.type == "Listed":  # the user's own list says it is theirs
        return text(
            N_("Enable DKIM signing for {domain} at {vendor}."),
            domain=domain,
            vendor=vendor,
        )
    return text(
        N_(
            "If you send through {vendor}, enable DKIM signing for {domain} there; "
            "if you do not, someone else's {vendor} account sends as your domain."
        ),
        domain=domain,
        vendor=vendor,
    )


def _broken(context: FixContext) -> Text:
    return text(
        N_(
            "The signature with d={signing_domain} fails: check that the key at "
            "{key} matches the signing key (rotated key, wrong selector), and "
            "whether a gateway adds footers or disclaimers after signing."
        ),
        signing_domain=context.signing_domain or "?",
        key=_key(context),
    )


def _forwarded(context: FixContext) -> Text:
    return text(
        N_(
            "Forwarded or sent through a mailing list, which changed the message "
            "on the way: not a fault of your setup, and no DNS change fixes it. "
            "ARC signing at the forwarder lets receivers trust such mail."
        )
    )


def _temperror(context: FixContext) -> Text:
    return text(
        N_(
            "The receiver could not query DNS at check time (temperror) {when}: "
            "check that your DNS servers answered then."
        ),
        when=_when(context),
    )


def _permerror(context: FixContext) -> Text:
    if context.selector_passes_elsewhere:
        return text(
            N_(
                "The key at {key} was reported unusable (permerror) {when}, yet "
                "it passes in other reports: a passing fault, or a CNAME to a "
                "vendor's key that did not resolve; check the record if it recurs."
            ),
            key=_key(context),
            when=_when(context),
        )
    return text(
        N_(
            "The DKIM key record {key} is malformed (permerror): correct its "
            "syntax (v=DKIM1; k=rsa; p=<base64 key>)."
        ),
        key=_key(context),
    )


def _spoofing(context: FixContext) -> Text:
    return text(
        N_(
            "Nothing vouches for this source (not your servers, no passing domain "
            "of a known vendor) and it fails SPF and DKIM: likely someone sending "
            "as your domain. The answer is enforcement: once your own senders "
            "pass, move to p=quarantine, then p=reject."
        )
    )


_FIXES = {
    VENDOR_UNALIGNED_SIGNATURE: _vendor_unaligned,
    STRICT_ALIGNMENT: _strict,
    NO_SIGNATURE: _no_signature,
    SIGNATURE_BROKEN: _broken,
    FORWARDED: _forwarded,
    DNS_TEMPERROR: _temperror,
    DNS_PERMERROR: _permerror,
    SPOOFING: _spoofing,
}


def _domain(context: FixContext) -> str | Text:
    return context.header_from or text(N_("your domain"))


def _key(context: FixContext) -> str:
    return (
        f"{context.selector or '<selector>'}._domainkey."
        f"{context.signing_domain or context.header_from or 'your-domain'}"
    )


def _when(context: FixContext) -> Text:
    first, last = context.first_day, context.last_day
    if not first:
        return NO_TEXT
    if first == last or not last:
        return text(N_("on {day}"), day=first)
    return text(N_("from {first} to {last}"), first=first, last=last)
