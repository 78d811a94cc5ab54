"""Synthesis: Self-Instruct, rewrites, Evol-Instruct, multi-turn growth; dedup in embedding space."""

import itertools
import json

import pytest

from flywheel.construction.models import ConstructionRun, SyntheticSample
from flywheel.construction.selectors import dataset_ready_synthetic
from flywheel.construction.synthesis import seed_prompt_add, synthesis_run_create, synthesis_run_execute
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next, review_item_submit
from tests.flywheel.construction.conftest import TEACHER, request_data, request_kind

pytestmark = pytest.mark.django_db

SEEDS = [
    "Write a Python function that reverses a string.",
    "Write a SQL query that counts orders per customer.",
    "Explain what a Python decorator is with an example.",
]


@pytest.fixture
def seeds(db):
    return [seed_prompt_add(task_type="code", text=text) for text in SEEDS]


def new_prompts(*texts):
    """A synthesis responder answering the prompt-writing calls with these prompts, in turn."""
    pending = itertools.cycle(texts)
    return lambda request: json.dumps({"prompt": next(pending)})


def synthesize(**kwargs) -> dict:
    run = synthesis_run_create(with_job=False, **kwargs)
    return synthesis_run_execute(run_id=run.id)


def test_self_instruct_writes_new_prompts_from_seeds_and_answers_them(seeds, script, openai_server):
    script.synth = new_prompts(
        "Write a Go function that merges two sorted slices.",
        "Write a shell one-liner that finds the ten largest files in a directory.",
    )
    script.teacher = ["Here is how you do it."]
    summary = synthesize(method="self_instruct", count=2, task_type="code")
    assert summary["pending_review"] == 2 and summary["duplicates"] == 0
    sample = SyntheticSample.objects.order_by("slot").first()
    assert sample.messages == [
        {"role": "user", "content": "Write a Go function that merges two sorted slices."},
        {"role": "assistant", "content": "Here is how you do it."},
    ]
    assert (sample.method, sample.task_type, sample.prompt_version, sample.model) == (
        "self_instruct",
        "code",
        "synth-self-instruct-v1",
        TEACHER,
    )
    assert sample.seed in seeds and sample.source_ref == f"seed:{sample.seed_id}"
    examples = request_data(openai_server.requests[0])["example_requests"]
    assert set(examples) <= set(SEEDS) and len(examples) == 3


def test_a_new_prompt_close_to_a_seed_is_a_duplicate_and_is_not_answered(seeds, script, openai_server):
    script.synth = new_prompts("Write a Python function that reverses a given string.")
    summary = synthesize(method="self_instruct", count=1, task_type="code")
    sample = SyntheticSample.objects.get()
    assert sample.status == "duplicate" and sample.similarity >= 0.9 and sample.duplicate_of == SEEDS[0]
    assert summary["duplicates"] == 1 and [request_kind(r) for r in openai_server.requests] == ["synth"]


def test_two_new_prompts_alike_in_one_run_keep_only_the_first(seeds, script):
    script.synth = new_prompts("How do I bake sourdough bread at home?", "How can I bake sourdough bread at home?")
    summary = synthesize(method="self_instruct", count=2, task_type="code")
    assert summary["pending_review"] == 1 and summary["duplicates"] == 1


def test_chinese_near_duplicates_are_found_in_embedding_space(script):
    seed_prompt_add(task_type="code", text="请用Python写一个函数，计算列表中所有偶数的和。")
    script.synth = new_prompts("请用Python写一个函数，计算列表里所有偶数的和。", "给我讲一个关于春节习俗的小故事。")
    synthesize(method="self_instruct", count=2, task_type="code")
    samples = list(SyntheticSample.objects.order_by("slot"))
    assert [s.status for s in samples] == ["duplicate", "pending"]
    assert samples[1].embedding is not None  # compared by its embedding, not by characters


def test_with_an_english_only_embedding_model_chinese_is_compared_by_characters(script, settings):
    settings.FLYWHEEL_EMBEDDING_MODEL = "all-MiniLM-L6-v2"
    seed_prompt_add(task_type="code", text="请用Python写一个函数，计算列表中所有偶数的和。")
    script.synth = new_prompts("请用Python写一个函数，计算列表里所有偶数的和。", "给我讲一个关于春节习俗的小故事。")
    synthesize(method="self_instruct", count=2, task_type="code")
    samples = list(SyntheticSample.objects.order_by("slot"))
    assert [s.status for s in samples] == ["duplicate", "pending"]
    assert samples[1].embedding is None


