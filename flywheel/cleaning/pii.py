"""Personal data scrubbing, fail-closed.

`scrub_text(text)` finds e-mail addresses, phone numbers (mainland China mobiles and
landlines, international numbers written with +, North American numbers), Chinese resident
ID numbers (checked with their ISO 7064 checksum and a plausible birth date), bank card numbers
(Luhn and an issuer prefix), IPv4/IPv6 addresses, URLs that carry credentials, API keys, JWTs
and `password=...`-style secrets, and replaces each with a typed placeholder (`<EMAIL>`,
`<PHONE>`, ...). Findings keep their type and their offsets in the ORIGINAL text.

Fail-closed: when scrubbing cannot be completed (not a string, longer than the configured
limit, an unexpected error, or personal data still found in the scrubbed output) the result
has `ok=False` and `text=""`: such text must never be sent to an LLM or anywhere else.

Look-alikes are rejected on purpose: numbers that fail Luhn or the ID checksum, timestamps
and order numbers (prefix and context checks), version strings (`v1.2.3.4`, "version ..."),
`@decorators` and `icon@2x.png`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

# Bump when detection changes: stored scrubs of an older version are redone on demand.
SCRUBBER_VERSION = 1

PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "cn_id": "<CN_ID>",
    "bank_card": "<BANK_CARD>",
    "ip": "<IP>",
    "url_token": "<URL>",
    "api_key": "<API_KEY>",
    "jwt": "<JWT>",
    "secret": "<SECRET>",
}
PII_TYPES = tuple(PLACEHOLDERS)
# Among overlapping findings the longest wins; on equal length, the earlier type here.
_PRIORITY = {
    name: rank
    for rank, name in enumerate(("jwt", "api_key", "url_token", "secret", "email", "cn_id", "bank_card", "phone", "ip"))
}

DEFAULT_MAX_CHARS = 200_000


@dataclass(frozen=True)
class ScrubResult:
    text: str
    findings: list[dict] = field(default_factory=list)
    ok: bool = True
    error: str = ""

    @property
    def types(self) -> list[str]:
        return sorted({finding["type"] for finding in self.findings})


# --- detectors ------------------------------------------------------------------------------
# Each yields (start, end, type) for validated candidates. Boundaries are ASCII classes, not
# \w: in Chinese text a value touches CJK characters ("发到1.2.3.4就行"), which \w would include.

_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")

_KEY_PATTERNS = [
    # (pattern, needs mixed character classes: random keys have them, words joined by '-' don't)
    (re.compile(r"(?<![A-Za-z0-9_-])sk-(?:proj-|ant-(?:api\d\d-)?|svcacct-)?[A-Za-z0-9_-]{20,}"), True),
    (re.compile(r"(?<![A-Za-z0-9_])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Za-z0-9])"), False),
    (re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_[A-Za-z0-9]{36,}"), False),
    (re.compile(r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9_]{22,}"), False),
    (re.compile(r"(?<![A-Za-z0-9_])xox[abprs]-[A-Za-z0-9-]{10,}"), True),
    (re.compile(r"(?<![A-Za-z0-9_])AIza[0-9A-Za-z_-]{35}"), False),
    (re.compile(r"(?<![A-Za-z0-9_])glpat-[A-Za-z0-9_-]{20,}"), True),
    (re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}"), True),
    (re.compile(r"(?<![A-Za-z0-9_])(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{24,}"), False),
    (re.compile(r"(?<![A-Za-z0-9_])fw_[A-Za-z0-9_-]{40,}"), True),  # Flywheel's own API keys
]

_SECRET_ASSIGNMENT = re.compile(
    r"(?i)(?<![A-Za-z0-9])(?:api[_-]?key|apikey|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|"
    r"password|passwd|pwd|client[_-]?secret|private[_-]?key)[\"']?\s*[:=]\s*[\"']?"
    r"(?P<value>[A-Za-z0-9_\-+/=.!@#$%^&*]{8,})"
)
_SECRET_ZH = re.compile(r"(?:密码|口令|密钥|验证码)\s*(?:是|为|[:：])?\s*(?P<value>[A-Za-z0-9_\-+/=.!@#$%^&*]{6,})")

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+(?P<tld>[A-Za-z]{2,24})(?![A-Za-z0-9-]|:\w)"
)
# `icon@2x.png` and `module@1.2.js` are file names, not addresses; `X@W.shape` is code.
_FILE_EXTENSIONS = frozenset(
    "png jpg jpeg gif svg webp bmp ico css js mjs ts tsx jsx json py md txt html htm xml yaml yml toml lock "
    "zip gz tar pdf csv map woff woff2 ttf rs go sh".split()
)
# Two-letter top-level domains are countries (all accepted); longer ones must be known.
_LONG_TLDS = frozenset(
    "com net org edu gov mil int info biz name pro aero coop museum mobi asia tel travel jobs cat post app dev ai "
    "io xyz top site online store tech shop blog cloud email live life world today space website news media link "
    "club vip work group team company services solutions agency digital network systems email center global "
    "international academy school college university tv me cc ltd inc llc co law legal health care bank finance "
    "money insurance market studio design art photo page wiki social chat mail google apple microsoft amazon".split()
)

_CN_MOBILE = re.compile(r"(?<![\d.])(?:(?:\+|00)86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?![\d])")
_CN_LANDLINE = re.compile(r"(?<![\d-])(?:\(0\d{2,3}\)\s?|0\d{2,3}-)\d{7,8}(?![\d])")
_INTERNATIONAL = re.compile(r"(?<![A-Za-z0-9_+])\+\d(?:[\s.()-]{0,2}\d){7,14}(?![\d])")
_NANP = re.compile(r"(?<![\d-])(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?![\d-])")
# An order, invoice or tracking number is not a phone number even when it has 11 digits.
_NUMBER_CONTEXT = re.compile(
    r"(?i)(?:订单|单号|编号|工单|快递|运单|order|invoice|tracking|ticket|ref|no\.|#)\W{0,3}\S{0,4}$"
)

_CN_ID = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![0-9A-Za-z])"
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"

_CARD = re.compile(
    r"(?<![\d-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{4}(?:\1\d{1,3})?|\d{4}([ -])\d{6}\2\d{4,5})(?![\d])"
)

_IPV4 = re.compile(
    r"(?<![A-Za-z0-9_.])(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    r"(?![A-Za-z0-9_]|\.\d)"
)
_IPV6 = re.compile(r"(?<![A-Za-z0-9_:.])(?=[0-9A-Fa-f:]*::?[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![A-Za-z0-9_:])")
_VERSION_CONTEXT = re.compile(r"(?i)(?:version|ver\.?|release|v|版本|版本号)\s*[:：]?\s*$")

# A URL ends at whitespace, quotes, or CJK text and punctuation ("发到https://x.cn/?t=1就行").
_URL = re.compile(r"(?i)https?://[^\s<>\"'`\u3000-\u303f\u3400-\u9fff\uf900-\ufaff\uff00-\uffef]+")
_SENSITIVE_PARAMS = frozenset(
    "token access_token refresh_token id_token auth auth_token key api_key apikey secret client_secret password "
    "passwd pwd sig signature session sessionid session_id sid code ticket jwt credential credentials "
    "x-amz-signature x-amz-credential x-amz-security-token".split()
)


def _mixed_classes(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


def _letters_and_digits(value: str) -> bool:
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _find_jwt(text: str):
    if "eyJ" in text:
        for match in _JWT.finditer(text):
            yield match.start(), match.end(), "jwt"


_KEY_HINT = re.compile(r"sk-|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|glpat-|hf_|_live_|_test_|fw_")


def _find_api_keys(text: str):
    if not _KEY_HINT.search(text):
        return
    for pattern, needs_mixed in _KEY_PATTERNS:
        for match in pattern.finditer(text):
            value = match.group()
            if needs_mixed and not _mixed_classes(value.split("-", 1)[-1]):
                continue
            yield match.start(), match.end(), "api_key"


def _find_secrets(text: str):
    for pattern in (_SECRET_ASSIGNMENT, _SECRET_ZH):
        for match in pattern.finditer(text):
            value = match.group("value").rstrip(".")
            minimum = 6 if pattern is _SECRET_ZH else 8
            if len(value) >= minimum and _letters_and_digits(value) or (pattern is _SECRET_ZH and value.isdigit()):
                start = match.start("value")
                yield start, start + len(value), "secret"


def _find_emails(text: str):
    if "@" in text:
        for match in _EMAIL.finditer(text):
            tld = match.group("tld").lower()
            if tld in _FILE_EXTENSIONS or (len(tld) > 2 and tld not in _LONG_TLDS):
                continue
            yield match.start(), match.end(), "email"


def _digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def _number_context(text: str, start: int) -> bool:
    return bool(_NUMBER_CONTEXT.search(text[max(0, start - 16) : start]))


def _find_phones(text: str):
    for pattern in (_CN_MOBILE, _CN_LANDLINE, _INTERNATIONAL, _NANP):
        for match in pattern.finditer(text):
            count = len(_digits(match.group()))
            if not 7 <= count <= 15 or _number_context(text, match.start()):
                continue
            yield match.start(), match.end(), "phone"


def cn_id_is_valid(value: str) -> bool:
    """An 18-character resident ID: its last character is the ISO 7064 MOD 11-2 check."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    total = sum(int(digit) * weight for digit, weight in zip(value[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == value[17].upper()


