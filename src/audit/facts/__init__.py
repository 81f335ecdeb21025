"""Facts: what the records say per branch-month, group-month, branch-quarter, member-month, …

Computed with polars from the canonical tables for one audited quarter; the GX suites
``expectations/standard.<fact>.json`` then judge them. One module per grain declares its facts
with ``@fact(name, keys, title=…)`` (`registry`; the title is the table's Chinese name in the rule
catalogue, and a checked column's Chinese label is declared with its check in the standard file);
each maker reads the quarter's prepared inputs from a `FactContext` (`context`) and builds its
columns from the shared expressions (`expressions`) and meeting types (`meeting_types`, the
contract's enum). `build` runs them all.

Conventions every fact table follows:

- **Key columns.** ``FACTS[name].keys`` identify one row (``branch_id, period`` for
  `branch_month`); rows are sorted by them. Most tables also carry ``branch_id``, ``subject_id``
  (the member, group or case a finding is about) and ``period`` / ``period_zh``, which findings
  copy.
- **Null means not applicable.** GX skips nulls, so a value the rule cannot judge (no dues row,
  unknown income, a step not reached yet) is null and never becomes a finding; a real zero is 0.
- **``*_zh`` columns** are ready-made Chinese text for messages (``held_on_zh`` = ``2019年7月1日``,
  ``period_zh`` = ``2019年7月``); a rule's message in ``standard.yaml`` names any fact column in
  ``{braces}``.
- **``ev_*`` evidence columns** hold the finding's evidence text: the source rows behind the value
  (``file［sheet］第N行``, several joined with "；"), or, when there is no row, a sentence saying
  which record is missing (``会议记录中无该月支部委员会``). A suite's expectation names its
  evidence column in ``meta.evidence`` (``"evidence": "ev_committee_meetings"``); a count column
  ``X`` made by ``FactContext.count_meetings`` has its evidence in ``ev_X``.

Period semantics: monthly and quarterly facts cover the audited quarter's months (within the
batch's data window); half-year and year facts exist only when that period ends inside the audited
quarter and inside the data (their registration's ``when=``); before that the same numbers appear
in ``progress`` instead.
"""

from __future__ import annotations

from audit.facts.build import MEMBER_FACTS, Facts, compute_facts, fact_names, fact_queries, write_facts
from audit.facts.context import FactContext, QuarterOutOfRangeError, data_window, member_months, with_membership
from audit.facts.meeting_types import LIFE_TYPES, MEETING_TYPES
from audit.facts.registry import FACTS, FactSpec, fact, fact_keys

__all__ = [
    "FACTS",
    "LIFE_TYPES",
    "MEETING_TYPES",
    "MEMBER_FACTS",
    "FactContext",
    "FactSpec",
    "Facts",
    "QuarterOutOfRangeError",
    "compute_facts",
    "data_window",
    "fact",
    "fact_keys",
    "fact_names",
    "fact_queries",
    "member_months",
    "with_membership",
    "write_facts",
]
