"""Households and children: reading, writing and searching their records, scoped to a unit."""
