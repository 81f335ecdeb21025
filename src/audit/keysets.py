"""Reference checks for GX: "every value of this column is a key of that table" (a member's
branch, an attendance row's meeting), with the keys held by the run instead of written into the
expectation.

GX's own `expect_column_values_to_be_in_set` keeps its value set in the expectation, and GX
serialises an expectation's arguments each time it reads them (about a hundred times an
expectation): with a district's 30,000 member ids and 110,000 meeting ids that was five sixths of
the record-quality time. `expect_column_values_to_be_keys_of` takes a short token instead; the
token names a key set `held` for the duration of the run, and the metric looks the set up. GX
still judges: it is a column map expectation like any other (unexpected rows and their index
columns, `mostly`, success), and its condition is the one GX's in-set metric computes
(`column.isin(keys)`).

The token is the parameter's name and a digest of its keys, so a run's results and Data Docs name
the same token for the same keys, and a token never reaches a set other than its own.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

KIND = "expect_column_values_to_be_keys_of"


@dataclass(frozen=True)
class Held:
    """One held key set: as pandas holds it, and as an Arrow string array when every key is text."""

    index: Any  # pandas.Index
    text: Any  # pyarrow.StringArray | None


_HELD: dict[str, Held] = {}  # token -> the keys, while a run holds them
_HOLDERS: dict[str, int] = {}  # token -> how many runs hold it (threads may validate the same keys at once)
_LOCK = threading.Lock()


def token(name: str, keys: Iterable[Any]) -> str:
    """`keys__members__member_id@3f2a…`: the parameter's name and a digest of its keys (in
    their sorted order, each as text, length-prefixed: no two lists of keys give the same bytes,
    whatever characters an id holds)."""
    digest = hashlib.sha256()
    for key in keys:
        data = str(key).encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "little") + data)
    return f"{name}@{digest.hexdigest()[:16]}"


@contextmanager
def held(parameters: dict[str, Any], names: Iterable[str]) -> Iterator[dict[str, Any]]:
    """The parameters with each key set named by `names` replaced by its token, the sets held
    for the metric until the block ends (also when it raises)."""
    import pandas as pd  # type: ignore[import-untyped]
    import pyarrow as pa

    own = dict(parameters)
    tokens = []
    for name in names:
        keys = sorted(parameters[name])
        own[name] = token(name, keys)
        with _LOCK:
            if own[name] not in _HELD:
                text = pa.array(keys, type=pa.string()) if all(isinstance(k, str) for k in keys) else None
                _HELD[own[name]] = Held(pd.Index(keys), text)
            _HOLDERS[own[name]] = _HOLDERS.get(own[name], 0) + 1
            tokens.append(own[name])
    try:
        yield own
    finally:
        with _LOCK:
            for name in tokens:  # the last holder of a token releases its keys
                _HOLDERS[name] -= 1
                if not _HOLDERS[name]:
                    del _HOLDERS[name], _HELD[name]


def keys_of(name: str) -> Held:
    """The keys a token names; a token no run holds is a programming error, never a silent pass."""
    try:
        return _HELD[name]
    except KeyError:
        raise RuntimeError(f"引用检查的键集合 {name} 未登记（应在 keysets.held 中运行）") from None


def is_in(column: Any, keys: Held) -> Any:
    """`column.isin(keys)`: the same booleans, computed by Arrow for a text column — pandas 3's
    `isin` on its Arrow-backed text makes a pyarrow scalar of each key, about a second per call
    for a district's 110,000 meeting ids and a 1.8-million-row column (Arrow: a tenth of it)."""
    import pandas as pd  # type: ignore[import-untyped]
    import pyarrow as pa
    import pyarrow.compute as pc

    if keys.text is None or not isinstance(column.dtype, pd.StringDtype):
        return column.isin(keys.index)
    found = pc.is_in(pa.array(column, type=pa.string(), from_pandas=True), value_set=keys.text)
    return pd.Series(found.to_numpy(zero_copy_only=False), index=column.index, dtype=bool)


def _sentence(with_column: bool) -> str:
    """The expectation in Data Docs' words (both GX renderers), with its column or under it."""
    return ("$column " if with_column else "") + "values must be keys of $keys."


@functools.cache
def register() -> None:
    """Defines the expectation and its metric, which registers both with GX (once a process; GX
    is imported only by the runs that validate)."""
    import pandas as pd  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from great_expectations.execution_engine import PandasExecutionEngine
        from great_expectations.expectations.expectation import ColumnMapExpectation
        from great_expectations.expectations.metrics.map_metric_provider import ColumnMapMetricProvider, column_condition_partial
        from great_expectations.render import LegacyRendererType, RenderedStringTemplateContent
        from great_expectations.render.renderer.renderer import renderer
        from great_expectations.render.renderer_configuration import RendererConfiguration, RendererValueType

    class ColumnValuesKeysOf(ColumnMapMetricProvider):
        """Whether each value is one of the held keys (nulls are left out by GX, as for in-set)."""

        condition_metric_name = "column_values.keys_of"
        condition_value_keys = ("keys",)

        @column_condition_partial(engine=PandasExecutionEngine)
        def _pandas(cls, column: pd.Series, keys: str, **kwargs: Any) -> pd.Series:
            return is_in(column, keys_of(keys))

    class ExpectColumnValuesToBeKeysOf(ColumnMapExpectation):
        """Expect each value of a column to be a key of another table, the keys named by a token
        `held` for the run (a `$PARAMETER` in the committed suites)."""

        keys: str | dict  # a token, or the `$PARAMETER` naming it (GX's SuiteParameterDict is a dict)
        map_metric = "column_values.keys_of"
        args_keys = ("column", "keys")
        domain_keys: ClassVar[tuple[str, ...]] = ("column", "row_condition", "condition_parser")
        success_keys = ("keys", "mostly")

        @classmethod
        def _prescriptive_template(cls, renderer_configuration: RendererConfiguration) -> RendererConfiguration:
            renderer_configuration.add_param(name="column", param_type=RendererValueType.STRING)
            renderer_configuration.add_param(name="keys", param_type=RendererValueType.STRING)
            renderer_configuration.template_str = _sentence(renderer_configuration.include_column_name)
            return renderer_configuration

        @classmethod
        @renderer(renderer_type=LegacyRendererType.PRESCRIPTIVE)
        def _prescriptive_renderer(
            cls, configuration: Any = None, result: Any = None, runtime_configuration: dict | None = None
        ) -> list[Any]:
            """Data Docs' sentence: `meeting_id values must be keys of keys__meetings__meeting_id`
            (the token's digest left out: it names the run's keys, not the rule)."""
            runtime_configuration = runtime_configuration or {}
            kwargs = configuration.kwargs if configuration is not None else {}
            keys = kwargs.get("keys")
            named = keys.get("$PARAMETER", "") if isinstance(keys, dict) else str(keys or "").partition("@")[0]
            template = _sentence(runtime_configuration.get("include_column_name", True) is not False)
            return [
                RenderedStringTemplateContent(
                    content_block_type="string_template",
                    string_template={
                        "template": template,
                        "params": {"column": kwargs.get("column"), "keys": named},
                        "styling": runtime_configuration.get("styling", {}),
                    },
                )
            ]
