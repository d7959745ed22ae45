"""Visits: who is due (from the kept visit state), recording a visit, phones' client ids
and undo.
"""
