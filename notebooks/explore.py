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

# %% [markdown]
# # 自由分析
#
# 用同一个库在 JupyterLab 里查看任何支部、任何季度的数据和图表。改下面的参数后依次运行。

# %% tags=["parameters"]
batch = "../data/raw/xinhua-2019"  # an export batch folder (or use audit.load("../reports/2019Q1"))
quarter = "2019Q1"
branch_id = "XH01"

# %%
import polars as pl

import audit

ds = audit.from_batch(batch, quarter)  # ingest + validate in memory
ds.scorecard

# %% [markdown]
# 规范化的数据表（polars）：`ds.tables["members"]`、`ds.tables["dues"]`…；问题清单：`ds.findings`。

# %%
ds.findings.filter(pl.col("branch_id") == branch_id).select("rule_id", "period", "message")

# %%
from audit.display import PLOTLY_CONFIG  # no cloud or logo buttons

charts = ds.branch_charts(branch_id)  # any chart, any branch; another quarter: ds.branch_charts(branch_id, "2019Q2")
charts["dues"].figure.show(config=PLOTLY_CONFIG)
print(charts["dues"].reading)

# %%
ds.arrears().sort("unpaid_months", descending=True).head(10)
