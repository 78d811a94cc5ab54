"""K-Center-Greedy (MoDS's diversity stage), vectorised and exact.

Greedy 2-approximation of the k-center problem: repeatedly take the row farthest (L2) from every
centre chosen so far. Never an N x N matrix.

How it stays fast on 100,000 x 384 rows (a bare pass over them is memory-bound: about 16 ms per
matrix-vector product on our 2-core machines, so one product per step for 1,000 steps is already
over 10 s):

- float32 throughout (half the memory traffic of float64), squared distances from precomputed
  row norms, ``||x||^2 - 2 x.c + ||c||^2``, updated in place (no N-sized temporaries per step);
- lazy: a row's distance to its nearest centre only shrinks as centres are added, so a stale
  value is an upper bound. Each step refreshes only the rows whose bound is among the largest
  (against the centres added since they were last refreshed) until the best refreshed distance is
  above every stale bound left: that row is the true farthest one. The largest bounds are kept in
  a pool of a few thousand rows that lasts many steps (every row outside it is known to be below
  a threshold), so a step seldom looks at all N rows. When every row must be refreshed against the
  newest centre (the first steps), that is one BLAS matrix-vector product over the contiguous rows.

The result is the same as computing every distance every step (tested against a brute-force
loop); the radii are recomputed from differences, not from the cancellation-prone expansion, so a
duplicate row reports a radius of exactly 0.

Deterministic: no randomness, ties go to the lowest row index. Pure: no database, no Django.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from threadpoolctl import threadpool_limits

POOL_ROWS = 4096
"""Rows with the largest bounds kept between steps; refilled from all rows when exhausted."""
_FIRST_LOOK = 64
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
    if not (np.issubdtype(X.dtype, np.floating) or np.issubdtype(X.dtype, np.integer)):
        raise ValueError(f"X must hold numbers, not {X.dtype}")
    X = np.ascontiguousarray(X, dtype=np.float32)
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
        raise ValueError("X holds NaN or infinite values (or values too large for float32)")
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    if not chosen and not (0 <= int(start) < n_rows):
        raise ValueError(f"start={start} is not a row of X ({n_rows} rows)")

    indices = np.empty(k, dtype=np.int64)
    radii = np.empty(k, dtype=np.float64)
    # One BLAS thread: most products here are small (64 rows against the newest centres), where a
    # second thread costs more than it brings, and on a busy machine OpenBLAS's waiting threads
    # made the whole loop several times slower (measured: bench/curation.py, docs/benchmarks.md).
    with threadpool_limits(limits=1, user_api="blas"):
        search = _FarthestSearch(X, capacity=len(chosen) + k)
        if chosen:
            search.add_selected(chosen)
            centre = search.farthest()
        else:
            centre = int(start)
        for step in range(k):
            indices[step] = centre
            search.add(centre)
            centre = search.farthest()
            radii[step] = search.distance_to_centres(centre)
    return indices, radii


class _FarthestSearch:
    """The centres so far and, per row, an upper bound of its squared distance to the nearest one
    (exact for the first fresh[i] centres; -inf marks a centre, never picked again)."""

    def __init__(self, X: np.ndarray, *, capacity: int):
        self.X = X
        self.n_rows = X.shape[0]
        self.norms = np.einsum("ij,ij->i", X, X)  # (N,) squared row norms, float32
        self.bound = np.full(self.n_rows, np.inf, dtype=np.float32)
        self.fresh = np.zeros(self.n_rows, dtype=np.int64)
        self.centre_rows = np.empty(capacity, dtype=np.int64)
        self.centre_points = np.empty((capacity, X.shape[1]), dtype=np.float32)  # (C, d), filled in order
        self.count = 0
        self.pool: np.ndarray | None = None
        self.outside = np.inf  # every row outside the pool has a bound at most this
        self._scratch = np.empty(self.n_rows, dtype=np.float32)

    def add(self, row: int) -> None:
        self.centre_rows[self.count] = row
        self.centre_points[self.count] = self.X[row]
        self.count += 1
        self.bound[row] = -np.inf

    def add_selected(self, rows: list[int]) -> None:
        """Earlier selections: every row's exact distance to them, a block of rows at a time."""
        for row in rows:
            self.centre_rows[self.count] = row
            self.centre_points[self.count] = self.X[row]
            self.count += 1
        points, norms = self.centre_points[: self.count], self.norms[self.centre_rows[: self.count]]
        for begin in range(0, self.n_rows, _CHUNK_ROWS):
            block = slice(begin, begin + _CHUNK_ROWS)
            squared = self.X[block] @ points.T  # (b, S)
            squared *= -2.0
            squared += self.norms[block, None]
            squared += norms[None, :]
            self.bound[block] = squared.min(axis=1)
        self.fresh[:] = self.count
        self.bound[self.centre_rows[: self.count]] = -np.inf

    def distance_to_centres(self, row: int) -> float:
        """The row's distance to its nearest centre from differences (exact to float32)."""
        if row < 0:
            return 0.0
        differences = self.centre_points[: self.count] - self.X[row]  # (C, d), C <= k
        return float(np.sqrt(np.einsum("ij,ij->i", differences, differences).min()))

    def farthest(self) -> int:
        """The row farthest from every centre (lowest index on a tie); -1 when every row is one."""
        if self.count >= self.n_rows:
            return -1
        size = POOL_ROWS
        while True:
            if self.pool is None:
                self._fill_pool(size)
            found = self._search_pool()
            if found is not None:
                return found
            # Every row of the pool is now below the rows left outside it: look at more rows.
            self.pool = None
            size *= 4

    def _fill_pool(self, size: int) -> None:
        if size >= self.n_rows:
            self.pool, self.outside = np.arange(self.n_rows), -np.inf
            return
        cut = self.n_rows - size
        order = np.argpartition(self.bound, cut)
        self.pool = order[cut:]
        self.outside = float(self.bound[order[cut - 1]]) if cut else -np.inf

    def _search_pool(self) -> int | None:
        pool, size = self.pool, _FIRST_LOOK
        while True:
            if size >= len(pool):
                rows, threshold = pool, self.outside
            else:
                cut = len(pool) - size
                order = np.argpartition(self.bound[pool], cut)
                rows = pool[order[cut:]]
                # Rows of the pool left out have bounds at most the smallest one looked at.
                threshold = max(self.outside, float(self.bound[pool[order[cut - 1]]]))
            self._refresh(rows)
            looked = self.bound[rows]
            best = float(looked.max())
            if best > threshold:
                return int(rows[looked == best].min())
            if len(rows) == len(pool):
                return None
            size *= 4

    def _refresh(self, rows: np.ndarray) -> None:
        """Make bound[rows] exact. All rows one centre behind: one matrix-vector product over the
        contiguous matrix, in place. Otherwise rows are grouped by how stale they are (a few
        centres behind, or many), so one long-stale row does not make the rest compare against
        every centre."""
        behind = self.count - self.fresh[rows]
        stale = behind > 0
        if not stale.any():
            return
        if len(rows) == self.n_rows and int(behind.max()) == 1:
            newest = self.count - 1
            distances = self._scratch
            np.dot(self.X, self.centre_points[newest], out=distances)
            distances *= -2.0
            distances += self.norms
            distances += self.norms[self.centre_rows[newest]]
            np.minimum(self.bound, distances, out=self.bound)
            self.fresh[:] = self.count
            return
        rows, behind = rows[stale], behind[stale]
        recent = behind <= 8
        for group in (rows[recent], rows[~recent]):
            if len(group):
                self._refresh_group(group)

    def _refresh_group(self, rows: np.ndarray) -> None:
        """One (rows, centres since the stalest of them) product; a centre a row already counted
        changes nothing (the minimum of exact distances)."""
        oldest = int(self.fresh[rows].min())
        points = self.centre_points[oldest : self.count]  # (C, d)
        squared = self.X[rows] @ points.T  # (R, C)
        squared *= -2.0
        squared += self.norms[rows, None]
        squared += self.norms[self.centre_rows[oldest : self.count]][None, :]
        self.bound[rows] = np.minimum(self.bound[rows], squared.min(axis=1))
        self.fresh[rows] = self.count


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