def test_rewrites_record_the_form_they_were_asked_for(seeds, script, openai_server):
    script.synth = new_prompts('{"task": "reverse a string", "language": "Python"}', "写一个反转字符串的Python函数。")
    synthesize(method="rewrite", count=2, variants=["json", "zh"], source="seeds", task_type="code")
    samples = list(SyntheticSample.objects.order_by("slot"))
    assert [s.variant for s in samples] == ["json", "zh"] and all(s.source_ref.startswith("seed:") for s in samples)
    assert "Simplified Chinese" in request_data(openai_server.requests[-2])["instruction"]


def test_a_rewrite_that_returns_its_source_unchanged_is_a_duplicate(seeds, script):
    script.synth = new_prompts(SEEDS[0])
    synthesize(method="rewrite", count=1, variants=["plain"], source="seeds", task_type="code")
    sample = SyntheticSample.objects.get()
    assert sample.status == "duplicate" and "unchanged" in sample.error


def test_evol_instruct_makes_a_harder_version_and_records_the_operation(seeds, script, openai_server):
    script.synth = new_prompts(
        "Write a Python function that reverses a string in place without slicing, in O(1) extra memory."
    )
    synthesize(method="evol", count=1, variants=["add_constraints"], source="seeds", task_type="code")
    sample = SyntheticSample.objects.get()
    assert (sample.method, sample.variant, sample.prompt_version) == ("evol", "add_constraints", "synth-evol-v1")
    assert request_data(openai_server.requests[0])["request"] == SEEDS[0]


def test_multi_turn_growth_adds_a_follow_up_question_and_its_answer(seeds, script):
    script.synth = new_prompts("Write a Go function that merges two sorted slices.")
    script.teacher = ["func merge(a, b []int) []int { ... }"]
    synthesize(method="self_instruct", count=1, task_type="code")
    script.synth = new_prompts("Can you make it generic over ordered types?")
    script.teacher = ["Yes: use type parameters with cmp.Ordered."]
    synthesize(method="multi_turn", count=1, source="synthetic")
    grown = SyntheticSample.objects.get(method="multi_turn")
    assert [m["role"] for m in grown.messages] == ["user", "assistant", "user", "assistant"]
    assert grown.messages[2]["content"] == "Can you make it generic over ordered types?"
    assert grown.source_ref.startswith("synthetic:")


def test_an_accepted_synthetic_sample_is_dataset_ready_with_how_it_was_made(seeds, script, annotator):
    script.synth = new_prompts("Write a Go function that merges two sorted slices.")
    synthesize(method="self_instruct", count=1, task_type="code")
    item = ReviewItem.objects.get(kind="synthetic_sample")
    review_item_claim_next(queue=item.queue, user=annotator)
    review_item_submit(item_id=item.id, user=annotator, decision={"verdict": "accept"})
    [sample] = dataset_ready_synthetic()
    assert sample["messages"][0]["content"] == "Write a Go function that merges two sorted slices."
    lineage = sample["lineage"]
    assert lineage["method"] == "self_instruct" and lineage["seed_prompt_id"] in {s.id for s in seeds}
    assert lineage["prompt_version"] == "synth-self-instruct-v1" and lineage["reviewer"] == annotator.username


def test_a_run_resumed_after_its_worker_died_asks_only_for_missing_slots(seeds, script, openai_server):
    script.synth = new_prompts("Write a Go function that merges two sorted slices.", "Explain Rust lifetimes briefly.")
    run = synthesis_run_create(method="self_instruct", count=2, task_type="code", with_job=False)
    synthesis_run_execute(run_id=run.id)
    asked = len(openai_server.requests)
    ConstructionRun.objects.filter(id=run.id).update(status="running")  # as a killed worker leaves it
    synthesis_run_execute(run_id=run.id)
    assert len(openai_server.requests) == asked and SyntheticSample.objects.count() == 2


def test_self_instruct_without_seeds_is_refused_with_a_clear_message(script):
    with pytest.raises(ValueError, match="add seed prompts of task type math first"):
        synthesis_run_create(method="self_instruct", count=1, task_type="math", with_job=False)
