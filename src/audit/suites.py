"""Loading the committed GX expectation suites and running them on polars frames.

GX has no polars support, so frames cross to pandas here and nowhere else. Analytics and progress
bars are switched off before GX is imported.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit.paths import EXPECTATIONS
from audit.standard import Standard

os.environ["GX_ANALYTICS_ENABLED"] = "False"

RESULT_FORMAT = "COMPLETE"


@dataclass(frozen=True)
class SuiteRun:
    """The outcome of one suite on one frame: GX's result object plus what it ran on."""

    name: str
    frame: pl.DataFrame
    keys: list[str]
    result: Any  # great_expectations ExpectationSuiteValidationResult


def load_suite_json(name: str, folder: Path = EXPECTATIONS) -> dict[str, Any]:
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))


def suite_names(prefix: str, folder: Path = EXPECTATIONS) -> list[str]:
    return sorted(p.stem for p in folder.glob(f"{prefix}.*.json"))


def apply_standard(suite: dict[str, Any], standard: Standard) -> dict[str, Any]:
    """Drop expectations of disabled rules; take severity, clause and dimension from the standard
    file, which is what reviewers edit."""
    kept = []
    for expectation in suite["expectations"]:
        meta = dict(expectation["meta"])
        rule = standard.rules.get(meta.get("rule_id", ""))
        if rule is not None:
            if not rule.enabled:
                continue
            meta.update(
                clause=rule.clause,
                dimension=rule.dimension,
                severity=rule.part(meta.get("part")).severity,
                standard_version=standard.version,
            )
        kept.append({**expectation, "meta": meta})
    return {**suite, "expectations": kept}


class Validator:
    """One ephemeral GX context for a run; validates frames against suites given as dicts."""

    def __init__(self, data_docs: Path | None = None):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations as gx

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = {"globally": False, "metric_calculations": False}
        self.source = self.context.data_sources.add_pandas("audit")
        self.data_docs = data_docs
        if data_docs is not None:
            self.context.add_data_docs_site(
                site_name="audit",
                site_config={
                    "class_name": "SiteBuilder",
                    "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(data_docs)},
                    "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
                },
            )

    def run(self, suite: dict[str, Any], frame: pl.DataFrame, keys: list[str], parameters: dict[str, Any]) -> SuiteRun:
        gx = self.gx
        name = suite["name"]
        expectation_suite = self.context.suites.add(gx.ExpectationSuite(**json.loads(json.dumps(suite))))
        asset = self.source.add_dataframe_asset(name)
        batch_definition = asset.add_batch_definition_whole_dataframe(name)
        definition = self.context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=expectation_suite)
        )
        actions = []
        if self.data_docs is not None:
            actions.append(gx.checkpoint.UpdateDataDocsAction(name="docs", site_names=["audit"]))
        checkpoint = self.context.checkpoints.add(
            gx.Checkpoint(
                name=name,
                validation_definitions=[definition],
                actions=actions,
                result_format={"result_format": RESULT_FORMAT, "unexpected_index_column_names": keys},
            )
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = checkpoint.run(batch_parameters={"dataframe": to_pandas(frame)}, expectation_parameters=parameters)
        [result] = outcome.run_results.values()
        for item in result.results:
            info = item.exception_info or {}
            if info.get("raised_exception"):
                raise RuntimeError(f"{name} 中的期望 {item.expectation_config.type} 执行失败：{info.get('exception_message')}")
        return SuiteRun(name, frame, keys, result)


def to_pandas(frame: pl.DataFrame):
    """The one crossing from polars to pandas; dates stay datetime-like, nullable values stay null."""
    return frame.to_pandas(use_pyarrow_extension_array=False)


_DOCS_STYLE = (
    'body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:16px;color:#222}'
    "table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 6px;vertical-align:top}"
    ".collapse:not(.show){display:block}"
)


def offline_data_docs(folder: Path) -> int:
    """Make GX Data Docs safe to open offline. They load jQuery, Bootstrap and Vega from CDNs (on an
    intranet those requests hang or fail) and render batch text (ids, unexpected values) as markup.
    Every page is re-serialised by `sanitize.sanitize_document`: no script, event handler or remote
    reference survives, the logo and favicon point at GX's local copies, and a small local
    stylesheet replaces Bootstrap; the results are server-rendered tables and stay readable.
    Returns the number of pages rewritten."""
    from audit.sanitize import sanitize_document

    count = 0
    images = folder / "static" / "images"
    for path in sorted(folder.rglob("*.html")):
        text = path.read_text(encoding="utf-8")

        def local(tag: str, attribute: str, url: str, base: Path = path.parent) -> str | None:
            if url.endswith("favicon.ico"):  # GX links it one level off
                return os.path.relpath(images / "favicon.ico", base)
            if tag == "img" and ("://" in url or url.startswith("//")):
                return os.path.relpath(images / "logo-long.png", base)
            return url

        cleaned = sanitize_document(text, local)
        cleaned = cleaned.replace("</head>", f"<style>{_DOCS_STYLE}</style></head>", 1)
        if path == folder / "index.html":
            cleaned = cleaned.replace("</body>", _docs_listing(folder) + "</body>", 1)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")
            count += 1
    return count


def _docs_listing(folder: Path) -> str:
    """The index's lists of suites and results are built by JavaScript from inline JSON; without the
    scripts, list the pages as plain links instead."""
    import html

    def links(kind: str) -> str:
        pages = sorted(p.relative_to(folder).as_posix() for p in (folder / kind).rglob("*.html"))
        items = "".join(
            f'<li><a href="{html.escape(p)}">{html.escape(p.removeprefix(kind + "/").removesuffix(".html"))}</a></li>'
            for p in pages
        )
        return f"<ul>{items}</ul>"

    return (
        '<section style="margin:16px"><h2>期望套件（Expectation Suites）</h2>'
        + links("expectations")
        + "<h2>校验结果（Validation Results）</h2>"
        + links("validations")
        + "</section>"
    )