def _find_cn_ids(text: str):
    for match in _CN_ID.finditer(text):
        if cn_id_is_valid(match.group()):
            yield match.start(), match.end(), "cn_id"


def luhn_is_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = ord(char) - 48
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def card_number_is_plausible(number: str) -> bool:
    """An issuer prefix with its card length (Visa 4, Mastercard 51-55/2221-2720, Amex 34/37,
    JCB 35, Diners 30/36/38, UnionPay 62, Discover/Maestro 6) and a valid Luhn check digit.
    The prefix and length keep timestamps (1...), order numbers and compact dates out even
    when they pass Luhn by chance."""
    length, head = len(number), number[:4]
    if len(set(number)) == 1:
        return False
    if number[0] == "4":
        ok = length in (13, 16, 19)
    elif number[0] == "5":
        ok = (length == 16 and "51" <= number[:2] <= "55") or (
            12 <= length <= 19 and number[:2] in ("50", "56", "57", "58")
        )
    elif number[0] == "2":
        ok = length == 16 and "2221" <= head <= "2720"
    elif number[:2] in ("34", "37"):
        ok = length == 15
    elif number[:2] == "35":
        ok = length in (16, 17, 18, 19)
    elif number[:2] in ("30", "36", "38", "39"):
        ok = length in (14, 15, 16, 17, 18, 19)
    elif number[0] == "6":
        ok = 16 <= length <= 19
    else:
        ok = False
    return ok and luhn_is_valid(number)


