"""Every panel of the session page shows its app's data: one session known to every app, the
page rendered for an engineer, and each panel's template checked for names it reads but was
never given (the bad-case panel once read `bad_cases` instead of `panel.bad_cases`, so it said
"No bad case in this session" above the review item about that very bad case)."""

from __future__ import annotations

import re

import pytest
from django.template import Context, engines
from django.test import RequestFactory

from flywheel.ingest.panels import session_panels
from tests.factories import FeedbackFactory, session_with_turns


class _RecordingContext(Context):
    """A template context that remembers every top-level name a template asked for and did not get."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.missing: set[str] = set()

    def __getitem__(self, key):
        try:
            return super().__getitem__(key)
        except KeyError:
            self.missing.add(key)
            raise


@pytest.fixture
def session_known_everywhere(db, make_user):
    """A session cleaned, labelled, mined for bad cases, reviewed and built into a dataset."""
    from flywheel.datasets.services import dataset_build_request, dataset_build_run
    from flywheel.labeling.models import Label
    from flywheel.pipeline.services import pipeline_run
    from flywheel.review.services import review_item_claim_next, review_item_enqueue, review_item_submit

    session = session_with_turns(
        [
            ("user", "What is the capital of Australia?"),
            ("assistant", "The capital of Australia is Sydney."),
            ("user", "Are you sure?"),
            ("assistant", "Canberra is the capital; Sydney is the largest city."),
        ],
        external_id="known-everywhere",
    )
    FeedbackFactory(message=session.messages.get(seq=2), rating=-1, comment="wrong city")
    pipeline_run(only={"cleaning", "badcases"})
    Label.objects.create(
        session=session,
        source="offline",
        prompt_version="offline-v1",
        model="offline:x",
        task_type="qa",
        quality=4,
        usable=True,
        reason="plain question",
    )
    annotator = make_user("annotator", "panel-annotator")
    answer = session.messages.get(seq=2)
    item = review_item_enqueue(
        kind="badcase_answer",
        subject_type="message",
        subject_id=str(answer.id),
        payload={},
        session_id=session.id,
        message_id=answer.id,
    )
    assert review_item_claim_next(queue=item.queue, user=annotator).item.id == item.id
    review_item_submit(
        item_id=item.id,
        user=annotator,
        decision={"verdict": "bad", "task_type": "qa", "quality": "2", "turns": {}},
    )
    request = dataset_build_request(config={"eval_fraction": 0.0}, name="panels", enqueue=False)
    dataset_build_run(build_id=request.id)
    return session


def _panel_html(html: str, title: str) -> str:
    match = re.search(rf'<article class="panel"><h3>{re.escape(title)}</h3>(.*?)</article>', html, re.S)
    assert match, f"no {title!r} panel on the page"
    return match.group(1)


def test_every_panel_shows_the_data_its_app_holds_about_the_session(client, engineer, session_known_everywhere):
    client.force_login(engineer)
    html = client.get(f"/sessions/{session_known_everywhere.external_id}/").content.decode()
    bad_cases = _panel_html(html, "Bad cases")
    assert "No bad case in this session" not in bad_cases
    assert "bad case " in bad_cases and "thumbs_down" in bad_cases
    cleaning = _panel_html(html, "Cleaning")
    assert "Not cleaned yet" not in cleaning and "cleaning-status" in cleaning
    labels = _panel_html(html, "Labels")
    assert "Not labelled yet" not in labels and "offline labeler" in labels
    review = _panel_html(html, "Review")
    assert "Not in any review queue" not in review and "badcase_answer" in review
    datasets = _panel_html(html, "Datasets")
    assert "In no dataset version yet" not in datasets and "panels" in datasets


def test_no_panel_template_reads_a_name_it_was_not_given(db, engineer, session_known_everywhere):
    request = RequestFactory().get("/")
    request.user = engineer
    for panel in session_panels(session_known_everywhere):
        template = engines["django"].get_template(panel["template"]).template
        context = _RecordingContext(
            {"panel": panel["context"], "is_engineer": True, "request": request, "user": engineer}
        )
        template.render(context)
        assert not context.missing, f"{panel['title']} reads {sorted(context.missing)}, which it is never given"
