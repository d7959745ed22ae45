"""The grid: units and their import, generated partitions, roads, Chinese coordinate systems."""
