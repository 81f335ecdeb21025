"""The standard's GX expectation suites, built from its declared checks, and running suites on polars frames.

Every `check` of a rule part in expectations/standard.yaml becomes one expectation of the suite
`standard.<fact>`; thresholds are `$PARAMETER` references, ids are uuid5 of what the expectation
is, so the suites are generated, never copied (`audit suites` writes them for review; runs build
them in memory from the run's standard). GX has no polars support, so frames cross to pandas here
and nowhere else. Analytics and progress bars are switched off before GX is imported.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from audit import keysets
from audit.paths import EXPECTATIONS, REPO
from audit.standard import Bound, Check, Part, Rule, Standard

os.environ["GX_ANALYTICS_ENABLED"] = "False"

# COMPLETE: every failing row's keys (`unexpected_index_list`), which findings and data_quality
# need; not the pandas "query" GX would also build from them (nothing reads it)
RESULT_FORMAT = "COMPLETE"
# pandas' nanosecond timestamps span these dates; GX compares such a column to its bounds whole
# (a date column in another unit it compares one Python value at a time)
_NS_DATES = (dt.date(1677, 9, 22), dt.date(2262, 4, 11))
# The namespace of the uuid5 ids of every generated suite and expectation (quality and standard)
SUITE_NAMESPACE = uuid.UUID("0b0f8c52-6c3e-4f0a-a0a5-5a8c2c7d4e21")


@dataclass(frozen=True)
class SuiteRun:
    """The outcome of one suite on one frame: GX's result object plus what it ran on."""

    name: str
    frame: pl.DataFrame
    keys: list[str]
    result: Any  # great_expectations ExpectationSuiteValidationResult


def suite_text(suite: dict[str, Any]) -> str:
    """A suite as the committed JSON file holds it."""
    return json.dumps(suite, ensure_ascii=False, indent=2) + "\n"


def _bound_value(rule: Rule, bound: Bound) -> Any:
    """A threshold as a `$PARAMETER` reference (`OL2_min_meetings`); a structural literal as itself."""
    name = bound.threshold
    return {"$PARAMETER": f"{rule.parameter_prefix}_{name}"} if name is not None else bound.value


def check_expectation(rule: Rule, check: Check) -> tuple[str, dict[str, Any]]:
    """The GX expectation type and kwargs that judge one check of `rule`."""
    if check.than is not None:
        kwargs: dict[str, Any] = {"column_A": check.column, "column_B": check.than}
        if not check.than_strict:
            kwargs["or_equal"] = True
        if check.ignore_row_if is not None:
            kwargs["ignore_row_if"] = check.ignore_row_if
        return "expect_column_pair_values_a_to_be_greater_than_b", kwargs
    if check.is_true:
        return "expect_column_values_to_be_in_set", {"column": check.column, "value_set": [True]}
    kwargs = {"column": check.column}
    for bound, side in ((check.low, "min"), (check.high, "max")):
        if bound is not None:
            kwargs[f"{side}_value"] = _bound_value(rule, bound)
            if bound.strict:
                kwargs[f"strict_{side}"] = True
    return "expect_column_values_to_be_between", kwargs


def _standard_expectation(suite: str, standard: Standard, rule: Rule, part: Part, check: Check) -> dict[str, Any]:
    """One expectation with its meta (what `collect_findings` and the scorecard read); the id is
    uuid5 of suite, rule, part, expectation type and columns, so it survives threshold edits."""
    kind, kwargs = check_expectation(rule, check)
    key = json.dumps([suite, rule.id, part.name, kind, list(check.columns)], ensure_ascii=False)
    meta: dict[str, Any] = {
        "rule_id": rule.id,
        "part": None if part.name == "main" else part.name,
        "clause": rule.clause,
        "dimension": rule.dimension,
        "severity": part.severity,
        "evidence": check.evidence,
    }
    if check.period_column is not None:
        meta["period_column"] = check.period_column
    meta["standard_version"] = standard.version
    return {"id": str(uuid.uuid5(SUITE_NAMESPACE, key)), "type": kind, "kwargs": kwargs, "meta": meta}


def _standard_source(standard: Standard) -> str:
    """The standard file as a suite's meta names it: relative to the repository, or its file name."""
    path = standard.path
    if path is None:
        return ""
    try:
        return path.resolve().relative_to(REPO).as_posix()
    except ValueError:
        return path.name


