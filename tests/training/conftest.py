"""Fixtures of the trainer tests: a tiny model built offline once, small conversation sets, the
real public samples, and a way to run the CLI in a subprocess (for torchrun, DeepSpeed, kills)."""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.datasets import SHARED_DATASETS  # noqa: E402  (needs the repository on sys.path)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from training.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"), template="chatml")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.fixture()
def write_jsonl():
    def write(path: Path, records: list[dict]) -> Path:
        path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records), encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def small_conversations() -> list[dict]:
    """Seven conversations with one to three assistant turns, two task types and one weight of 2;
    seven, so that a global batch of eight leaves one micro-batch empty in some layouts."""
    return [
        {
            "messages": [
                {"role": "user", "content": "What is the capital of France?"},
                {"role": "assistant", "content": "The capital of France is Paris."},
            ],
            "task_type": "qa",
        },
        {
            "messages": [
                {"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "Hello!"},
                {"role": "assistant", "content": "Hello! How can I help you today?"},
                {"role": "user", "content": "Tell me about the weather."},
                {"role": "assistant", "content": "It is sunny with a light breeze."},
            ],
            "task_type": "chat",
        },
        {
            "messages": [
                {"role": "user", "content": "你好，请推荐一部电影。"},
                {"role": "assistant", "content": "我推荐一部讲述海边小餐馆一家人的温情故事。"},
                {"role": "user", "content": "导演是谁？"},
                {"role": "assistant", "content": "导演同时也是编剧。"},
            ],
            "task_type": "chat",
        },
        {
            "messages": [
                {"role": "user", "content": "Why is the sky blue?"},
                {
                    "role": "assistant",
                    "content": "Sunlight is scattered by the air, and blue light is scattered more than red light, so the sky looks blue.",
                },
            ],
            "task_type": "qa",
            "weight": 2.0,
        },
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hi!"},
                {"role": "user", "content": "Thanks"},
                {"role": "assistant", "content": "You are welcome."},
                {"role": "user", "content": "Bye"},
                {"role": "assistant", "content": "Goodbye, have a nice day."},
            ],
            "task_type": "chat",
        },
        {
            "messages": [
                {"role": "user", "content": "How do I read a file in Python?"},
                {
                    "role": "assistant",
                    "content": "Open it with a with statement so that it is closed even when an error happens.",
                },
            ],
            "task_type": "qa",
        },
        {
            "messages": [
                {"role": "user", "content": "这首歌是谁唱的？"},
                {"role": "assistant", "content": "这首歌是由一位著名的歌手演唱的。"},
            ],
            "task_type": "qa",
        },
    ]


@pytest.fixture(scope="session")
def trainer_env() -> dict:
    """Environment of a trainer subprocess: offline, importing `training` from this checkout."""
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO_ROOT), "TOKENIZERS_PARALLELISM": "false"}


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def run_cli(trainer_env):
    """Run `python ARGUMENTS` in a fresh process from the repository root; returns the completed
    process and fails the test with its output when the exit status is not the expected one."""

    def run(arguments: list[str], expect: int | None = 0, timeout: float = 240):
        completed = subprocess.run(
            [sys.executable, *arguments],
            cwd=REPO_ROOT,
            env=trainer_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if expect is not None and completed.returncode != expect:
            pytest.fail(
                f"exit status {completed.returncode} (expected {expect})\n--- stdout\n{completed.stdout[-4000:]}"
                f"\n--- stderr\n{completed.stderr[-8000:]}"
            )
        return completed

    return run


@pytest.fixture(scope="session")
def torchrun():
    """Arguments for `python -m torch.distributed.run` with two local processes on a free port."""
    from training.distributed import free_port

    def arguments(*sft_arguments: str) -> list[str]:
        return [
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(free_port()),
            "-m",
            "training",
            "sft",
            *sft_arguments,
        ]

    return arguments


@pytest.fixture(scope="session")
def real_conversations() -> list[dict]:
    """Real multi-turn dialogues: 96 English hh-rlhf (chosen transcripts) and 64 Chinese KdConv
    conversations (two speakers alternating, the first taken as the user)."""
    conversations = []
    with gzip.open(SHARED_DATASETS / "hh-rlhf-harmless-base-test.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            messages = hh_rlhf_messages(json.loads(line)["chosen"])
            if messages:
                conversations.append({"messages": messages, "task_type": "hh-rlhf"})
            if len(conversations) == 96:
                break
    for domain in ("film", "music"):
        with gzip.open(SHARED_DATASETS / f"kdconv-{domain}-dev.json.gz", "rt", encoding="utf-8") as handle:
            for dialogue in json.load(handle)[:32]:
                utterances = [turn["message"] for turn in dialogue["messages"]][:8]
                roles = ["user", "assistant"] * len(utterances)
                messages = [{"role": role, "content": text} for role, text in zip(roles, utterances)]
                if messages[-1]["role"] == "user":
                    messages.pop()
                conversations.append({"messages": messages, "task_type": f"kdconv-{domain}"})
    return conversations


def hh_rlhf_messages(transcript: str) -> list[dict]:
    """'\n\nHuman: ...\n\nAssistant: ...' into messages; None-like (empty) when it does not parse."""
    parts = re.split(r"\n\n(Human|Assistant): ", transcript)
    messages = []
    for speaker, text in zip(parts[1::2], parts[2::2]):
        role = "user" if speaker == "Human" else "assistant"
        if messages and messages[-1]["role"] == role:
            return []
        messages.append({"role": role, "content": text.strip()})
    if not messages or messages[-1]["role"] != "assistant" or not all(m["content"] for m in messages):
        return []
    return messages
