"""Line breaking for Chinese text in the terminal (help, the outputs list).

rich breaks lines at spaces only: a run of Chinese with no space is one "word" to it, so a sentence
such as `生成离线 HTML 报告：总览 index.html、各支部页面…` is broken at the space before
`index.html` and the line before it ends half empty. Chinese breaks between any two characters;
here a line may break between two characters when one of them is Chinese (never before a closing
mark such as `，` `）` or after an opening one such as `（`), and at a space only between two words
of Latin letters or digits. A space between Chinese and a code word (`总览 index.html`) does not
break: the code word stays on the line of the word it belongs to. `Wrapped` renders a text so,
in a table cell or on its own.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from itertools import pairwise

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions
from rich.measure import Measurement
from rich.segment import Segment

# Marks a line does not start with, and marks it does not end with (Chinese and Latin)
NO_START = set("，。、：；！？）」』》】〕”’…—·％,.;:!?)]}%")
NO_END = set("（「『《【〔“‘([{")


def _wide(char: str) -> bool:
    """A character that is Chinese (or other full-width text): a line may break beside it."""
    return unicodedata.east_asian_width(char) in ("W", "F")


def _breaks_before(line: str, i: int) -> bool:
    """Whether `line` may break before its character `i` (0 < i < len(line))."""
    before, after = line[i - 1], line[i]
    if after == " ":
        return False  # a space stays at the end of the line it follows
    if before == " ":
        word = line[:i].rstrip(" ")
        return bool(word) and not _wide(word[-1]) and not _wide(after) and after not in NO_START
    return (_wide(before) or _wide(after)) and after not in NO_START and before not in NO_END


def pieces(line: str) -> list[str]:
    """A line (no newline) cut where it may break; each piece keeps the spaces that follow it."""
    cuts = [0, *(i for i in range(1, len(line)) if _breaks_before(line, i)), len(line)]
    return [line[a:b] for a, b in pairwise(cuts) if b > a]


def wrap(text: str, width: int) -> list[str]:
    """`text` as lines of at most `width` terminal cells, broken where Chinese may break
    (`pieces`); its own line breaks kept; a piece wider than a line is folded."""
    width = max(1, width)
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for piece in pieces(paragraph):
            if cell_len((line + piece).rstrip(" ")) <= width:
                line += piece
                continue
            if line.strip(" "):
                lines.append(line.rstrip(" "))
            word = piece.rstrip(" ")
            if cell_len(word) > width:  # longer than a line (a long path): folded, as rich folds it
                *full, last = chop_cells(word, width)
                lines.extend(full)
                piece = last + piece[len(word) :]
            line = piece
        lines.append(line.rstrip(" "))
    return lines


class Wrapped:
    """Plain text (no rich markup) that wraps as Chinese does (`wrap`), for `Console.print` and table cells."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        for line in wrap(self.text, options.max_width):
            yield Segment(line)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        """At least its widest unbreakable piece, at most its longest line."""
        paragraphs = self.text.split("\n")
        widest = max((cell_len(p.rstrip(" ")) for line in paragraphs for p in pieces(line)), default=0)
        longest = max((cell_len(line) for line in paragraphs), default=0)
        return Measurement(widest, longest).clamp(max_width=options.max_width)
