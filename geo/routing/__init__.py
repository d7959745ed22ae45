"""Route solving behind one interface: distance sources and the solver."""

from geo.routing.distance import DistanceSource, StraightLine
from geo.routing.solver import EXACT_MAX, Route, Stop, solve_exact, solve_route

__all__ = ["EXACT_MAX", "DistanceSource", "Route", "Stop", "StraightLine", "solve_exact",
           "solve_route"]
