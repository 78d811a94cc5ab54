"""The cleaning stage end to end: on the demo logs with planted problems, and on the real
public samples (hh-rlhf in English, KdConv in Chinese)."""

from __future__ import annotations

import time

import pytest
from django.core.management import call_command

from flywheel.cleaning.models import DedupBand, DedupEntry, MessageCleaning, MessageScrub, RuleResult, SessionCleaning
from flywheel.cleaning.selectors import sessions_ready_for_labeling
from flywheel.demo.generator import generate_demo
from flywheel.ingest.models import ChatSession, Message
from flywheel.ingest.services import ingest_batch
from tests.flywheel.cleaning.conftest import kdconv_batches

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(clean):
    data = generate_demo(seed=7, sessions=300)
    for batch in data.batches:
        ingest_batch(**batch, source="demo", announce=False)
    clean()
    return data.plan


def _first_user_message(external_id: str) -> Message:
    return Message.objects.get(session__external_id=external_id, role="user", seq=1)


def test_the_planted_near_duplicate_prompts_are_found(demo):
    assert demo["near_duplicates"], "the demo plants near-duplicates"
    for session_id, original_text in demo["near_duplicates"]:
        cleaning = MessageCleaning.objects.select_related("duplicate_of").get(message=_first_user_message(session_id))
        assert cleaning.duplicate_of is not None, session_id
        # Linked to the original prompt, or to the representative the original itself is
        # linked to (users ask the same question in several wordings).
        originals = MessageCleaning.objects.filter(message__content=original_text, message__role="user")
        accepted = {c.message_id for c in originals} | {c.duplicate_of_id for c in originals if c.duplicate_of_id}
        assert cleaning.duplicate_of_id in accepted, (session_id, cleaning.duplicate_of.content, original_text)


def test_the_planted_copies_of_sessions_are_linked_to_their_originals(demo):
    for copy_id, original_id in demo["exact_duplicates"]:
        cleaning = SessionCleaning.objects.select_related("duplicate_of").get(session__external_id=copy_id)
        original = SessionCleaning.objects.get(session__external_id=original_id)
        if original.status == "dropped":
            # Dropped sessions take no part in dedup: a copy of one is dropped for the same reason.
            assert cleaning.status == "dropped"
            continue
        assert cleaning.duplicate_of is not None
        assert cleaning.duplicate_of.external_id in (original_id, getattr(original.duplicate_of, "external_id", None))


def test_the_planted_personal_data_is_scrubbed_with_its_type(demo):
    for session_id, kind in demo["pii_types"].items():
        scrub = MessageScrub.objects.get(message=_first_user_message(session_id))
        assert scrub.ok and kind in {finding["type"] for finding in scrub.findings}, (session_id, kind)


def test_the_planted_problems_are_flagged_or_dropped(demo):
    for plan_key in ("garbage", "no_answer", "refusals", "hostile_markup"):
        statuses = set(
            SessionCleaning.objects.filter(session__external_id__in=demo[plan_key]).values_list("status", flat=True)
        )
        assert statuses and "kept" not in statuses, plan_key


def test_short_chinese_messages_of_the_demo_survive_cleaning(demo):
    short = [m for m in Message.objects.filter(role="user", session__source="demo") if 0 < len(m.content) <= 6]
    for message in short:
        assert MessageCleaning.objects.get(message=message).status != "dropped", message.content


def test_running_the_demo_again_adds_nothing(demo, clean):
    counts = [model.objects.count() for model in (RuleResult, SessionCleaning, MessageCleaning, DedupEntry, DedupBand)]
    assert clean().get("sessions", 0) == 0
    assert [
        model.objects.count() for model in (RuleResult, SessionCleaning, MessageCleaning, DedupEntry, DedupBand)
    ] == counts


def _counts(app: str) -> dict:
    cleanings = SessionCleaning.objects.filter(app=app)
    counts = {status: cleanings.filter(status=status).count() for status in ("kept", "flagged", "dropped")}
    counts["duplicates"] = cleanings.filter(duplicate_of__isnull=False).count()
    counts["ready"] = sessions_ready_for_labeling(app=app, limit=None).count()
    counts["repeated_prompts"] = MessageCleaning.objects.filter(session__app=app, duplicate_of__isnull=False).count()
    counts["pii_turns"] = MessageScrub.objects.filter(message__session__app=app, has_findings=True).count()
    counts["hits"] = dict(
        sorted(
            {
                rule: RuleResult.objects.filter(session__app=app, rule=rule).count()
                for rule in RuleResult.objects.filter(session__app=app).values_list("rule", flat=True).distinct()
            }.items()
        )
    )
    return counts


def test_the_pipeline_runs_end_to_end_on_the_real_samples(shared_datasets, clean):
    call_command(
        "import_logs", str(shared_datasets / "hh-rlhf-harmless-base-test.jsonl.gz"), format="hh-rlhf", quiet=True
    )
    for name in ("kdconv-film-dev.json.gz", "kdconv-music-dev.json.gz"):
        for batch in kdconv_batches(shared_datasets / name):
            ingest_batch(**batch, source="import:kdconv", announce=False)
    started = time.perf_counter()
    report = clean()
    seconds = time.perf_counter() - started  # printed for the record, never asserted
    hh, kd = _counts("hh-rlhf"), _counts("kdconv")
    print(f"\nreal samples: {report}\ncleaning stage: {seconds:.1f} s\nhh-rlhf: {hh}\nkdconv: {kd}")
    assert report["sessions"] == ChatSession.objects.count() == hh["kept"] + hh["flagged"] + hh["dropped"] + 300
    # hh-rlhf: mostly usable English; red-team refusals and cut-off answers are flagged, a few
    # empty answers dropped, some personal data (mostly made up by the model) scrubbed.
    total = hh["kept"] + hh["flagged"] + hh["dropped"]
    assert hh["kept"] / total > 0.8 and 0.01 < hh["flagged"] / total < 0.2 and hh["dropped"] / total < 0.02
    assert hh["hits"]["boilerplate"] > 20 and hh["hits"]["truncated"] > 20 and hh["pii_turns"] > 5
    assert hh["ready"] > 0.8 * total
    # KdConv: clean human Chinese chat; short turns without a final "。" are not mistaken for
    # cut-off answers, and nothing is dropped.
    assert kd["kept"] >= 280 and kd["dropped"] == 0 and kd["duplicates"] == 0
    assert kd["ready"] == kd["kept"] + kd["flagged"]
