"""Bulk loading with COPY: a DataFrame goes in as CSV on the same transaction."""

from __future__ import annotations

import io

import pandas as pd


def copy_frame(cursor, table: str, frame: pd.DataFrame) -> None:
    buf = io.StringIO()
    frame.to_csv(buf, header=False, index=False, na_rep="\\N")
    buf.seek(0)
    cols = ", ".join(frame.columns)
    cursor.copy_expert(
        f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')", buf)


def pg_array(values) -> str:
    """A Python list of plain words as a PostgreSQL array literal."""
    return "{" + ",".join(values) + "}"


def point_ewkt(lon, lat) -> pd.Series:
    return ("SRID=4326;POINT(" + pd.Series(lon).map("{:.7f}".format) + " "
            + pd.Series(lat).map("{:.7f}".format) + ")")