def _find_cards(text: str):
    for match in _CARD.finditer(text):
        if card_number_is_plausible(_digits(match.group())):
            yield match.start(), match.end(), "bank_card"


def _find_ips(text: str):
    if "." in text:
        for match in _IPV4.finditer(text):
            value = match.group()
            first = int(value.split(".", 1)[0])
            if (
                first in (0, 255)
                or value == "127.0.0.1"
                or _VERSION_CONTEXT.search(text[max(0, match.start() - 12) : match.start()])
            ):
                continue
            yield match.start(), match.end(), "ip"
    if "::" in text or text.count(":") >= 7:
        for match in _IPV6.finditer(text):
            value = match.group()
            if value in ("::", "::1") or sum(1 for part in value.split(":") if part) < 2:
                continue
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                continue
            yield match.start(), match.end(), "ip"


def _url_carries_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
    except ValueError:
        return True  # unparseable: treat as sensitive rather than leak it
    if parts.password:
        return True
    for query in (parts.query, parts.fragment):
        for name, _value in parse_qsl(query, keep_blank_values=True):
            lowered = name.lower()
            if lowered in _SENSITIVE_PARAMS or lowered.endswith(("token", "secret", "signature", "password", "apikey")):
                return True
    return False


def _find_urls(text: str):
    if "://" in text:
        for match in _URL.finditer(text):
            url = match.group().rstrip(".,;:!?)]}'\"")
            if _url_carries_credentials(url):
                yield match.start(), match.start() + len(url), "url_token"


