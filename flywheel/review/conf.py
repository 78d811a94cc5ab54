"""Settings of the review app, read from the environment (listed in .env.example)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from flywheel.env import env_int, env_list, env_str



def _labeling_task_types() -> list[str]:
    # Reviewers choose among the task types labels use, so a reviewer's correction and a label
    # put the same kind of data in the same loss channel.
    from flywheel.labeling.taxonomy import taxonomy

    return taxonomy().type_names()


# Task types offered on the annotator's page (at most 9: one digit key each). Default: the
# labeling taxonomy's top-level types.
REVIEW_TASK_TYPES = env_list("FLYWHEEL_REVIEW_TASK_TYPES", []) or _labeling_task_types()
# Items an annotator aims to finish in a day: the "my day" progress bar.
REVIEW_DAILY_TARGET = env_int("FLYWHEEL_REVIEW_DAILY_TARGET", 200, minimum=1)
# Bulk actions on at most this many items run in the request; more go to a job.
REVIEW_BULK_INLINE_MAX = env_int("FLYWHEEL_REVIEW_BULK_INLINE_MAX", 2000, minimum=1)
# Tokenizer (a Hugging Face model directory with a chat template) for the "which tokens carry
# loss" preview. Empty: a tiny offline model made on first use under FLYWHEEL_VAR_DIR.
_tokenizer = env_str("FLYWHEEL_REVIEW_TOKENIZER", "")


def review_tokenizer_dir() -> Path:
    return Path(_tokenizer) if _tokenizer else Path(settings.VAR_DIR) / "review-tokenizer"


def review_tokenizer_is_default() -> bool:
    return not _tokenizer
