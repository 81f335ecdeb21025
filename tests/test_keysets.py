"""The record-quality reference checks (`audit.keysets`): GX judges "every value is a key of that
table" with the keys held by the run, not copied into the expectation (GX serialised a 110,000-id
value set about a hundred times an expectation)."""

from __future__ import annotations

import json

import polars as pl
import pytest

from audit import keysets
from audit.suites import Validator
from conftest import reference_suite

SUITE = reference_suite("quality.attendance", "meeting_id", "keys__meetings__meeting_id")


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "meeting_id": ["HD1", "HD404", None, "HD2", "hd1"],
            "_file": ["a.xlsx"] * 5,
            "_sheet": ["参会"] * 5,
            "_row": [2, 3, 4, 5, 6],
        }
    )


def _run(keys: list[str], validator: Validator | None = None):
    parameters = {"keys__meetings__meeting_id": keys, "other": 1}
    with keysets.held(parameters, ["keys__meetings__meeting_id"]) as own:
        run = (validator or Validator()).run(json.loads(json.dumps(SUITE)), _frame(), ["_file", "_sheet", "_row"], own)
    [item] = run.result.results
    return own, item


def test_gx_lists_the_rows_whose_value_is_no_key_and_leaves_blanks_alone():
    own, item = _run(["HD1", "HD2", "HD3"])
    assert not item.success
    assert [(e["_row"], e["meeting_id"]) for e in item.result["unexpected_index_list"]] == [(3, "HD404"), (6, "hd1")]
    assert item.result["element_count"] == 5 and item.result["missing_count"] == 1
    assert own["other"] == 1  # other parameters pass through unchanged
    _, passing = _run(["HD1", "HD2", "HD404", "hd1"])
    assert passing.success


def test_the_expectation_carries_a_short_token_never_the_keys():
    """The design's point: the configuration GX reads again and again holds a token, whatever the
    number of keys; the same keys give the same token (reruns stay identical), others another."""
    many = [f"HD{i}" for i in range(100_000)]
    own, item = _run(many)
    kept = item.expectation_config.kwargs["keys"]
    assert kept == own["keys__meetings__meeting_id"] and len(kept) < 60
    assert kept == keysets.token("keys__meetings__meeting_id", sorted(many))
    assert keysets.token("keys__meetings__meeting_id", sorted(many)[1:]) != kept
    # hostile ids: a separator inside an id does not make two sets one
    assert keysets.token("k", ["a\x1fb"]) != keysets.token("k", ["a", "b"])
    assert keysets.token("k", ["ab", ""]) != keysets.token("k", ["a", "b"])
    assert len(json.dumps(item.to_json_dict(), default=str)) < 5_000


def test_held_keys_are_released_and_an_unknown_token_never_passes():
    own, _ = _run(["HD1"])
    with pytest.raises(RuntimeError, match="未登记"):
        keysets.keys_of(own["keys__meetings__meeting_id"])
    with pytest.raises(RuntimeError, match="未登记"):  # GX's failure reaches the run: no silent pass
        Validator().run(
            json.loads(json.dumps(SUITE)), _frame(), ["_file", "_sheet", "_row"], {"keys__meetings__meeting_id": "nobody@0"}
        )
    with pytest.raises(ZeroDivisionError), keysets.held({"k": ["a"]}, ["k"]) as raised:
        raise ZeroDivisionError
    with pytest.raises(RuntimeError):
        keysets.keys_of(raised["k"])


def test_data_docs_state_the_check_in_a_sentence(tmp_path):
    """Data Docs render the expectation as a sentence naming the key set, not GX's fallback of
    the raw arguments (`expect_…(**{…})`), and the digest of the run's keys stays out of it."""
    _run(["HD1", "HD2"], Validator(data_docs=tmp_path / "docs"))
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "docs").rglob("*.html")]
    said = [page for page in pages if "values must be keys of" in page]
    assert said and all("keys__meetings__meeting_id" in page for page in said)
    assert not any("(**{" in page or "keys__meetings__meeting_id@" in page for page in pages)


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_the_arrow_membership_equals_pandas_isin(dtype):
    """`keysets.is_in` (Arrow for text columns) gives pandas' own `isin` booleans: blanks,
    Chinese, full-width and look-alike keys, on pandas' text and object columns alike."""
    import pandas as pd

    keys = ["HD1", "活动２", "M 01", "", "hd1"]
    column = pd.Series(["HD1", None, "活动２", "活动2", "M 01", "M01", "", "HD1 ", "hd1"], dtype=dtype)
    with keysets.held({"k": keys}, ["k"]) as own:
        held = keysets.keys_of(own["k"])
        assert held.text is not None
        got = keysets.is_in(column, held)
    assert got.tolist() == column.isin(keys).tolist() == [True, False, True, False, True, False, True, False, True]


def test_keys_held_by_two_runs_stay_until_both_are_done():
    """Two validations of the same keys at once (threads in JupyterLab) share one token: the
    first to finish released the keys the other was still judging with (`未登记`)."""
    parameters, names = {"k": ["B01", "B02"]}, ["k"]
    first = keysets.held(parameters, names)
    own = first.__enter__()
    second = keysets.held(parameters, names)
    assert second.__enter__() == own
    first.__exit__(None, None, None)
    assert keysets.keys_of(own["k"]).index.tolist() == ["B01", "B02"]  # the second still judges with them
    second.__exit__(None, None, None)
    with pytest.raises(RuntimeError, match="未登记"):
        keysets.keys_of(own["k"])
