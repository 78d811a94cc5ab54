"""The demo generator: seeded, realistic in both languages, with every planted problem, and
idempotent when ingested twice."""

from __future__ import annotations

import re

import pytest

from flywheel.demo.generator import PII_KINDS, generate_demo
from flywheel.demo.services import demo_logs_ingest
from flywheel.ingest.models import ChatSession, Feedback


def test_the_same_seed_generates_the_same_logs():
    first = generate_demo(seed=3, sessions=60, now=None)
    second = generate_demo(seed=3, sessions=60, now=None)
    strip = lambda data: [[(m["id"], m["content"]) for s in b["sessions"] for m in s["messages"]] for b in data.batches]
    assert strip(first) == strip(second)


def test_the_logs_mix_chinese_and_english_and_carry_every_planted_problem():
    data = generate_demo(seed=7, sessions=300)
    texts = [m["content"] for b in data.batches for s in b["sessions"] for m in s["messages"]]
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", t)) for t in texts) > len(texts) * 0.3
    assert sum(bool(re.search(r"[a-zA-Z]{4}", t)) for t in texts) > len(texts) * 0.3
    for kind in (
        "exact_duplicates",
        "near_duplicates",
        "pii",
        "garbage",
        "refusals",
        "no_answer",
        "traditional",
        "injections",
        "hostile_markup",
        "thumbs_down",
        "topic_switches",
    ):
        assert data.plan.get(kind), f"no {kind} planted"


def test_planted_personal_data_covers_each_kind_over_a_large_enough_sample():
    data = generate_demo(seed=1, sessions=1200)
    assert set(data.plan["pii_types"].values()) == set(PII_KINDS)


@pytest.mark.django_db
def test_ingesting_the_demo_logs_twice_adds_nothing_the_second_time():
    first = demo_logs_ingest(seed=5, sessions=80)
    counts = (ChatSession.objects.count(), Feedback.objects.count())
    second = demo_logs_ingest(seed=5, sessions=80)
    assert counts[0] == 80 and first["counts"]["errors"] == 0
    assert (ChatSession.objects.count(), Feedback.objects.count()) == counts
    assert second["counts"].get("sessions_created", 0) == 0
