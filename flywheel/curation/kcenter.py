"""K-Center-Greedy (MoDS's diversity stage), vectorised and exact.

Greedy 2-approximation of the k-center problem: repeatedly take the row farthest (L2) from every
centre chosen so far. Never an N x N matrix: distances are products of a block of rows with the
new centres (a matrix-vector product when one centre is new), so 100,000 x 384 rows fit in a few
hundred MB.

Why it is lazy: a row's distance to its nearest centre only shrinks as centres are added, so a
stale value is an upper bound. Each step refreshes only the rows whose bound is among the largest
(against the centres added since they were last refreshed) until the best refreshed distance is
above every stale bound left: that row is the true farthest one. Early on, that means most rows
against the newest centre; once the centres cover the data, a few hundred rows. The result is the
same as computing every distance every step (tested against a brute-force loop).

Deterministic: no randomness, ties go to the lowest row index. Pure: no database, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

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
        raise ValueError(
            f"k={k} is larger than the {candidates} candidate rows ({n_rows} rows, {len(chosen)} already selected)"
        )
    if not np.isfinite(X).all():
        raise ValueError("X holds NaN or infinite values")
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)

    squared_norms = np.einsum("ij,ij->i", X, X)  # (N,)
    # bound[i]: an upper bound of row i's distance to its nearest centre, exact for the centres
    # counted in fresh[i] (-1 marks centres themselves, never picked again).
    bound = np.full(n_rows, np.inf, dtype=X.dtype)
    fresh = np.zeros(n_rows, dtype=np.int64)
    centres: list[int] = []
    if chosen:
        centres = list(chosen)
        owner = np.zeros(n_rows, dtype=np.int64)
        _assign_to_selected(X, squared_norms, np.asarray(centres), bound, owner)
        fresh[:] = len(centres)
    elif not (0 <= int(start) < n_rows):
        raise ValueError(f"start={start} is not a row of X ({n_rows} rows)")

    indices = np.empty(k, dtype=np.int64)
    radii = np.empty(k, dtype=np.float64)
    centre = int(start) if not chosen else _farthest(X, squared_norms, centres, bound, fresh)[0]
    for step in range(k):
        indices[step] = centre
        centres.append(centre)
        bound[centre] = -1.0
        centre, radius = _farthest(X, squared_norms, centres, bound, fresh)
        radii[step] = max(radius, 0.0)
    return indices, radii


def _refresh(X, squared_norms, centres: list[int], bound, fresh, rows: np.ndarray) -> None:
    """Make bound[rows] exact: their distances to the centres added since they were last fresh.
    Rows are grouped by how stale they are (a few centres behind, or many), so one long-stale row
    does not make every row of the batch compare against all centres."""
    if len(rows) == 0:
        return
    behind = len(centres) - fresh[rows]
    recent = behind <= 8
    if recent.any() and not recent.all():
        _refresh_group(X, squared_norms, centres, bound, fresh, rows[recent])
        _refresh_group(X, squared_norms, centres, bound, fresh, rows[~recent])
    else:
        _refresh_group(X, squared_norms, centres, bound, fresh, rows)


def _refresh_group(X, squared_norms, centres: list[int], bound, fresh, rows: np.ndarray) -> None:
    """One (rows, centres since the stalest of them) product."""
    oldest = int(fresh[rows].min())
    if oldest < len(centres):
        new = np.asarray(centres[oldest:])
        squared = squared_norms[rows, None] - 2.0 * (X[rows] @ X[new].T) + squared_norms[None, new]  # (R, C)
        nearest_new = np.sqrt(np.maximum(squared.min(axis=1), 0.0))
        bound[rows] = np.minimum(bound[rows], nearest_new)
    fresh[rows] = len(centres)


def _farthest(X, squared_norms, centres, bound, fresh) -> tuple[int, float]:
    """The row farthest from every centre (lowest index on a tie) and that distance.

    Lazy: bounds only shrink as centres are added, so only the rows whose stale bound is among the
    largest need their distances refreshed; once the best refreshed value is above every stale
    bound left, it is the true maximum. Early on most rows are refreshed every step (one product
    against the new centre); once the centres cover the data, a few hundred rows are."""
    n_rows = len(bound)
    size = 64
    while True:
        if size >= n_rows:
            rows = np.arange(n_rows)
            _refresh(X, squared_norms, centres, bound, fresh, rows[bound[rows] >= 0])
            best = float(bound.max())
            return int(np.flatnonzero(bound == best)[0]), best
        rows = np.argpartition(-bound, size)[:size]
        threshold = float(bound[rows].min())  # no row outside `rows` has a larger stale bound
        stale = rows[(fresh[rows] < len(centres)) & (bound[rows] >= 0)]
        if len(stale):
            _refresh(X, squared_norms, centres, bound, fresh, stale)
        best = float(bound[rows].max())
        if best > threshold:
            winners = rows[bound[rows] == best]
            return int(winners.min()), best
        size *= 4


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
