"""Project hygiene that users rely on: one dependency list, docs generated from the contract."""

from __future__ import annotations

import re
import tomllib

import yaml

from audit.catalogue import render_catalogue
from audit.dictionary import render_dictionary
from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\s\[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_same_packages_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(s) for s in project["dependencies"]} | {_name(s) for s in project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = {_name(d) for section in env["dependencies"] if isinstance(section, dict) for d in section.get("pip", [])}
    assert conda | (pip - {"-e"}) == wanted  # a package missing from conda-forge is listed under pip:


def test_every_dependency_is_pinned():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pins = {_name(line) for line in (REPO / "constraints.txt").read_text().splitlines() if "==" in line}
    needed = {_name(s) for s in project["dependencies"]} | {_name(s) for s in project["optional-dependencies"]["dev"]}
    assert needed <= pins


def test_core_packages_present():
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = {_name(s) for s in project["dependencies"]}
    assert {"jupyterlab", "pandas", "polars", "plotly", "great-expectations", "papermill", "chinesecalendar", "openpyxl"} <= names
    assert "xlwt" in names  # `audit synth --style platform` writes .xls files


def test_generated_docs_are_up_to_date():
    assert (REPO / "docs" / "data-dictionary.md").read_text(encoding="utf-8") == render_dictionary(), "run `make docs`"
    assert (REPO / "docs" / "rules.md").read_text(encoding="utf-8") == render_catalogue(), "run `make docs`"


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = re.findall(r"^make (\w+)", readme, flags=re.MULTILINE)
    assert commands[:2] == ["demo", "test"]
