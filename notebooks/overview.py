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

# %%
import html
import json
from pathlib import Path

import polars as pl

import audit
from audit.display import branch_page_href, findings_html, page_status_marker, show, table_html

ds = audit.load(processed)
status_file = Path(processed) / "run_status.json"
status = json.loads(status_file.read_text(encoding="utf-8")) if status_file.exists() else {}
parent = ds.branches["parent_org"].drop_nulls().mode().to_list()
title = f"{parent[0] if parent else ''}{ds.quarter.zh}党支部审核总览"
charts = ds.overview_charts()
show(
    f'<header class="page"><h1>{html.escape(title)}</h1>'
    f'<p class="meta">{ds.branches.height} 个党支部　·　标准：{html.escape(ds.standard.name)}（版本 {html.escape(ds.standard.version)}）'
    f'　·　<a href="findings.xlsx">下载问题清单（Excel）</a>　·　<a href="data-docs/index.html">数据校验明细（GX Data Docs）</a></p></header>'
)

# %% [markdown]
# ## 各支部评定结果
#
# 点击支部名称查看该支部的报告和需要整改的问题。

# %%
show(charts["ratings"])
rows = []
for r in ds.scorecard.sort("branch_id").iter_rows(named=True):
    state = status.get(r["branch_id"], {"status": "ok"})
    name = html.escape(r["branch_name"])
    link = f'<a href="{branch_page_href(r["branch_id"])}">{name}</a>'
    note = page_status_marker(r["branch_id"]) if state["status"] == "ok" else f'<span class="failed">报告生成失败：{html.escape(state.get("error", ""))}</span>'
    dims = "".join(f'<td class="status s-{html.escape(r[d])}">{html.escape(r[d])}</td>' for d in ds.standard.dimensions)
    rows.append(
        f"<tr><td>{html.escape(r['branch_id'])}</td><td>{link}{note}</td>{dims}<td>{r['critical']}</td><td>{r['errors']}</td>"
        f'<td>{r["warnings"]}</td><td class="rating r-{html.escape(r["rating"])}">{html.escape(r["rating"])}</td></tr>'
    )
head = "".join(f"<th>{h}</th>" for h in ["编号", "支部", *ds.standard.dimensions, "严重", "错误", "提示", "评定"])
show(f'<table class="data ranking"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')

# %% [markdown]
# ## 各支部各月的问题分布

# %%
show(charts["heatmap"])

# %% [markdown]
# ## 与上季度对比

# %%
show(charts["comparison"])

# %% [markdown]
# ## 整改跟踪
#
# 本季度问题与上季度报告逐条对照：**新增**（上季度没有的问题）、**持续**（同一规则、同一支部和对象上季度也有问题）、
# **已整改**（上季度的问题本季度没有再出现）、**已补正**（支部补交或更正了记录，按本批次数据复查上季度，问题已不成立）、
# **待复查**（半年或年度规则本季度不判定，到期再查）。逐条明细见各支部页面的“整改情况”和 findings.xlsx 的“整改台账”工作表。

# %%
from audit.decisions import STALE, read_applied
from audit.display import FOLLOWUP_COUNT_HEADERS, decisions_html
from audit.followup import read_followup, read_followup_info
from audit.views import followup_counts

show(f'<p class="meta">{html.escape(read_followup_info(processed)["said"])}</p>')
show(table_html(followup_counts(read_followup(processed), ds.branches), FOLLOWUP_COUNT_HEADERS, classes="data followup-counts"))
applied = read_applied(processed)
if applied is not None and not applied.is_empty():
    stale = applied.filter(pl.col("state") == STALE)
    show(f"<p>审核决定 {applied.height} 条；其中 {stale.height} 条对应的问题已不存在（已失效）：</p>")
    show(decisions_html(stale))

# %% [markdown]
# ## 党费欠缴情况

# %%
show(charts["arrears"])
owing = ds.arrears().filter(pl.col("unpaid_months") >= 3)
show(table_html(owing, {"branch_id": "支部", "member_id": "党员编号", "name": "姓名", "unpaid_months": "连续欠缴月数", "bucket": "账龄"},
                empty="季度末没有连续欠缴3个月及以上的党员。"))

# %% [markdown]
# ## 严重问题
#
# “严重”级别的问题（如连续6个月不交党费或不参加组织生活）需要街道党工委优先督办。

# %%
show(findings_html(ds.findings.filter(pl.col("severity") == "critical"), with_branch=True))

# %% [markdown]
# ## 数据问题
#
# 导入时隔离的行和数据质量检查发现的问题（详见 findings.xlsx 的“数据问题”工作表）。这些记录需要支部更正后重新导出。

# %%
problems = ds.quarantine.filter(pl.col("action") != "跳过（非数据行）") if not ds.quarantine.is_empty() else ds.quarantine  # skipped rows are not problems
quarantined = problems.group_by("file", "reason").len().sort("file", "reason") if not problems.is_empty() else problems
show(table_html(quarantined, {"file": "文件", "reason": "原因", "len": "条数"}, empty="导入时没有隔离任何记录。"))
show(table_html(ds.quality, {"table": "表", "file": "文件", "row": "行号", "column": "列", "message": "问题"}, empty="数据质量检查没有发现问题。"))
