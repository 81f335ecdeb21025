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
