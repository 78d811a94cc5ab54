"""Settings of the dataset builder, read from the environment (listed in .env.example)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from flywheel.env import env_str

# A Hugging Face model or tokenizer directory whose tokenizer counts tokens for the manifest's
# length statistics. Empty: the documented approximation (flywheel/datasets/tokens.py).
_tokenizer = env_str("FLYWHEEL_DATASET_TOKENIZER", "")
# Where general replay conversations (JSONL) are picked from: the build form lists the files
# here, and a build may read no file outside it.
_replay_dir = env_str("FLYWHEEL_REPLAY_DIR", "")


def dataset_tokenizer_path() -> str:
    return _tokenizer or ""


def replay_dir() -> Path:
    return Path(_replay_dir) if _replay_dir else Path(settings.VAR_DIR) / "replay"
