"""Record-quality suites: what ingestion let through that is still doubtful.

The suites are derived from the export contract (contract.yaml) and the `quality` section of the
standard file, so they cannot drift from what ingestion reads; `audit suites` writes them to
`expectations/quality.*.json` for review, and a test keeps that copy current. Bounds that depend on
the batch (its data window, the set of valid keys, today's date) are expectation parameters.
"""

from __future__ import annotations

import datetime as dt
import json
import pickle
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl

from audit import keysets
from audit.contract import Contract, Table, load_contract
from audit.dues import DERIVED_IF_ABSENT
from audit.helpers import Helper
from audit.paths import EXPECTATIONS
from audit.standard import Standard
from audit.suites import SUITE_NAMESPACE, SuiteRun, Validator, suite_columns

ID_STATUS_ZH = {
    "mangled": "被 Excel 转成科学计数法",
    "lost_check": "末位丢失",
    "bad_length": "位数不对",
    "bad_checksum": "校验位不符",
    "bad_birth": "出生日期无效",
    "old15": "15 位旧号码",
}
QUALITY_COLUMNS = ["table", "file", "sheet", "row", "column", "value", "check", "message"]
_NS = SUITE_NAMESPACE  # the standard suites share it (suites.build_standard_suites)
# dates of activity must fall inside the batch's window; the rest only must not be in the future
WINDOW_DATES = {
    ("meetings", "held_on"),
    ("venues", "checked_on"),
    ("points", "month"),
    ("dues", "month"),
    ("dues_disclosures", "month"),
}
LATE_DATES = {
    ("dues", "paid_on"),
    ("points", "published_on"),
    ("dues_disclosures", "published_on"),
    ("dues_disclosures", "reported_on"),
}
KEYS = "keys__"  # the parameters holding a table's keys for the reference checks (`keysets`)
ROW_KEYS = ["_file", "_sheet", "_row"]  # what names a failing row (`collect_quality`)
# From this many rows in the tables, `audit run` has a helper process run the suites (`QualityJob`):
# the helper imports GX once more (about four seconds of a core), which pays only when the suites
# take longer than that; the bundled sample is checked in the run's process, as before.
PARALLEL_QUALITY_ROWS = 500_000
POINT_COLUMNS = ("base_points", "bonus_points", "penalty_points", "total_points")
COUNT_PAIRS = {
    "meetings": [("expected_count", "present_count")],
    "development": [("voters_expected", "voters_present"), ("voters_present", "votes_for")],
}


def _expectation(suite: str, kind: str, kwargs: dict[str, Any], check: str, message: str, label: str) -> dict[str, Any]:
    key = json.dumps([suite, kind, kwargs], ensure_ascii=False, sort_keys=True)
    return {
        "id": str(uuid.uuid5(_NS, key)),
        "type": kind,
        "kwargs": kwargs,
        "meta": {"check": check, "message": message, "label": label},
    }


