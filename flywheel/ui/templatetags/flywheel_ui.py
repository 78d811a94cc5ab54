import json

from django import template
from django.utils.safestring import mark_safe

from flywheel.ui.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> str:
    # Safe to mark: render_markdown escapes raw HTML and sanitises the result with nh3.
    return mark_safe(render_markdown(text))


@register.filter
def thumb(rating: int) -> str:
    return "👍" if rating == 1 else "👎"


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def pretty_json(value) -> str:
    """A JSON value as indented JSON (not Python's repr: `true`, `null`, double quotes), Chinese
    left readable. Returned unsafe, so the template escapes it like any other text."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
