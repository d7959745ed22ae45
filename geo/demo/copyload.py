"""Bulk loading with COPY: a DataFrame goes in as CSV on the same transaction, in
chunks, so a city's ten million visits never sit in memory as one CSV text."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

CHUNK = 250_000


def copy_frame(cursor, table: str, frame: pd.DataFrame, chunk: int = CHUNK) -> None:
    cols = ", ".join(frame.columns)
    sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    for start in range(0, max(len(frame), 1), chunk):
        buf = io.StringIO()
        frame.iloc[start:start + chunk].to_csv(buf, header=False, index=False, na_rep="\\N")
        buf.seek(0)
        cursor.copy_expert(sql, buf)


def pg_array(values) -> str:
    """A Python list of plain words as a PostgreSQL array literal."""
    return "{" + ",".join(values) + "}"


_EWKB = np.dtype([("order", "u1"), ("type", "<u4"), ("srid", "<u4"), ("x", "<f8"),
                  ("y", "<f8")])


def point_ewkt(lon, lat) -> pd.Series:
    return ("SRID=4326;POINT(" + pd.Series(lon).map("{:.7f}".format) + " "
            + pd.Series(lat).map("{:.7f}".format) + ")")


def point_hexewkb(lon, lat) -> np.ndarray:
    """Points in SRID 4326 as hex EWKB (what PostGIS reads for a geometry in COPY),
    built for all points at once; coordinates rounded to 7 decimals (1 cm) as before."""
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    rec = np.empty(len(lon), dtype=_EWKB)
    rec["order"], rec["type"], rec["srid"] = 1, 0x20000001, 4326
    rec["x"], rec["y"] = np.round(lon, 7), np.round(lat, 7)
    text = rec.tobytes().hex().upper().encode()
    return np.frombuffer(text, dtype=f"S{2 * _EWKB.itemsize}").astype(str)