def build_standard_suites(standard: Standard) -> dict[str, dict[str, Any]]:
    """The standard suites by fact name, as the JSON dicts GX loads: one suite per fact a check
    names, its expectations in the order of the standard file's rules and parts; a disabled rule
    contributes none."""
    from audit.facts import FACTS

    expectations: dict[str, list[dict[str, Any]]] = {}
    for rule in standard.rules.values():
        for part in rule.parts.values():
            for check in part.checks:
                bucket = expectations.setdefault(check.fact, [])
                if rule.enabled:
                    bucket.append(_standard_expectation(f"standard.{check.fact}", standard, rule, part, check))
    return {
        fact: {
            "name": f"standard.{fact}",
            "id": str(uuid.uuid5(SUITE_NAMESPACE, f"standard.{fact}")),
            "meta": {"fact": fact, "standard": _standard_source(standard)},
            "expectations": expectations[fact],
            "notes": None,
        }
        for fact in sorted(expectations, key=list(FACTS).index)
    }


def write_standard_suites(standard: Standard, folder: Path = EXPECTATIONS) -> list[Path]:
    """Write `standard.<fact>.json` for review and remove any that the standard no longer generates."""
    suites = build_standard_suites(standard)
    written = []
    for fact, suite in suites.items():
        path = folder / f"standard.{fact}.json"
        path.write_text(suite_text(suite), encoding="utf-8")
        written.append(path)
    for stale in set(folder.glob("standard.*.json")) - set(written):
        stale.unlink()
    return written


# jsonschema (which GX imports through altair) builds rfc3987_syntax's grammar as it is imported when
# that package is installed (jupyterlab's jupyter-events brings it): 1.2 of GX's 3.4 s import, for
# the "iri" formats GX never checks.
_NOT_FOR_GX = ("rfc3987_syntax",)


def import_gx() -> Any:
    """great_expectations, imported without `_NOT_FOR_GX` (jsonschema then registers no "iri" format
    checker in this process; the package itself can still be imported afterwards)."""
    hidden = [name for name in _NOT_FOR_GX if name not in sys.modules]
    try:
        for name in hidden:
            sys.modules[name] = None  # type: ignore[assignment]  # an import of it raises ImportError
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations as gx
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return gx


class Validator:
    """One ephemeral GX context for a run; validates frames against suites given as dicts."""

    def __init__(self, data_docs: Path | None = None):
        gx = import_gx()
        keysets.register()  # the reference checks' expectation (quality suites)
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
                result_format={
                    "result_format": RESULT_FORMAT,
                    "unexpected_index_column_names": keys,
                    "return_unexpected_index_query": False,
                },
            )
        )
        data = to_pandas(frame.select(list(dict.fromkeys([*keys, *suite_columns(suite)]))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = checkpoint.run(batch_parameters={"dataframe": data}, expectation_parameters=parameters)
        [result] = outcome.run_results.values()
        for item in result.results:
            for info in _raised(item.exception_info):
                raise RuntimeError(f"{name} 中的期望 {item.expectation_config.type} 执行失败：{info.get('exception_message')}")
        return SuiteRun(name, frame, keys, result)


def _raised(info: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The exceptions an expectation's result reports: GX gives one flat record when the
    expectation itself raised, and one record per metric id when a metric failed to resolve
    (which a flat lookup missed: the expectation then only looked failed, without its rows)."""
    if not info:
        return []
    if "raised_exception" in info:
        return [info] if info["raised_exception"] else []
    return [record for record in info.values() if isinstance(record, dict) and record.get("raised_exception")]


def suite_columns(suite: dict[str, Any]) -> list[str]:
    """The columns a suite's expectations read, in the order they first name them: all GX is given
    of a frame besides its keys (no long texts it never looks at)."""
    names: dict[str, None] = {}
    for expectation in suite["expectations"]:
        kwargs = expectation["kwargs"]
        for column in (kwargs.get("column"), kwargs.get("column_A"), kwargs.get("column_B"), *kwargs.get("column_list", [])):
            if column is not None:
                names.setdefault(column)
    return list(names)


def to_pandas(frame: pl.DataFrame):
    """The one crossing from polars to pandas; dates stay datetime-like, nullable values stay null.
    A date column whose dates all fit becomes nanosecond timestamps, the unit GX compares to a
    date range in one vectorised step (the same judgement as its per-value fallback)."""
    dates = [name for name, dtype in frame.schema.items() if dtype == pl.Date and _fits_ns(frame.get_column(name))]
    if dates:
        frame = frame.with_columns(pl.col(dates).cast(pl.Datetime("ns")))
    return frame.to_pandas(use_pyarrow_extension_array=False)


def _fits_ns(column: pl.Series) -> bool:
    """Whether every date of a column lies in pandas' nanosecond range."""
    low, high = column.min(), column.max()
    if not isinstance(low, dt.date) or not isinstance(high, dt.date):
        return True  # no dates at all (an empty or all-null column)
    return bool(_NS_DATES[0] <= low and high <= _NS_DATES[1])


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
