"""Route solving behind one interface: distance sources and the solver."""

from geo.routing.distance import DistanceSource, StraightLine
from geo.routing.solver import (
    EXACT_MAX,
    Route,
    Stop,
    nearest_neighbour,
    solve_exact,
    solve_route,
    solve_tour,
)

__all__ = ["EXACT_MAX", "DistanceSource", "Route", "Stop", "StraightLine", "solve_exact",
           "nearest_neighbour", "solve_route", "solve_tour"]
