from pathlib import Path

import pytest

from flywheel.continuity.models import ContinuityModelVersion
from flywheel.continuity.public_samples import hh_rlhf_conversations
from flywheel.continuity.services import (
    ContinuityTrainingError,
    continuity_model_active,
    continuity_model_train,
)
from tests.factories import session_with_turns

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored_hh_sessions(shared_datasets):
    from flywheel.cleaning.services import cleaning_run_pending

    conversations = [
        c
        for c in hh_rlhf_conversations(shared_datasets / "hh-rlhf-harmless-base-test.jsonl.gz", limit=200)
        if sum(m["role"] == "user" for m in c.messages) >= 3
    ][:40]
    for conv in conversations:
        session_with_turns([(m["role"], m["content"]) for m in conv.messages], app="hh")
    cleaning_run_pending()
    return conversations


def test_a_version_trained_from_stored_sessions_is_saved_evaluated_and_active(stored_hh_sessions, settings):
    settings.FLYWHEEL_CONTINUITY_MIN_SESSIONS = 10
    row = continuity_model_train(seed=1)
    assert row.active and continuity_model_active().version == row.version
    assert (Path(row.path) / "model.pt").exists() and (Path(row.path) / "meta.json").exists()
    held_out = row.evaluation["stored-splice"]
    assert held_out["model"]["n"] > 0 and {"roc_auc", "precision_switch", "recall_switch"} <= set(held_out["model"])
    assert held_out["baseline"]["n"] == held_out["model"]["n"]
    assert row.training["switching"] > 0 and row.training["conversations"]["train"]["stored"] > 0


def test_training_with_too_few_sessions_says_what_is_missing(db):
    session_with_turns([("user", "a"), ("assistant", "b"), ("user", "c"), ("assistant", "d")])
    with pytest.raises(ContinuityTrainingError, match="multi-turn sessions"):
        continuity_model_train()
    assert not ContinuityModelVersion.objects.exists()


def test_without_a_trained_version_the_packaged_default_predicts(db):
    active = continuity_model_active()
    assert active.packaged and active.version and 0 < active.threshold < 1
