"""Visit routes: a closed tour from the office through the households and back.

Without a time budget every stop is visited: a nearest-neighbour tour polished by 2-opt
and Or-opt with seeded kicks (``geo.routing.improve``). With a budget (minutes) it is an
orienteering problem, choosing stops of high total priority with travel plus visit
time within the budget: greedy insertion by priority per added minute, the polish,
refilling, and exchanges of a chosen stop for an unchosen one of higher priority (see
:func:`_orienteer`). Up to ``EXACT_MAX`` stops the answer is exact by enumeration, so
small routes are provably optimal. The same input always gives the same route: no step
depends on the clock unless a guard trips, and ties go to the lower index.

>>> route = solve_route((101.7, 26.5), stops, StraightLine(), speed_kmh=30)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np

from geo.routing.distance import DistanceSource
from geo.routing.improve import improve

EXACT_MAX = 9
EXCHANGE_ROUNDS = 30  # stop exchanges under a budget (see _orienteer)
UNREACHABLE_M = 10_000_000  # arc cost standing in for "no road": never chosen if avoidable


@dataclass
class Stop:
    key: Hashable
    lon: float
    lat: float
    priority: float = 1.0
    service_min: float = 0.0


@dataclass
class Route:
    order: list[int] = field(default_factory=list)
    legs_m: list[float] = field(default_factory=list)
    total_m: float = 0.0
    total_min: float = 0.0
    priority: float = 0.0
    dropped: list[int] = field(default_factory=list)
    optimal: bool | None = None


def _check(stops, speed_kmh, budget_min) -> None:
    if speed_kmh <= 0:
        raise ValueError(f"speed must be above 0 km/h, not {speed_kmh}")
    if budget_min is not None and budget_min < 0:
        raise ValueError(f"the time budget must not be negative, not {budget_min} minutes")
    bad = [s.key for s in stops if s.priority < 0 or s.service_min < 0]
    if bad:
        raise ValueError(f"priority and service minutes must not be negative (stop {bad[0]})")


def _route(order: list[int], dist: np.ndarray, stops: list[Stop], speed_kmh: float,
           optimal: bool | None) -> Route:
    """Figures of a tour given as stop indices (the depot is matrix index 0)."""
    nodes = [0] + [i + 1 for i in order] + [0]
    legs = [float(dist[a, b]) for a, b in itertools.pairwise(nodes)] if order else []
    total = sum(legs)
    minutes = total / (speed_kmh * 1000 / 60) + sum(stops[i].service_min for i in order)
    chosen = set(order)
    return Route(order=list(order), legs_m=legs, total_m=total, total_min=minutes,
                 priority=sum(stops[i].priority for i in order),
                 dropped=[i for i in range(len(stops)) if i not in chosen], optimal=optimal)


def _held_karp(dist: np.ndarray, n: int):
    """Shortest closed tour from the depot (matrix index 0) through every subset of the
    ``n`` stops: returns (length per subset mask, a function giving a mask's order)."""
    size = 1 << n
    best = np.full((size, n), math.inf)
    parent = np.full((size, n), -1, dtype=int)
    for j in range(n):
        best[1 << j, j] = dist[0, j + 1]
    for mask in range(1, size):
        for j in range(n):
            here = best[mask, j]
            if not mask & (1 << j) or not math.isfinite(here):
                continue
            for k in range(n):
                if mask & (1 << k):
                    continue
                nxt = mask | (1 << k)
                cand = here + dist[j + 1, k + 1]
                if cand < best[nxt, k]:
                    best[nxt, k] = cand
                    parent[nxt, k] = j
    closing = best + dist[1:, 0][None, :]
    tour = np.where(np.arange(size) == 0, 0.0, closing.min(axis=1))

    def order(mask: int) -> list[int]:
        if mask == 0:
            return []
        j = int(np.argmin(closing[mask]))
        out = []
        while j >= 0:
            out.append(j)
            mask, j = mask & ~(1 << j), int(parent[mask, j])
        return out[::-1]

    return tour, order


def solve_exact(start, stops: list[Stop], source: DistanceSource, speed_kmh: float,
                budget_min: float | None = None) -> Route:
    """Exact answer by dynamic programming over subsets (Held-Karp), for up to
    ``EXACT_MAX`` stops; with a budget, the subset of highest priority that fits (the
    shortest such tour among ties)."""
    _check(stops, speed_kmh, budget_min)
    n = len(stops)
    if n > EXACT_MAX:
        raise ValueError(f"exact solving is limited to {EXACT_MAX} stops, not {n}")
    dist = source.matrix(np.array([start] + [(s.lon, s.lat) for s in stops]))
    tour, order = _held_karp(dist, n)
    full = (1 << n) - 1
    if budget_min is None:
        return _route(order(full), dist, stops, speed_kmh, True)
    metres_per_min = speed_kmh * 1000 / 60
    best_key, best_mask = (-1.0, -math.inf), 0
    for mask in range(1 << n):
        if not math.isfinite(tour[mask]):
            continue
        chosen = [i for i in range(n) if mask & (1 << i)]
        minutes = tour[mask] / metres_per_min + sum(stops[i].service_min for i in chosen)
        if minutes > budget_min + 1e-9:
            continue
        key = (round(sum(stops[i].priority for i in chosen), 9), -tour[mask])
        if key > best_key:
            best_key, best_mask = key, mask
    return _route(order(best_mask), dist, stops, speed_kmh, True)


def nearest_neighbour(dist: np.ndarray) -> list[int]:
    """A tour (matrix indices from the depot 0) always going to the nearest unvisited
    node, the lower index among ties."""
    n = len(dist)
    tour, left = [0], np.ones(n, dtype=bool)
    left[0] = False
    for _ in range(n - 1):
        row = np.where(left, dist[tour[-1]], np.inf)
        nxt = int(np.argmin(row))
        tour.append(nxt)
        left[nxt] = False
    return tour


def _finite(dist: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(dist), dist, UNREACHABLE_M)


def _polish(order: list[int], dist: np.ndarray, seed: int = 0) -> list[int]:
    """``order`` (stop indices) re-ordered by :func:`improve` on its sub-matrix."""
    if len(order) < 3:
        return list(order)
    nodes = [0] + [i + 1 for i in order]
    tour = improve(list(range(len(nodes))), _finite(dist[np.ix_(nodes, nodes)]), seed=seed)
    return [nodes[k] - 1 for k in tour[1:]]


def _minutes(order, dist, stops, speed_kmh) -> float:
    nodes = [0] + [i + 1 for i in order] + [0]
    metres = sum(float(dist[a, b]) for a, b in itertools.pairwise(nodes))
    return metres / (speed_kmh * 1000 / 60) + sum(stops[i].service_min for i in order)


def _cheapest(tour: list[int], cand: np.ndarray, dist: np.ndarray):
    """For each candidate stop: the cheapest extra metres to insert it into ``tour``
    (stop indices) and where (the position in ``tour``)."""
    nodes = np.array([0] + [i + 1 for i in tour] + [0])
    a, b = nodes[:-1], nodes[1:]
    extra = dist[np.ix_(a, cand + 1)] + dist[np.ix_(cand + 1, b)].T - dist[a, b][:, None]
    pos = extra.argmin(axis=0)
    return extra[pos, np.arange(len(cand))], pos


def _orienteer(dist: np.ndarray, stops: list[Stop], speed_kmh: float, budget_min: float,
               seed: int = 0) -> list[int]:
    """Stops of high total priority whose tour fits ``budget_min``: greedy insertion by
    priority per added minute, the polish, refilling, and exchanges of a chosen stop for
    an unchosen one of higher priority while they fit. Deterministic (ties to the lower
    index)."""
    dist = _finite(np.asarray(dist, dtype=float))
    per_min = speed_kmh * 1000 / 60
    n = len(stops)
    prio = np.array([s.priority for s in stops], dtype=float)
    serv = np.array([s.service_min for s in stops], dtype=float)

    def used(tour):
        return _minutes(tour, dist, stops, speed_kmh)

    def fill(tour):
        tour = list(tour)
        while True:
            chosen = set(tour)
            cand = np.array([i for i in range(n) if i not in chosen], dtype=int)
            if not cand.size:
                return tour
            extra, pos = _cheapest(tour, cand, dist)
            cost = extra / per_min + serv[cand]
            ok = cost <= budget_min - used(tour) + 1e-9
            if not ok.any():
                return tour
            ratio = np.where(ok, prio[cand] / np.maximum(cost, 1e-9), -np.inf)
            k = int(np.argmax(ratio))
            tour.insert(int(pos[k]), int(cand[k]))

    tour = _polish(fill([]), dist, seed)
    tour = _polish(fill(tour), dist, seed)
    for _ in range(EXCHANGE_ROUNDS):
        chosen = set(tour)
        swapped = False
        waiting = sorted((i for i in range(n) if i not in chosen), key=lambda i: (-prio[i], i))
        for u in waiting[:100]:
            for v in sorted(tour, key=lambda i: (prio[i], i)):
                if prio[v] >= prio[u]:
                    break
                rest = [i for i in tour if i != v]
                extra, pos = _cheapest(rest, np.array([u]), dist)
                if used(rest) + extra[0] / per_min + serv[u] <= budget_min + 1e-9:
                    rest.insert(int(pos[0]), u)
                    tour, swapped = rest, True
                    break
            if swapped:
                break
        if not swapped:
            break
        tour = _polish(fill(tour), dist, seed)
    return tour


def solve_tour(dist: np.ndarray, seed: int = 0) -> list[int]:
    """The polished closed tour through every node of ``dist`` from node 0."""
    dist = _finite(np.asarray(dist, dtype=float))
    return improve(nearest_neighbour(dist), dist, seed=seed)


def solve_route(start, stops: list[Stop], source: DistanceSource, speed_kmh: float,
                budget_min: float | None = None, time_limit_s: float = 1.0,
                seed: int = 0) -> Route:
    """The route: exact for small inputs, the polish (and the orienteering heuristic
    under a budget) otherwise. ``time_limit_s`` is kept for callers; the search ends by
    counts, not time (see the module docstring)."""
    _check(stops, speed_kmh, budget_min)
    if not stops:
        return Route(optimal=True)
    if len(stops) <= EXACT_MAX:
        return solve_exact(start, stops, source, speed_kmh, budget_min)
    dist = source.matrix(np.array([start] + [(s.lon, s.lat) for s in stops]))
    if budget_min is None:
        tour = solve_tour(dist, seed)
        return _route([k - 1 for k in tour[1:]], dist, stops, speed_kmh, None)
    order = _orienteer(dist, stops, speed_kmh, budget_min, seed)
    return _route(order, dist, stops, speed_kmh, None)
