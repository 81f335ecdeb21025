"""`validate_tables(jobs=N)`: the record-quality suites run by a helper process while the facts and
checks are computed give the same findings and Data Docs pages as run in the caller; a helper
that cannot start or answer leaves the suites to the caller; nothing of the helper's scratch
folder stays."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import audit.quality as quality_module
from audit.helpers import Helper
from audit.ingest import ingest
from audit.quality import QualityJob
from audit.validate import Validation, validate_tables
from conftest import SAMPLE

QUARTER = "2019Q3"


@pytest.fixture(scope="module")
def tables() -> dict[str, pl.DataFrame]:
    return ingest(SAMPLE).tables


@pytest.fixture(scope="module")
def alone(tables, tmp_path_factory) -> tuple[Validation, Path]:
    docs = tmp_path_factory.mktemp("alone") / "data-docs"
    return validate_tables(tables, QUARTER, data_docs=docs), docs


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Helper | None]:
    """Every batch counts as large enough for a helper; the helpers started."""
    monkeypatch.setattr(quality_module, "PARALLEL_QUALITY_ROWS", 0)
    helpers: list[Helper | None] = []
    start = Helper.start.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(Helper, "start", classmethod(lambda cls, *a, **k: helpers.append(start(cls, *a, **k)) or helpers[-1]))
    return helpers


def _pages(docs: Path) -> list[str]:
    """The Data Docs pages by path, a validation's run time left out (it differs run to run)."""
    return sorted(re.sub(r"\d{8}T\d{6}\.\d+Z", "<time>", p.relative_to(docs).as_posix()) for p in docs.rglob("*.html"))


def _same(result: Validation, alone: Validation) -> None:
    assert not result.quality.is_empty()
    assert result.quality.equals(alone.quality)
    assert result.findings.equals(alone.findings) and result.scorecard.equals(alone.scorecard)


def test_a_helper_checks_record_quality_as_the_caller_would(tables, alone, started, tmp_path):
    docs = tmp_path / "run" / "data-docs"
    docs.parent.mkdir()
    result = validate_tables(tables, QUARTER, data_docs=docs, jobs=2)
    assert len(started) == 1 and started[0] is not None  # the suites ran in a helper
    _same(result, alone[0])
    pages = _pages(docs)
    assert pages == _pages(alone[1]) and any(p.startswith("validations/quality/") for p in pages)
    index = (docs / "index.html").read_text(encoding="utf-8")
    assert "quality/attendance" in index and "standard/member_month" in index  # both kinds listed
    assert [p.name for p in docs.parent.iterdir()] == ["data-docs"]  # the scratch folder is gone


def test_without_data_docs_the_helper_scratch_is_temporary(tables, alone, started, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    result = validate_tables(tables, QUARTER, jobs=2)
    assert len(started) == 1 and started[0] is not None
    _same(result, alone[0])
    assert list(tmp_path.iterdir()) == []


def test_a_helper_that_does_not_answer_leaves_the_suites_to_the_caller(tables, alone, started, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "executable", "/bin/false")
    docs = tmp_path / "run" / "data-docs"
    docs.parent.mkdir()
    result = validate_tables(tables, QUARTER, data_docs=docs, jobs=2)
    assert len(started) == 1
    _same(result, alone[0])
    assert _pages(docs) == _pages(alone[1])
    assert [p.name for p in docs.parent.iterdir()] == ["data-docs"]


def test_one_job_or_a_small_batch_is_checked_by_the_caller(tables, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(Helper, "start", classmethod(lambda cls, function, preload=(): asked.append(function)))
    assert QualityJob.start(tables, {}, None, jobs=2) is None and asked == []  # the sample: below PARALLEL_QUALITY_ROWS
    monkeypatch.setattr(quality_module, "PARALLEL_QUALITY_ROWS", 0)
    assert QualityJob.start(tables, {}, None, jobs=1) is None and asked == []
    assert QualityJob.start(tables, {}, None, jobs=2) is None and asked == ["audit.quality:serve_quality"]  # none started


def test_gx_is_imported_without_building_the_iri_grammar(tmp_path):
    """`suites.import_gx` (the run and the quality helper import GX through it) keeps
    rfc3987_syntax out of GX's import (a second of building a grammar for formats GX never checks),
    and the package can still be imported afterwards."""
    code = (
        "import sys; from audit.suites import import_gx; gx = import_gx(); "
        "assert 'jsonschema._format' in sys.modules, 'GX no longer imports jsonschema: import_gx can go'; "
        "assert 'rfc3987_syntax' not in sys.modules; import importlib.util; "
        "importlib.util.find_spec('rfc3987_syntax') and __import__('rfc3987_syntax'); "
        "gx.get_context(mode='ephemeral'); print('ok')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_no_room_for_the_scratch_files_leaves_the_suites_to_the_caller(tables, started, tmp_path, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pl.DataFrame, "write_ipc", full)
    (tmp_path / "run").mkdir()
    assert QualityJob.start(tables, {}, tmp_path / "run" / "data-docs", jobs=2) is None
    assert len(started) == 1 and started[0] is not None and started[0].process.poll() is not None  # stopped
    assert list((tmp_path / "run").iterdir()) == []
