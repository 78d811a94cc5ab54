"""The comparison page, a regression opened, the run page's evaluations, and promotion: only after an
evaluation, refused on a regression unless ops override it (audited); and a model directory as a
candidate, answered by `python -m training generate` and scored offline."""

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

from flywheel.evaluation.models import Evaluation, RunPromotion
from tests.flywheel.evaluation.conftest import NEW, OLD, command_json

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(db):
    from flywheel.datasets.models import DatasetVersion
    from flywheel.runs.models import TrainingRun

    version = DatasetVersion.objects.create(content_hash="e" * 64, name="v")
    return TrainingRun.objects.create(dataset_version=version, base_model_path="/nowhere", status="succeeded")


@pytest.fixture
def evaluated(judge, items_file):
    eval_set_id = command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))["id"]
    judge.answers[NEW] = "Meh, no idea."  # the new model got worse than the old one
    judge.answers[OLD] = "A good and complete answer."
    command_json(
        "evaluate", "--eval-set", str(eval_set_id), "--candidate", f"endpoint:{NEW}", "--baseline", f"endpoint:{OLD}"
    )
    return Evaluation.objects.get()


def client_for(client, user):
    client.force_login(user)
    return client


def test_the_comparison_page_shows_intervals_win_rate_and_regressions(client, engineer, evaluated):
    page = client_for(client, engineer).get(reverse("evaluation:detail", args=[evaluated.id])).content.decode()
    assert "Win / tie / loss 0 / 0 / 3" in page
    assert "4.0 [4.0, 4.0]" in page and "8.0 [8.0, 8.0]" in page
    assert page.count('href="/evaluations/%d/items/' % evaluated.id) == 3  # noqa: UP031
    item = evaluated.eval_set.items.first()
    opened = client.get(reverse("evaluation:regression", args=[evaluated.id, item.id])).content.decode()
    assert "Meh, no idea." in opened and "A good and complete answer." in opened and "scripted" in opened


def test_annotators_may_not_see_evaluations(client, annotator, evaluated):
    assert client_for(client, annotator).get(reverse("evaluation:index")).status_code == 403


def test_a_run_without_an_evaluation_is_not_promoted(client, ops_user, run):
    client_for(client, ops_user).post(reverse("evaluation:promote", args=[run.id]))
    assert not RunPromotion.objects.exists()


def test_a_regressing_run_is_refused_unless_ops_override_and_the_override_is_audited(client, ops_user, run, evaluated):
    from flywheel.accounts.models import AuditEvent

    Evaluation.objects.filter(id=evaluated.id).update(run=run)
    client = client_for(client, ops_user)
    response = client.post(reverse("evaluation:promote", args=[run.id]), follow=True)
    assert "promotion refused" in response.content.decode() and not RunPromotion.objects.exists()
    client.post(reverse("evaluation:promote", args=[run.id]), {"override": "1", "note": "hotfix"})
    promotion = RunPromotion.objects.get(run=run)
    assert promotion.overridden and set(promotion.regressions) == {"math", "qa", "brand-new-type"}
    assert AuditEvent.objects.filter(action="run.promote.override", target_id=str(run.id)).exists()
    page = client.get(reverse("runs:detail", args=[run.id])).content.decode()
    assert 'id="run-evaluations"' in page and f"#{evaluated.id}" in page and "override of regressions" in page


def test_a_model_directory_candidate_is_answered_by_the_trainer_and_scored_offline(items_file, tmp_path):
    from training.contract import tiny_model_ensure

    model = tiny_model_ensure(Path(settings.VAR_DIR) / "models" / "tiny-test")
    eval_set_id = command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))["id"]
    summary = command_json("evaluate", "--eval-set", str(eval_set_id), "--candidate", f"model:{model}", "--offline")
    assert summary["label"].startswith("offline evaluator")
    assert set(summary["scores"]) == {"math", "qa"}  # the item without a reference has no metric
    assert summary["scores"]["math"].keys() == {"exact_match"} and summary["scores"]["qa"].keys() == {"word_f1"}
    assert summary["judge_calls"] == 0
    assert set(summary["reference_loss"]) == {"math", "qa"} and summary["reference_loss"]["qa"] > 0


