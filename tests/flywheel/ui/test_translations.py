"""The Chinese catalog is whole and current: no template shows a string that was not marked for
translation, every marked string is in the catalog (as `manage.py translations` would gather it),
translated and not fuzzy, and the committed .mo files say exactly what the .po files say."""

from __future__ import annotations

import gettext
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import polib
import pytest
from django.template.base import Lexer, TokenType

from flywheel.ui.management.commands.translations import DOMAINS, translated_locales

REPO = Path(__file__).resolve().parents[3]
LOCALE_DIR = REPO / "flywheel" / "locale"
TEMPLATES = sorted([*REPO.glob("templates/**/*.html"), *REPO.glob("flywheel/*/templates/**/*.html")])

# Words that are the same in every language: names, units and formats people type or grep for.
UNTRANSLATED_WORDS = {"Flywheel", "JSON", "JSONL", "SFT", "DPO", "IFD", "GPU", "CPU", "LoRA", "κ", "USD", "ID", "URL"}
# Inside these, text is code, a key's name or data, not prose.
LITERAL_ELEMENTS = {"script", "style", "code", "kbd", "pre", "samp"}
# Attributes that people read (or hear, with a screen reader).
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "data-confirm"}
# What a Django tag or variable becomes before the HTML is parsed (spaced, so that a tag inside
# an element's start tag, `<tr{% if x %} class="y"{% endif %}>`, leaves it well-formed).
PLACEHOLDER = " \x00 "


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sdr]|\{\w*\}", text))


def catalogs() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))


