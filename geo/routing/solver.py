"""Visit routes: a closed tour from the office through the households and back.

Without a time budget every stop is visited and the tour is as short as OR-Tools finds
within the time limit (guided local search). With a budget (minutes) it is an
orienteering problem: choose the stops that maximise total priority with travel plus
visit time within the budget, then order them. Up to ``EXACT_MAX`` stops the answer is
exact by enumeration, so small routes are provably optimal.

>>> route = solve_route((101.7, 26.5), stops, StraightLine(), speed_kmh=30)  # doctest: +SKIP
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable
from dataclasses import dataclass, field

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from geo.routing.distance import DistanceSource

EXACT_MAX = 9
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


def solve_route(start, stops: list[Stop], source: DistanceSource, speed_kmh: float,
                budget_min: float | None = None, time_limit_s: float = 1.0) -> Route:
    """The route: exact for small inputs, OR-Tools within ``time_limit_s`` otherwise."""
    _check(stops, speed_kmh, budget_min)
    if not stops:
        return Route(optimal=True)
    if len(stops) <= EXACT_MAX:
        return solve_exact(start, stops, source, speed_kmh, budget_min)
    dist = source.matrix(np.array([start] + [(s.lon, s.lat) for s in stops]))
    cost = np.where(np.isfinite(dist), np.round(dist), UNREACHABLE_M).astype(np.int64)
    n = len(stops) + 1
    manager = pywrapcp.RoutingIndexManager(n, 1, 0)
    model = pywrapcp.RoutingModel(manager)

    def arc(i, j):
        return int(cost[manager.IndexToNode(i), manager.IndexToNode(j)])

    model.SetArcCostEvaluatorOfAllVehicles(model.RegisterTransitCallback(arc))
    if budget_min is not None:
        metres_per_s = speed_kmh / 3.6
        service = [0] + [round(s.service_min * 60) for s in stops]

        def seconds(i, j):
            a, b = manager.IndexToNode(i), manager.IndexToNode(j)
            return int(round(cost[a, b] / metres_per_s)) + service[a]

        model.AddDimension(model.RegisterTransitCallback(seconds), 0,
                           int(budget_min * 60), True, "time")
        # Dropping a stop costs more than any detour, in proportion to its priority.
        scale = int(cost[np.isfinite(dist)].max()) * (n + 1) + 1
        for i, stop in enumerate(stops, start=1):
            model.AddDisjunction([manager.NodeToIndex(i)],
                                 int(round(stop.priority * 1000)) * scale + 1)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = (
        routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH)
    params.time_limit.FromMilliseconds(max(1, int(time_limit_s * 1000)))
    solution = model.SolveWithParameters(params)
    if solution is None:
        return _route([], dist, stops, speed_kmh, None)
    order, index = [], model.Start(0)
    while not model.IsEnd(index):
        node = manager.IndexToNode(index)
        if node:
            order.append(node - 1)
        index = solution.Value(model.NextVar(index))
    return _route(order, dist, stops, speed_kmh, None)
