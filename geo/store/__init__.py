"""The database: engine and embedded cluster, models, backups, health, the data
generation, metrics.
"""
