"""A small logged world for dataset tests: sessions cleaned by the real cleaning stage, a
thumbs-down answer rewritten by a reviewer, a topic switch marked by a reviewer, personal data,
and a preference pair; plus a helper that builds a version in the foreground."""

from __future__ import annotations

import pytest

QUESTIONS = [
    (
        "How do I reverse a list in Python?",
        "Call items.reverse() to reverse in place, or use reversed(items) for an iterator.",
    ),
    ("What is the capital of Australia?", "Canberra is the capital; Sydney is the largest city."),
    ("How long should I boil an egg for a runny yolk?", "About six minutes from boiling, then cool it in cold water."),
    ("Can you translate 'good morning' into French?", "Bonjour is the usual way to say good morning in French."),
    ("What is 17 times 23?", "17 × 23 = 391."),
    (
        "Write a haiku about autumn rain.",
        "Cold rain on the eaves / maple leaves drift to the path / the kettle whistles.",
    ),
    ("How do I undo the last git commit but keep my changes?", "Run git reset --soft HEAD~1; the changes stay staged."),
    (
        "Why is the sky blue?",
        "Air scatters short blue wavelengths of sunlight more than red ones, so the sky looks blue.",
    ),
    ("怎么用 Python 读取 CSV 文件？", "可以用标准库 csv 模块，或者用 pandas.read_csv 一行读入。"),
    ("推荐一部适合周末看的电影。", "可以看《海街日记》，节奏舒缓，适合周末放松。"),
    ("北京今天适合户外跑步吗？", "先看空气质量指数，低于一百的话比较适合户外跑步。"),
    (
        "How do I center a div with CSS?",
        "Give the parent display: flex with justify-content and align-items set to center.",
    ),
]


def _decide(*, kind: str, message, decision: dict, user) -> None:
    from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit

    item = review_item_enqueue(
        kind=kind,
        subject_type="message",
        subject_id=str(message.id),
        payload={},
        session_id=message.session_id,
        message_id=message.id,
    )
    claim = review_item_claim_next(queue=item.queue, user=user)
    assert claim.item.id == item.id
    review_item_submit(item_id=item.id, user=user, decision=decision)


@pytest.fixture
def logged_world(db, make_user):
    """Sessions and review decisions; returns the objects tests look at."""
    from flywheel.ingest.models import Message, PreferencePair
    from flywheel.pipeline.services import pipeline_run
    from tests.factories import FeedbackFactory, MessageFactory, session_with_turns

    annotator = make_user("annotator", "dataset-annotator")
    plain = [
        session_with_turns([("user", q), ("assistant", a)], external_id=f"plain-{i}")
        for i, (q, a) in enumerate(QUESTIONS)
    ]
    personal = session_with_turns(
        [
            ("user", "Please send the invoice to alice.smith@example.com, thanks."),
            ("assistant", "I will send the invoice to that address today."),
        ],
        external_id="personal",
    )
    rewritten = session_with_turns(
        [
            ("user", "How many days are in a leap year?"),
            ("assistant", "365, as always."),
            ("user", "And how often do leap years come?"),
            ("assistant", "Every four years, mostly."),
        ],
        external_id="rewritten",
    )
    bad_answer = rewritten.messages.get(seq=2)
    FeedbackFactory(message=bad_answer, rating=-1, external_id="rewritten-fb")
    switched = session_with_turns(
        [
            ("user", "How do I make pancakes fluffy?"),
            ("assistant", "Separate the eggs and fold in whipped whites."),
            ("user", "Unrelated: what is the tallest mountain on Earth?"),
            ("assistant", "Mount Everest, at 8,849 metres above sea level."),
        ],
        external_id="switched",
    )
    thumbs_down = session_with_turns(
        [("user", "What is the boiling point of water?"), ("assistant", "It is 50 degrees.")], external_id="thumbs-down"
    )
    FeedbackFactory(message=thumbs_down.messages.get(seq=2), rating=-1, external_id="thumbs-down-fb")
    paired = session_with_turns(
        [("user", "Give me one tip for better sleep."), ("assistant", "Keep a fixed bedtime, even at weekends.")],
        external_id="paired",
    )
    chosen = paired.messages.get(seq=2)
    rejected = MessageFactory(
        session=paired,
        seq=2,
        role="assistant",
        content="Just drink more coffee.",
        alternative_to=chosen,
        external_id="paired:alt",
    )
    pair = PreferencePair.objects.create(
        external_id="pair-1", session=paired, chosen=chosen, rejected=rejected, source="test"
    )

    pipeline_run(only={"cleaning"})
    _decide(
        kind="badcase_answer",
        message=bad_answer,
        user=annotator,
        decision={
            "verdict": "bad",
            "task_type": "math",
            "quality": "4",
            "turns": {str(bad_answer.id): {"edited": "366 days: February has 29.", "train": True}},
        },
    )
    switch_turn = switched.messages.get(seq=3)
    switch_answer = switched.messages.get(seq=4)
    _decide(
        kind="badcase_answer",
        message=switch_answer,
        user=annotator,
        decision={
            "verdict": "acceptable",
            "task_type": "qa",
            "quality": "5",
            "turns": {str(switch_turn.id): {"continuity": False}},
        },
    )
    return {
        "plain": plain,
        "personal": personal,
        "rewritten": rewritten,
        "bad_answer": bad_answer,
        "switched": switched,
        "thumbs_down": thumbs_down,
        "pair": pair,
        "annotator": annotator,
        "messages": Message.objects,
    }


@pytest.fixture
def build_version(db):
    """Build a version in the foreground (the job's own service) and return it."""
    from flywheel.datasets.models import DatasetVersion
    from flywheel.datasets.services import dataset_build_request, dataset_build_run

    def build(name: str = "test", **config) -> DatasetVersion:
        request = dataset_build_request(config={"eval_fraction": 0.2, **config}, name=name, enqueue=False)
        report = dataset_build_run(build_id=request.id)
        return DatasetVersion.objects.get(id=report["version_id"])

    return build
