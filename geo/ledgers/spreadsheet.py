"""Text cells that a spreadsheet would run as a formula (CSV/formula injection): every
.xlsx and .csv we write passes its text cells through :func:`neutralise`, which puts a
``'`` before a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return.
Numbers stay numbers (a negative number is not text). Reading our own export back,
:func:`restore` takes the ``'`` off again, so an export re-imports unchanged.

>>> neutralise('=HYPERLINK("http://x","y")'), neutralise(-3), restore("'=1+2")
('\\'=HYPERLINK("http://x","y")', -3, '=1+2')
"""

from __future__ import annotations

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """``value`` made inert if it is text a spreadsheet would take for a formula."""
    if isinstance(value, str) and value.startswith(TRIGGERS):
        return "'" + value
    return value


def restore(value):
    """The text :func:`neutralise` was given (only a ``'`` it would have added goes)."""
    if isinstance(value, str) and value.startswith("'") and value[1:].startswith(TRIGGERS):
        return value[1:]
    return value


def neutralise_row(values) -> list:
    return [neutralise(v) for v in values]


def neutralise_frame(frame):
    """A pandas DataFrame with its text cells neutralised (headers too)."""
    from pandas.api.types import is_object_dtype, is_string_dtype

    out = frame.copy()
    for col in out.columns:
        if is_object_dtype(out[col]) or is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(c) for c in out.columns]
    return out
