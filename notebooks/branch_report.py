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
branch_id = "XH01"
output = "."

# %%
import polars as pl

import audit
from audit.coverage import not_evaluated
from audit.decisions import annotate, read_applied
from audit.display import (
    arrears_html,
    branch_header_html,
    coverage_html,
    findings_html,
    followup_html,
    note_html,
    points_missing_html,
    progress_html,
    rating_html,
    sample_html,
    show,
)
from audit.followup import read_followup, read_followup_info
from audit.views import branch_followup, progress_table

ds = audit.load(processed, branch=branch_id)  # only this branch's records
branch = ds.branch(branch_id)
rating = ds.rating(branch_id)
applied = read_applied(processed)
found = annotate(ds.findings_for(branch_id), applied)  # with the reviewer's decisions
charts = ds.branch_charts(branch_id)
dimensions = ds.standard.dimensions
show(branch_header_html(branch, ds.quarter.zh, ds.standard.version))

# %% [markdown]
# ## 评定结果
#
# 按“五个过硬”五个维度评定：某维度没有“错误”或“严重”问题即为通过；全部已评估维度通过且没有“提示”为**过硬**，
# 没有“错误”或“严重”问题为**达标**，否则为**未达标**。“作用发挥”维度标准原文中没有规则，显示为“未评估”。

# %%
show(rating_html(rating, dimensions, false_alarms=int((~found["counted"]).sum())))

# %% [markdown]
# ## 评估范围
#
# 缺少规则所需的数据（如没有积分表、积分没有公示日期、会议只记录人数没有参会名单）的规则本季度**无法评估**：
# 既不算通过也不算问题，所在维度显示为“部分评估”，本支部不能获得最高评定。补齐数据后重新审核即可评估。

# %%
show(coverage_html(not_evaluated(ds.unevaluable_for(branch_id), ds.standard)))

# %% [markdown]
# ## 需要整改的问题
#
# 每条问题注明规则编号、标准条款和证据（导出文件及行号、会议编号或月份），便于支部对照原始记录整改。

# %%
show(findings_html(found, ds.standard))

# %% [markdown]
# ## 整改情况
#
# 上季度问题的整改情况和本季度问题的来历：新增、持续（上季度也有）、已整改、已补正（补交或更正记录后复查已不成立）、
# 待复查（半年或年度规则本季度不判定）；没有上季度报告时记为首次审核（未跟踪）。问题编号用于在审核决定表（decisions.csv）中登记核实结果。

# %%
show(note_html(read_followup_info(processed)["said"]))
followup = branch_followup(read_followup(processed), branch_id, applied)
show(followup_html(followup, ds.standard, empty="本支部本季度和上季度都没有问题。"))

# %% [markdown]
# ## 组织生活：三会一课与主题党日

# %%
show(charts["meetings"])
show(charts["theme_days"])
# the theme-day rules' findings (date, record, study content: the rules whose evidence is the theme days)
theme_rules = [
    r.id for r in ds.standard.rules.values() for p in r.parts.values() if any(c.evidence == "ev_theme" for c in p.checks)
]
theme_found = found.filter(pl.col("rule_id").is_in(theme_rules))
if not theme_found.is_empty():
    show(findings_html(theme_found, ds.standard))
show(charts["attendance"])

# %% [markdown]
# ## 党员积分

# %%
show(charts["points"])
missing_points = ds.points_missing(branch_id)
if not missing_points.is_empty():  # otherwise the chart's reading already says every member has points
    show(points_missing_html(missing_points))

# %% [markdown]
# ## 党费收缴

# %%
show(charts["dues"])
show(charts["arrears"])
if not charts["arrears"].empty:  # an empty chart already says nobody owes
    show(arrears_html(ds.arrears(branch_id)))

# %% [markdown]
# ## 半年和年度要求的进度
#
# 半年度和年度规则在期间结束的季度才判定；之前按时间进度显示，不算问题。缺少所需数据的规则显示为“无法评估”并写明原因，
# 不计进度。

# %%
progress = ds.progress.filter(pl.col("branch_id") == branch_id) if not ds.progress.is_empty() else ds.progress
show(progress_html(progress_table(progress, ds.standard)))

# %% [markdown]
# ## 现场抽查样本
#
# 以下会议记录按固定随机种子抽取，请在现场核对纸质会议记录（同一种子、同一数据总是抽到相同的记录）。

# %%
if ds.sample is not None:
    show(sample_html(ds.sample.filter(pl.col("branch_id") == branch_id)))