def test_an_evaluation_started_from_the_page_is_a_gpu_job(
    client, engineer, judge, items_file, django_capture_on_commit_callbacks
):
    eval_set_id = command_json("eval_set_create", "--name", "smoke", "--file", str(items_file()))["id"]
    client.force_login(engineer)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("evaluation:index"),
            {
                "eval_set": eval_set_id,
                "candidate": f"endpoint:{NEW}",
                "baseline": f"endpoint:{OLD}",
                "judge_repeats": 1,
            },
        )
    evaluation = Evaluation.objects.get()
    # endpoints only: no gpu work, the first job is the judging one on the llm queue
    assert response.status_code == 302 and evaluation.job.queue == "llm" and evaluation.job.kind == "evaluation.judge"
    refused = client.post(
        reverse("evaluation:index"), {"eval_set": eval_set_id, "candidate": "run:404", "judge_repeats": 1}
    )
    assert "no training run" in refused.content.decode() and Evaluation.objects.count() == 1


def test_a_regression_opens_the_nearest_training_samples_of_the_runs_dataset_version(client, engineer, run, evaluated):
    from flywheel.datasets.models import DatasetSample

    for position, (prompt, task_type) in enumerate(
        [("What is 6 times 7 exactly?", "math"), ("Tell me about tulips in spring.", "chat")]
    ):
        DatasetSample.objects.create(
            version=run.dataset_version,
            position=position,
            split="train",
            kind="sft",
            sample_hash=str(position) * 64,
            task_type=task_type,
            source="test",
            record={"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "..."}]},
        )
    Evaluation.objects.filter(id=evaluated.id).update(run=run)
    math_item = evaluated.eval_set.items.get(task_type="math")
    client.force_login(engineer)
    page = client.get(reverse("evaluation:regression", args=[evaluated.id, math_item.id])).content.decode()
    nearest = page[page.index('id="nearest"') :]
    assert nearest.index("What is 6 times 7 exactly?") < nearest.index("Tell me about tulips in spring.")


def test_the_dashboard_shows_each_model_versions_offline_evaluation_beside_its_thumbs_up_rate(
    client, engineer, evaluated
):
    import datetime

    from flywheel.dashboard.models import DailyStats

    DailyStats.objects.create(day=datetime.date.today(), model_version=NEW, thumbs_up=3, thumbs_down=1)
    DailyStats.objects.create(day=datetime.date.today(), model_version="never-evaluated", thumbs_up=1)
    client.force_login(engineer)
    page = client.get(reverse("dashboard:index")).content.decode()
    table = page[page.index('id="model-versions"') :]
    assert "0.75" in table and f'href="/evaluations/{evaluated.id}/"' in table and "usability 4.0" in table
    assert "not evaluated" in table


def test_a_second_look_at_a_regression_embeds_nothing_the_version_is_embedded_once(
    client, engineer, run, evaluated, settings, tmp_path, monkeypatch
):
    from flywheel.datasets.models import DatasetSample
    from flywheel.evaluation import neighbours
    from flywheel.llm import embeddings

    settings.VAR_DIR = tmp_path
    for position, prompt in enumerate(["What is 6 times 7 exactly?", "Tell me about tulips in spring."]):
        DatasetSample.objects.create(
            version=run.dataset_version,
            position=position,
            split="train",
            kind="sft",
            sample_hash=str(position) * 64,
            task_type="math",
            source="test",
            record={"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "..."}]},
        )
    Evaluation.objects.filter(id=evaluated.id).update(run=run)
    embedded: list[int] = []
    real_embed_texts = embeddings.embed_texts

    def counting_embed_texts(texts, **options):  # the real embedder, counted
        embedded.append(len(texts))
        return real_embed_texts(texts, **options)

    monkeypatch.setattr(neighbours, "embed_texts", counting_embed_texts)  # the name the search calls
    math_item, qa_item = (evaluated.eval_set.items.get(task_type=t) for t in ("math", "qa"))
    client.force_login(engineer)

    def look(item):
        page = client.get(reverse("evaluation:regression", args=[evaluated.id, item.id])).content.decode()
        return page[page.index('id="nearest"') :]

    first = look(math_item)
    assert sorted(embedded) == [1, 2]  # the item's prompt, and the version's train split once
    embedded.clear()
    assert look(math_item) == first and embedded == []
    look(qa_item)
    assert embedded == [1]  # only the new item: the version's vectors are kept

    # A damaged file is computed again, not trusted.
    for stored in (tmp_path / "cache" / "embeddings").glob("version-*.npz"):
        stored.write_bytes(b"not an npz file")
    embedded.clear()
    assert look(math_item) == first and embedded == [2]
