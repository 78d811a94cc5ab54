"""Training strategies over dataset versions: the stages of multi-task, sequential, mixed
sequential and DMT plans, the DMT share k per specialist task type, the plan shown before launch,
the run directory a plan becomes, and the run page's stages, boundaries and health alerts."""

from __future__ import annotations

import hashlib
import json

import pytest

from flywheel.datasets.builder import BuiltSample
from flywheel.runs.charts import run_chart
from flywheel.runs.execution import expected_total_steps, run_directory_prepare
from flywheel.runs.metrics_tail import MetricsTail
from flywheel.runs.models import RunMetric, TrainingRun
from flywheel.runs.plans import DMT_SHARES, PlanError, dmt_share, plan_check, plan_stages, stage_samples
from flywheel.runs.selectors import run_plan
from flywheel.runs.services import training_run_create
from tests.flywheel.runs.conftest import SMALL_RUN


def pool(counts: dict[str, int]) -> list[BuiltSample]:
    samples = []
    for task_type, count in counts.items():
        for index in range(count):
            sample_hash = hashlib.sha256(f"{task_type}:{index}".encode()).hexdigest()
            samples.append(
                BuiltSample(kind="sft", record={}, sample_hash=sample_hash, task_type=task_type, source="test")
            )
    return samples


POOL = {"code": 64, "math": 40, "chat": 30, "qa": 20}


def counts(samples) -> dict[str, int]:
    found: dict[str, int] = {}
    for sample in samples:
        found[sample.task_type] = found.get(sample.task_type, 0) + 1
    return found


# --- the strategies (pure) ----------------------------------------------------------------


@pytest.mark.parametrize("k", DMT_SHARES)
def test_a_dmt_plans_second_stage_holds_the_share_k_of_each_specialist_task_type(k):
    samples = pool(POOL)
    specialists, general = plan_stages("dmt", ["code", "math"], k)

    first, second = (
        stage_samples(samples, specialists, ["code", "math"]),
        stage_samples(samples, general, ["code", "math"]),
    )

    share = dmt_share(k)
    assert counts(first) == {"code": 64, "math": 40}
    assert counts(second) == {"chat": 30, "qa": 20, "code": round(64 * share), "math": round(40 * share)}
    assert {s.sample_hash for s in second if s.task_type in ("code", "math")} <= {s.sample_hash for s in first}


def test_the_dmt_share_is_a_seeded_choice_the_same_every_time():
    _, general = plan_stages("dmt", ["code"], "1/4")

    once = [s.sample_hash for s in stage_samples(pool(POOL), general, ["code"], seed=3)]
    again = [s.sample_hash for s in stage_samples(list(reversed(pool(POOL))), general, ["code"], seed=3)]

    assert sorted(once) == sorted(again)
    assert sorted(once) != sorted(s.sample_hash for s in stage_samples(pool(POOL), general, ["code"], seed=4))


def test_a_sequential_plan_trains_each_specialist_type_in_the_order_given_then_the_general_set():
    stages = plan_stages("sequential", ["math", "code"])

    assert [stage.name for stage in stages] == ["math", "code", "general"]
    assert [counts(stage_samples(pool(POOL), stage, ["math", "code"])) for stage in stages] == [
        {"math": 40},
        {"code": 64},
        {"chat": 30, "qa": 20},
    ]


def test_a_mixed_sequential_plan_mixes_the_specialist_types_then_trains_the_general_set():
    stages = plan_stages("mixed_sequential", ["math", "code"])

    assert [stage.name for stage in stages] == ["specialists", "general"]
    assert [counts(stage_samples(pool(POOL), stage, ["math", "code"])) for stage in stages] == [
        {"code": 64, "math": 40},
        {"chat": 30, "qa": 20},
    ]


def test_a_multi_task_plan_is_one_stage_with_everything():
    (stage,) = plan_stages("multi_task", [])

    assert counts(stage_samples(pool(POOL), stage, [])) == POOL


def test_stage_names_from_task_types_are_safe_directory_names():
    stages = plan_stages("sequential", ["代码 / code", "math"])

    assert [stage.name for stage in stages] == ["code", "math", "general"]


