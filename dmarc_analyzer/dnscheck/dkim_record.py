"""The text of one DKIM key record (RFC 6376 section 3.6.1, RFC 8463 for
ed25519), judged as a receiver would: tags, key type, and the key itself."""

import base64
import binascii
import re
from collections import Counter
from dataclasses import dataclass

from dmarc_analyzer.dnscheck.findings import ERROR, INFO, WARNING

KNOWN_KEY_TYPES = ("rsa", "ed25519")
RSA_MINIMUM = 1024  # under it receivers refuse the key (RFC 8301)
RSA_RECOMMENDED = 2048
RSA_MAXIMUM = 16384  # over it many verifiers refuse the key
# A key record is a few hundred bytes, a few KB with an 8192-bit key; what is
# longer is not a key record, and not worth parsing.
LONGEST_RECORD = 16384
_TAG = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
# RFC 6376's whitespace (WSP and FWS): a non-breaking space is not one.
_WSP = " \t\r\n"
_SPACES = re.compile(r"[ \t\r\n]")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_KNOWN_TAGS = ("v", "g", "h", "k", "n", "p", "s", "t")


@dataclass(frozen=True, slots=True)
class Problem:
    """A finding without the record it belongs to."""

    severity: str
    code: str
    message: str
    fix: str = ""


def check_record(data: bytes) -> list[Problem]:
    """Judge the text of one key record (its strings already joined)."""
    if len(data) > LONGEST_RECORD:
        return [
            Problem(
                ERROR,
                "dkim-record-too-long",
                f"the record is {len(data):,} bytes long: a key record is at "
                "most a few KB (record too long)",
                "Publish only v=DKIM1; k=rsa; p=<base64 key> at this name.",
            )
        ]
    text = data.decode("utf-8", errors="replace")
    problems = []
    if "\u00a0" in text:
        problems.append(
            Problem(
                ERROR,
                "dkim-nbsp",
                "the record contains a non-breaking space (U+00A0), which is "
                "not a space to receivers: the tag beside it is unreadable",
                "Retype the spaces of the record as ordinary spaces (or remove "
                "them); a word processor or web page put the others there.",
            )
        )

    if '"' in text or "\\" in text:
        problems.append(
            Problem(
                ERROR,
                "dkim-stray-quotes",
                "the record contains quote marks or backslashes: they were "
                "pasted into the record's data",
                'Enter the record without the surrounding quotes ("...") '
                "your DNS provider adds itself.",
            )
        )
        text = text.replace('"', "").replace("\\", "")

    tags, syntax = _parse_tags(text)
    if syntax:
        return [*problems, syntax]
    return (
        problems
        + _version_problems(tags)
        + _restriction_problems(dict(tags))
        + _key_problems(tags)
    )


def _parse_tags(text: str) -> tuple[list[tuple[str, str]], Problem | None]:
    tags = []
    for part in text.split(";"):
        if not part.strip(_WSP):
            continue
        name, equals, value = part.partition("=")
        name = name.strip(_WSP)
        if not equals or not _TAG.match(name):
            return [], Problem(
                ERROR,
                "dkim-syntax",
                f"not a DKIM tag list: {part.strip(_WSP)[:60]!r}",
                "A key record reads v=DKIM1; k=rsa; p=<base64 key>.",
            )
        tags.append((name, value.strip(_WSP)))
    counts = Counter(name for name, _ in tags)
    repeated = sorted(name for name, count in counts.items() if count > 1)
    if repeated:
        return [], Problem(
            ERROR,
            "dkim-duplicate-tag",
            f"the tag {repeated[0]}= appears more than once: the whole record "
            "is invalid (RFC 6376 section 3.2)",
            "Keep each tag once.",
        )
    upper = [
        name for name in counts if name != name.lower() and name.lower() in _KNOWN_TAGS
    ]
    if upper:
        return [], Problem(
            ERROR,
            "dkim-tag-case",
            f"the tag {upper[0]}= is not {upper[0].lower()}=: tag names are "
            "case-sensitive (RFC 6376 section 3.2), receivers do not read it",
            "Write the tag names in lower case: v=DKIM1; k=rsa; p=<base64 key>.",
        )
    return tags, None


def _version_problems(tags: list[tuple[str, str]]) -> list[Problem]:
    versions = [index for index, (name, _) in enumerate(tags) if name == "v"]
    if not versions:
        return []
    version = tags[versions[0]][1]
    if version != "DKIM1":
        wrong = f"v={version}: the version must be exactly DKIM1"
    elif versions[0] != 0:
        wrong = "v=DKIM1 must be the first tag"
    else:
        return []
    return [
        Problem(
            ERROR,
            "dkim-bad-version",
            wrong,
            "Start the record with v=DKIM1; (or leave v= out).",
        )
    ]


def _restriction_problems(values: dict[str, str]) -> list[Problem]:
    """h= and s= narrow what the key may verify; narrowed wrongly, it
    verifies nothing."""
    problems = []
    hashes = _colon_list(values.get("h"))
    if hashes and "sha256" not in hashes:
        problems.append(
            Problem(
                ERROR,
                "dkim-sha1-only",
                f"h={values['h']}: the key is only for hashes receivers no "
                "longer accept (RFC 8301 forbids sha1)",
                "Remove h= (or set h=sha256) and sign with rsa-sha256.",
            )
        )
    services = _colon_list(values.get("s"))
    if services and not {"*", "email"} & set(services):
        problems.append(
            Problem(
                ERROR,
                "dkim-not-for-email",
                f"s={values['s']}: the key is not for e-mail",
                "Remove s= (or set s=email).",
            )
        )
    return problems