class _ProseFinder(HTMLParser):
    """Collects the text and read attributes of a template's HTML, outside literal elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.literal_depth = 0
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in LITERAL_ELEMENTS:
            self.literal_depth += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value:
                self.found.append(value)

    def handle_endtag(self, tag):
        if tag in LITERAL_ELEMENTS and self.literal_depth:
            self.literal_depth -= 1

    def handle_data(self, data):
        if not self.literal_depth:
            self.found.append(data)


def unmarked_prose(source: str) -> list[str]:
    """Text of a template that reaches the page as written: Django tags, variables, comments and
    {% blocktranslate %} bodies become a placeholder, the rest is parsed as HTML."""
    pieces, skipping_until = [], None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split(" ", 1)[0]
            if skipping_until:
                if name == skipping_until:
                    skipping_until = None
            elif name in {"blocktranslate", "blocktrans", "comment", "verbatim"}:
                skipping_until = {"blocktrans": "endblocktrans"}.get(name, f"end{name}")
            pieces.append(PLACEHOLDER)
        elif token.token_type == TokenType.TEXT and not skipping_until:
            pieces.append(token.contents)
        else:
            pieces.append(PLACEHOLDER)
    finder = _ProseFinder()
    finder.feed("".join(pieces))
    finder.close()
    prose = []
    for text in finder.found:
        words = set(re.findall(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]", text.replace("\x00", " ")))
        if words - UNTRANSLATED_WORDS and re.search(r"[A-Za-z]{2,}", text):
            prose.append(" ".join(text.replace("\x00", "…").split()))
    return prose


def test_the_template_checker_finds_unmarked_text_and_passes_marked_text():
    source = (
        '{% block title %}{% translate "Queues" %}{% endblock %}<p title="Hover text">Plain words</p>'
        "{% blocktranslate %}Marked {{ n }} items{% endblocktranslate %}<kbd>Enter</kbd><code>x = 1</code>"
        '<input placeholder="{% translate "Why" %}"> {{ value }} · JSON'
    )
    assert unmarked_prose(source) == ["Hover text", "Plain words"]


def test_every_template_string_is_marked_for_translation():
    unmarked = {
        str(path.relative_to(REPO)): found
        for path in TEMPLATES
        if (found := unmarked_prose(path.read_text(encoding="utf-8")))
    }
    assert unmarked == {}, "wrap these in {% translate %} or {% blocktranslate %}: " + repr(unmarked)


@pytest.mark.parametrize("locale", translated_locales())
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_catalog_entry_is_translated_and_none_is_fuzzy(locale, domain):
    po = polib.pofile(str(LOCALE_DIR / locale / "LC_MESSAGES" / f"{domain}.po"))
    assert [e.msgid for e in po.untranslated_entries()] == []
    assert [e.msgid for e in po.fuzzy_entries()] == []
    assert [e.msgid for e in po.obsolete_entries()] == []
    for entry in po.translated_entries():  # a placeholder lost in translation breaks the page
        translations = entry.msgstr_plural.values() if entry.msgid_plural else [entry.msgstr]
        for translated in translations:
            assert _placeholders(entry.msgid_plural or entry.msgid) == _placeholders(translated), entry.msgid


@pytest.mark.parametrize("po_path", catalogs(), ids=lambda p: str(p.relative_to(LOCALE_DIR)))
def test_the_compiled_catalog_says_what_the_po_says(po_path):
    """The .mo files are committed (nothing compiles at start-up); they must match their .po."""
    mo_path = po_path.with_suffix(".mo")
    assert mo_path.exists(), f"{mo_path} is missing: run `manage.py translations`"
    with mo_path.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)._catalog
    expected = {}
    for entry in polib.pofile(str(po_path)).translated_entries():
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt else entry.msgid
        if entry.msgid_plural:
            expected.update({(key, int(n)): text for n, text in entry.msgstr_plural.items()})
        else:
            expected[key] = entry.msgstr
    compiled = {k: v for k, v in compiled.items() if k != ""}  # "" is the header
    assert compiled == expected, f"{mo_path} is out of date: run `manage.py translations`"


def _entries(po_path: Path) -> set[tuple]:
    return {(e.msgctxt, e.msgid, e.msgid_plural) for e in polib.pofile(str(po_path)) if not e.obsolete}


def test_the_catalogs_hold_every_marked_string_and_nothing_else(tmp_path):
    """What `manage.py translations` would gather from the code now is what the catalogs hold."""
    if not shutil.which("xgettext"):
        pytest.fail("GNU gettext is needed (make install-test installs it; apt-get install gettext)")
    copy = tmp_path / "repo"
    copy.mkdir()
    shutil.copy(REPO / "manage.py", copy)
    for folder in ("flywheel", "templates", "static"):
        shutil.copytree(REPO / folder, copy / folder, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "flywheel.settings",
        "FLYWHEEL_VAR_DIR": str(tmp_path / "var"),
        "FLYWHEEL_STATIC_ROOT": str(tmp_path / "static-root"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "translations", "--no-compile"],
        cwd=copy,
        env=env,
        check=True,
        capture_output=True,
    )
    for po_path in catalogs():
        gathered = copy / po_path.relative_to(REPO)
        missing = _entries(gathered) - _entries(po_path)
        stale = _entries(po_path) - _entries(gathered)
        assert (missing, stale) == (set(), set()), f"{po_path.name} is out of date: run `manage.py translations`"
    assert {p.relative_to(copy) for p in (copy / "flywheel" / "locale").glob("*/LC_MESSAGES/*.po")} == {
        p.relative_to(REPO) for p in catalogs()
    }


def sentence_pieces(source: str) -> list[str]:
    """{% translate %} strings that are pieces of a sentence glued around values: they open or
    close a bracket the string does not hold the other end of, or start with the punctuation that
    continues a sentence. Chinese puts the values elsewhere in the sentence; a piece cannot move
    them. Such a sentence is one {% blocktranslate %} with its values as placeholders."""
    pieces = []
    for token in Lexer(source).tokenize():
        if token.token_type != TokenType.BLOCK or not token.contents.startswith(("translate ", "trans ")):
            continue
        found = re.match(r'\w+ "(.*?)"', token.contents)
        text = found.group(1) if found else ""
        if text.count("(") != text.count(")") or re.match(r"[),;.]|, ", text):
            pieces.append(text)
    return pieces


def test_the_sentence_piece_checker_finds_glued_pieces():
    source = (
        '{% translate "Replies (" %}{{ n }}{% translate ") with:" %} {% translate ", item" %} {{ i }}'
        '{% translate "(edited)" %}{% blocktranslate %}Replies ({{ n }}) with:{% endblocktranslate %}'
    )
    assert sentence_pieces(source) == ["Replies (", ") with:", ", item"]


def test_no_template_glues_a_sentence_from_translated_pieces():
    glued = {
        str(path.relative_to(REPO)): found
        for path in TEMPLATES
        if (found := sentence_pieces(path.read_text(encoding="utf-8")))
    }
    assert glued == {}, "make each of these sentences one {% blocktranslate %}: " + repr(glued)
