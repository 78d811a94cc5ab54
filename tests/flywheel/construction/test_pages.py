"""The engineers' pages and the annotator's page of a constructed answer."""

import json

import pytest
from django.urls import reverse

from flywheel.construction.models import BadCase, ConstructionRun
from flywheel.jobs.models import Job
from flywheel.review.models import ReviewItem
from flywheel.review.services import review_item_claim_next
from tests.flywheel.construction.conftest import run_construction

BAD, GOOD, OK = "The capital of Australia is Sydney.", "The capital of Australia is **Canberra**.", "Canberra."
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


@pytest.fixture
def constructed(bad_case, script):
    script.teacher, script.scores = [GOOD, HOSTILE], {BAD: 1, GOOD: 9, HOSTILE: 5}
    run_construction(n=2)
    return BadCase.objects.get(id=bad_case.id)


@pytest.mark.django_db
def test_the_bad_case_list_filters_by_reason(client, engineer, constructed):
    client.force_login(engineer)
    shown = client.get(reverse("construction:index") + "?reason=thumbs_down").content.decode()
    hidden = client.get(reverse("construction:index") + "?reason=cleaning").content.decode()
    detail_url = reverse("construction:badcase", args=[constructed.id])
    assert detail_url in shown and detail_url not in hidden


@pytest.mark.django_db
def test_the_bad_case_page_shows_candidates_scores_both_orders_and_the_results(client, engineer, constructed):
    client.force_login(engineer)
    html = client.get(reverse("construction:badcase", args=[constructed.id])).content.decode()
    assert 'id="candidate-table"' in html and 'id="pairwise-table"' in html
    assert "judge-pointwise-v1" in html and "SFT answer:" in html and "Pair:" in html
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # a candidate is data, never markup


@pytest.mark.django_db
def test_the_run_page_shows_budget_usage_and_the_length_bias_figure(client, engineer, constructed):
    client.force_login(engineer)
    run = ConstructionRun.objects.get()
    html = client.get(reverse("construction:run", args=[run.id])).content.decode()
    assert 'id="budget-used"' in html and 'id="length-bias"' in html
    assert 'data-chart="length-chart"' in html and 'id="length-chart"' in html


@pytest.mark.django_db
def test_starting_a_run_from_the_page_queues_a_job_on_the_llm_queue(
    client, engineer, bad_case, script, settings, django_capture_on_commit_callbacks
):
    settings.FLYWHEEL_TASK_MODE = "sync"  # run it at commit, in this process
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("construction:run_start"),
            {"limit": 5, "n": 2, "temperature": 0.8, "margin": 2, "max_calls": 50, "max_cost_usd": 0},
        )
    run = ConstructionRun.objects.get()
    assert response.status_code == 302 and response.url == reverse("construction:run", args=[run.id])
    job = Job.objects.get(id=run.job_id)
    assert (job.kind, job.queue, job.status) == ("construction.run", "llm", Job.Status.SUCCEEDED)
    assert run.config["n"] == 2 and run.config["max_calls"] == 50


@pytest.mark.django_db
def test_a_verifier_with_bad_tests_is_refused_with_the_reason(client, engineer, bad_case):
    client.force_login(engineer)
    response = client.post(
        reverse("construction:badcase_settings", args=[bad_case.id]),
        {"verifier_kind": "code", "tests": "assert (", "reference_text": ""},
        follow=True,
    )
    assert "the tests are not valid Python" in response.content.decode()
    assert BadCase.objects.get(id=bad_case.id).verifier is None


@pytest.mark.django_db
def test_the_synthesis_page_adds_seed_prompts(client, engineer):
    client.force_login(engineer)
    client.post(reverse("construction:seed_add"), {"task_type": "math", "text": "What is 15% of 80?"})
    html = client.get(reverse("construction:synthesis")).content.decode()
    assert "What is 15% of 80?" in html


@pytest.mark.django_db
def test_annotators_cannot_reach_the_engineers_pages(client, annotator, bad_case):
    client.force_login(annotator)
    assert client.get(reverse("construction:index")).status_code == 403
    assert client.get(reverse("construction:badcase", args=[bad_case.id])).status_code == 403


