"""Settings of the continuity app, read from the environment (listed in .env.example).

FLYWHEEL_CONTINUITY_PSEUDO_SHARE   share (0-1) of pseudo multi-turn samples the dataset builder
                                   keeps whole; the rest it uses as their segments. Default 0.1.
FLYWHEEL_CONTINUITY_THRESHOLD      P(continue) below which a turn is a topic switch; empty: the
                                   threshold tuned on validation data when the model was trained.
FLYWHEEL_CONTINUITY_REVIEW_BAND    predictions this close to the threshold go to continuity review.
FLYWHEEL_CONTINUITY_BATCH          sessions per prediction batch (one embedding call each).
FLYWHEEL_CONTINUITY_MIN_SESSIONS   fewest multi-turn sessions a bootstrap training accepts.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_float, env_int, env_str


def pseudo_multi_turn_share() -> float:
    """Share of pseudo multi-turn samples kept for training (read by the dataset builder)."""
    share = env_float("FLYWHEEL_CONTINUITY_PSEUDO_SHARE", 0.1)
    if not 0.0 <= share <= 1.0:
        raise ImproperlyConfigured(f"FLYWHEEL_CONTINUITY_PSEUDO_SHARE={share} must be between 0 and 1")
    return share


def threshold_override() -> float | None:
    raw = env_str("FLYWHEEL_CONTINUITY_THRESHOLD", "") or ""
    if not raw.strip():
        return None
    value = env_float("FLYWHEEL_CONTINUITY_THRESHOLD", 0.5)
    if not 0.0 < value < 1.0:
        raise ImproperlyConfigured(f"FLYWHEEL_CONTINUITY_THRESHOLD={value} must be between 0 and 1")
    return value


def review_band() -> float:
    return env_float("FLYWHEEL_CONTINUITY_REVIEW_BAND", 0.1)


def batch_size() -> int:
    return env_int("FLYWHEEL_CONTINUITY_BATCH", 200, minimum=1)


def min_training_sessions() -> int:
    return env_int("FLYWHEEL_CONTINUITY_MIN_SESSIONS", 20, minimum=2)