def build_quality_suite(table: Table) -> dict[str, Any]:
    """The record-quality suite of one table, as the JSON dict GX loads."""
    name = f"quality.{table.name}"
    out = []
    for column in table.columns.values():
        label = column.label
        # a column a sheet may leave out (dues' 应交金额, `audit.dues`) is null in such rows; a sheet
        # that has it cannot leave a cell blank (ingestion quarantines the row)
        if column.required and (table.name, column.name) not in DERIVED_IF_ABSENT:
            out.append(
                _expectation(
                    name, "expect_column_values_to_not_be_null", {"column": column.name}, "必填", f"必填项「{label}」为空", label
                )
            )
        if column.values:
            out.append(
                _expectation(
                    name,
                    "expect_column_values_to_be_in_set",
                    {"column": column.name, "value_set": list(column.values)},
                    "取值范围",
                    f"「{label}」取值「{{value}}」不在允许范围内",
                    label,
                )
            )
        if column.ref:
            target = column.ref.replace(".", "__")
            out.append(
                _expectation(
                    name,
                    keysets.KIND,
                    {"column": column.name, "keys": {"$PARAMETER": f"{KEYS}{target}"}},
                    "引用",
                    f"「{label}」{{value}} 在被引用的表中不存在",
                    label,
                )
            )
        if column.type in ("date", "month"):
            if (table.name, column.name) in WINDOW_DATES:
                bounds, message = ("window_start", "window_end"), f"「{label}」{{value}} 不在本批数据期间内"
            elif (table.name, column.name) in LATE_DATES:
                bounds, message = ("early_start", "late_end"), f"「{label}」{{value}} 与本批数据期间相差过远"
            else:
                bounds, message = ("earliest", "today"), f"「{label}」{{value}} 早于1900年或晚于今天"
            out.append(
                _expectation(
                    name,
                    "expect_column_values_to_be_between",
                    {"column": column.name, "min_value": {"$PARAMETER": bounds[0]}, "max_value": {"$PARAMETER": bounds[1]}},
                    "日期范围",
                    message,
                    label,
                )
            )
        if column.type == "number" and column.min is not None:
            out.append(
                _expectation(
                    name,
                    "expect_column_values_to_be_between",
                    {"column": column.name, "min_value": column.min},
                    "数值范围",
                    f"「{label}」{{value}} 小于 {column.min:g}",
                    label,
                )
            )
        if table.name == "points" and column.name in POINT_COLUMNS:
            out.append(
                _expectation(
                    name,
                    "expect_column_values_to_be_between",
                    {"column": column.name, "min_value": {"$PARAMETER": "points_min"}, "max_value": {"$PARAMETER": "points_max"}},
                    "积分范围",
                    f"「{label}」{{value}} 超出积分的合理范围",
                    label,
                )
            )
        if column.type == "id_number":
            out.append(
                _expectation(
                    name,
                    "expect_column_values_to_be_in_set",
                    {"column": "id_number_status", "value_set": ["ok", "missing"]},
                    "身份证号校验",
                    "身份证号未通过 GB 11643 校验：{value}",
                    label,
                )
            )
    if len(table.key) == 1:
        key_label = table.columns[table.key[0]].label
        out.append(
            _expectation(
                name, "expect_column_values_to_be_unique", {"column": table.key[0]}, "唯一键", f"「{key_label}」重复", key_label
            )
        )
    else:
        labels = "、".join(table.columns[k].label for k in table.key)
        out.append(
            _expectation(
                name,
                "expect_compound_columns_to_be_unique",
                {"column_list": list(table.key)},
                "唯一键",
                f"（{labels}）重复",
                labels,
            )
        )
    for big, small in COUNT_PAIRS.get(table.name, []):
        a, b = table.columns[big].label, table.columns[small].label
        out.append(
            _expectation(
                name,
                "expect_column_pair_values_a_to_be_greater_than_b",
                {"column_A": big, "column_B": small, "or_equal": True, "ignore_row_if": "either_value_is_missing"},
                "人数关系",
                f"「{b}」大于「{a}」",
                f"{a}/{b}",
            )
        )
    return {
        "name": name,
        "id": str(uuid.uuid5(_NS, name)),
        "meta": {"table": table.name, "source": "src/audit/contract.yaml"},
        "expectations": out,
        "notes": None,
    }


