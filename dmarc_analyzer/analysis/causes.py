"""Why messages failed DKIM: one cause from a fixed vocabulary, its fix in
words an administrator can act on, and the bucket users know from the
commercial services.

A cause is judged for messages that share a source, a From domain and our
own DKIM and SPF outcomes (alignment.py); a group of mixed messages gets
the cause that covers most of its failed messages.
"""

from dataclasses import dataclass

from dmarc_analyzer import alignment
from dmarc_analyzer.analysis.vendors import MAILBOX_PROVIDER, Vendor

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

FORWARDING_REASONS = {"forwarded", "mailing_list", "trusted_forwarder"}
_SPF_PASSING = {
    alignment.ALIGNED_PASS,
    alignment.STRICT_MISMATCH,
    alignment.UNALIGNED_PASS,
}
_DKIM_UNSIGNED_OR_BROKEN = {
    alignment.ALIGNED_FAIL,
    alignment.NO_SIGNATURE,
    alignment.OTHER,
}


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the receivers saw for the failed messages of a group."""

    dkim_outcome: str
    spf_outcome: str
    forwarding_reason: bool


def cause_of(evidence: Evidence, vendor: Vendor) -> str:
    """The one cause for failed messages with this evidence from this sender."""
    dkim, spf = evidence.dkim_outcome, evidence.spf_outcome
    if _forwarded(evidence, vendor):
        return FORWARDED
    if _spoofed(evidence, vendor):
        return SPOOFING
    if dkim == alignment.TEMPERROR or (
        spf == alignment.TEMPERROR and dkim in _DKIM_UNSIGNED_OR_BROKEN
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
    # An aligned signature that failed, results that say nothing clearer, or
    # a receiver that evaluated fail although it lists an aligned pass.
    return SIGNATURE_BROKEN


def _forwarded(evidence: Evidence, vendor: Vendor) -> bool:
    if evidence.forwarding_reason or vendor.forwarder:
        return True
    # Mail from a mailbox provider's outbound network that is not aligned by
    # SPF and whose signature is absent or broken: relayed there, not sent.
    return (
        vendor.type == MAILBOX_PROVIDER
        and not vendor.own
        and evidence.spf_outcome != alignment.ALIGNED_PASS
        and evidence.dkim_outcome in _DKIM_UNSIGNED_OR_BROKEN
    )


def _spoofed(evidence: Evidence, vendor: Vendor) -> bool:
    """Unknown source, and neither SPF nor any DKIM signature passed."""
    return (
        not vendor.known
        and evidence.spf_outcome not in _SPF_PASSING
        and evidence.dkim_outcome in _DKIM_UNSIGNED_OR_BROKEN | {alignment.PERMERROR}
    )


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
    """The names a fix text needs."""

    vendor: Vendor
    header_from: str
    signing_domain: str | None = None
    selector: str | None = None


def fix_for(cause: str, context: FixContext) -> str:
    vendor = context.vendor.name
    domain = context.header_from or "your domain"
    signer = context.signing_domain or "?"
    key = f"{context.selector or '<selector>'}._domainkey.{signer}"

    if cause == VENDOR_UNALIGNED_SIGNATURE:
        return (
            f"{vendor} signs with d={signer}, not with {domain}: set up custom "
            f"DKIM at {vendor} (publish the selector records they give you in "
            f"your DNS) so that it signs as {domain}."
        )
    if cause == STRICT_ALIGNMENT:
        return (
            f"Signed with d={signer}, in the same organization as {domain} but "
            f"not equal, while adkim=s: sign with d={domain}, or publish adkim=r."
        )
    if cause == NO_SIGNATURE and context.vendor.own:
        return (
            f"Your own server sends {domain} mail without a DKIM signature: "
            "check that the signer runs and that this host's mail passes "
            "through it (for example an OpenDKIM milter whose socket the MTA "
            "cannot reach or create)."
        )
    if cause == NO_SIGNATURE:
        return f"Enable DKIM signing for {domain} at {vendor}."
    if cause == SIGNATURE_BROKEN:
        return (
            f"The signature with d={signer} fails: check that the key at {key} "
            "matches the signing key (rotated key, wrong selector), and whether "
            "a gateway adds footers or disclaimers after signing."
        )
    if cause == FORWARDED:
        return (
            "Forwarded or sent through a mailing list, which changed the "
            "message: not a fault of your setup. Show it apart; ARC at the "
            "forwarder helps receivers trust it."
        )
    if cause == DNS_TEMPERROR:
        return (
            "The receiver could not query DNS at check time (temperror): check "
            "your DNS servers' availability at the reported dates."
        )
    if cause == DNS_PERMERROR:
        return (
            f"The DKIM key record {key} is malformed (permerror): correct its "
            "syntax (v=DKIM1; k=rsa; p=<base64 key>)."
        )
    if cause == SPOOFING:
        return (
            "Neither your servers nor a known vendor, failing SPF and DKIM: "
            "likely someone sending as your domain. The fix is enforcement "
            "(p=quarantine, then p=reject), not configuration."
        )
    return "Passes DKIM with an aligned signature."
