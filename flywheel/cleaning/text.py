"""Text measurements shared by the rules and deduplication.

Chat turns mix Chinese and English, so length is counted in "units": one per CJK character
plus one per Latin (or other alphabetic) word. Web-page rule sets count words or characters
only, which either drops every short Chinese message or lets long English ones through.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cached_property

# Han (with extensions), kana and Hangul: each character is a unit, and a token for shingling.
CJK_CLASS = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\uac00-\ud7af"
    "\U00020000-\U0002ebef\U00030000-\U0003134f"
)
_CJK = re.compile(f"[{CJK_CLASS}]")
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\U00030000-\U0003134f]")
_KANA = re.compile("[\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile("[\uac00-\ud7af]")
# A word: a run of letters/digits that are not CJK (underscore excluded so snake_case splits).
_WORD = re.compile(f"[^\\W_{CJK_CLASS}]+")
TOKEN = re.compile(f"[{CJK_CLASS}]|[^\\W_{CJK_CLASS}]+")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u024f]")
_CODE_BLOCK = re.compile(r"```.*?(?:```|$)", re.S)
_INLINE_CODE = re.compile(r"`[^`\n]+`")
_WHITESPACE = re.compile(r"\s+")


class TextFacts:
    """Lazily computed measurements of one text; each is computed at most once."""

    __slots__ = ("text", "__dict__")

    def __init__(self, text: str):
        self.text = text

    @cached_property
    def stripped(self) -> str:
        return self.text.strip()

    @cached_property
    def cjk_chars(self) -> int:
        return len(_CJK.findall(self.text))

    @cached_property
    def han_chars(self) -> int:
        return len(_HAN.findall(self.text)) if self.cjk_chars else 0

    @cached_property
    def kana_chars(self) -> int:
        return len(_KANA.findall(self.text)) if self.cjk_chars else 0

    @cached_property
    def hangul_chars(self) -> int:
        return len(_HANGUL.findall(self.text)) if self.cjk_chars else 0

    @cached_property
    def words(self) -> int:
        return len(_WORD.findall(self.text))

    @cached_property
    def latin_letters(self) -> int:
        return len(_LATIN_LETTER.findall(self.text))

    @cached_property
    def units(self) -> int:
        """Characters for Chinese (and Japanese, Korean), words for English and other alphabets."""
        return self.cjk_chars + self.words

    @cached_property
    def mostly_cjk(self) -> bool:
        return self.cjk_chars >= self.words

    @cached_property
    def prose(self) -> str:
        """The text without fenced or inline code, where markup and symbols are expected."""
        if "`" not in self.text:
            return self.text
        return _INLINE_CODE.sub(" ", _CODE_BLOCK.sub(" ", self.text))

    @cached_property
    def collapsed(self) -> str:
        return _WHITESPACE.sub(" ", self.text).strip()


def tokens(text: str) -> list[str]:
    """Normalised tokens for hashing and shingling: NFKC, case-folded; one token per CJK
    character and per word; punctuation, symbols and whitespace dropped."""
    return TOKEN.findall(unicodedata.normalize("NFKC", text).casefold())


def is_cjk_token(token: str) -> bool:
    return len(token) == 1 and bool(_CJK.match(token))
