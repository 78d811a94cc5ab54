"""K-Center-Greedy: the vectorised, pruned core against a brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from flywheel.curation.kcenter import k_center_greedy


def brute_force_k_center(X, k, *, start=0, selected=()):
    """The textbook loop over the full distance matrix."""
    distances = cdist(X, X)
    centres = list(selected)
    picked, radii = [], []
    for step in range(k):
        if step == 0 and not centres:
            centre = start
        else:
            nearest = distances[:, centres].min(axis=1)
            nearest[centres] = -1
            centre = int(np.argmax(nearest))
        centres.append(centre)
        picked.append(centre)
        radii.append(distances[:, centres].min(axis=1).max())
    return np.asarray(picked), np.asarray(radii)


def clustered_rows(n=300, d=16, seed=0):
    rng = np.random.default_rng(seed)
    hubs = rng.standard_normal((12, d)) * 4
    return hubs[rng.integers(0, 12, n)] + rng.standard_normal((n, d))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_picks_the_same_centres_and_radii_as_the_brute_force_loop(seed):
    X = clustered_rows(seed=seed)
    indices, radii = k_center_greedy(X, 40, start=7)
    expected_indices, expected_radii = brute_force_k_center(X, 40, start=7)
    assert indices.tolist() == expected_indices.tolist()
    np.testing.assert_allclose(radii, expected_radii, rtol=1e-6)  # float32 rows


def test_float32_rows_give_the_same_centres_as_float64():
    X = clustered_rows(seed=3)
    assert k_center_greedy(X.astype(np.float32), 30)[0].tolist() == k_center_greedy(X, 30)[0].tolist()


def test_starting_from_selected_rows_continues_where_they_leave_off():
    X = clustered_rows(seed=4)
    selected = [3, 50, 121]
    indices, radii = k_center_greedy(X, 25, selected=selected)
    expected_indices, expected_radii = brute_force_k_center(X, 25, selected=selected)
    assert indices.tolist() == expected_indices.tolist()
    assert not set(indices.tolist()) & set(selected)
    np.testing.assert_allclose(radii, expected_radii, rtol=1e-6)  # float32 rows


def test_continuing_a_selection_equals_one_longer_run():
    X = clustered_rows(seed=5)
    first, _ = k_center_greedy(X, 10, start=0)
    rest, _ = k_center_greedy(X, 15, selected=first.tolist())
    whole, _ = k_center_greedy(X, 25, start=0)
    assert first.tolist() + rest.tolist() == whole.tolist()


def test_radii_never_grow_and_reach_zero_when_every_row_is_a_centre():
    X = clustered_rows(n=40, seed=6)
    indices, radii = k_center_greedy(X, 40)
    assert sorted(indices.tolist()) == list(range(40))
    assert np.all(np.diff(radii) <= 1e-12)
    assert radii[-1] == 0


def test_duplicate_rows_are_never_picked_twice():
    X = np.repeat(clustered_rows(n=5, seed=7), 3, axis=0)
    indices, radii = k_center_greedy(X, 15)
    assert len(set(indices.tolist())) == 15
    assert radii[4] == pytest.approx(0, abs=1e-6)


def test_is_deterministic():
    X = clustered_rows(seed=8)
    assert k_center_greedy(X, 20)[0].tolist() == k_center_greedy(X, 20)[0].tolist()


def test_k_larger_than_the_candidates_is_a_clear_error():
    X = clustered_rows(n=10)
    with pytest.raises(ValueError, match="k=9 is larger than the 8 candidate rows"):
        k_center_greedy(X, 9, selected=[0, 1])


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"k": -1}, "non-negative"),
        ({"k": 2, "start": 10}, "start=10"),
        ({"k": 2, "selected": [99]}, "selected row 99"),
    ],
)
def test_bad_arguments_are_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        k_center_greedy(clustered_rows(n=10), **arguments)


def test_k_zero_picks_nothing():
    indices, radii = k_center_greedy(clustered_rows(n=10), 0)
    assert indices.size == 0 and radii.size == 0


@pytest.mark.parametrize("pool_rows", [4, 16, 100])
def test_a_small_pool_refilled_many_times_still_gives_the_brute_force_centres(monkeypatch, pool_rows):
    monkeypatch.setattr("flywheel.curation.kcenter.POOL_ROWS", pool_rows)
    X = clustered_rows(seed=9)
    indices, radii = k_center_greedy(X, 60, start=3)
    expected_indices, expected_radii = brute_force_k_center(X, 60, start=3)
    assert indices.tolist() == expected_indices.tolist()
    np.testing.assert_allclose(radii, expected_radii, rtol=1e-6)


def test_unit_vectors_like_sentence_embeddings_give_the_brute_force_centres():
    X = clustered_rows(n=600, d=48, seed=10)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    indices, _ = k_center_greedy(X, 80, selected=[5, 6])
    assert indices.tolist() == brute_force_k_center(X, 80, selected=[5, 6])[0].tolist()
