"""Settings of the labeling app, read from the environment (listed in .env.example).

FLYWHEEL_LABEL_TAXONOMY         path of a JSON taxonomy; empty: the built-in one (taxonomy.py).
FLYWHEEL_LABEL_BATCH_SIZE       sessions per labeling job on the `llm` queue.
FLYWHEEL_LABEL_REVIEW_BELOW     labels with overall quality below this go to label review.
FLYWHEEL_LABEL_MAX_CHARS        longest transcript sent to the labeler; longer ones keep their
                                start and end (the middle is cut and marked as cut).
"""

from __future__ import annotations

from flywheel.env import env_int, env_str


def taxonomy_path() -> str:
    return env_str("FLYWHEEL_LABEL_TAXONOMY", "") or ""


def batch_size() -> int:
    return env_int("FLYWHEEL_LABEL_BATCH_SIZE", 20, minimum=1)


def review_below_quality() -> int:
    return env_int("FLYWHEEL_LABEL_REVIEW_BELOW", 3, minimum=1)


def max_transcript_chars() -> int:
    return env_int("FLYWHEEL_LABEL_MAX_CHARS", 12_000, minimum=500)
