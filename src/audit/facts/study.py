"""OL-11's reading of a 主题党日's text: does its topic or content name the study the standard asks for?

The terms are data, the rule's thresholds in expectations/standard.yaml (`study_terms`, and
`study_exclusions`), so a district extends them without Python. What counts as naming a term:

- text and terms are compared after folding full-width letters, digits and punctuation to
  half-width and removing every space (``习近平 新时代`` and ``习近平新时代`` are the same);
- a term is found anywhere in the text (``中国共产党章程`` names ``党章``); ``…`` inside a term
  stands for any text of up to 20 characters within one clause, with no ，。；！？ between
  (``习近平总书记…讲话`` is found in ``习近平总书记在庆祝改革开放40周年大会上的重要讲话``);
- except inside a phrase of `study_exclusions` (words that contain a term and mean something
  else), and inside the name of a member of the branch: ``走访老党员党章海`` does not name
  ``党章`` when 党章海 is on the branch's roster (党 is a surname).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache

import polars as pl

from audit.standard import Rule, StandardError
from audit.values import fold

GAP = "…"
MAX_GAP = 20
_BREAKS = "，。；！？,.;!?|\n"  # a clause ends here; `|` marks where an exclusion or a name was masked
_MASK = "|"


def normalise(text: str | None) -> str:
    """The text as terms are matched against it: full-width folded, every space removed."""
    return re.sub(r"\s+", "", fold(text or ""))


def normalised(expr: pl.Expr) -> pl.Expr:
    """`normalise` as a polars expression (column-wise, for large tables)."""
    full = [chr(code) for code in range(0xFF01, 0xFF5F)]
    return expr.str.replace_many(full, [chr(ord(c) - 0xFEE0) for c in full]).str.replace_all(r"\s+", "")


@cache
def _pattern(term: str) -> re.Pattern[str]:
    """A term as a pattern: literal pieces, `…` (or `...`) a gap within one clause."""
    pieces = [re.escape(piece) for piece in re.split(r"…+|\.{3,}", term)]
    return re.compile(f"[^{re.escape(_BREAKS)}]{{0,{MAX_GAP}}}?".join(pieces))


def _words(rule: Rule, name: str, required: bool) -> list[str]:
    """A list threshold of words, each a non-blank text, normalised; a mistake names rule and threshold."""
    value = rule.thresholds.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(w, str) and normalise(w).strip(GAP + ".") for w in value):
        raise StandardError(f"{rule.id} 的阈值 {name} 应为词语列表（如 [党章, 党规]），不是「{value}」")
    if required and not value:
        raise StandardError(f"{rule.id} 的阈值 {name} 至少要有一个词语")
    return [normalise(w) for w in value]


@dataclass(frozen=True)
class StudyTerms:
    """The terms that count as study, and the phrases in which they do not."""

    terms: tuple[str, ...]
    exclusions: tuple[str, ...] = ()

    @classmethod
    def of(cls, rule: Rule) -> StudyTerms:
        """From the rule's thresholds `study_terms` and `study_exclusions`."""
        return cls(tuple(_words(rule, "study_terms", True)), tuple(_words(rule, "study_exclusions", False)))

    def named(self, texts: Iterable[str | None], names: Sequence[str] = ()) -> str | None:
        """The first term (as written in the standard, normalised) one of `texts` names, or None;
        exclusions and the `names` of the branch's members (two characters or more) are masked first."""
        masked = [w for w in (*self.exclusions, *(normalise(n) for n in names)) if len(w) >= 2]
        masked.sort(key=len, reverse=True)  # the longest first: a name inside an exclusion is masked with it
        for text in texts:
            body = normalise(text)
            for word in masked:
                body = body.replace(word, _MASK)
            for term in self.terms:
                if _pattern(term).search(body):
                    return term
        return None
