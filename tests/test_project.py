"""Project hygiene that users rely on: one dependency list, docs generated from the contract."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib

import pytest
import yaml

from audit.catalogue import render_catalogue
from audit.dictionary import render_dictionary
from conftest import REPO


def _name(spec: str) -> str:
    return re.split(r"[<>=!~\s\[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_lists_the_runtime_packages_of_pyproject():
    """The conda environment (the reviewer's install on Windows) has what running needs, as `make
    setup` does; developers add the dev extra with pip."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_name(s) for s in project["dependencies"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    conda = {_name(d) for d in env["dependencies"] if isinstance(d, str)} - {"python", "pip"}
    pip = [d for section in env["dependencies"] if isinstance(section, dict) for d in section.get("pip", [])]
    assert conda | ({_name(d) for d in pip} - {"-e"}) == wanted  # a package missing from conda-forge is listed under pip:
    assert "-e ." in [d.split("#")[0].strip() for d in pip]  # the project itself, so `audit` is on PATH
    assert "python=3.11" in env["dependencies"]


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


def _dry_run(target: str) -> list[str]:
    """The commands `make <target>` runs from a fresh clone (`-B`: as if nothing were installed)."""
    done = subprocess.run(
        ["make", "-n", "-B", "--no-print-directory", target], cwd=REPO, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def _pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "pip install" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_the_reviewers_targets_install_only_what_running_needs_and_test_adds_the_dev_extra():
    for target in ("setup", "demo", "lab"):
        lines = _dry_run(target)
        installs = _pip_installs(lines)
        assert any("-e ." in line for line in installs), (target, installs)
        assert not any("[dev]" in line for line in installs), f"make {target} installs the dev extra: {installs}"
        assert all("-c constraints.txt" in line for line in installs), installs  # the lock
        assert all("--quiet" not in line and " -q " not in line for line in installs), installs  # not silent for minutes
        said = "\n".join(line for line in lines if line.startswith("echo "))
        assert "正在创建虚拟环境" in said and "正在安装运行所需的软件包" in said, said
    for target in ("test", "lint"):
        installs = _pip_installs(_dry_run(target))
        assert any("-e '.[dev]'" in line and "-c constraints.txt" in line for line in installs), (target, installs)
        assert any("-e ." in line and "[dev]" not in line for line in installs), installs  # the same runtime install first


def _requirement_closure(names: set[str]) -> set[str]:
    """Distributions installed for `names` (normalised), following their requirements (no extras)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in requires:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                pending.append(_name(requirement.name))
    return seen


def test_everything_the_library_and_notebooks_import_comes_with_the_runtime_dependencies():
    from importlib import metadata

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = _requirement_closure({_name(s) for s in project["dependencies"]})
    dev_only = {_name(s) for s in project["optional-dependencies"]["dev"]} - runtime
    assert {"duckdb", "playwright", "pytest", "ruff"} <= dev_only  # the split is real: these come with `make test` only
    distributions = metadata.packages_distributions()
    sources = [*sorted((REPO / "src" / "audit").rglob("*.py")), *sorted((REPO / "notebooks").glob("*.py"))]
    missing = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top == "audit":
                    continue
                provided = {_name(d) for d in distributions.get(top, [])}
                if not provided & runtime:
                    missing.append(
                        f"{path.relative_to(REPO)}:{node.lineno}: {module} ({', '.join(sorted(provided)) or 'not installed'})"
                    )
    assert not missing, "imported at run time but not a runtime dependency:\n" + "\n".join(missing)


def _reviewer_part() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_readme_is_a_short_chinese_guide_for_reviewers_and_the_developer_material_is_in_docs():
    readme = _reviewer_part()
    prose = re.sub(r"```.*?```|`[^`]*`|\[[^\]]*\]\([^)]*\)|<[^>]+>", "", readme, flags=re.DOTALL)
    han = len(re.findall(r"[\u4e00-\u9fff]", prose))
    latin = len(re.findall(r"[A-Za-z]", prose))
    assert han > 4 * latin, (han, latin)  # Chinese, not English
    assert len(readme.encode("utf-8")) < 12_000  # short: the developer material lives in docs/development.md
    for needed in ("audit run", "--quarter", "index.html", "findings.xlsx", "quarantine.csv", "audit inspect", "--mapping"):
        assert needed in readme, needed
    windows = readme.split("## 在 Windows 上运行", 1)[1].split("\n## ", 1)[0]
    assert "conda env create -f environment.yml" in windows and "conda activate audit" in windows and "audit run" in windows
    guide = (REPO / "docs" / "development.md").read_text(encoding="utf-8")
    assert "docs/development.md" in readme
    for moved in (
        "## What the toolkit guarantees",
        "## Benchmarks",
        "spark.md",
        "## Layout",
        "CI=true",
        "chromium",
        "Exit codes:",
    ):
        assert moved not in readme and moved in guide, moved


def test_every_command_the_readme_gives_exists_with_its_options():
    from typer.main import get_command

    from audit.cli import app

    cli = get_command(app)
    blocks = re.findall(r"```(?:sh|bat)\n(.*?)```", _reviewer_part(), flags=re.DOTALL)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    commands = [line.split()[1:] for line in lines if line.startswith((".venv/bin/audit ", "audit "))]
    commands += [c.strip("`").split()[1:] for c in re.findall(r"`(?:\.venv/bin/)?audit [^`]+`", _reviewer_part())]
    assert len(commands) >= 4
    for words in commands:
        command = cli
        while words and words[0] in getattr(command, "commands", {}):
            command, words = command.commands[words[0]], words[1:]
        assert command is not cli, words
        known = {opt for param in command.params for opt in param.opts}
        assert {w for w in words if w.startswith("--")} <= known, (command.name, words)
    targets = re.findall(r"^make (\w+)", _reviewer_part(), flags=re.MULTILINE) + re.findall(r"`make (\w+)`", _reviewer_part())
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert targets and all(re.search(rf"^{t}:", makefile, flags=re.MULTILINE) for t in targets), targets


def test_the_readmes_mapping_example_is_a_valid_mapping_file(tmp_path):
    from audit.contract import load_contract
    from audit.mapping import load_mapping

    example = re.search(r"```yaml\n(.*?)```", _reviewer_part(), flags=re.DOTALL)
    assert example is not None
    path = tmp_path / "映射.yaml"
    path.write_text(textwrap.dedent(example.group(1)), encoding="utf-8")
    mapping = load_mapping(path, load_contract())
    assert mapping.branches and mapping.tables and mapping.headers
