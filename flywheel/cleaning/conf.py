"""Cleaning settings, read from the environment (listed in .env.example)."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from flywheel.env import env_float, env_int, env_list

# Sessions cleaned per batch (one transaction, one progress report).
CLEANING_BATCH_SIZE = env_int("FLYWHEEL_CLEANING_BATCH_SIZE", 200, minimum=1)

# Languages lingua chooses among for text that is not Chinese/Japanese/Korean (those are told
# apart by script). Fewer languages: faster and fewer confusions; at least two.
CLEANING_LANGUAGES = tuple(
    code.lower() for code in env_list("FLYWHEEL_CLEANING_LANGUAGES", ["en", "fr", "de", "es", "it", "pt", "nl", "ru", "id", "tr"])
)
if len(CLEANING_LANGUAGES) < 2:
    raise ImproperlyConfigured("FLYWHEEL_CLEANING_LANGUAGES needs at least two language codes")


def _check_languages(codes: tuple[str, ...]) -> None:
    from lingua import IsoCode639_1  # a light import; the models load on first use

    unknown = [code for code in codes if not hasattr(IsoCode639_1, code.upper())]
    if unknown:
        raise ImproperlyConfigured(f"FLYWHEEL_CLEANING_LANGUAGES: unknown ISO 639-1 codes {', '.join(unknown)}")


_check_languages(CLEANING_LANGUAGES)

# Longer texts are not scrubbed at all (fail-closed): they never go to an LLM.
PII_MAX_CHARS = env_int("FLYWHEEL_PII_MAX_CHARS", 200_000, minimum=1000)

# Estimated Jaccard similarity of shingle sets from which two texts count as near-duplicates.
DEDUP_THRESHOLD = env_float("FLYWHEEL_DEDUP_THRESHOLD", 0.7)
if not 0.3 <= DEDUP_THRESHOLD <= 1.0:
    raise ImproperlyConfigured("FLYWHEEL_DEDUP_THRESHOLD must be between 0.3 and 1.0")
