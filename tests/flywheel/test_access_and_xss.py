"""Who may reach what, and that hostile text stays text — for every page, including pages other
apps add later (the URL configuration is walked, nothing is listed by hand).

(a) Every view declares `allowed_roles`; for every URL (placeholder arguments) and every role
    plus an anonymous visitor, a refused request is refused (anonymous: login redirect for
    pages, 401/403 for the API; wrong role: 403) and an allowed one is not; the Django admin
    keeps non-staff out. Every HTML response carries a CSP without 'unsafe-inline'.
(b) XSS payloads in chat content, session metadata, feedback, review payloads, decisions, queue
    settings and audit details, rendered in the browser on every page that shows them:
    nothing executes, no dialog opens, no active markup reaches the DOM.
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from flywheel.accounts.permissions import API_KEY
from flywheel.accounts.roles import PUBLIC, Role, user_has_any_role

PLACEHOLDERS = {
    "int": "987654",
    "slug": "placeholder",
    "str": "placeholder",
    "path": "placeholder/x",
    "uuid": str(uuid.UUID(int=1)),
}
ROLES = [None, Role.ANNOTATOR, Role.ENGINEER, Role.OPS, Role.ADMIN]


# --- walking the URL configuration ------------------------------------------------------------


def _sample(route: str) -> str:
    """A concrete path for a route or regex, with placeholder arguments."""
    route = re.sub(r"<(?:(\w+):)?\w+>", lambda m: PLACEHOLDERS.get(m.group(1) or "str", "placeholder"), route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "placeholder", route)
    return route.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\", "")


def walk(patterns=None, prefix: str = "", namespace: str = ""):
    """(url, callback, qualified name, namespace root) for every view."""
    for entry in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(entry, URLResolver):
            nested = namespace or (entry.namespace or "")
            yield from walk(entry.url_patterns, prefix + str(entry.pattern), nested)
        elif isinstance(entry, URLPattern):
            yield "/" + _sample(prefix + str(entry.pattern)), entry.callback, entry.name, namespace


def allowed_roles_of(callback):
    for holder in (callback, getattr(callback, "view_class", None), getattr(callback, "cls", None)):
        roles = getattr(holder, "allowed_roles", None)
        if roles is not None:
            return frozenset(roles)
    return None


def is_api(callback) -> bool:
    return getattr(callback, "cls", None) is not None  # Django REST framework views


def app_views():
    return [(url, cb, name) for url, cb, name, ns in walk() if ns != "admin"]


def test_the_walk_finds_the_views_of_every_app():
    urls = {url for url, _, _ in app_views()}
    assert {"/review/", "/sessions/", "/jobs/", "/healthz"} <= urls
    assert "/review/queues/placeholder/bulk/" in urls


def test_every_view_declares_who_may_reach_it():
    undeclared = [f"{url} ({name})" for url, callback, name in app_views() if not allowed_roles_of(callback)]
    assert undeclared == [], "views without allowed_roles: " + ", ".join(undeclared)


@pytest.fixture
def principals(make_user):
    users = {role: make_user(role, username=f"walk-{role.value}") for role in ROLES if role}
    clients = {}
    for role in ROLES:
        client = Client(raise_request_exception=False)
        if role:
            client.force_login(users[role])
        clients[role] = (client, users.get(role))
    return clients


def _request(client, url):
    response = client.get(url)
    if response.status_code == 405:
        response = client.post(url, {})
    return response


def _csp_problem(response) -> str | None:
    if "text/html" not in response.get("Content-Type", ""):
        return None
    policy = response.get("Content-Security-Policy", "")
    if not policy:
        return "no Content-Security-Policy header"
    if "unsafe-inline" in policy or "unsafe-eval" in policy:
        return f"weak policy {policy!r}"
    return None


def test_every_url_refuses_the_roles_it_does_not_allow_and_serves_the_others(principals):
    failures = []
    for url, callback, name in app_views():
        allowed = allowed_roles_of(callback) or frozenset()
        for role, (client, user) in principals.items():
            # Public views need no role; posting to one (log out) would end the client's session.
            response = client.get(url) if allowed == PUBLIC else _request(client, url)
            status = response.status_code
            who = role.value if role else "anonymous"
            if problem := _csp_problem(response):
                failures.append(f"{url} as {who}: {problem}")
            if allowed == PUBLIC:
                continue
            if role is None:
                to_login = status == 302 and response.url.startswith("/accounts/login/")
                refused = status in (401, 403) if is_api(callback) else to_login
                if not refused:
                    failures.append(f"{url} ({name}) anonymous got {status}")
            elif not user_has_any_role(user, allowed - {API_KEY}):
                if status != 403:
                    failures.append(f"{url} ({name}) as {who} got {status}, expected 403")
            elif status in (401, 403) or status >= 500:
                failures.append(f"{url} ({name}) as {who} (allowed) got {status}")
    assert failures == [], "\n".join(failures)


def test_annotators_are_refused_the_engineers_and_ops_actions(principals):
    client, _ = principals[Role.ANNOTATOR]
    for url in ("/review/queues/", "/review/queues/placeholder/bulk/", "/review/audit/", "/imports/", "/jobs/"):
        assert _request(client, url).status_code == 403, url


def test_the_admin_site_keeps_non_staff_out(principals):
    for role in (Role.ANNOTATOR, Role.ENGINEER, Role.OPS):
        client, _ = principals[role]
        response = client.get("/admin/")
        assert response.status_code == 302 and response.url.startswith("/admin/login/"), role
    client, _ = principals[Role.ADMIN]
    assert client.get("/admin/").status_code == 200


# --- hostile text in the browser --------------------------------------------------------------

MARK = "window.__xss=1;document.title='pwned'"
PAYLOADS = [
    f"<script>{MARK}</script>",
    f'<img src=x onerror="{MARK}">',
    f'<svg onload="{MARK}"><script>{MARK}</script></svg>',
    f'<a href="javascript:{MARK}">click me</a>',
    f"[a markdown link](javascript:{MARK})",
    f"![a markdown image](javascript:{MARK})",
    f"[data link](data:text/html,<script>{MARK}</script>)",
    f'"><script>{MARK}</script>',
    f"'><img src=x onerror={MARK}>",
    f"</script><script>{MARK}</script>",
    f'<iframe src="javascript:{MARK}"></iframe>',
    f'<details open ontoggle="{MARK}">x</details>',
    f'<math><mtext><table><mglyph><style><img src=x onerror="{MARK}">',
    f"<<script>script>{MARK}<</script>/script>",
    '<div hx-get="/accounts/logout/" hx-trigger="load">htmx attribute</div>',
    "{{ request.user }} {% now 'Y' %} <!-- unclosed",
    "<b>broken <i>markup</b",
    f"javascript:{MARK}",
]
HOSTILE = "\n\n".join(PAYLOADS)


@pytest.fixture
def hostile_world(transactional_db, make_user):
    from flywheel.accounts.services import audit_record
    from flywheel.ingest.models import Message
    from flywheel.review.services import (
        review_item_claim_next,
        review_item_enqueue,
        review_item_submit,
        review_queue_save,
    )
    from tests.factories import FeedbackFactory, session_with_turns

    annotator, engineer = make_user("annotator", "xss-annotator"), make_user("engineer", "xss-engineer")
    second = make_user("annotator", "xss-second")
    session = session_with_turns(
        [("user", HOSTILE), ("assistant", HOSTILE), ("user", "继续：" + PAYLOADS[1]), ("assistant", HOSTILE)],
        app=PAYLOADS[1][:60],
        model_version=PAYLOADS[0][:60],
        metadata={"note": HOSTILE, PAYLOADS[2][:80]: PAYLOADS[9], "nested": {"html": PAYLOADS}},
    )
    answer = session.messages.get(seq=4)
    FeedbackFactory(message=answer, rating=-1, comment=HOSTILE, reasons=PAYLOADS[:6])
    Message.objects.filter(session=session, seq=2).update(model_version=PAYLOADS[3][:100])
    queue = review_queue_save(
        user=engineer,
        slug="hostile",
        name=PAYLOADS[1][:100],
        kind="badcase_answer",
        description=HOSTILE,
        filters={"payload": {"x": PAYLOADS[0]}},
        reviewers_per_item=2,
    )
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        session_id=session.id,
        message_id=answer.id,
        queue_slug="hostile",
        payload={"comment": HOSTILE, "reasons": PAYLOADS, PAYLOADS[0]: PAYLOADS[1]},
    )
    base = {"task_type": "qa", "quality": "2", "note": HOSTILE}
    for reviewer, verdict, edit in ((annotator, "bad", HOSTILE), (second, "acceptable", PAYLOADS[4])):
        review_item_claim_next(queue=queue, user=reviewer)
        review_item_submit(
            item_id=item.id,
            user=reviewer,
            decision={**base, "verdict": verdict, "turns": {str(answer.id): {"train": True, "edited": edit}}},
        )
    open_item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(session.messages.get(seq=2).id),
        session_id=session.id,
        message_id=session.messages.get(seq=2).id,
        queue_slug="hostile",
        payload={"comment": HOSTILE, "reasons": PAYLOADS},
    )
    review_item_claim_next(queue=queue, user=annotator)
    audit_record(
        actor=engineer,
        action="test.hostile",
        target_type=PAYLOADS[0][:60],
        target_id=PAYLOADS[1][:120],
        detail={"text": HOSTILE},
    )
    adjudication = item.adjudications.get()
    return {
        "session": session,
        "annotator": annotator,
        "engineer": engineer,
        "item": item,
        "open_item": open_item,
        "adjudication": adjudication,
        "queue": queue,
    }


def _assert_inert(page, url, responses):
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    assert response.status == 200, f"{url}: {response.status}"
    responses.append((url, response.headers.get("content-security-policy", "")))
    state = page.evaluate("""() => ({
        xss: window.__xss === undefined ? null : window.__xss,
        title: document.title,
        handlers: Array.from(document.querySelectorAll('*')).flatMap(el => Array.from(el.attributes)
            .filter(a => /^on/i.test(a.name) || /^(href|src|action|formaction)$/i.test(a.name)
                && (/^\\s*javascript:/i.test(a.value) || /^\\s*data:text\\/html/i.test(a.value)))
            .map(a => el.tagName + ' ' + a.name + '=' + a.value.slice(0, 40))),
        scripts: Array.from(document.scripts).filter(s => !s.src && s.type !== 'application/json').length,
        frames: document.querySelectorAll('iframe, object, embed').length,
    })""")
    assert state["xss"] is None and state["title"] != "pwned", f"{url}: a payload ran"
    assert dialogs == [], f"{url}: a dialog opened"
    assert state["handlers"] == [] and state["scripts"] == 0 and state["frames"] == 0, f"{url}: active markup {state}"
    violations = [p for p in page.problems if "Content Security Policy" in p]
    assert violations == [], f"{url}: markup reached the page and the CSP had to block it: {violations[:3]}"


def _parameterless_pages(user) -> list[str]:
    """Every page without arguments this user can open (GET answers an HTML 200)."""
    client = Client(raise_request_exception=False)
    client.force_login(user)
    urls = [
        url
        for url, callback, name in app_views()
        if "placeholder" not in url
        and "987654" not in url
        and not is_api(callback)
        and allowed_roles_of(callback) != PUBLIC
    ]
    return [
        url for url in urls if (r := client.get(url)).status_code == 200 and "text/html" in r.get("Content-Type", "")
    ]


@pytest.mark.browser
def test_hostile_text_executes_nothing_on_the_annotators_pages(page, log_in, hostile_world):
    log_in(page, hostile_world["annotator"])
    responses = []
    _assert_inert(page, f"/review/items/{hostile_world['open_item'].id}/", responses)
    assert page.locator(".tok-loss").count() > 0  # the loss preview (fed hostile text) rendered as text
    page.locator("details.edit summary").first.click()
    page.locator(".edit-box").first.fill(HOSTILE + " edited")  # the diff (hostile on both sides) too
    page.wait_for_selector(".diff-text ins")
    assert page.evaluate("window.__xss === undefined && document.title !== 'pwned'")
    for url in ("/review/", f"/sessions/{hostile_world['session'].external_id}/"):
        _assert_inert(page, url, responses)
    assert all(policy and "unsafe-inline" not in policy for _, policy in responses), responses


@pytest.mark.browser
def test_hostile_text_executes_nothing_on_the_engineers_pages(page, log_in, hostile_world):
    log_in(page, hostile_world["engineer"])
    responses = []
    urls = [
        f"/sessions/{hostile_world['session'].external_id}/",
        f"/review/items/{hostile_world['item'].id}/",
        f"/review/items/{hostile_world['adjudication'].id}/",
        f"/review/queues/{hostile_world['queue'].slug}/",
        f"/review/queues/{hostile_world['queue'].slug}/?status=all",
        f"/review/queues/{hostile_world['queue'].slug}/edit/",
        "/review/queues/adjudication/",
        "/review/audit/?action=test.hostile",
        "/review/audit/?action=review.decide",
    ]
    urls += [url for url in _parameterless_pages(hostile_world["engineer"]) if url not in urls]
    for url in urls:
        _assert_inert(page, url, responses)
    assert all(policy and "unsafe-inline" not in policy for _, policy in responses), responses
    assert len(responses) >= 15
