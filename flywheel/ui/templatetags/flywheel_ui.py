from django import template
from django.utils.safestring import mark_safe

from flywheel.accounts.roles import ROLE_NAMES
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
def role_name(role: str) -> str:
    """A role's name in the page's language."""
    return ROLE_NAMES.get(role, role)
