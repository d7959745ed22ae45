"""Facilities: the nearest suitable one, beds and placements, managing facilities."""
