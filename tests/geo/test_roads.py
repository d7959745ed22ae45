"""Road network import and road distances against a Dijkstra of our own."""

import heapq
import json

import numpy as np
import pytest
import sqlalchemy as sa
from pyproj import Geod

from geo.errors import InvalidInput
from geo.facilities.nearest import nearest_facilities
from geo.grid.roads import has_roads, import_roads, road_distances_from, road_matrix

GEOD = Geod(ellps="WGS84")
N, STEP = 8, 0.01  # an 8 x 8 lattice of streets 0.01 degrees apart


def lattice(x0, y0):
    """Street lines of a lattice with a river between rows 3 and 4: only column 0
    crosses it. Returns GeoJSON features and the graph's edges for the oracle."""
    node = {(i, j): (x0 + i * STEP, y0 + j * STEP) for i in range(N) for j in range(N)}
    lines, edges = [], []
    for j in range(N):
        lines.append([node[(i, j)] for i in range(N)])
        edges += [((i, j), (i + 1, j)) for i in range(N - 1)]
    for i in range(N):
        spans = [range(N)] if i == 0 else [range(0, 4), range(4, N)]
        for span in spans:
            lines.append([node[(i, j)] for j in span])
            edges += [((i, j), (i, j + 1)) for j in span if j + 1 in span]
    features = [{"type": "Feature", "properties": {"name": f"路{k}"},
                 "geometry": {"type": "LineString", "coordinates": line}}
                for k, line in enumerate(lines)]
    return features, node, edges


def dijkstra(node, edges, start):
    graph = {}
    for a, b in edges:
        _, _, d = GEOD.inv(*node[a], *node[b])
        graph.setdefault(a, []).append((b, d))
        graph.setdefault(b, []).append((a, d))
    best, heap = {start: 0.0}, [(0.0, start)]
    while heap:
        d, u = heapq.heappop(heap)
        if d > best[u]:
            continue
        for v, w in graph[u]:
            if d + w < best.get(v, np.inf):
                best[v] = d + w
                heapq.heappush(heap, (d + w, v))
    return best


@pytest.fixture
def network(conn, tmp_path):
    x0, y0 = conn.execute(sa.text(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM unit "
        "WHERE level = 'county') c")).one()
    features, node, edges = lattice(x0, y0)
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}),
                    encoding="utf-8")
    stats = import_roads(conn, path, name_field="name")
    return stats, node, edges


def test_import_splits_lines_at_junctions(conn, network):
    stats, node, edges = network
    assert stats["edges"] == len(edges) and stats["vertices"] == len(node)
    assert has_roads(conn)
    dangling = conn.execute(sa.text(
        "SELECT count(*) FROM road WHERE source = 0 OR target = 0 OR source = target")).scalar()
    assert dangling == 0


def test_road_distances_match_dijkstra(conn, network):
    _, node, edges = network
    best = dijkstra(node, edges, (5, 6))
    keys = [(5, 6), (5, 1), (0, 0), (7, 7), (3, 4)]
    pts = np.array([node[k] for k in keys])
    got = road_matrix(conn, pts)
    for j, key in enumerate(keys):
        assert got[0, j] == pytest.approx(best[key], abs=0.5)
    # The river: (5, 6) to (5, 1) must go round by column 0, far more than straight.
    _, _, straight = GEOD.inv(*node[(5, 6)], *node[(5, 1)])
    assert got[0, 1] > 2 * straight
    from_origin = road_distances_from(conn, node[(5, 6)], pts[1:])
    assert np.allclose(from_origin, got[0, 1:], atol=0.5)


def test_nearest_by_road_differs_from_straight(conn, network):
    _, node, _ = network
    conn.execute(sa.text("DELETE FROM facility WHERE type = 'rescue_station'"))
    for name, key in (("河对岸中心", (5, 2)), ("同岸中心", (1, 7))):
        conn.execute(sa.text(
            "INSERT INTO facility (type, name, geom, capacity, open_24h) VALUES "
            "('rescue_station', :n, ST_SetSRID(ST_MakePoint(:x, :y), 4326), 5, true)"),
            {"n": name, "x": node[key][0], "y": node[key][1]})
    here = node[(5, 5)]
    straight = nearest_facilities(conn, *here, types=["rescue_station"], k=2, rank="geodesic")
    road = nearest_facilities(conn, *here, types=["rescue_station"], k=2)
    assert straight["distance"] == "geodesic" and road["distance"] == "road"
    assert [f["name"] for f in straight["facilities"]] == ["河对岸中心", "同岸中心"]
    assert [f["name"] for f in road["facilities"]] == ["同岸中心", "河对岸中心"]
    best = dijkstra(*network[1:], (5, 5))
    assert road["facilities"][0]["distance_m"] == pytest.approx(best[(1, 7)], abs=0.5)


def test_bad_road_files(conn, tmp_path):
    path = tmp_path / "points.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {},
         "geometry": {"type": "Point", "coordinates": [101.7, 26.5]}}]}), encoding="utf-8")
    with pytest.raises(InvalidInput, match="feature 1: a Point, not a line"):
        import_roads(conn, path)
    assert not has_roads(conn)
    with pytest.raises(InvalidInput, match="no road network is loaded"):
        nearest_facilities(conn, 101.7, 26.5, rank="road")


def test_routes_go_by_road_when_a_network_is_loaded(conn, network):
    from geo.config import DEFAULTS
    from geo.routing.routes import worker_route

    worker = conn.execute(sa.text(
        "SELECT w.id FROM worker w WHERE w.role = 'grid_head' ORDER BY w.id LIMIT 1")).scalar()
    route = worker_route(conn, DEFAULTS["rules"], worker, "2026-11-24", within_days=30)
    assert route["distance"] == "road"
    assert route["stops"] and route["total_m"] > 0
    straight = [s["leg_m"] for s in route["stops"]]
    assert all(leg >= 0 for leg in straight)
