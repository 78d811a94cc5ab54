"""Page titles and <head> blocks hold what belongs there: a merge once pasted a whole section of
the agreement page into its title and head, and the page still rendered."""

import re
from pathlib import Path

import flywheel

TEMPLATES = sorted(Path(flywheel.__file__).parent.glob("**/templates/**/*.html"))
BLOCK = re.compile(r"{% block (title|head) %}(.*?){% endblock", re.S)


def test_the_templates_are_found():
    assert len(TEMPLATES) > 50


def test_no_title_block_holds_markup_and_no_head_block_holds_page_content():
    wrong = []
    for template in TEMPLATES:
        for name, body in BLOCK.findall(template.read_text(encoding="utf-8")):
            if name == "title" and "<" in body:
                wrong.append(f"{template}: title holds markup")
            if name == "head" and re.search(r"<(h[1-6]|p|table|div|form)\b", body):
                wrong.append(f"{template}: head holds page content")
    assert not wrong, wrong
