# Self-documenting: `make help` lists every target with its `##` line.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Two installs: what running needs (`setup`, `demo`, `lab`), then the dev extra on top (pytest,
# playwright, ruff, mypy, …: `test`, `lint`, `format`, `bench`). Each leaves a stamp in .venv.
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
INSTALL_LOG := $(VENV)/install.log
# Extra `jupyter lab` options for `make lab`, e.g. LAB_ARGS="--no-browser --port=8899"
LAB_ARGS ?=
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
SAMPLE := data/raw/xinhua-2019
PLATFORM_SAMPLE := data/raw/xinhua-2019-platform
PROCESSED := data/processed/xinhua-2019
export GX_ANALYTICS_ENABLED := False
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec

# pip's own output goes to $(INSTALL_LOG); the terminal gets one line per package it fetches, and
# the log's end when it fails. $(1): what to install.
define pip_install
$(BIN)/python -m pip install --progress-bar off -c constraints.txt $(1) 2>&1 | tee -a $(INSTALL_LOG) \
  | awk '/^Collecting /{name = $$2; sub(/[<>=!~;[].*/, "", name); print "  · " name; fflush()}' \
  || { echo "安装失败，详细信息见 $(INSTALL_LOG)（最后 20 行如下）"; tail -n 20 $(INSTALL_LOG); exit 1; }
endef

.DEFAULT_GOAL := help
.PHONY: help setup demo test lint format sample docs lab bench bench-city bench-province clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null || { echo "需要 Python 3.11（$(PYTHON)）"; exit 1; }
	@echo "正在创建虚拟环境 $(VENV)（Python 3.11）…"
	@$(PYTHON) -m venv $(VENV)
	@: > $(INSTALL_LOG)
	@echo "正在更新 pip…"
	@$(call pip_install,--upgrade pip)
	@echo "正在安装运行所需的软件包（首次约 1～3 分钟，版本见 constraints.txt）…"
	@$(call pip_install,-e .)
	@echo "正在注册 Jupyter 内核 audit…"
	@$(BIN)/python -c "from audit.report import ensure_kernel; ensure_kernel()"
	@touch $(STAMP)
	@echo "安装完成。"

$(DEV_STAMP): $(STAMP)
	@echo "正在安装开发和测试工具（pytest、playwright、ruff、mypy 等，约 1 分钟）…"
	@$(call pip_install,-e '.[dev]')
	@touch $(DEV_STAMP)

setup: $(STAMP) ## Create .venv and install what running needs (pinned in constraints.txt)

demo: $(STAMP) ## Run the main job on the bundled sample: validate 2019Q1 and build the offline reports
	@test -d $(SAMPLE) || $(BIN)/audit synth --out $(SAMPLE) --seed 2019
	$(BIN)/audit run $(SAMPLE) --quarter 2019Q1 --out reports/2019Q1
	@echo "总览页面：$(CURDIR)/reports/2019Q1/index.html"

test: $(DEV_STAMP) ## Install the dev tools too and run the whole test suite
	$(BIN)/python -m pytest -q -n $(JOBS)

lint: $(DEV_STAMP) ## ruff lint and format check, mypy type check (settings in pyproject.toml)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(DEV_STAMP) ## ruff format in place
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

sample: $(STAMP) ## Regenerate the bundled sample batches (contract and platform style) from their seed
	rm -rf $(SAMPLE) $(SAMPLE).truth $(PLATFORM_SAMPLE) $(PLATFORM_SAMPLE).truth
	$(BIN)/audit synth --out $(SAMPLE) --seed 2019
	$(BIN)/audit synth --out $(PLATFORM_SAMPLE) --seed 2019 --style platform
	rm -f $(SAMPLE)/.audit-output.json $(PLATFORM_SAMPLE)/.audit-output.json  # bundled as raw exports, not as our output

# jupyter/ is put on JUPYTER_CONFIG_PATH for this lab only: no Jupyter news prompt or update check
# (they would fetch from the internet); its lab/settings/overrides.json makes Chinese the default
# language. The user's own Jupyter configuration is left as it is.
lab: $(STAMP) ## Start JupyterLab with the project's kernel on the exploration notebook (options: LAB_ARGS=...)
	@test -f notebooks/explore.ipynb || $(BIN)/jupytext --to ipynb notebooks/explore.py -o notebooks/explore.ipynb
	@echo "正在启动 JupyterLab（notebooks/explore.ipynb）；按 Ctrl-C 两次停止"
	cd notebooks && export JUPYTER_CONFIG_PATH="$(CURDIR)/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
		&& exec $(CURDIR)/$(BIN)/jupyter lab --LabApp.app_settings_dir="$(CURDIR)/jupyter/lab/settings" $(LAB_ARGS) explore.ipynb

bench: $(DEV_STAMP) ## Benchmarks at sub-district, district and city (district x10) scale, then the district end to end beside its floors; writes docs/benchmarks.md (not part of make test)
	$(BIN)/python benchmarks/bench.py --scales subdistrict,district,city --end-to-end district

bench-city: $(DEV_STAMP) ## The city (district x10) end to end, once: `audit run` on 10,000 branches and 300,000 members (long: `audit synth` writes it as ten district folders in about 25 min, then the run and its floors take about an hour; the run alone 34 min, up to 24 GB of memory in use)
	$(BIN)/python benchmarks/bench.py --scales '' --end-to-end city

bench-province: $(DEV_STAMP) ## Benchmarks up to province scale (7.5 million members; long, needs ~20 GB disk)
	$(BIN)/python benchmarks/bench.py --scales subdistrict,district,city,province --end-to-end ''

docs: $(STAMP) ## Regenerate docs/ (data dictionary, rule catalogue) and the quality suites
	$(BIN)/audit suites
	$(BIN)/audit docs --out docs

clean: ## Remove generated outputs (keeps .venv and the bundled sample)
	rm -rf data/processed reports/*/ .pytest_cache