_DETECTORS = (_find_jwt, _find_api_keys, _find_secrets, _find_emails, _find_urls)
_LONG_NUMBER_DETECTORS = (_find_cn_ids, _find_cards, _find_phones)
# Cheap guards, so the common chat turn pays for a few scans instead of every detector:
# phone, card and ID numbers all have seven digits or more, apart by at most two separators
# ("+33 1 46 57 31 34"); addresses have "1.2" or "a:b".
_SEVEN_DIGITS = re.compile(r"\d(?:[\s().-]{0,2}\d){6}")
_IP_HINT = re.compile(r"\d\.\d|[0-9A-Fa-f]:[0-9A-Fa-f:]")


def _candidates(text: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for detector in _DETECTORS:
        found.extend(detector(text))
    if _SEVEN_DIGITS.search(text):
        for detector in _LONG_NUMBER_DETECTORS:
            found.extend(detector(text))
    if _IP_HINT.search(text):
        found.extend(_find_ips(text))
    return found


def _resolve_overlaps(candidates: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    ranked = sorted(set(candidates), key=lambda c: (-(c[1] - c[0]), _PRIORITY[c[2]], c[0]))
    chosen: list[tuple[int, int, str]] = []
    for start, end, kind in ranked:
        if all(end <= s or start >= e for s, e, _ in chosen):
            chosen.append((start, end, kind))
    return sorted(chosen)


def find_pii(text: str) -> list[dict]:
    """The personal data in `text`, non-overlapping, in order."""
    return [{"type": kind, "start": start, "end": end} for start, end, kind in _resolve_overlaps(_candidates(text))]


def scrub_text(text: str, *, max_chars: int | None = None) -> ScrubResult:
    """Replace personal data with typed placeholders. Never raises: a failure is `ok=False`."""
    if not isinstance(text, str):
        return ScrubResult(text="", ok=False, error=f"expected text, got {type(text).__name__}")
    limit = DEFAULT_MAX_CHARS if max_chars is None else max_chars
    if len(text) > limit:
        return ScrubResult(
            text="", ok=False, error=f"text of {len(text)} characters is over the scrubbing limit of {limit}"
        )
    try:
        findings = find_pii(text)
        if not findings:
            return ScrubResult(text=text)
        pieces, cursor = [], 0
        for finding in findings:
            pieces.append(text[cursor : finding["start"]])
            pieces.append(PLACEHOLDERS[finding["type"]])
            cursor = finding["end"]
        pieces.append(text[cursor:])
        scrubbed = "".join(pieces)
        # The closing check that makes this fail-closed: whatever the replacements produced
        # must itself be clean (two fragments joined across a placeholder, say).
        residue = find_pii(scrubbed)
        if residue:
            return ScrubResult(
                text="",
                findings=findings,
                ok=False,
                error=f"personal data ({residue[0]['type']}) remained after scrubbing",
            )
        return ScrubResult(text=scrubbed, findings=findings)
    except Exception as exc:  # fail closed: report, never pass the text on
        return ScrubResult(text="", ok=False, error=f"scrubbing failed: {type(exc).__name__}: {exc}")
