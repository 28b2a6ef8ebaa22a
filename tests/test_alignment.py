"""Properties of the alignment rules (RFC 7489 3.1), with hypothesis."""

from hypothesis import assume, given
from hypothesis import strategies as st

from dmarc_analyzer.alignment import (
    ALIGNED_FAIL,
    ALIGNED_PASS,
    NO_SIGNATURE,
    STRICT_MISMATCH,
    UNALIGNED_PASS,
    aligned,
    base_domain,
    dkim_outcome,
    spf_outcome,
)
from dmarc_analyzer.model import DkimResult, SpfResult

label = st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True)
suffix = st.sampled_from(["com", "net", "org", "co.uk", "com.au", "de"])
organization = st.builds(lambda name, tld: f"{name}.{tld}", label, suffix).filter(
    # Some names are suffixes themselves (the list's private part has many).
    lambda name: base_domain(name) == name
)
subdomain = st.builds(
    lambda labels, org: ".".join([*labels, org]),
    st.lists(label, max_size=3),
    organization,
)
mode = st.sampled_from(["r", "s", None])


@given(subdomain, mode)
def test_a_domain_is_aligned_with_itself_in_any_case(domain, chosen_mode):
    assert aligned(domain, domain.upper() + ".", chosen_mode)


@given(subdomain, subdomain)
def test_strict_alignment_implies_relaxed(first, second):
    if aligned(first, second, "s"):
        assert aligned(first, second, "r")


@given(subdomain, subdomain, mode)
def test_alignment_is_symmetric(first, second, chosen_mode):
    assert aligned(first, second, chosen_mode) == aligned(second, first, chosen_mode)


@given(st.lists(label, min_size=1, max_size=3), organization)
def test_relaxed_means_same_organizational_domain(labels, org):
    child = ".".join([*labels, org])
    assume(base_domain(child) == org)  # a.x0.com: x0.com is a listed suffix
    assert aligned(child, org, "r")
    assert not aligned(child, org, "s")


@given(organization, organization)
def test_different_organizations_never_align(first, second):
    if first != second:
        assert not aligned(first, second, "r")


def test_public_suffixes_are_not_organizations():
    assert not aligned("a.co.uk", "b.co.uk", "r")
    assert aligned("a.example.co.uk", "b.example.co.uk", "r")


@given(st.lists(label, min_size=1, max_size=2), organization, mode)
def test_dkim_outcomes_follow_the_mode(labels, org, adkim):
    child = ".".join([*labels, org])
    assume(base_domain(child) == org)
    signed = [DkimResult(child, "s", "pass")]
    expected = STRICT_MISMATCH if adkim == "s" else ALIGNED_PASS
    assert dkim_outcome(signed, org, adkim) == expected


@given(organization, organization)
def test_a_foreign_pass_does_not_hide_a_failed_own_signature(own, vendor):
    if own == vendor:
        return
    results = [DkimResult(own, "a", "fail"), DkimResult(vendor, "b", "pass")]
    assert dkim_outcome(results, own, "r") == ALIGNED_FAIL
    assert dkim_outcome(results[1:], own, "r") == UNALIGNED_PASS
    assert dkim_outcome([], own, "r") == NO_SIGNATURE


def test_only_the_mail_from_identity_counts_for_spf():
    helo = [SpfResult("example.com", "helo", "pass")]
    assert spf_outcome(helo, "example.com", "r") == NO_SIGNATURE
    mfrom = [SpfResult("bounce.example.com", None, "pass")]
    assert spf_outcome(mfrom, "example.com", "r") == ALIGNED_PASS
    assert spf_outcome(mfrom, "example.com", "s") == STRICT_MISMATCH
