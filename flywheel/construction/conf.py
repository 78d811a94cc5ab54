"""Settings of bad-case construction and synthesis, read from the environment (listed in
.env.example). Each is a default that a run can override from the UI or the command line."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_float, env_int, env_str


def _between(name: str, value: float, low: float, high: float) -> float:
    if not low <= value <= high:
        raise ImproperlyConfigured(f"{name}={value} must be between {low} and {high}")
    return value


# Best-of-N: teacher candidates asked per bad case (the original bad answer is one more).
CANDIDATES_N = int(_between("FLYWHEEL_CONSTRUCTION_N", env_int("FLYWHEEL_CONSTRUCTION_N", 4), 1, 16))
TEMPERATURE = _between("FLYWHEEL_CONSTRUCTION_TEMPERATURE", env_float("FLYWHEEL_CONSTRUCTION_TEMPERATURE", 0.9), 0.0, 2.0)
# A chosen/rejected pair is kept only when the chosen answer's judge score (1..10) exceeds the
# rejected one's by at least this much.
PAIR_MARGIN = _between("FLYWHEEL_CONSTRUCTION_PAIR_MARGIN", env_float("FLYWHEEL_CONSTRUCTION_PAIR_MARGIN", 2.0), 0.1, 9.0)
# Two candidates whose pointwise scores are at most this far apart are "close": the judge then
# compares them pairwise, in both orders, before one is preferred.
PAIRWISE_BAND = _between("FLYWHEEL_CONSTRUCTION_PAIRWISE_BAND", env_float("FLYWHEEL_CONSTRUCTION_PAIRWISE_BAND", 1.0), 0.0, 9.0)
# Fewer distinct teacher answers than this (capped at N) means the teacher is not sampling:
# there is nothing to choose from, and the bad case is refused instead of judged.
MIN_DISTINCT_CANDIDATES = env_int("FLYWHEEL_CONSTRUCTION_MIN_DISTINCT", 2, minimum=1)
# Budgets of one run (job): LLM requests that returned an answer, and cost in USD (0: no cost
# limit; costs are known only for models priced in FLYWHEEL_LLM_PRICES).
MAX_CALLS = env_int("FLYWHEEL_CONSTRUCTION_MAX_CALLS", 500, minimum=1)
MAX_COST_USD = env_float("FLYWHEEL_CONSTRUCTION_MAX_COST_USD", 0.0)
# The run stops when the judge gave no valid answer for this many bad cases in a row (a
# misconfigured judge must not burn the whole budget).
JUDGE_FAILURE_STOP = env_int("FLYWHEEL_CONSTRUCTION_JUDGE_FAILURE_STOP", 3, minimum=1)
# The conversation sent to the teacher and the judge: at most this many turns before the bad
# answer, and at most this many characters per turn.
CONTEXT_TURNS = env_int("FLYWHEEL_CONSTRUCTION_CONTEXT_TURNS", 20, minimum=1)
TURN_MAX_CHARS = env_int("FLYWHEEL_CONSTRUCTION_TURN_MAX_CHARS", 8000, minimum=200)
# Code verifier limits (per candidate): CPU seconds, wall seconds, address space in MiB.
VERIFIER_CPU_S = env_int("FLYWHEEL_VERIFIER_CPU_S", 5, minimum=1)
VERIFIER_WALL_S = env_int("FLYWHEEL_VERIFIER_WALL_S", 10, minimum=1)
VERIFIER_MEMORY_MB = env_int("FLYWHEEL_VERIFIER_MEMORY_MB", 512, minimum=64)
# Unix socket of the separate verifier service (docker-compose's `verifier`). Empty: this
# worker runs the sandbox itself.
VERIFIER_SOCKET = env_str("FLYWHEEL_VERIFIER_SOCKET", "")
# Bad cases mined per batch (one transaction).
MINING_BATCH_SIZE = env_int("FLYWHEEL_MINING_BATCH_SIZE", 500, minimum=1)
# A trusted LLM or reviewer label of overall quality (1..5) at or below this makes the
# session's last answer a bad case; safety and hallucination flags always do.
MINING_LABEL_QUALITY_MAX = int(_between("FLYWHEEL_MINING_LABEL_QUALITY_MAX",
                                        env_int("FLYWHEEL_MINING_LABEL_QUALITY_MAX", 2), 0, 5))

# Synthesis: a new prompt whose cosine similarity to an existing prompt reaches this is a
# duplicate. With an English-only embedding model (FLYWHEEL_EMBEDDING_MODEL=all-MiniLM-L6-v2), text
# that is mostly Chinese is compared by character-bigram Jaccard instead; the default reads Chinese.
SYNTH_DEDUP_COSINE = _between("FLYWHEEL_SYNTH_DEDUP_COSINE", env_float("FLYWHEEL_SYNTH_DEDUP_COSINE", 0.9), 0.5, 1.0)
SYNTH_DEDUP_CJK_JACCARD = _between(
    "FLYWHEEL_SYNTH_DEDUP_CJK_JACCARD", env_float("FLYWHEEL_SYNTH_DEDUP_CJK_JACCARD", 0.6), 0.1, 1.0)
# How many recent user prompts from the logs new prompts are also compared with.
SYNTH_DEDUP_LOG_PROMPTS = env_int("FLYWHEEL_SYNTH_DEDUP_LOG_PROMPTS", 2000, minimum=0)
SYNTH_TEMPERATURE = _between("FLYWHEEL_SYNTH_TEMPERATURE", env_float("FLYWHEEL_SYNTH_TEMPERATURE", 1.0), 0.0, 2.0)
SYNTH_MAX_COUNT = env_int("FLYWHEEL_SYNTH_MAX_COUNT", 500, minimum=1)
