"""The scrubber: recall on seeded synthetic personal data, look-alikes left alone, typed
placeholders, offsets in the original, and failure that closes instead of leaking."""

from __future__ import annotations

import pytest

from flywheel.cleaning.pii import PLACEHOLDERS, scrub_text
from tests.flywheel.cleaning.pii_cases import MAKERS, look_alikes, synthetic_cases

CASES_PER_TYPE = 250


def _found(text: str, start: int, end: int, kind: str) -> bool:
    result = scrub_text(text)
    return result.ok and any(f["type"] == kind and f["start"] == start and f["end"] == end for f in result.findings)


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_recall_on_synthetic_cases_is_at_least_99_percent(kind):
    cases = synthetic_cases(kind, CASES_PER_TYPE, seed=20240601)
    missed = [text for text, start, end in cases if not _found(text, start, end, kind)]
    recall = 1 - len(missed) / len(cases)
    assert recall >= 0.99, f"{kind}: recall {recall:.3f}; missed e.g. {missed[:5]}"


@pytest.mark.parametrize("text", look_alikes())
def test_look_alikes_get_no_placeholder(text):
    result = scrub_text(text)
    assert result.ok and result.text == text, f"{text!r} became {result.text!r}"


def test_findings_are_replaced_by_typed_placeholders():
    result = scrub_text("邮箱 bob@example.com，手机 13812345678")
    assert result.text == "邮箱 <EMAIL>，手机 <PHONE>"
    assert result.types == ["email", "phone"]


def test_findings_point_into_the_original_text():
    text = "call +44 20 7946 0958 or mail me: ann@example.org"
    for finding in scrub_text(text).findings:
        assert text[finding["start"] : finding["end"]] in ("+44 20 7946 0958", "ann@example.org")


def test_a_url_carrying_a_token_is_replaced_whole():
    result = scrub_text("reset via https://shop.example.com/reset?token=Ab3dE6gH9jK2mN5pQ8sT1vW4 please")
    assert result.text == "reset via <URL> please"


def test_a_key_inside_a_url_is_covered_by_one_placeholder():
    result = scrub_text("GET https://api.example.com/v1?key=sk-abcdefghijABCDEFGHIJ1234567890XYZ")
    assert result.text == "GET <URL>"


def test_every_type_has_a_placeholder():
    assert set(MAKERS) <= set(PLACEHOLDERS)


def test_text_over_the_limit_fails_closed():
    result = scrub_text("x" * 50, max_chars=10)
    assert not result.ok and result.text == "" and "limit" in result.error


def test_text_that_is_not_a_string_fails_closed():
    result = scrub_text(None)  # type: ignore[arg-type]
    assert not result.ok and result.text == ""


def test_scrubbing_is_idempotent_on_its_own_output():
    once = scrub_text("我的身份证号是11010519491231002X，卡号6222 0212 3456 7896")
    assert scrub_text(once.text).text == once.text and scrub_text(once.text).findings == []
