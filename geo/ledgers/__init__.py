"""Ledgers in and out: reading messy files, import, export, formula-safe cells, comparing
department lists.
"""
