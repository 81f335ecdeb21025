"""Writing tables for people: CSV that Excel and WPS open correctly and never as formulas."""

from __future__ import annotations

from pathlib import Path

import polars as pl

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def defuse(text: str | None) -> str | None:
    """Text a spreadsheet would run as a formula gets a leading apostrophe (OWASP CSV injection)."""
    if text and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def defuse_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text column defused; numbers and dates stay as they are."""
    pattern = r"^[=+\-@\t\r]"
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(pattern)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )


def write_csv(frame: pl.DataFrame, path: Path) -> None:
    """UTF-8 with BOM (so Excel/WPS detect the encoding), formula-safe, atomically replaced."""
    tmp = path.with_name(path.name + ".tmp")
    defuse_frame(frame).write_csv(tmp, include_bom=True)
    tmp.replace(path)


def write_table(frame: pl.DataFrame, folder: Path, stem: str) -> None:
    """A table for people and for the toolkit: `stem.csv` (formula-safe, for Excel/WPS) and
    `stem.parquet` (the exact values; everything the toolkit reads back reads this one, so the
    apostrophe `defuse` adds never becomes data)."""
    write_csv(frame, folder / f"{stem}.csv")
    tmp = folder / f"{stem}.parquet.tmp"
    frame.write_parquet(tmp, statistics=False)
    tmp.replace(folder / f"{stem}.parquet")


def read_table(folder: Path, stem: str) -> pl.DataFrame | None:
    """The Parquet copy written by `write_table`, or None when the table was not written."""
    path = folder / f"{stem}.parquet"
    return pl.read_parquet(path) if path.exists() else None
