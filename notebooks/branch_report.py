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
import html

import polars as pl

import audit
from audit.decisions import annotate, read_applied
from audit.display import findings_html, followup_html, show, table_html
from audit.followup import read_followup, read_followup_info
from audit.views import branch_followup

ds = audit.load(processed, branch=branch_id)  # only this branch's records
branch = ds.branch(branch_id)
rating = ds.rating(branch_id)
applied = read_applied(processed)
found = annotate(ds.findings_for(branch_id), applied)  # with the reviewer's decisions
charts = ds.branch_charts(branch_id)
dimensions = ds.standard.dimensions
show(
    f'<header class="page"><p class="crumb"><a href="../index.html">← 返回{html.escape(ds.quarter.zh)}总览</a></p>'
    f"<h1>{html.escape(branch['branch_name'])}　{ds.quarter.zh}审核报告</h1>"
    f'<p class="meta">支部编号 {html.escape(branch_id)}　·　{html.escape(branch.get("org_type") or "")}　·　'
    f"上级党组织 {html.escape(branch.get('parent_org') or '')}　·　标准版本 {html.escape(ds.standard.version)}</p></header>"
)

# %% [markdown]
# ## 评定结果
#
# 按“五个过硬”五个维度评定：某维度没有“错误”或“严重”问题即为通过；全部已评估维度通过且没有“提示”为**过硬**，
# 没有“错误”或“严重”问题为**达标**，否则为**未达标**。“作用发挥”维度标准原文中没有规则，显示为“未评估”。

# %%
cells = "".join(f'<td class="status s-{html.escape(rating[d])}">{html.escape(rating[d])}</td>' for d in dimensions)
show(
    f'<p class="rating r-{html.escape(rating["rating"])}">评定：<strong>{html.escape(rating["rating"])}</strong>　'
    f"严重 {rating['critical']} 条，错误 {rating['errors']} 条，提示 {rating['warnings']} 条"
    + (f"（另有 {(~found['counted']).sum()} 条经审核判定为误报，不计入评定）" if not found["counted"].all() else "")
    + "</p>"
    f'<table class="data dims"><thead><tr>{"".join(f"<th>{d}</th>" for d in dimensions)}</tr></thead><tbody><tr>{cells}</tr></tbody></table>'
)

# %% [markdown]
# ## 需要整改的问题
#
# 每条问题注明规则编号、标准条款和证据（导出文件及行号、会议编号或月份），便于支部对照原始记录整改。

# %%
show(findings_html(found))

# %% [markdown]
# ## 整改情况
#
# 上季度问题的整改情况和本季度问题的来历：新增、持续（上季度也有）、已整改、已补正（补交或更正记录后复查已不成立）、
# 待复查（半年或年度规则本季度不判定）。问题编号用于在审核决定表（decisions.csv）中登记核实结果。

# %%
show(f'<p class="meta">{html.escape(read_followup_info(processed)["said"])}</p>')
show(followup_html(branch_followup(read_followup(processed), branch_id, applied), empty="本支部本季度和上季度都没有问题。"))

# %% [markdown]
# ## 组织生活：三会一课与主题党日

# %%
show(charts["meetings"])
show(charts["theme_days"])
show(charts["attendance"])

# %% [markdown]
# ## 党员积分

# %%
show(charts["points"])
show(table_html(ds.points_missing(branch_id), {"member_id": "党员编号", "name": "姓名", "months": "缺少积分的月份", "count": "月数"}, empty="近四个季度没有缺少积分记录的党员。"))

# %% [markdown]
# ## 党费收缴

# %%
show(charts["dues"])
show(charts["arrears"])
owing = ds.arrears(branch_id)
show(table_html(owing, {"member_id": "党员编号", "name": "姓名", "unpaid_months": "连续欠缴月数", "bucket": "账龄"}, empty="季度末没有欠缴党费的党员。"))

# %% [markdown]
# ## 半年和年度要求的进度
#
# 半年度和年度规则在期间结束的季度才判定；之前按时间进度显示，不算问题。

# %%
progress = ds.progress.filter(pl.col("branch_id") == branch_id) if not ds.progress.is_empty() else ds.progress
show(table_html(progress, {"rule_id": "规则", "period": "期间", "required": "要求次数", "done": "已完成", "expected_by_now": "按进度应完成", "status": "状态"},
                empty="本季度是期间末，半年和年度规则已在上面的问题清单中判定。"))

# %% [markdown]
# ## 现场抽查样本
#
# 以下会议记录按固定随机种子抽取，请在现场核对纸质会议记录（同一种子、同一数据总是抽到相同的记录）。

# %%
if ds.sample is not None:
    mine = ds.sample.filter(pl.col("branch_id") == branch_id)
    show(table_html(mine, {"meeting_id": "活动编号", "meeting_type": "活动类型", "held_on": "活动日期", "topic": "主题",
                           "present_count": "实到", "expected_count": "应到", "_file": "来源文件", "_row": "行号"}, empty="本季度没有会议记录可抽查。"))
