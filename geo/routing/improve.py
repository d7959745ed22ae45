"""Tour polishing: 2-opt and Or-opt local search with iterated, seeded kicks.

The tour is a cycle over matrix indices (the depot, index 0, among them). Moves are
2-opt (reverse a stretch) and Or-opt (move a stretch of 1-3 stops elsewhere, either way
round). Between local optima, a seeded "segment double bridge" kick swaps two short
neighbouring stretches; the kicked tour is kept only when it ends shorter. The number of
kicks (and of kicks in a row without gain before stopping) is fixed, not a time limit,
so the answer does not depend on the machine's load; a generous time guard only stops
runaway work on very large inputs.

On a symmetric matrix (:func:`improve_fast`) moves are looked for only among the 10
nearest neighbours of nodes whose edges changed ("don't look" bits), so a kick costs
little and 25 × n kicks fit in well under a second at 100 stops. On an asymmetric
matrix (one-way roads) every forward Or-opt move is evaluated at once with numpy and
the best applied (ties to the lowest position); reversing a stretch would change its
own length, so no 2-opt there.
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
            stall: int | None = None, guard_s: float = 5.0) -> list:
    """A shorter tour (a cycle of matrix indices) from ``tour``; starts at ``tour[0]``."""
    tour = list(tour)
    n = len(tour)
    if n < 4:
        return tour
    dist = np.asarray(dist, dtype=float)
    symmetric = bool(np.allclose(dist, dist.T))
    start = tour[0]
    if symmetric:
        best = improve_fast(tour, dist, kicks=kicks if kicks is not None else 25 * n,
                            stall=stall if stall is not None else max(100, 8 * n), seed=seed,
                            guard_s=guard_s)
        at = best.index(start)
        return best[at:] + best[:at]
    best = local_search(tour, dist, symmetric)
    best_len = tour_length(best, dist)
    if kicks is None:
        kicks = default_kicks(n)
    if stall is None:
        stall = STALL
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


# -- neighbour lists and don't-look bits (symmetric matrices) ---------------------------
NEIGHBOURS = 10


class _Tour:
    """A cyclic tour with node positions, for moves that look only near changed nodes."""

    def __init__(self, tour: list, dist: np.ndarray, neigh: list):
        self.t = list(tour)
        self.n = len(tour)
        self.pos = [0] * self.n
        for i, v in enumerate(self.t):
            self.pos[v] = i
        self.d = dist
        self.neigh = neigh

    def succ(self, v):
        return self.t[(self.pos[v] + 1) % self.n]

    def pred(self, v):
        return self.t[(self.pos[v] - 1) % self.n]

    def reverse(self, i: int, j: int) -> None:
        """Reverse the stretch from position i forward to position j."""
        n, t, pos = self.n, self.t, self.pos
        length = (j - i) % n + 1
        if 2 * length > n:
            i, j, length = (j + 1) % n, (i - 1) % n, n - length
        for _ in range(length // 2):
            a, b = t[i], t[j]
            t[i], t[j] = b, a
            pos[b], pos[a] = i, j
            i, j = (i + 1) % n, (j - 1) % n

    def rebuild(self, tour: list) -> None:
        self.t = tour
        for i, v in enumerate(tour):
            self.pos[v] = i

    def two_opt(self, a) -> list | None:
        d, neigh = self.d, self.neigh
        for forward in (True, False):
            b = self.succ(a) if forward else self.pred(a)
            dab = d[a][b]
            for c in neigh[a]:
                g = dab - d[a][c]
                if g <= EPS:
                    break
                e = self.succ(c) if forward else self.pred(c)
                if c == b or e == a:
                    continue
                if d[a][c] + d[b][e] - dab - d[c][e] < -EPS:
                    if forward:     # edges (a,b),(c,e) -> (a,c),(b,e): reverse b..c
                        self.reverse(self.pos[b], self.pos[c])
                    else:           # edges (b,a),(e,c) -> (c,a),(e,b): reverse a..e
                        self.reverse(self.pos[a], self.pos[e])
                    return [a, b, c, e]
        return None

    def or_opt(self, a) -> list | None:
        d, neigh, n, t, pos = self.d, self.neigh, self.n, self.t, self.pos
        for length in (1, 2, 3):
            if n < length + 3:
                break
            for start in (pos[a], (pos[a] - length + 1) % n):
                seg = [t[(start + k) % n] for k in range(length)]
                s1, s2 = seg[0], seg[-1]
                p, q = t[(start - 1) % n], t[(start + length) % n]
                gain = d[p][s1] + d[s2][q] - d[p][q]
                if gain <= EPS:
                    continue
                inside = set(seg)
                best = None
                for end, other in ((s1, s2), (s2, s1)):
                    for c in neigh[end]:
                        if d[end][c] >= gain:
                            break
                        if c in inside:
                            continue
                        for u, v in ((c, self.succ(c)), (self.pred(c), c)):
                            if u in inside or v in inside:
                                continue
                            # u - end ... other - v  when c == u, else u - other ... end - v
                            if c == u:
                                cost = d[u][end] + d[other][v] - d[u][v]
                                first = end
                            else:
                                cost = d[u][other] + d[end][v] - d[u][v]
                                first = other
                            delta = cost - gain
                            if delta < -EPS and (best is None or delta < best[0]):
                                best = (delta, u, first)
                if best is not None:
                    _, u, first = best
                    stretch = seg if first == s1 else seg[::-1]
                    rest = [v for v in t if v not in inside]
                    at = rest.index(u) + 1
                    self.rebuild(rest[:at] + stretch + rest[at:])
                    return [p, q, u, s1, s2, self.succ(stretch[-1])]
        return None

    def optimise(self, queue: list) -> None:
        from collections import deque

        todo = deque(queue)
        waiting = set(queue)
        while todo:
            a = todo.popleft()
            waiting.discard(a)
            touched = self.two_opt(a) or self.or_opt(a)
            if touched:
                for v in touched + [a]:
                    if v not in waiting:
                        waiting.add(v)
                        todo.append(v)


def improve_fast(tour: list, dist: np.ndarray, *, kicks: int, seed: int = 0,
                 stall: int, guard_s: float = 5.0) -> list:
    """:func:`improve` for symmetric matrices: the same moves, looked for only among
    each changed node's nearest neighbours (much faster per kick, so more kicks)."""
    n = len(tour)
    order = np.argsort(dist, axis=1, kind="stable")
    neigh = [[int(c) for c in order[v] if c != v][:NEIGHBOURS] for v in range(n)]
    rows = dist.tolist()
    cur = _Tour(tour, rows, neigh)
    cur.optimise(list(tour))
    best = list(cur.t)
    best_len = tour_length(best, dist)
    rng = np.random.default_rng(seed)
    deadline = time.perf_counter() + guard_s
    since = 0
    for _ in range(kicks):
        if since >= stall or time.perf_counter() > deadline:
            break
        kicked = _kick(best, rng)
        cur.rebuild(list(kicked))
        cur.optimise(_changed(best, kicked))  # the nodes at the joins the kick made
        cand_len = tour_length(cur.t, dist)
        since += 1
        if cand_len < best_len - EPS:
            best, best_len, since = list(cur.t), cand_len, 0
    return best


def _changed(old: list, new: list) -> list:
    """Nodes whose neighbours differ between two cyclic tours."""
    def edges(t):
        return {frozenset((t[k - 1], t[k])) for k in range(len(t))}

    gone = edges(new) - edges(old)
    return sorted({v for e in gone for v in e})
