import json

import pytest

from tests.factories import session_with_turns


def label_answer(**overrides) -> str:
    """A valid labeler answer (JSON text), with fields replaced by `overrides`."""
    answer = {
        "task_type": "code",
        "task_subtype": "generation",
        "language": "en",
        "difficulty": "medium",
        "scores": {"helpfulness": 4, "honesty": 5, "harmlessness": 5, "instruction_following": 4},
        "hallucination": False,
        "safety_flag": False,
        "usable": True,
        "steering_attempt": False,
        "reason": "A correct, complete function.",
    }
    answer.update(overrides)
    return json.dumps(answer)


@pytest.fixture
def ready_sessions(db):
    """make(list of turn lists) -> sessions that cleaning has kept, ready for labeling."""
    from flywheel.cleaning.services import cleaning_run_pending

    def make(conversations: list[list[tuple[str, str]]], **fields):
        sessions = [session_with_turns(turns, **fields) for turns in conversations]
        cleaning_run_pending()
        return sessions

    return make


def distinct_conversations(n: int) -> list[list[tuple[str, str]]]:
    topics = [
        "a linked list",
        "a binary heap",
        "a trie",
        "a ring buffer",
        "an LRU cache",
        "a bloom filter",
        "a skip list",
        "a red-black tree",
        "a union-find",
        "a segment tree",
        "a graph search",
        "a hash map",
    ]
    return [
        [
            ("user", f"Write a Python class that implements {topics[i % len(topics)]} (variant {i})."),
            ("assistant", f"Here is a class for {topics[i % len(topics)]}, variant {i}: class Thing{i}: pass"),
        ]
        for i in range(n)
    ]