def _colon_list(value: str | None) -> list[str]:
    return [item.strip().lower() for item in (value or "").split(":") if item.strip()]


def _key_problems(tags: list[tuple[str, str]]) -> list[Problem]:
    values = dict(tags)
    key_type = values.get("k", "rsa").lower()
    problems = []

    if "y" in _colon_list(values.get("t")):
        problems.append(
            Problem(
                WARNING,
                "dkim-testing",
                "t=y: the domain says it is testing DKIM; receivers may treat "
                "failures as unsigned mail",
                "Remove t=y once signing works.",
            )
        )
    if key_type not in KNOWN_KEY_TYPES:
        return [
            *problems,
            Problem(
                ERROR,
                "dkim-unknown-key-type",
                f"k={key_type}: not a key type receivers know (rsa, ed25519)",
                "Use k=rsa (or k=ed25519 beside an RSA selector).",
            ),
        ]
    if "p" not in values:
        return [
            *problems,
            Problem(
                ERROR,
                "dkim-no-key",
                "no p= tag: the record carries no public key",
                "Add p=<base64 public key> from your signer or vendor.",
            ),
        ]
    return problems + _public_key_problems(values["p"], key_type)


def _public_key_problems(encoded: str, key_type: str) -> list[Problem]:
    if not encoded:
        return [
            Problem(
                ERROR,
                "dkim-revoked",
                "empty p=: the key is revoked, every signature with this "
                "selector fails",
                "If a signer still uses this selector, publish its current key "
                "or switch it to a live selector.",
            )
        ]
    problems = []
    if _SPACES.search(encoded):
        problems.append(
            Problem(
                WARNING,
                "dkim-space-in-key",
                "spaces inside p=: allowed by RFC 6376, but some receivers "
                "fail on them",
                "Remove the spaces from the key.",
            )
        )
    packed = _SPACES.sub("", encoded)
    try:
        if not _BASE64.fullmatch(packed):  # b64decode lets extra padding through
            raise ValueError(packed)
        der = base64.b64decode(packed, validate=True)
    except (binascii.Error, ValueError):
        return [
            *problems,
            Problem(
                ERROR,
                "dkim-bad-base64",
                "p= is not valid base64",
                "Copy the key again from your signer or vendor, whole, without "
                "line breaks, quotes or other characters.",
            ),
        ]
    return problems + _parsed_key_problems(der, key_type)


def _parsed_key_problems(der: bytes, key_type: str) -> list[Problem]:
    if key_type == "ed25519":
        return _ed25519_problems(der)
    try:
        size = _rsa_size(der)
    except Exception as error:  # hostile DER: whatever fails, the key is at fault
        return [
            Problem(
                ERROR,
                "dkim-key-unparsable",
                f"p= could not be read as a public key ({type(error).__name__})",
                "Publish the RSA public key as your signer prints it.",
            )
        ]
    if size is None:
        return [
            Problem(
                ERROR,
                "dkim-bad-key",
                "p= is base64 but not an RSA public key",
                "Publish the public key (not a certificate or private key), "
                "as your signer prints it.",
            )
        ]
    if size < RSA_MINIMUM:
        return [
            Problem(
                ERROR,
                "dkim-rsa-too-short",
                f"RSA key of {size} bits: receivers refuse keys under "
                f"{RSA_MINIMUM} bits",
                f"Generate a {RSA_RECOMMENDED}-bit key and publish it under a new "
                "selector, then switch the signer to it.",
            )
        ]
    if size > RSA_MAXIMUM:
        return [
            Problem(
                WARNING,
                "dkim-rsa-too-long",
                f"RSA key of {size} bits: many receivers refuse keys over "
                f"{RSA_MAXIMUM} bits",
                f"Publish a {RSA_RECOMMENDED}-bit or 4096-bit key under a new "
                "selector, then switch the signer to it.",
            )
        ]
    if size < RSA_RECOMMENDED:
        return [
            Problem(
                WARNING,
                "dkim-rsa-1024",
                f"RSA key of {size} bits: still accepted, but weak",
                f"Rotate to a {RSA_RECOMMENDED}-bit key under a new selector.",
            )
        ]
    return [Problem(INFO, "dkim-key", f"RSA key of {size} bits")]


def _rsa_size(der: bytes) -> int | None:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import (
        load_der_public_key,
        load_pem_public_key,
    )

    try:
        key = load_der_public_key(der)
    except UnsupportedAlgorithm:  # a key of a kind cryptography does not know
        return None
    except ValueError:
        # Some signers publish the bare PKCS#1 RSAPublicKey, which receivers
        # accept as well.
        pem = (
            b"-----BEGIN RSA PUBLIC KEY-----\n"
            + base64.encodebytes(der)
            + b"-----END RSA PUBLIC KEY-----\n"
        )
        try:
            key = load_pem_public_key(pem)
        except (ValueError, UnsupportedAlgorithm):
            return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def _ed25519_problems(raw: bytes) -> list[Problem]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        return [
            Problem(
                ERROR,
                "dkim-bad-key",
                f"p= holds {len(raw)} bytes, not a 32-byte ed25519 key",
                "Publish the raw 32-byte ed25519 public key in base64 (RFC 8463).",
            )
        ]
    return [
        Problem(
            INFO,
            "dkim-key",
            "ed25519 key: receivers that do not know ed25519 ignore this "
            "signature; keep an RSA signature beside it",
        )
    ]
