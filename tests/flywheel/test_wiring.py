"""What every app registers in its AppConfig.ready(), listed in full: a change in the wiring shows
up here as a diff. Nothing is registered twice, and nothing registers as a side effect of
importing a module."""

from __future__ import annotations

import ast
from pathlib import Path
from types import FunctionType

import pytest

import flywheel.urls  # noqa: F401  (the pages' modules too: a registry only they import is listed as well)
from flywheel.accounts.roles import Role
from flywheel.ingest.facets import SessionFacet
from flywheel.ingest.panels import _PANELS, SessionPanel
from flywheel.jobs.registry import HANDLERS, JobHandler
from flywheel.pipeline.registry import Stage, stages_in_order
from flywheel.registry import Registry, registries

REPO = Path(__file__).resolve().parents[2]
ENGINEERS = {Role.ENGINEER, Role.ADMIN}

# registry -> {name: the function or object registered under it}
EXPECTED = {
    "job handler": {
        # Installed by the test settings only (tests/support/selftest), never in production.
        "tests.selftest": "tests.support.selftest.handlers.selftest",
        "ingest.import_file": "flywheel.ingest.tasks.import_file",
        "pipeline.new_data": "flywheel.pipeline.tasks.new_data",
        "cleaning.rerun": "flywheel.cleaning.tasks.rerun",
        "labeling.label_batch": "flywheel.labeling.tasks.label_batch",
        "labeling.run_pending": "flywheel.labeling.tasks.run_pending",
        "continuity.train": "flywheel.continuity.tasks.train",
        "continuity.predict": "flywheel.continuity.tasks.predict",
        "review.bulk_action": "flywheel.review.tasks.bulk_action",
        "review.finalize": "flywheel.review.tasks.finalize",
        "construction.run": "flywheel.construction.tasks.construct",
        "construction.synthesize": "flywheel.construction.tasks.synthesize",
        "datasets.build": "flywheel.datasets.tasks.build_dataset_version",
        "curation.ifd": "flywheel.curation.tasks.score_ifd",
        "curation.reward": "flywheel.curation.tasks.score_reward",
        "curation.necessity": "flywheel.curation.tasks.score_necessity",
        "runs.train": "flywheel.runs.tasks.train",
        "evaluation.generate": "flywheel.evaluation.tasks.evaluation_generate_answers",
        "evaluation.judge": "flywheel.evaluation.tasks.evaluation_judge_answers",
        "dashboard.rollup": "flywheel.dashboard.tasks.rollup",
    },
    "pipeline stage": {
        "cleaning": "flywheel.cleaning.tasks.clean_new_data",
        "labeling": "flywheel.labeling.tasks.label_new_data",
        "continuity": "flywheel.continuity.tasks.continuity_new_data",
        "badcases": "flywheel.construction.tasks.mine_new_data",
        "review": "flywheel.review.tasks.route_new_data",
    },
    "routing rule": {
        "labels-to-review": "flywheel.labeling.routing.labels_to_review",
        "uncertain-continuity": "flywheel.continuity.routing.uncertain_continuity_to_review",
        "thumbs-down-to-badcase": "flywheel.construction.routing.thumbs_down_to_badcase",
    },
    "review kind": {
        "label": "flywheel.labeling.kinds.LabelReviewKind",
        "continuity": "flywheel.continuity.kinds.ContinuityReviewKind",
        "preference_pair": "flywheel.review.builtin_kinds.PreferencePairKind",
        "adjudication": "flywheel.review.builtin_kinds.AdjudicationKind",
        "badcase_answer": "flywheel.construction.kinds.BadcaseAnswerKind",
        "constructed_answer": "flywheel.construction.kinds.ConstructedAnswerKind",
        "constructed_pair": "flywheel.construction.kinds.ConstructedPairKind",
        "synthetic_sample": "flywheel.construction.kinds.SyntheticSampleKind",
        "eval_blind_ab": "flywheel.evaluation.kinds.BlindABKind",
    },
    "turn badges source": {},
    "sample source": {
        "sessions": "flywheel.datasets.builtin_sources.SessionSource",
        "ingest_pairs": "flywheel.datasets.builtin_sources.IngestPairSource",
        "constructed_sft": "flywheel.construction.dataset_sources.ConstructedAnswerSource",
        "constructed_pairs": "flywheel.construction.dataset_sources.ConstructedPairSource",
        "synthetic": "flywheel.construction.dataset_sources.SyntheticSource",
    },
    "session labels source": {"labeling": "flywheel.labeling.selectors.labels_for_sessions"},
    "topic switches source": {"continuity": "flywheel.continuity.selectors.topic_switches_for_sessions"},
    "bad-case source": {
        "thumbs_down": "flywheel.construction.mining.thumbs_down_source",
        "cleaning": "flywheel.construction.mining.cleaning_flag_source",
        "labels": "flywheel.construction.mining.label_source",
        "continuity": "flywheel.construction.mining.continuity_source",
    },
    "session panel": {
        "Cleaning": "flywheel.cleaning.selectors.session_cleaning_panel",
        "Labels": "flywheel.labeling.selectors.session_labels_panel",
        "Topic continuity": "flywheel.continuity.selectors.session_continuity_panel",
        "Bad cases": "flywheel.construction.selectors.session_badcases_panel",
        "Review": "flywheel.review.apps.ReviewConfig.ready.<locals>.<lambda>",
        "Datasets": "flywheel.datasets.selectors.dataset_session_panel",
        "Evaluation sets": "flywheel.evaluation.drafts.session_eval_panel",
    },
    "session access grant": {"review": "flywheel.review.apps.ReviewConfig.ready.<locals>.<lambda>"},
    "session text shield": {"review": "flywheel.ingest.panels.TextShield"},
    "sessions list facet": {
        "cleaning": "flywheel.cleaning.facets.sessions_by_cleaning",
        "task_type": "flywheel.labeling.facets.sessions_by_task_type",
        "quality": "flywheel.labeling.facets.sessions_by_quality",
    },
}