@pytest.mark.parametrize(
    "strategy, specialist, message",
    [
        ("dmt", [], "needs at least one specialist"),
        ("dmt", ["poetry"], "no training conversation of task type 'poetry'"),
        ("mixed_sequential", ["code", "math", "chat", "qa"], "the general set is empty"),
        ("sequential", ["code", "code"], "listed twice"),
    ],
)
def test_a_plan_that_cannot_train_is_refused_with_the_reason(strategy, specialist, message):
    with pytest.raises(PlanError, match=message):
        plan_check(pool(POOL), plan_stages(strategy, specialist), specialist)


def test_a_dmt_share_outside_the_offered_ones_is_refused():
    with pytest.raises(PlanError, match="must be one of 1, 1/2"):
        plan_stages("dmt", ["code"], "1/3")


# --- plans over dataset versions ------------------------------------------------------------


@pytest.fixture
def synthetic_version(db):
    """A version with `train` SFT conversations per task type (and one eval conversation each)."""
    from flywheel.datasets.models import DatasetSample, DatasetVersion

    def make(name: str, train: dict[str, int]) -> DatasetVersion:
        version = DatasetVersion.objects.create(content_hash=hashlib.sha256(name.encode()).hexdigest(), name=name)
        position = 0
        for split, per_type in (("train", train), ("eval", {task_type: 1 for task_type in train})):
            for task_type, count in per_type.items():
                for index in range(count):
                    record = {
                        "messages": [
                            {"role": "user", "content": f"{task_type} question {index} ({split})"},
                            {"role": "assistant", "content": f"The {task_type} answer {index}.", "train": True},
                        ]
                    }
                    DatasetSample.objects.create(
                        version=version,
                        position=position,
                        split=split,
                        kind="sft",
                        task_type=task_type,
                        source="test",
                        sample_hash=hashlib.sha256(json.dumps([name, split, task_type, index]).encode()).hexdigest(),
                        record=record,
                    )
                    position += 1
        version.train_count = sum(train.values())
        version.eval_count = len(train)
        version.sft_count = version.sample_count = version.train_count + version.eval_count
        version.save()
        return version

    return make


@pytest.fixture
def specialist_and_general(synthetic_version):
    return synthetic_version("specialist", {"code": 16, "math": 8}), synthetic_version("general", {"chat": 6})


def test_the_plan_counts_each_stages_conversations_by_task_type(specialist_and_general):
    specialist, general = specialist_and_general

    plan = run_plan(
        strategy="dmt", version_ids=[general.id, specialist.id], specialist_task_types=["code", "math"], dmt_k="1/4"
    )

    assert [(stage["name"], stage["conversations"], stage["task_types"]) for stage in plan["stages"]] == [
        ("specialists", 24, {"code": 16, "math": 8}),
        ("general", 12, {"chat": 6, "code": 4, "math": 2}),
    ]
    assert plan["versions"] == [general.id, specialist.id] and plan["dmt_k"] == "1/4"


def test_multi_task_on_one_version_needs_no_plan(specialist_and_general):
    assert run_plan(strategy="multi_task", version_ids=[specialist_and_general[0].id], specialist_task_types=[]) is None


