"""The map reads at a glance: one meaning per colour across the layer registry, every
facility type keyed, the status layers as one entry shown one at a time."""

from collections import defaultdict

from geo.vocab import FACILITY_TYPES
from layers.registry import GROUPS, REGISTRY, MapLayer


def colour_meanings(layers: list[MapLayer]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for layer in layers:
        if layer.colours:
            for key, colour in layer.colours.items():
                out[colour.lower()].add(layer.meaning(key))
        else:
            out[layer.colour.lower()].add(layer.meaning())
    return out


def test_one_meaning_per_colour():
    shared = {c: m for c, m in colour_meanings(REGISTRY).items() if len(m) > 1}
    assert not shared, f"colours with more than one meaning: {shared}"


def test_the_check_catches_a_shared_colour():
    clash = MapLayer("households", {"zh": "x", "en": "x"}, "point",
                     colour=REGISTRY[0].colour)
    assert any(len(m) > 1 for m in colour_meanings(REGISTRY + [clash]).values())


def test_every_value_has_a_colour_and_a_legend_entry():
    for layer in REGISTRY:
        if layer.legend:
            assert set(layer.legend) <= set(layer.colours) or not layer.colours, layer.name
    facilities = next(layer for layer in REGISTRY if layer.name == "facilities")
    assert set(facilities.legend) == set(FACILITY_TYPES) == set(facilities.colours)


def test_status_layers_are_one_entry_shown_one_at_a_time():
    members = [layer for layer in REGISTRY if layer.group == "status"]
    assert {m.name for m in members} == {"village_status", "cell_status"}
    assert "status" in GROUPS
    village, cell = sorted(members, key=lambda m: m.min_zoom)
    assert village.max_zoom < cell.min_zoom  # never both on the map
