"""Names of causes and buckets for readers who do not know the codes."""

from dmarc_analyzer.analysis import causes
from dmarc_analyzer.i18n import N_

CAUSE_LABELS = {
    causes.VENDOR_UNALIGNED_SIGNATURE: N_("Vendor signs with its own domain"),
    causes.STRICT_ALIGNMENT: N_("Signing domain rejected by strict alignment"),
    causes.NO_SIGNATURE: N_("No DKIM signature"),
    causes.SIGNATURE_BROKEN: N_("DKIM signature fails"),
    causes.FORWARDED: N_("Changed by a forwarder or mailing list"),
    causes.DNS_TEMPERROR: N_("DNS lookup failed at the receiver"),
    causes.DNS_PERMERROR: N_("DKIM key record unusable"),
    causes.SPOOFING: N_("Likely spoofing"),
    causes.COMPLIANT: N_("Passes"),
}

BUCKET_LABELS = {
    causes.BUCKET_COMPLIANT: N_("Compliant"),
    causes.BUCKET_NON_COMPLIANT: N_("Yours, not set up"),
    causes.BUCKET_FORWARDED: N_("Forwarded"),
    causes.BUCKET_THREAT: N_("Unknown or spoofing"),
}

# Stacking order in charts and tables: your own mail first.
BUCKETS = tuple(BUCKET_LABELS)

POLICY_LABELS = {
    "none": N_("none (monitoring only)"),
    "quarantine": N_("quarantine"),
    "reject": N_("reject"),
}
