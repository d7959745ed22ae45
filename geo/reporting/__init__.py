"""Figures: the monthly report, the lists behind the home page's figures, the case loop's
monthly figures.
"""
