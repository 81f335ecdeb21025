# Self-documenting: `make help` lists every target with its `##` line.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SAMPLE := data/raw/xinhua-2019
PLATFORM_SAMPLE := data/raw/xinhua-2019-platform
PROCESSED := data/processed/xinhua-2019
export GX_ANALYTICS_ENABLED := False

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format sample docs lab bench bench-province clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11（$(PYTHON)）"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	$(BIN)/python -c "from audit.report import ensure_kernel; ensure_kernel()"
	touch $(STAMP)

setup: $(STAMP) ## Create .venv and install the pinned dependencies

demo: $(STAMP) ## Run the main job on the bundled sample: validate 2019Q1 and build the offline reports
	@test -d $(SAMPLE) || $(BIN)/audit synth --out $(SAMPLE) --seed 2019
	$(BIN)/audit run $(SAMPLE) --quarter 2019Q1 --out reports/2019Q1
	@echo "总览页面：$(CURDIR)/reports/2019Q1/index.html"

test: $(STAMP) ## Run the whole test suite
	$(BIN)/python -m pytest -q -n $(JOBS)

lint: $(STAMP) ## ruff lint and format check, mypy type check (settings in pyproject.toml)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP) ## ruff format in place
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

sample: $(STAMP) ## Regenerate the bundled sample batches (contract and platform style) from their seed
	rm -rf $(SAMPLE) $(SAMPLE).truth $(PLATFORM_SAMPLE) $(PLATFORM_SAMPLE).truth
	$(BIN)/audit synth --out $(SAMPLE) --seed 2019
	$(BIN)/audit synth --out $(PLATFORM_SAMPLE) --seed 2019 --style platform
	rm -f $(SAMPLE)/.audit-output.json $(PLATFORM_SAMPLE)/.audit-output.json  # bundled as raw exports, not as our output

lab: $(STAMP) ## Start JupyterLab with the project's kernel on the exploration notebook
	@test -f notebooks/explore.ipynb || $(BIN)/jupytext --to ipynb notebooks/explore.py -o notebooks/explore.ipynb
	$(BIN)/jupyter lab --notebook-dir=notebooks explore.ipynb

bench: $(STAMP) ## Benchmarks at sub-district, district and city (district x10) scale; writes docs/benchmarks.md (not part of make test)
	$(BIN)/python benchmarks/bench.py --scales subdistrict,district,city

bench-province: $(STAMP) ## Benchmarks up to province scale (7.5 million members; long, needs ~20 GB disk)
	$(BIN)/python benchmarks/bench.py --scales subdistrict,district,city,province

docs: $(STAMP) ## Regenerate docs/ (data dictionary, rule catalogue) and the quality suites
	$(BIN)/audit suites
	$(BIN)/audit docs --out docs

clean: ## Remove generated outputs (keeps .venv and the bundled sample)
	rm -rf data/processed reports/*/ .pytest_cache
