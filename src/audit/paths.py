"""Paths defined once (cookiecutter-data-science style)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXPECTATIONS = REPO / "expectations"
STANDARD_FILE = EXPECTATIONS / "standard.yaml"
DATA = REPO / "data"
SAMPLE_BATCH = DATA / "raw" / "xinhua-2019"
REPORTS = REPO / "reports"
NOTEBOOKS = REPO / "notebooks"
