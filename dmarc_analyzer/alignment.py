"""DMARC identifier alignment (RFC 7489 section 3.1), recomputed by us.

Relaxed mode: the two domains share an organizational domain, found with
the public suffix list. Strict mode: the two are the same name. Names are
compared without case and without a trailing dot.

Each record gets one DKIM outcome and one SPF outcome, a fixed vocabulary
the analysis groups by. They are computed when a report is stored, under
the adkim/aspf the domain published for that report.
"""

import functools
from collections.abc import Callable, Iterable

from publicsuffixlist import PublicSuffixList

from dmarc_analyzer.model import DkimResult, SpfResult

# DKIM outcomes, the first that applies wins.
ALIGNED_PASS = "aligned_pass"
STRICT_MISMATCH = "strict_mismatch"  # would pass under relaxed alignment
UNALIGNED_PASS = "unaligned_pass"
TEMPERROR = "temperror"
PERMERROR = "permerror"
ALIGNED_FAIL = "aligned_fail"
NO_SIGNATURE = "none"
OTHER = "other"  # results, but none that says more (neutral, unaligned fail...)

_ALIGNED_TROUBLE = (
    ("temperror", TEMPERROR),
    ("permerror", PERMERROR),
    ("fail", ALIGNED_FAIL),
)

# SPF outcomes use the same words where they fit: aligned_pass,
# strict_mismatch, unaligned_pass, temperror, permerror, fail, none.
FAIL = "fail"


@functools.cache
def _suffix_list() -> PublicSuffixList:
    return PublicSuffixList()


def load_suffix_list() -> None:
    """Read the public suffix list now rather than at first use: worker
    processes forked afterwards share it instead of each reading it."""
    _suffix_list()


# Bounded: a report may name a million different domains.
@functools.lru_cache(maxsize=65536)
def base_domain(domain: str) -> str | None:
    """The organizational domain: example.co.uk for mail.example.co.uk."""
    cleaned = normalise(domain)
    if not cleaned:
        return None
    return _suffix_list().privatesuffix(cleaned)


def normalise(domain: str | None) -> str:
    """Lower case, no trailing dot, internationalised names in their ASCII
    (punycode) form, so that bücher.example and xn--bcher-kva.example match."""
    cleaned = (domain or "").strip().rstrip(".").lower()
    if cleaned.isascii():
        return cleaned
    try:
        return cleaned.encode("idna").decode("ascii")
    except UnicodeError:
        return cleaned


OrgDomain = Callable[[str], str | None]


def aligned(
    domain: str | None,
    header_from: str | None,
    mode: str | None,
    org_domain: OrgDomain = base_domain,
) -> bool:
    """Whether `domain` is aligned with the From domain under `mode` (r or s).

    `org_domain` finds organizational domains: the public suffix list by
    default, or the DNS tree walk of RFC 9989 (identify/treewalk.py).
    """
    first, second = normalise(domain), normalise(header_from)
    if not first or not second:
        return False
    if first == second:
        return True
    if (mode or "r").lower().startswith("s"):
        return False
    organizational = org_domain(first)
    return organizational is not None and organizational == org_domain(second)


def dkim_outcome(
    results: Iterable[DkimResult],
    header_from: str | None,
    adkim: str | None,
    org_domain: OrgDomain = base_domain,
) -> str:
    results = list(results)
    words = {result.result for result in results}

    def aligned_with(word: str, mode: str | None) -> bool:
        return any(
            result.result == word
            and aligned(result.domain, header_from, mode, org_domain)
            for result in results
        )

    if aligned_with("pass", adkim):
        return ALIGNED_PASS
    if aligned_with("pass", "r"):
        return STRICT_MISMATCH
    # A signature for the From domain tells the story before any other:
    # a vendor's own passing signature beside it does not make it aligned.
    for word, outcome in _ALIGNED_TROUBLE:
        if aligned_with(word, adkim):
            return outcome
    if "pass" in words:
        return UNALIGNED_PASS
    if "temperror" in words:
        return TEMPERROR
    if "permerror" in words:
        return PERMERROR
    if words <= {None, "none"}:
        return NO_SIGNATURE
    return OTHER


def spf_outcome(
    results: Iterable[SpfResult],
    header_from: str | None,
    aspf: str | None,
    org_domain: OrgDomain = base_domain,
) -> str:
    """Only the MAIL FROM identity counts for DMARC; a HELO result does not."""
    checked = [r for r in results if (r.scope or "mfrom") == "mfrom"]
    if not checked:
        return NO_SIGNATURE
    passing = [r for r in checked if r.result == "pass"]
    if any(aligned(r.domain, header_from, aspf, org_domain) for r in passing):
        return ALIGNED_PASS
    if any(aligned(r.domain, header_from, "r", org_domain) for r in passing):
        return STRICT_MISMATCH
    if passing:
        return UNALIGNED_PASS
    for word in (TEMPERROR, PERMERROR):
        if any(r.result == word for r in checked):
            return word
    return FAIL