def write_quality_suites(folder: Path = EXPECTATIONS, contract: Contract | None = None) -> list[Path]:
    contract = contract or load_contract()
    written = []
    for table in contract.tables.values():
        path = folder / f"quality.{table.name}.json"
        path.write_text(json.dumps(build_quality_suite(table), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        written.append(path)
    return written


def quality_parameters(
    tables: dict[str, pl.DataFrame],
    window: tuple[dt.date, dt.date] | None,
    standard: Standard,
    today: dt.date | None = None,
    contract: Contract | None = None,
) -> dict[str, Any]:
    contract = contract or load_contract()
    today = today or dt.date.today()
    start, end = window or (dt.date(1900, 1, 1), today)

    def stamp(day: dt.date) -> dt.datetime:
        return dt.datetime(day.year, day.month, day.day)

    params: dict[str, Any] = {
        "window_start": stamp(start),
        "window_end": stamp(end),
        "early_start": stamp(dt.date(start.year - 1, start.month, 1)),
        "late_end": stamp(min(today, end + dt.timedelta(days=366))),
        "earliest": stamp(dt.date(1900, 1, 1)),
        "today": stamp(today),
        "points_min": standard.quality.get("points_min", -1000),
        "points_max": standard.quality.get("points_max", 1000),
    }
    for table in contract.tables.values():
        for column in table.columns.values():
            if column.ref:
                target_table, target_column = column.ref.split(".")
                params[f"{KEYS}{target_table}__{target_column}"] = sorted(
                    tables[target_table].get_column(target_column).drop_nulls().unique().to_list()
                )
    return params


def run_quality(
    validator: Validator, tables: dict[str, pl.DataFrame], parameters: dict[str, Any], folder: Path = EXPECTATIONS
) -> list[SuiteRun]:
    """Each table's quality suite run by GX on that table; the reference checks' key sets are held
    for the run and named by their tokens (`keysets`), not copied into the expectations."""
    runs = []
    with keysets.held(parameters, [name for name in parameters if name.startswith(KEYS)]) as own:
        for name, frame in tables.items():
            suite = json.loads((folder / f"quality.{name}.json").read_text(encoding="utf-8"))
            runs.append(validator.run(suite, frame, ROW_KEYS, own))
    return runs


class QualityJob:
    """The record-quality suites run by a helper process (`audit.helpers`) while this process goes
    on with the facts and the standard's checks. The helper is given the columns each suite reads
    (Arrow files) and the parameters in a scratch folder of its own (beside the Data Docs, so inside
    the run's output folder, or in the system's temporary folder), writes its Data Docs pages there,
    and answers with `collect_quality`'s table; the pages are then moved into the run's Data Docs
    (the same pages as when the run checks the tables itself: the index lists what is on disk,
    `suites.offline_data_docs`). The scratch folder is removed however the job ends."""

    def __init__(self, helper: Helper, scratch: Path, data_docs: Path | None):
        self.helper, self.scratch, self.data_docs = helper, scratch, data_docs

    @classmethod
    def start(
        cls,
        tables: dict[str, pl.DataFrame],
        parameters: dict[str, Any],
        data_docs: Path | None,
        jobs: int,
        folder: Path = EXPECTATIONS,
    ) -> QualityJob | None:
        """The job started, or None when the suites are better run here (one job, few rows) or no
        helper could be started or told (then the caller runs them)."""
        if jobs <= 1 or sum(frame.height for frame in tables.values()) < PARALLEL_QUALITY_ROWS:
            return None
        helper = Helper.start("audit.quality:serve_quality", preload=("audit.suites:import_gx",))
        if helper is None:
            return None
        try:
            scratch = Path(tempfile.mkdtemp(prefix=".quality-", dir=data_docs.parent if data_docs is not None else None))
        except OSError:
            helper.stop()
            return None
        job = cls(helper, scratch, data_docs)
        try:
            for name, frame in tables.items():
                suite = json.loads((folder / f"quality.{name}.json").read_text(encoding="utf-8"))
                columns = list(dict.fromkeys([*ROW_KEYS, *suite_columns(suite)]))
                frame.select(columns).write_ipc(scratch / f"{name}.arrow", compression="uncompressed")
            request = (list(tables), parameters, str(folder), data_docs is not None)
            (scratch / "request.pickle").write_bytes(pickle.dumps(request, protocol=pickle.HIGHEST_PROTOCOL))
        except OSError:  # no room for the scratch files: the caller runs the suites
            job.stop()
            return None
        except BaseException:
            job.stop()
            raise
        if not helper.tell(str(scratch)):
            job.stop()
            return None
        return job

    def result(self) -> pl.DataFrame | None:
        """The suites' findings once the helper is done (its Data Docs pages moved into place), or
        None when it failed: the caller then runs the suites itself."""
        try:
            found = self.helper.result()
            if not isinstance(found, pl.DataFrame) or found.columns != QUALITY_COLUMNS:
                return None
            if self.data_docs is not None:
                _move_pages(self.scratch / "data-docs", self.data_docs)
            return found
        finally:
            self.stop()

    def stop(self) -> None:
        self.helper.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)


def serve_quality(scratch: str) -> pl.DataFrame:
    """A quality helper's function (`QualityJob`): the suites run on the tables in `scratch`."""
    folder = Path(scratch)
    names, parameters, suites, docs = pickle.loads((folder / "request.pickle").read_bytes())
    tables = {name: pl.read_ipc(folder / f"{name}.arrow") for name in names}
    validator = Validator(data_docs=folder / "data-docs" if docs else None)
    return collect_quality(run_quality(validator, tables, parameters, Path(suites)))


def _move_pages(source: Path, target: Path) -> None:
    """A helper's Data Docs pages moved into the run's: every file the run's site lacks (its own
    index and the static files GX writes for every site stay as they are)."""
    if not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        there = target / path.relative_to(source)
        if path.is_file() and not there.exists():
            there.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, there)


def _shown(value: object) -> str:
    """A value GX hands back for a failing row, as the export showed it: what the crossing to pandas
    made of a blank (None, NaN, NaT, pandas' NA) is nothing, a whole number that became a float
    (an integer column with blanks) has no ".0", a timestamp is its ISO date."""
    import pandas as pd  # type: ignore[import-untyped]  # loaded: GX handed the value back from pandas

    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.date().isoformat()
    return str(value)


def collect_quality(runs: list[SuiteRun]) -> pl.DataFrame:
    rows = []
    for run in runs:
        table = run.name.removeprefix("quality.")
        for item in run.result.results:
            if item.success:
                continue
            meta, kwargs = item.expectation_config.meta, item.expectation_config.kwargs
            column = kwargs.get("column") or kwargs.get("column_A") or ",".join(kwargs.get("column_list", []))
            for entry in item.result.get("unexpected_index_list") or []:
                value = _shown(entry.get(column))
                if column == "id_number_status":
                    value = ID_STATUS_ZH.get(value, value)
                rows.append(
                    {
                        "table": table,
                        "file": _shown(entry.get("_file")),
                        "sheet": _shown(entry.get("_sheet")),
                        "row": entry.get("_row"),
                        "column": meta["label"],
                        "value": value,
                        "check": meta["check"],
                        "message": meta["message"].replace("{value}", value),
                    }
                )
    schema = {c: pl.Int64 if c == "row" else pl.String for c in QUALITY_COLUMNS}
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.unique(maintain_order=True).sort("table", "file", "sheet", "row", "column")