def where(entry) -> str:
    """The dotted name of what was registered: a function (or the one a record wraps), or the
    class of an object (a review kind, a sample source)."""
    if isinstance(entry, (JobHandler, Stage)):
        entry = entry.func
    elif isinstance(entry, SessionPanel):
        entry = entry.context
    elif isinstance(entry, SessionFacet):
        entry = entry.filter
    if not isinstance(entry, FunctionType):
        entry = type(entry)
    return f"{entry.__module__}.{entry.__qualname__}"


def test_every_registry_holds_exactly_what_the_apps_register():
    found = {registry.what: {name: where(entry) for name, entry in registry.items()} for registry in registries()}
    assert found == EXPECTED


def test_stages_run_in_the_order_new_data_flows():
    assert [(stage.order, stage.name) for stage in stages_in_order()] == [
        (10, "cleaning"),
        (20, "labeling"),
        (30, "continuity"),
        (40, "badcases"),
        (50, "review"),
    ]


def test_session_panels_appear_in_their_order():
    assert [panel.title for panel in sorted(_PANELS.values(), key=lambda p: p.order)] == [
        "Cleaning",
        "Labels",
        "Topic continuity",
        "Bad cases",
        "Review",
        "Datasets",
        "Evaluation sets",
    ]


def test_job_kinds_keep_their_queues_attempts_and_roles():
    table = {kind: (h.queue, h.max_attempts, set(h.roles)) for kind, h in HANDLERS.items()}
    assert table == {
        "tests.selftest": ("default", 3, ENGINEERS),
        "ingest.import_file": ("default", 5, ENGINEERS),
        "pipeline.new_data": ("default", 5, ENGINEERS),
        "cleaning.rerun": ("default", 5, ENGINEERS),
        "labeling.label_batch": ("llm", 5, ENGINEERS),
        "labeling.run_pending": ("default", 5, ENGINEERS),
        "continuity.train": ("default", 2, ENGINEERS),
        "continuity.predict": ("default", 5, ENGINEERS),
        "review.bulk_action": ("default", 5, ENGINEERS),
        # Cancelling one would leave an item undecided: admins only.
        "review.finalize": ("default", 20, frozenset({Role.ADMIN})),
        "construction.run": ("llm", 5, ENGINEERS),
        "construction.synthesize": ("llm", 5, ENGINEERS),
        "datasets.build": ("default", 3, ENGINEERS | {Role.OPS}),
        "curation.ifd": ("gpu", 3, ENGINEERS | {Role.OPS}),
        "curation.reward": ("gpu", 3, ENGINEERS | {Role.OPS}),
        "curation.necessity": ("gpu", 3, ENGINEERS | {Role.OPS}),
        "runs.train": ("gpu", 5, {Role.OPS, Role.ADMIN}),
        "evaluation.generate": ("gpu", 20, ENGINEERS | {Role.OPS}),
        "evaluation.judge": ("llm", 20, ENGINEERS | {Role.OPS}),
        "dashboard.rollup": ("default", 5, ENGINEERS),
    }


@pytest.mark.parametrize("registry", [r for r in registries() if r], ids=lambda registry: registry.what)
def test_a_name_registered_twice_is_refused_and_the_first_stays(registry):
    before = dict(registry)
    name = next(iter(registry))
    with pytest.raises(ValueError, match="registered twice"):
        registry.add(name, object())
    assert dict(registry) == before


def test_a_copy_for_a_test_leaves_the_registry_alone():
    original = Registry("thing for a test", listed=False)
    original.add("a", 1)
    duplicate = original.copy()
    duplicate.add("b", 2)
    assert list(original) == ["a"] and list(duplicate) == ["a", "b"]
    assert duplicate not in registries()


def module_level_registrations(path: Path) -> list[str]:
    """Calls to a `*_register` function (or `.add` on a registry) in a module's top-level code."""
    found = []
    for statement in ast.parse(path.read_text(encoding="utf-8")).body:
        for node in ast.walk(statement):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                break  # code that runs when called, not on import
            if isinstance(node, ast.Call):
                name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
                if name.endswith("_register") or name == "add":
                    found.append(f"{path.relative_to(REPO)}:{node.lineno} {name}")
    return found


def test_no_module_registers_anything_when_it_is_imported():
    """Only the apps' ready() methods register; importing a module (as Celery's autodiscovery
    does) has no such side effect."""
    offenders = [hit for path in sorted((REPO / "flywheel").rglob("*.py")) for hit in module_level_registrations(path)]
    assert offenders == []


def test_no_app_looks_another_up_by_name():
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "flywheel").rglob("*.py"))
        if "import_module(" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
