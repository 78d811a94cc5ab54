"""Builds that curate: IFD scores from the curation app filter a rebuild, and the manifest names
the scoring model and its version and says what each step removed."""

from __future__ import annotations

import pytest

from flywheel.datasets.services import BuildError


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from training.tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", template="chatml")


@pytest.mark.django_db
def test_a_rebuild_with_an_ifd_model_uses_its_scores_and_records_them_in_the_manifest(
    logged_world, build_version, tiny_model, settings
):
    from flywheel.curation.models import TurnScore
    from flywheel.curation.services import curation_ifd_run

    settings.FLYWHEEL_MODEL_ROOTS = [tiny_model.parent]
    first = build_version(name="first")
    curation_ifd_run(version_id=first.id, model=str(tiny_model), batch_size=4, max_len=512)
    scored = TurnScore.objects.filter(version=first).count()
    assert scored > 0
    curated = build_version(name="curated", ifd_model=str(tiny_model), ifd_mode="drop_above_1")
    again = build_version(name="again", ifd_model=str(tiny_model), ifd_mode="drop_above_1")
    ifd = curated.manifest["curation"]["ifd"]
    assert ifd["model"] == str(tiny_model.resolve()) and len(ifd["model_version"]) == 64
    above = TurnScore.objects.filter(version=first, value__gt=1).count()
    assert ifd["turns_unsupervised"] == above
    assert again.id == curated.id  # same settings, same content hash: the same version


@pytest.mark.django_db
def test_an_ifd_model_without_scores_is_a_clear_error(logged_world, build_version, tiny_model, settings):
    settings.FLYWHEEL_MODEL_ROOTS = [tiny_model.parent]
    with pytest.raises(BuildError, match="no IFD scores"):
        build_version(ifd_model=str(tiny_model))


@pytest.mark.django_db
def test_a_k_center_build_keeps_k_conversations_and_says_how_many_it_removed(logged_world, build_version):
    version = build_version(diversity="kcenter", diversity_k=3, eval_fraction=0)
    assert version.sft_count == 3
    assert (
        version.manifest["curation"]["diversity"]["removed"]
        == version.manifest["excluded"]["diversity_not_selected"]
        > 0
    )
