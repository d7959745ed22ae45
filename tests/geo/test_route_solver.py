"""The route solver: exact for small routes (checked by brute force), near-optimal and
fast for 100 stops, and budget routes that maximise priority within the budget."""

import itertools

import numpy as np
import pytest

from geo.routing import Stop, StraightLine, solve_exact, solve_route

START = (101.72, 26.50)
SPEED = 30.0


def instance(n, seed, service=10.0):
    rng = np.random.default_rng(seed)
    pts = rng.uniform([101.65, 26.44], [101.79, 26.56], (n, 2))
    return [Stop(i, float(x), float(y), priority=float(rng.integers(1, 20)),
                 service_min=service) for i, (x, y) in enumerate(pts)]


def tour(order, dist):
    nodes = [0] + [i + 1 for i in order] + [0]
    return sum(dist[a, b] for a, b in itertools.pairwise(nodes))


def brute(stops, budget=None):
    """Every subset, every order: the best (priority, -length) that fits the budget."""
    dist = StraightLine().matrix(np.array([START] + [(s.lon, s.lat) for s in stops]))
    best = (-1, 0, ())
    sizes = [len(stops)] if budget is None else range(len(stops) + 1)
    for size in sizes:
        for subset in itertools.combinations(range(len(stops)), size):
            prio = sum(stops[i].priority for i in subset)
            if prio < best[0]:
                continue
            for perm in itertools.permutations(subset):
                length = tour(perm, dist)
                minutes = length / (SPEED * 1000 / 60) + sum(stops[i].service_min for i in perm)
                if budget is not None and minutes > budget:
                    continue
                if (prio, -length) > best[:2]:
                    best = (prio, -length, perm)
    return best[0], -best[1], dist


@pytest.mark.parametrize("n", [1, 3, 5, 7, 8])
def test_small_tours_are_optimal(n):
    stops = instance(n, seed=n)
    route = solve_route(START, stops, StraightLine(), SPEED)
    _, best_length, dist = brute(stops)
    assert route.optimal
    assert sorted(route.order) == list(range(n))
    assert route.total_m == pytest.approx(best_length, abs=1.0)
    assert sum(route.legs_m) == pytest.approx(route.total_m)
    assert len(route.legs_m) == n + 1
    assert route.total_min == pytest.approx(route.total_m / (SPEED * 1000 / 60) + 10 * n)


def test_nine_stops_exact_against_brute_force():
    stops = instance(9, seed=99)
    route = solve_exact(START, stops, StraightLine(), SPEED)
    dist = StraightLine().matrix(np.array([START] + [(s.lon, s.lat) for s in stops]))
    best = min(tour(p, dist) for p in itertools.permutations(range(9)))
    assert route.total_m == pytest.approx(best, abs=1.0)


@pytest.mark.parametrize("n, budget", [(4, 60), (6, 90), (7, 120), (8, 100)])
def test_budget_routes_maximise_priority(n, budget):
    stops = instance(n, seed=10 + n, service=15)
    route = solve_route(START, stops, StraightLine(), SPEED, budget_min=budget)
    best_priority, best_length, _ = brute(stops, budget)
    assert route.priority == pytest.approx(best_priority)
    assert route.total_m == pytest.approx(best_length, abs=1.0)
    assert route.total_min <= budget + 1e-6
    assert sorted(route.order + route.dropped) == list(range(n))
    assert not set(route.order) & set(route.dropped)


def test_hundred_stops_near_best():
    """Speed is the benchmark's business (bench/routes.py), never a timed assertion."""
    stops = instance(100, seed=5)
    quick = solve_route(START, stops, StraightLine(), SPEED, time_limit_s=1.0)
    longer = solve_route(START, stops, StraightLine(), SPEED, time_limit_s=5.0)
    assert sorted(quick.order) == list(range(100))
    assert quick.total_m <= longer.total_m * 1.05


def test_large_budget_route_respects_budget():
    stops = instance(60, seed=6, service=20)
    route = solve_route(START, stops, StraightLine(), SPEED, budget_min=240, time_limit_s=1.0)
    assert 0 < len(route.order) < 60
    assert route.total_min <= 240 + 1e-6
    assert len(set(route.order)) == len(route.order)
    # The chosen stops carry more priority than the same number of random ones.
    assert route.priority >= np.mean([s.priority for s in stops]) * len(route.order)


def test_no_stops_and_bad_input():
    assert solve_route(START, [], StraightLine(), SPEED).total_m == 0
    with pytest.raises(ValueError, match="speed must be above 0"):
        solve_route(START, instance(3, 1), StraightLine(), 0)
    with pytest.raises(ValueError, match="budget must not be negative"):
        solve_route(START, instance(3, 1), StraightLine(), SPEED, budget_min=-5)
    with pytest.raises(ValueError, match="must not be negative"):
        solve_route(START, [Stop(1, 101.7, 26.5, priority=-1)], StraightLine(), SPEED)


def test_same_input_same_route():
    stops = instance(80, seed=8)
    first = solve_route(START, stops, StraightLine(), SPEED)
    again = solve_route(START, stops, StraightLine(), SPEED)
    assert first.order == again.order and first.total_m == again.total_m
    budget = [solve_route(START, stops, StraightLine(), SPEED, budget_min=300).order
              for _ in range(2)]
    assert budget[0] == budget[1]


def test_polish_beats_nearest_neighbour_and_keeps_the_depot_first():
    from geo.routing import nearest_neighbour, solve_tour
    from geo.routing.improve import tour_length

    stops = instance(70, seed=9)
    dist = StraightLine().matrix(np.array([START] + [(s.lon, s.lat) for s in stops]))
    tour = solve_tour(dist)
    assert tour[0] == 0 and sorted(tour) == list(range(71))
    assert tour_length(tour, dist) < tour_length(nearest_neighbour(dist), dist) * 0.95


def test_one_way_matrix_keeps_stretch_direction():
    """On an asymmetric matrix the polish still returns a permutation no longer than
    where it started (Or-opt moves only, evaluated exactly)."""
    from geo.routing.improve import improve, tour_length

    rng = np.random.default_rng(3)
    dist = rng.uniform(100, 1000, (30, 30))
    np.fill_diagonal(dist, 0)
    start = list(range(30))
    tour = improve(start, dist, kicks=30)
    assert sorted(tour) == start and tour[0] == 0
    assert tour_length(tour, dist) <= tour_length(start, dist)


@pytest.mark.parametrize("seed", range(6))
def test_budget_heuristic_near_the_exact_priority(seed):
    """The heuristic used above EXACT_MAX stops, checked where the exact answer is
    known: at least 90 % of the best priority, always within the budget."""
    from geo.routing.solver import _minutes, _orienteer

    stops = instance(9, seed=100 + seed, service=15)
    budget = 120
    exact = solve_exact(START, stops, StraightLine(), SPEED, budget)
    dist = StraightLine().matrix(np.array([START] + [(s.lon, s.lat) for s in stops]))
    order = _orienteer(dist, stops, SPEED, budget)
    assert _minutes(order, dist, stops, SPEED) <= budget + 1e-6
    assert sum(stops[i].priority for i in order) >= 0.9 * exact.priority
