"""`manifest.json`: what a report was made from (input hashes, parameters, standard, package
versions, timings, how each notebook ran), and `audit verify-manifest`, which re-hashes the inputs
to say whether a report still matches its data."""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audit.errors import AuditError
from audit.limits import Limits
from audit.mapping import ReviewerMapping
from audit.periods import Quarter
from audit.readers import sha256_file
from audit.report.kernel import NotebookStatus
from audit.standard import Standard

if TYPE_CHECKING:
    from audit.ingest import Ingested
    from audit.validate import Validation

MANIFEST = "manifest.json"
KEY_PACKAGES = [
    "polars",
    "pandas",
    "great-expectations",
    "papermill",
    "nbconvert",
    "plotly",
    "jupytext",
    "openpyxl",
    "xlsxwriter",
    "chinesecalendar",
]


class ManifestError(AuditError):
    """A report's manifest cannot be used to verify it; the message says why, in Chinese."""


def run_manifest(
    batch: Path,
    validation: Validation,
    standard: Standard,
    parameters: dict[str, Any],
    mapping: ReviewerMapping | None,
    extras: dict[str, Any],
    timings: dict[str, float],
    notebooks: list[NotebookStatus],
    docs_pages: int,
) -> dict[str, Any]:
    """The manifest of a complete run; `extras`: what follow-up, decisions and notices record."""
    return {
        **_inputs(batch, validation.ingested),
        "parameters": parameters,
        "standard": {
            "name": standard.name,
            "version": standard.version,
            "sha256": sha256_file(standard.path) if standard.path else None,
        },
        "contract_version": validation.ingested.contract_version,
        "mapping": mapping.manifest if mapping is not None else None,
        **extras,
        "versions": versions(),
        "timings_seconds": {**timings, "per_notebook": {s.name: s.seconds for s in notebooks}},
        "notebooks": {s.name: {"status": s.status, "cell": s.cell, "error": s.error} for s in notebooks},
        "outputs": {"findings": validation.findings.height, "data_docs_pages": docs_pages},
    }


def stopped_manifest(
    batch: Path, ingested: Ingested, quarter: Quarter, limits: Limits | None, mapping: ReviewerMapping | None, outcome: str
) -> dict[str, Any]:
    """The manifest of a run that stopped after reading the batch (nothing to audit), and why."""
    return {
        **_inputs(batch, ingested),
        "parameters": {"quarter": str(quarter), "limits": (limits or Limits()).as_dict()},
        "contract_version": ingested.contract_version,
        "mapping": mapping.manifest if mapping is not None else None,
        "versions": versions(),
        "outcome": outcome,
    }


def _inputs(batch: Path, ingested: Ingested) -> dict[str, Any]:
    """What every manifest starts with: the tool, when, the batch folder and its files' hashes."""
    return {
        "tool": "audit",
        "created": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "batch": str(Path(batch).resolve()),
        "inputs": {name: {"sha256": digest} for name, digest in sorted(ingested.files.items())},
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """`manifest.json` in `folder`: UTF-8 JSON, Chinese as written, indented."""
    (folder / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def versions() -> dict[str, str]:
    """Python's version and the key packages' (those installed)."""
    found = {"python": sys.version.split()[0]}
    for name in KEY_PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


# --- verify-manifest ---------------------------------------------------------------------------------


@dataclass
class Verification:
    """The batch a report was checked against and the input files that no longer match it."""

    batch: Path
    changed: list[str]
    missing: list[str]
    added: list[str]

    @property
    def matches(self) -> bool:
        return not (self.changed or self.missing or self.added)


def _read_manifest(path: Path) -> tuple[dict[str, str], str | None]:
    """The input hashes and batch path a manifest records. A manifest travels with its report and
    may have been edited or damaged: anything not of the shape `audit run` writes is refused."""
    broken = ManifestError(f"{path} 不是 audit run 写出的 manifest.json（内容无法解析或不完整）")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise broken from None
    inputs = manifest.get("inputs") if isinstance(manifest, dict) else None
    batch = manifest.get("batch") if isinstance(manifest, dict) else None
    if not isinstance(inputs, dict) or not (batch is None or isinstance(batch, str)):
        raise broken
    recorded = {}
    for name, entry in inputs.items():
        digest = entry.get("sha256") if isinstance(entry, dict) else None
        if not isinstance(digest, str):
            raise broken
        recorded[name] = digest
    return recorded, batch


def verify_manifest(report: Path, batch: Path | None = None) -> Verification:
    """Re-hash the inputs a report was made from and say whether it still matches its data."""
    from audit.ingest import input_files

    manifest_path = report / MANIFEST
    if not manifest_path.exists():
        raise ManifestError(f"{report} 中没有 manifest.json，不是 audit run 生成的报告目录")
    recorded, recorded_batch = _read_manifest(manifest_path)
    if batch is None and not recorded_batch:
        raise ManifestError(f"{manifest_path} 没有记录数据批次文件夹，请用 --batch 指定")
    batch = Path(batch or recorded_batch or "")
    if not batch.is_dir():
        raise ManifestError(f"找不到报告所用的数据批次文件夹：{batch}（可用 --batch 指定）")
    present = input_files(batch)  # the files ingestion reads, by the (masked) names the manifest holds
    changed = sorted(n for n, digest in recorded.items() if n in present and sha256_file(present[n]) != digest)
    missing = sorted(n for n in recorded if n not in present)
    added = sorted(n for n in present if n not in recorded)
    return Verification(batch, changed, missing, added)
