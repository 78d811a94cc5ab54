"""What review pages show of personal data: the text a dataset holds, never the original.

The conversation on an item page, the edit boxes, the diff and the loss preview all start from
cleaning's scrubbed text (`message_texts_for_llm`: the repaired text with e-mail addresses,
phone numbers, IPs... replaced by `<EMAIL>`, `<PHONE>`, `<IP>`), which is exactly what the
dataset builder trains on. Free texts (feedback comments, payloads, decisions) are scrubbed
when shown. Scrubbing is fail-closed: a text it cannot clear is hidden, not shown raw.
Engineers may reveal the originals of one item on purpose (`review_item_reveal`, audited).
"""

from __future__ import annotations

from typing import Any

from flywheel.cleaning.pii import scrub_text
from flywheel.cleaning.services import message_texts_for_llm

HIDDEN = "[hidden: this text could not be cleared of personal data]"


def review_texts_shown(*, message_ids: list[int]) -> dict[int, str]:
    """Each message's text as the dataset holds it; a message whose scrubbing failed is absent
    (show nothing of it). Scrubs are stored, so a page asks the scrubber once per message."""
    return message_texts_for_llm(message_ids=message_ids)


def review_text_shown(value: str) -> str | None:
    """A free text (a feedback comment, an edit) with personal data replaced; None: hide it."""
    if not value:
        return value
    result = scrub_text(value)
    return result.text if result.ok else None


def scrubbed_for_display(value: Any) -> Any:
    """A copy of a JSON value (payload, decision) with every string, keys included, scrubbed;
    a string that cannot be cleared becomes HIDDEN."""
    if isinstance(value, str):
        shown = review_text_shown(value)
        return HIDDEN if shown is None else shown
    if isinstance(value, dict):
        return {scrubbed_for_display(k) if isinstance(k, str) else k: scrubbed_for_display(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed_for_display(v) for v in value]
    return value
