"""The fact registry: every fact table declared once, with its key columns and when it exists.

A grain module declares a fact with ``@fact(name, keys, title=...)`` on the function that builds
it from the quarter's `FactContext`: `title` names the table in Chinese in the rule catalogue
(docs/rules.md); what a checked column means is said by its check in the standard file (`label`).
The registration order is the facts' order everywhere (the package imports the grain modules in
that order): in `FACTS`, in the facts folder and in the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from audit.facts.context import FactContext

Maker = Callable[["FactContext"], pl.LazyFrame]
Condition = Callable[["FactContext"], bool]


@dataclass(frozen=True)
class FactSpec:
    """One fact table: `name` (also its suite `standard.<name>` and file `facts/<name>.parquet`),
    `keys` (one row per key), the maker, `when` (the quarters it exists in; None: every quarter),
    `per_member` (rows are per member, so `write_facts` computes it in member shards) and `title`
    (the table's Chinese name)."""

    name: str
    keys: list[str]
    make: Maker
    when: Condition | None = None
    per_member: bool = False
    title: str = ""

    def exists(self, context: FactContext) -> bool:
        """Whether this quarter has the fact (a conditional fact's numbers go to `progress` instead)."""
        return self.when is None or self.when(context)


FACTS: dict[str, FactSpec] = {}


def fact(
    name: str,
    keys: list[str],
    *,
    title: str,
    when: Condition | None = None,
    per_member: bool = False,
) -> Callable[[Maker], Maker]:
    """Registers the decorated maker as fact table `name` with its key columns and Chinese title;
    returns it unchanged."""

    def register(make: Maker) -> Maker:
        if name in FACTS:
            raise ValueError(f"fact {name!r} is registered twice ({FACTS[name].make.__module__} and {make.__module__})")
        FACTS[name] = FactSpec(name, list(keys), make, when, per_member, title)
        return make

    return register


def fact_keys() -> dict[str, list[str]]:
    """Each fact's key columns, in registration order (what `FACT_KEYS` used to be)."""
    return {name: list(spec.keys) for name, spec in FACTS.items()}