def test_a_dmt_run_directory_has_a_file_per_stage_and_a_config_the_trainer_trains(
    specialist_and_general, tiny_model, tmp_path
):
    from training.cli import main
    from training.config import build_config, config_from_file

    specialist, general = specialist_and_general
    run = training_run_create(
        dataset_version_id=general.id,
        base_model_path=str(tiny_model),
        hyperparameters={**SMALL_RUN, "max_steps": 1, "save_every": 0},
        strategy="dmt",
        other_version_ids=[specialist.id],
        specialist_task_types=["code", "math"],
        dmt_k="1/2",
    )
    marker = run_directory_prepare(run, tmp_path, processes=1)

    config = build_config(*config_from_file(tmp_path / "config.json"))
    assert [(stage["name"], stage["data"].rsplit("/", 1)[-1]) for stage in config.stages] == [
        ("specialists", "train-1-specialists.jsonl"),
        ("general", "train-2-general.jsonl"),
    ]
    second = [json.loads(line)["task_type"] for line in (tmp_path / "train-2-general.jsonl").read_text().splitlines()]
    assert {task_type: second.count(task_type) for task_type in set(second)} == {"chat": 6, "code": 8, "math": 4}
    assert marker["eval"] == 3 and config.eval_data.endswith("eval.jsonl")
    assert expected_total_steps(run, [stage["train"] for stage in marker["stages"]], 1) == 2

    assert main(["sft", "--config", str(tmp_path / "config.json")]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    assert [(stage["name"], stage["status"], stage["steps"]) for stage in result["stages"]] == [
        ("specialists", "completed", 1),
        ("general", "completed", 1),
    ]


# --- the launch form ------------------------------------------------------------------------


@pytest.fixture
def ops_client(client, ops_user):
    client.force_login(ops_user)
    return client


def dmt_form(general, specialist, tiny_model, **extra):
    from flywheel.runs.hyperparameters import defaults

    return {
        "dataset_version": general.id,
        "other_versions": [specialist.id],
        "strategy": "dmt",
        "specialist_task_types": "code, math",
        "dmt_k": "1/4",
        "base_model_path": str(tiny_model),
        "distributed": "auto",
        **{key: value for key, value in defaults().items() if value is not None},
        "packing": "",
        "gradient_checkpointing": "",
        "stop_on_alert": "",
        **extra,
    }


def test_the_form_offers_the_four_strategies_and_the_dmt_shares(specialist_and_general, ops_client):
    page = ops_client.get("/runs/new/").content.decode()

    for text in ("Multi-task", "Sequential", "Mixed sequential", "DMT", "1/32", "Specialist task types"):
        assert text in page, text


def test_show_the_plan_lists_each_stage_before_anything_is_launched(specialist_and_general, tiny_model, ops_client):
    specialist, general = specialist_and_general

    page = ops_client.post("/runs/new/", {**dmt_form(general, specialist, tiny_model), "preview": "1"}).content.decode()

    assert 'id="plan-stages"' in page and 'data-stage="specialists"' in page and 'data-stage="general"' in page
    assert "1/4 of each of code, math" in page
    assert not TrainingRun.objects.exists()


def test_a_plan_is_launched_only_after_it_was_shown(specialist_and_general, tiny_model, ops_client):
    specialist, general = specialist_and_general
    form = dmt_form(general, specialist, tiny_model)

    first = ops_client.post("/runs/new/", form)
    assert first.status_code == 200 and "check its stages, then launch" in first.content.decode()
    assert not TrainingRun.objects.exists()

    key = run_plan(
        strategy="dmt", version_ids=[general.id, specialist.id], specialist_task_types=["code", "math"], dmt_k="1/4"
    )["key"]
    second = ops_client.post("/runs/new/", {**form, "plan_key": key})
    run = TrainingRun.objects.get()
    assert second.status_code == 302 and second.url == f"/runs/{run.id}/"
    assert run.plan["strategy"] == "dmt" and [stage["name"] for stage in run.plan["stages"]] == [
        "specialists",
        "general",
    ]


def test_a_plan_the_pool_cannot_fill_is_refused_on_the_form(specialist_and_general, tiny_model, ops_client):
    specialist, general = specialist_and_general

    page = ops_client.post(
        "/runs/new/", dmt_form(general, specialist, tiny_model, specialist_task_types="poetry")
    ).content.decode()

    assert "no training conversation of task type" in page and not TrainingRun.objects.exists()


# --- the run page: stages, boundaries, alerts -----------------------------------------------


def staged_metrics(run_dir):
    lines = []
    for step, stage in enumerate(["specialists"] * 3 + ["general"] * 3, start=1):
        lines.append(
            {
                "kind": "train",
                "step": step,
                "loss": 3.0 - 0.1 * step,
                "lr": 1e-3,
                "tokens_per_s": 10.0,
                "channels": {"code": 3.0, "chat": 3.2},
                "stage": stage,
                "stage_step": (step - 1) % 3 + 1,
            }
        )
    lines.insert(
        2,
        {
            "kind": "alert",
            "step": 2,
            "stage": "specialists",
            "alert": "grad_norm_spike",
            "message": "the gradient norm 40 is over 10x the median",
        },
    )
    lines.append(
        {"kind": "alert", "step": 6, "stage": "general", "alert": "rising_loss", "message": "the loss has risen 9%"}
    )
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.fixture
def staged_run(specialist_and_general, tiny_model, tmp_path):
    specialist, general = specialist_and_general
    run = training_run_create(
        dataset_version_id=general.id,
        base_model_path=str(tiny_model),
        hyperparameters=SMALL_RUN,
        strategy="mixed_sequential",
        other_version_ids=[specialist.id],
        specialist_task_types=["code", "math"],
    )
    staged_metrics(tmp_path)
    tail = MetricsTail(run=run, run_dir=tmp_path)
    tail.read()
    TrainingRun.objects.filter(id=run.id).update(**tail.run_fields())
    run.refresh_from_db()
    return run


def test_the_loss_chart_marks_where_each_stage_begins(staged_run):
    chart = run_chart(run=staged_run, name="loss")

    assert chart["data"]["labels"] == [1, 2, 3, 4, 5, 6]
    assert chart["data"]["stageBoundaries"] == [{"step": 4, "stage": "general"}]
    assert (
        list(RunMetric.objects.filter(run=staged_run).order_by("step").values_list("stage", flat=True))
        == ["specialists"] * 3 + ["general"] * 3
    )


def test_health_alerts_are_kept_on_the_run_and_shown_on_its_page(staged_run, ops_client):
    page = ops_client.get(f"/runs/{staged_run.id}/").content.decode()

    assert [alert["alert"] for alert in staged_run.alerts] == ["grad_norm_spike", "rising_loss"]
    assert 'id="run-alerts"' in page and "grad_norm_spike" in page and "the loss has risen 9%" in page
    assert 'id="run-plan"' in page and "across stages" in page


def test_alerts_of_steps_trained_again_after_a_resume_are_dropped(staged_run, tmp_path):
    with open(tmp_path / "metrics.jsonl", "a") as metrics:
        metrics.write(json.dumps({"kind": "resumed", "step": 4}) + "\n")
    tail = MetricsTail(run=staged_run, run_dir=tmp_path)
    tail.read()

    assert [alert["alert"] for alert in tail.run_fields()["alerts"]] == ["grad_norm_spike"]


@pytest.mark.browser
def test_the_run_page_draws_a_line_where_each_stage_begins_and_lists_the_alerts(staged_run, page, log_in, ops_user):
    TrainingRun.objects.filter(id=staged_run.id).update(status="completed")
    log_in(page, ops_user)

    page.goto(f"/runs/{staged_run.id}/")

    page.wait_for_selector("#chart-loss[data-stage-boundaries='1']", timeout=30_000)
    assert page.locator("#chart-lr").get_attribute("data-stage-boundaries") == "1"
    assert page.locator("#run-alerts li").count() == 2
    assert page.locator("#plan-stages tbody tr").count() == 2
    assert page.problems == []


class QuietJob:
    """The job context the execution service reports to (no job row, never cancelled)."""

    def progress(self, done, total=None, note=""):
        pass


@pytest.fixture
def overconfident_model(tiny_model):
    """The tiny model with its output matrix scaled up: its first loss is far above a uniform
    guess, as when labels are misaligned with the logits."""
    import shutil

    from safetensors.torch import load_file, save_file

    target = tiny_model.parent / "overconfident-test"
    if not (target / "config.json").is_file():
        shutil.copytree(tiny_model, target, dirs_exist_ok=True)
        weights = load_file(target / "model.safetensors")
        weights["lm_head.weight"] = weights["lm_head.weight"] * 300
        save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    return target


def test_a_run_stopped_by_a_health_alert_fails_with_the_alert_as_its_reason(
    small_version, overconfident_model, settings, tmp_path
):
    from flywheel.jobs.registry import PermanentJobError
    from flywheel.runs.execution import training_run_execute

    settings.FLYWHEEL_RUNS_DIR = str(tmp_path)
    settings.FLYWHEEL_TRAIN_POLL_S = 0.2
    run = training_run_create(
        dataset_version_id=small_version.id,
        base_model_path=str(overconfident_model),
        hyperparameters={**SMALL_RUN, "stop_on_alert": True},
    )

    with pytest.raises(PermanentJobError, match="stopped by a health alert"):
        training_run_execute(run_id=run.id, ctx=QuietJob())

    run.refresh_from_db()
    assert run.status == "failed" and run.error.startswith("stopped by a health alert: the first loss")
    assert [alert["alert"] for alert in run.alerts] == ["first_loss_high"] and run.result["status"] == "stopped"