@pytest.mark.django_db
def test_the_review_page_of_a_constructed_answer_hands_the_constructed_text_to_the_edit_box(
    client, annotator, constructed
):
    item = ReviewItem.objects.get(kind="constructed_answer")
    review_item_claim_next(queue=item.queue, user=annotator)
    client.force_login(annotator)
    html = client.get(reverse("review:item", args=[item.id])).content.decode()
    assert 'id="constructed-answer"' in html and "<strong>Canberra</strong>" in html
    prefill = json.loads(html.split('id="construction-prefill" type="application/json">')[1].split("</script>")[0])
    assert prefill == {"message_id": constructed.message_id, "text": GOOD, "original": BAD}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_the_edit_box_starts_from_the_constructed_answer(page, log_in, annotator, script, live_server):
    from flywheel.construction.models import BadCase as Case
    from tests.flywheel.construction.conftest import mine, thumbs_down_conversation

    thumbs_down_conversation(answer=BAD)
    mine()
    script.teacher, script.scores = [GOOD, OK], {BAD: 1, GOOD: 9, OK: 5}
    run_construction(n=2)
    case = Case.objects.get()
    item = ReviewItem.objects.get(kind="constructed_answer")
    review_item_claim_next(queue=item.queue, user=annotator)
    log_in(page, annotator)
    page.goto(f"{live_server.url}{reverse('review:item', args=[item.id])}")
    page.wait_for_load_state("networkidle")
    assert page.input_value(f"#edit-{case.message_id}") == GOOD
    page.check("input[name=field-verdict][value=accept]")
    page.click("#submit-button")
    page.wait_for_load_state("networkidle")
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DONE
    assert page.problems == []
    from flywheel.construction.selectors import dataset_ready_sft_samples

    [sample] = dataset_ready_sft_samples()
    assert sample["messages"][-1]["content"] == GOOD and sample["lineage"]["edited"] is False


@pytest.mark.django_db
def test_tests_from_a_prompt_are_shown_as_a_proposal_and_run_only_after_an_engineer_accepts_them(client, engineer):
    from flywheel.accounts.models import AuditEvent
    from tests.flywheel.construction.conftest import mine, thumbs_down_conversation

    hostile = "import os\nassert os.system('id > /tmp/pwned') == 0  # <script>alert(1)</script>\n"
    thumbs_down_conversation(prompt=f"Fix it.\n```python\n{hostile}```", answer="No.")
    mine()
    case = BadCase.objects.get()
    client.force_login(engineer)
    html = client.get(reverse("construction:badcase", args=[case.id])).content.decode()
    assert 'id="proposed-tests"' in html and "&lt;script&gt;" in html and "<script>alert" not in html
    assert case.verifier is None
    client.post(reverse("construction:badcase_tests_accept", args=[case.id]))
    case.refresh_from_db()
    assert case.verifier == {"kind": "code", "tests": hostile.strip()}
    event = AuditEvent.objects.get(action="construction.badcase.tests_accepted")
    assert event.actor == engineer and event.target_id == str(case.id)


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["annotator", "ops"])
def test_only_engineers_can_accept_proposed_tests(client, make_user, role):
    from tests.flywheel.construction.conftest import mine, thumbs_down_conversation

    thumbs_down_conversation(prompt="Write f.\n```python\nassert f() == 1\n```", answer="No.")
    mine()
    case = BadCase.objects.get()
    client.force_login(make_user(role))
    assert client.post(reverse("construction:badcase_tests_accept", args=[case.id])).status_code == 403
    case.refresh_from_db()
    assert case.verifier is None


@pytest.mark.django_db
def test_the_constructed_answer_page_hands_the_script_the_scrubbed_original_never_the_raw_one(
    client, annotator, script
):
    from tests.flywheel.construction.conftest import mine, thumbs_down_conversation

    raw = "Mail me at jane.doe@example.com and I will tell you: Sydney."
    thumbs_down_conversation(answer=raw)
    mine()
    script.teacher, script.scores = [GOOD, OK], {raw: 1, GOOD: 9, OK: 5}
    run_construction(n=2)
    item = ReviewItem.objects.get(kind="constructed_answer")
    review_item_claim_next(queue=item.queue, user=annotator)
    client.force_login(annotator)
    html = client.get(reverse("review:item", args=[item.id])).content.decode()
    prefill = json.loads(html.split('id="construction-prefill" type="application/json">')[1].split("</script>")[0])
    assert "jane.doe@example.com" not in html and "jane.doe" not in prefill["original"]
    assert prefill["original"].endswith("Sydney.") and prefill["text"] == GOOD
