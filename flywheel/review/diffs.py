"""The annotator's edit shown against the original answer, word by word (character by
character for Chinese, which has no spaces)."""

from __future__ import annotations

import difflib
import re

# A CJK character, a run of word characters, a run of spaces, or one other symbol.
_TOKEN = re.compile(
    r"[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]|[^\W\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]+|\s+|[^\w\s]"
)


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.replace("\r\n", "\n"))


def answer_diff(original: str, edited: str) -> dict:
    """{"segments": [{"op": "equal" | "insert" | "delete", "text"}], "changed": bool,
    "inserted": n, "deleted": n} (counts in tokens)."""
    before, after = _tokens(original), _tokens(edited)
    matcher = difflib.SequenceMatcher(None, before, after, autojunk=False)
    segments, inserted, deleted = [], 0, 0
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            segments.append({"op": "equal", "text": "".join(before[a0:a1])})
            continue
        if a1 > a0:
            segments.append({"op": "delete", "text": "".join(before[a0:a1])})
            deleted += a1 - a0
        if b1 > b0:
            segments.append({"op": "insert", "text": "".join(after[b0:b1])})
            inserted += b1 - b0
    return {"segments": segments, "changed": bool(inserted or deleted), "inserted": inserted, "deleted": deleted}
