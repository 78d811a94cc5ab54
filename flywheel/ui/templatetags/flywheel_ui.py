import json

from django import template
from django.utils import translation
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from flywheel.accounts.roles import ROLE_NAMES
from flywheel.i18n import shown as i18n_shown
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


# Who wrote a message, in the page's language (the stored value stays the OpenAI role name).
MESSAGE_ROLES = {
    "system": gettext_lazy("system"),
    "user": gettext_lazy("user"),
    "assistant": gettext_lazy("assistant"),
    "tool": gettext_lazy("tool"),
}


@register.filter
def message_role(role: str) -> str:
    return MESSAGE_ROLES.get(role, role)


@register.filter
def queue_name(queue) -> str:
    """A queue's name; a kind's default queue still named after its kind shows the kind's title
    in the page's language (names people gave their queues are shown as they wrote them)."""
    from flywheel.review.kinds import review_kind_get

    if getattr(queue, "is_default", False):
        try:
            title = review_kind_get(queue.kind).title
        except ValueError:  # a kind no longer registered
            return queue.name
        with translation.override(None):
            source = str(title)
        if queue.name == source:
            return title
    return queue.name


# The states rows go through (jobs, review items and claims, bad cases, runs, builds...), as
# pages name them; the stored value and the CSS class keep the code.
STATUS_NAMES = {
    code: label
    for code, label in (
        ("accepted", gettext_lazy("accepted")),
        ("adjudicating", gettext_lazy("adjudicating")),
        ("blocked", gettext_lazy("blocked")),
        ("cancelled", gettext_lazy("cancelled")),
        ("claimed", gettext_lazy("claimed")),
        ("completed", gettext_lazy("completed")),
        ("constructing", gettext_lazy("constructing")),
        ("dead", gettext_lazy("dead")),
        ("dismissed", gettext_lazy("dismissed")),
        ("done", gettext_lazy("done")),
        ("dropped", gettext_lazy("dropped")),
        ("duplicate", gettext_lazy("duplicate")),
        ("expired", gettext_lazy("expired")),
        ("failed", gettext_lazy("failed")),
        ("finished", gettext_lazy("finished")),
        ("flagged", gettext_lazy("flagged")),
        ("kept", gettext_lazy("kept")),
        ("new", gettext_lazy("new")),
        ("open", gettext_lazy("open")),
        ("pending", gettext_lazy("pending")),
        ("prompted", gettext_lazy("prompted")),
        ("queued", gettext_lazy("queued")),
        ("rejected", gettext_lazy("rejected")),
        ("released", gettext_lazy("released")),
        ("running", gettext_lazy("running")),
        ("skipped", gettext_lazy("skipped")),
        ("stopped", gettext_lazy("stopped")),
        ("submitted", gettext_lazy("submitted")),
        ("succeeded", gettext_lazy("succeeded")),
        ("waiting", gettext_lazy("waiting")),
    )
}


@register.filter
def status_name(status: str) -> str:
    """A row's state in the page's language (an unknown code is shown as it is)."""
    return STATUS_NAMES.get(status, status)


@register.filter
def shown(value) -> str:
    """A note or error a worker stored (flywheel.i18n.stored) in the reader's language; plain text,
    such as rows written before notes were stored this way, as it is."""
    return i18n_shown(value)


@register.filter
def pretty_json(value) -> str:
    """A JSON value as indented JSON (not Python's repr: `true`, `null`, double quotes), Chinese
    left readable. Returned unsafe, so the template escapes it like any other text."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
