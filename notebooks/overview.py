# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: audit
#     language: python
#     name: audit
# ---

# %% tags=["parameters"]
processed = "."  # a folder written by `audit validate` / `audit run`
quarter = "2019Q1"
output = "."
pages = None  # the branches `audit run --branch` made pages for (codes); None: every branch has one

# %%
import json
from pathlib import Path

import polars as pl

import audit
from audit.coverage import unevaluable_counts
from audit.decisions import annotate, read_applied
from audit.display import (
    arrears_html,
    findings_html,
    note_html,
    overview_header_html,
    quality_html,
    quarantine_html,
    ranking_html,
    show,
    summary_html,
    technical_links_html,
)
from audit.views import age_buckets, branch_reasons, parent_org

ds = audit.load(processed)
status_file = Path(processed) / "run_status.json"
status = json.loads(status_file.read_text(encoding="utf-8")) if status_file.exists() else {}
title = f"{parent_org(ds.branches)}{ds.quarter.zh}党支部审核总览"
charts = ds.overview_charts()
applied = read_applied(processed)
found = annotate(ds.findings, applied)  # with the reviewer's decisions: a 误报 does not count
unevaluable = unevaluable_counts(ds.coverage, ds.branches)
reasons = dict(branch_reasons(found, ds.standard, ds.branches, unevaluable).iter_rows())
show(overview_header_html(title, ds.branches.height, ds.standard.name, ds.standard.version))
show(summary_html(f"评定结果：{charts['ratings'].reading}"))

# %% [markdown]
# ## 严重问题
#
# “严重”级别的问题（如连续6个月不交党费或不参加组织生活）需要街道党工委优先督办。

# %%
critical = found.filter(pl.col("severity") == "critical")
show(findings_html(critical, ds.standard, with_branch=True, empty="本季度没有严重问题。"))

# %% [markdown]
# ## 各支部评定结果
#
# 未达标的支部排在前面，“主要问题”列出各支部违反的规则和问题条数。点击支部名称查看该支部的报告和需要整改的问题。

# %%
show(ranking_html(ds.scorecard, ds.standard.dimensions, status, list(ds.standard.ratings.values()), reasons, pages))

# %% [markdown]
# ## 评估范围
#
# 支部缺少某条规则所需的数据（如没有积分表、积分没有公示日期、会议只记录人数没有参会名单）时，该规则在该支部、该期间
# **无法评估**：既不算通过也不算问题，所在维度显示为“部分评估”，该支部不能获得最高评定。下表是各支部无法评估的项数
# （规则×期间），明细见各支部页面的“评估范围”和 findings.xlsx 的“评估范围”工作表。

# %%
from audit.display import coverage_counts_html

show(coverage_counts_html(unevaluable, ds.standard))

# %% [markdown]
# ## 各支部各月的问题分布

# %%
show(charts["heatmap"])

# %% [markdown]
# ## 与上季度对比

# %%
show(charts["comparison"])

# %% [markdown]
# ## 党费欠缴情况

# %%
show(charts["arrears"])
# listed from the middle bucket of the chart on: from half of SM-8's max_months (3 for 6)
buckets = age_buckets(ds.standard)
_, first = buckets[min(1, len(buckets) - 1)]
owing = ds.arrears().filter(pl.col("unpaid_months") >= first)
if not charts["arrears"].empty:  # an empty chart already says nobody owes
    show(arrears_html(owing, empty=f"季度末没有连续欠缴{first}个月及以上的党员。", with_branch=True))

# %% [markdown]
# ## 整改跟踪
#
# 本季度问题与上季度报告逐条对照：**新增**（上季度没有的问题）、**持续**（同一规则、同一支部和对象上季度也有问题）、
# **已整改**（上季度的问题本季度没有再出现）、**已补正**（支部补交或更正了记录，按本批次数据复查上季度，问题已不成立）、
# **待复查**（半年或年度规则本季度不判定，到期再查）；没有上季度报告时无从对照，问题均记为**首次审核**（未跟踪）。逐条明细见各支部页面的“整改情况”和 findings.xlsx 的“整改台账”工作表。

# %%
from audit.decisions import STALE
from audit.display import decisions_html, followup_counts_html, stale_decisions_note
from audit.followup import read_followup, read_followup_info
from audit.views import followup_counts

show(note_html(read_followup_info(processed)["said"]))
show(followup_counts_html(followup_counts(read_followup(processed), ds.branches)))
if applied is not None and not applied.is_empty():
    stale = applied.filter(pl.col("state") == STALE)
    show(stale_decisions_note(applied.height, stale.height))
    show(decisions_html(stale))

# %% [markdown]
# ## 数据问题
#
# 导入时隔离的行和数据质量检查发现的问题（详见 findings.xlsx 的“数据问题”工作表）。这些记录需要支部更正后重新导出。

# %%
show(quarantine_html(ds.quarantine))
show(quality_html(ds.quality))
show(technical_links_html())
