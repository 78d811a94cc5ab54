"""K-Center-Greedy (MoDS's diversity stage), vectorised and exact.

Greedy 2-approximation of the k-center problem: repeatedly take the row farthest (L2) from every
centre chosen so far. Each step costs one matrix-vector product (the new centre against the rows
whose nearest distance it can still shrink), never an N x N matrix, so 100,000 x 384 rows fit in a
few hundred MB.

Why the bound: a row x whose nearest centre is a, at distance m = d(x, a), cannot come closer to a
new centre c when d(a, c) >= 2m (triangle inequality: d(x, c) >= d(a, c) - d(x, a) >= m). Such rows
are skipped; the centre-to-centre distances are one small product against the centres. The result
is the same as computing every distance, only cheaper once the centres cover the data.

Deterministic: no randomness, ties go to the lowest row index. Pure: no database, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

# Above this share of rows to recompute, one full product is cheaper than gathering the rows.
_GATHER_SHARE = 0.4
_CHUNK_ROWS = 8192


def k_center_greedy(X, k: int, *, start: int = 0, selected: Iterable[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Pick k new centres among the rows of X (N, d).

    `selected` are rows already chosen (earlier dataset versions): they count as centres from the
    start and are never picked again. With nothing selected, `start` is the first centre.
    Returns (indices (k,) int64 in the order picked, radii (k,) float64): radii[i] is the coverage
    radius after step i, the largest distance from any row to its nearest centre (selected ones
    included), so it never grows.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array of rows, not of shape {X.shape}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    n_rows = X.shape[0]
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be a non-negative integer, not {k!r}")
    chosen = _checked_selected(selected, n_rows)
    candidates = n_rows - len(chosen)
    if k > candidates:
        raise ValueError(f"k={k} is larger than the {candidates} candidate rows "
                         f"({n_rows} rows, {len(chosen)} already selected)")
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

    squared_norms = np.einsum("ij,ij->i", X, X)  # (N,)
    # nearest[i]: distance from row i to its nearest centre (-1 marks centres themselves, so they
    # are never picked again and never recomputed); owner[i]: which centre that is (a position in
    # `centres`).
    nearest = np.full(n_rows, np.inf, dtype=X.dtype)
    owner = np.zeros(n_rows, dtype=np.int64)
    centres: list[int] = []
    if chosen:
        centres = list(chosen)
        _assign_to_selected(X, squared_norms, np.asarray(centres), nearest, owner)
    else:
        if not (0 <= int(start) < n_rows):
            raise ValueError(f"start={start} is not a row of X ({n_rows} rows)")

    indices = np.empty(k, dtype=np.int64)
    radii = np.empty(k, dtype=np.float64)
    for step in range(k):
        if step == 0 and not chosen:
            centre = int(start)
        else:
            centre = int(np.argmax(nearest))
        indices[step] = centre
        _add_centre(X, squared_norms, centres, centre, nearest, owner)
        radii[step] = max(float(nearest.max()), 0.0)
    return indices, radii


def _checked_selected(selected: Iterable[int], n_rows: int) -> list[int]:
    chosen: list[int] = []
    seen = set()
    for row in selected:
        if isinstance(row, bool) or not isinstance(row, (int, np.integer)):
            raise ValueError(f"selected rows must be integers, not {row!r}")
        if not 0 <= int(row) < n_rows:
            raise ValueError(f"selected row {row} is not a row of X ({n_rows} rows)")
        if int(row) not in seen:
            seen.add(int(row))
            chosen.append(int(row))
    return chosen


def _distances(X, squared_norms, rows, centre) -> np.ndarray:
    """L2 distances from X[rows] (all rows when rows is None) to X[centre]: one product."""
    point = X[centre]
    if rows is None:
        squared = squared_norms - 2.0 * (X @ point) + squared_norms[centre]
    else:
        squared = squared_norms[rows] - 2.0 * (X[rows] @ point) + squared_norms[centre]
    # Cancellation can leave tiny negatives for (near-)duplicate rows.
    np.maximum(squared, 0.0, out=squared)
    return np.sqrt(squared, out=squared)


def _assign_to_selected(X, squared_norms, selected: np.ndarray, nearest, owner) -> None:
    """Nearest selected centre of every row, a block of rows at a time (no N x S matrix)."""
    centre_points = X[selected]  # (S, d)
    centre_norms = squared_norms[selected]
    for begin in range(0, X.shape[0], _CHUNK_ROWS):
        block = slice(begin, begin + _CHUNK_ROWS)
        squared = squared_norms[block, None] - 2.0 * (X[block] @ centre_points.T) + centre_norms[None, :]  # (b, S)
        best = np.argmin(squared, axis=1)
        owner[block] = best
        nearest[block] = np.sqrt(np.maximum(squared[np.arange(len(best)), best], 0.0))
    nearest[selected] = -1.0
    owner[selected] = np.arange(len(selected))


def _add_centre(X, squared_norms, centres: list[int], centre: int, nearest, owner) -> None:
    position = len(centres)
    if centres:
        # d(owner centre, new centre) for every existing centre: a small (C, d) product.
        to_new = _distances(X, squared_norms, np.asarray(centres), centre)  # (C,)
        # Rows that the new centre may bring closer; a small margin keeps rounding from skipping one.
        reachable = to_new[owner] < 2.0 * nearest * (1 + 1e-5) + 1e-6
        share = np.count_nonzero(reachable) / len(nearest)
    else:
        reachable, share = None, 1.0
    if share == 0:
        pass
    elif share > _GATHER_SHARE:
        distance = _distances(X, squared_norms, None, centre)
        closer = distance < nearest
        nearest[closer] = distance[closer]
        owner[closer] = position
    else:
        rows = np.flatnonzero(reachable)
        distance = _distances(X, squared_norms, rows, centre)
        closer = distance < nearest[rows]
        nearest[rows[closer]] = distance[closer]
        owner[rows[closer]] = position
    nearest[centre] = -1.0
    owner[centre] = position
    centres.append(centre)
