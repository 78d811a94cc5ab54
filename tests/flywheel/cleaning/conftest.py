from __future__ import annotations

import gzip
import json

import pytest


@pytest.fixture
def clean():
    """Run the cleaning stage over everything pending, as the pipeline does."""
    from flywheel.cleaning.services import cleaning_run_pending

    return lambda **kwargs: cleaning_run_pending(**kwargs)


def kdconv_batches(path, *, app: str = "kdconv", limit: int | None = None) -> list[dict]:
    """KdConv conversations as ingest batches: utterances alternate between two people, so the
    first speaks as the user and the second as the assistant."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        conversations = json.load(handle)
    sessions = []
    for index, conversation in enumerate(conversations[:limit]):
        session_id = f"kdconv:{path.name.split('.')[0]}:{index}"
        sessions.append(
            {
                "id": session_id,
                "app": app,
                "metadata": {"topic": conversation.get("name", "")},
                "messages": [
                    {
                        "id": f"{session_id}:{turn}",
                        "role": "user" if turn % 2 == 0 else "assistant",
                        "content": utterance["message"],
                    }
                    for turn, utterance in enumerate(conversation["messages"])
                ],
            }
        )
    return [{"sessions": sessions[start : start + 50]} for start in range(0, len(sessions), 50)]


@pytest.fixture(autouse=True)
def fresh_report_cache():
    """The report's cache lives in Redis, which the per-test database rollback does not reset."""
    from flywheel.cleaning.selectors import report_cache_invalidate

    report_cache_invalidate()
