"""HTML that the toolkit did not write itself (GX Data Docs) made safe to open: a whitelist
re-serialisation that keeps tables, text and local links, and drops every script, event handler,
plugin, form and remote reference.

GX renders values from the batch (branch ids, unexpected values, value sets) into its pages without
escaping them, so markup in an export (`<svg onload=…>`) would run when a reviewer opens the page.
Escaping cannot be added after the fact (GX's markup and injected markup look the same), so the
page is re-built from what is known to be inert. Text is re-escaped, attribute values re-quoted;
nothing the browser could execute survives.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from html.parser import HTMLParser

# Elements kept (their attributes filtered); anything else is dropped, its text kept.
ALLOWED_TAGS = frozenset(
    """html head body title meta link style div span p br hr a img table thead tbody tfoot tr th td caption
    colgroup col ul ol li dl dt dd h1 h2 h3 h4 h5 h6 nav header footer main section article aside strong em
    b i u s small sub sup code pre kbd samp blockquote abbr cite q label figure figcaption details summary""".split()
)
# Elements dropped together with what is inside them: the parser reads their content as raw text,
# which is code. Every other element outside ALLOWED_TAGS (svg, iframe, object, form, …) loses its
# tag and attributes and keeps its text, escaped, so an unclosed injected tag cannot hide the rest
# of the page.
DROPPED_WITH_CONTENT = frozenset({"script"})
VOID_TAGS = frozenset("br hr img meta link col".split())
ALLOWED_ATTRIBUTES = frozenset(
    "class id style href src alt title colspan rowspan charset name content rel type lang role scope width height".split()
)
URL_ATTRIBUTES = frozenset({"href", "src"})
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028\u2029\ufeff]+")
_UNSAFE_CSS = re.compile(r"@import|@namespace|expression\s*\(|javascript:|behavior\s*:|-moz-binding|<", re.IGNORECASE)
# CSS functions that can neither load anything nor run code; any other function (url, image-set,
# -webkit-image-set, image, cross-fade, element, paint, attr …) makes the declarations unsafe.
SAFE_CSS_FUNCTIONS = frozenset(
    """rgb rgba hsl hsla hwb lab lch oklab oklch color color-mix calc min max clamp var env
    linear-gradient radial-gradient conic-gradient repeating-linear-gradient repeating-radial-gradient
    repeating-conic-gradient translate translatex translatey translatez translate3d rotate rotatex rotatey
    rotatez rotate3d scale scalex scaley scalez scale3d skew skewx skewy matrix matrix3d perspective
    cubic-bezier steps blur brightness contrast drop-shadow grayscale hue-rotate invert opacity saturate
    sepia minmax repeat fit-content counter counters not is where has nth-child nth-last-child
    nth-of-type nth-last-of-type lang dir""".split()
)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.)|$)", re.DOTALL)
_CSS_FUNCTION = re.compile(r"([-\w]+)\(")


def is_local_url(url: str) -> bool:
    """A relative URL or a fragment: no scheme (javascript:, data:, http:, file: …) and no host."""
    compact = _INVISIBLE.sub("", html.unescape(url))
    if compact.startswith(("//", "\\\\", "/\\", "\\/")):
        return False
    return not _SCHEME.match(compact)


def _css_unescaped(text: str) -> str:
    """CSS as the browser tokenises it: comments are separators and escapes stand for their
    character (`u\\72l(` is `url(`, `@\\69mport` is `@import`)."""

    def char(match: re.Match[str]) -> str:
        if match.group(1):
            code = int(match.group(1), 16)
            return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
        return "" if match.group(2) in (None, "\n", "\r", "\f") else match.group(2)

    return _CSS_ESCAPE.sub(char, _CSS_COMMENT.sub(" ", text))


def safe_css(text: str) -> str:
    """Declarations that cannot load anything or run code; anything doubtful is dropped whole.
    Checked as the browser reads them (escapes and comments undone), and every function must be
    one that cannot fetch: `image-set("http://…")` loads an image without `url(`."""
    plain = _css_unescaped(text)
    if _UNSAFE_CSS.search(plain) or any(name.lower() not in SAFE_CSS_FUNCTIONS for name in _CSS_FUNCTION.findall(plain)):
        return ""
    return text


class _Sanitizer(HTMLParser):
    def __init__(self, rewrite_url: Callable[[str, str, str], str | None]):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping: list[str] = []  # open elements whose content is dropped
        self.rewrite_url = rewrite_url
        self.in_style = False

    def handle_decl(self, decl: str) -> None:
        if not self.skipping and decl.lower().startswith("doctype"):
            self.out.append("<!DOCTYPE html>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, closed=True)

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        tag = tag.lower()
        if self.skipping:
            if tag == self.skipping[-1] and not closed and tag not in VOID_TAGS:
                self.skipping.append(tag)
            return
        if tag in DROPPED_WITH_CONTENT:
            if not closed and tag not in VOID_TAGS:
                self.skipping.append(tag)
            return
        if tag not in ALLOWED_TAGS:
            return
        kept = self._attributes(tag, attrs)
        if kept is None:
            return
        self.out.append(f"<{tag}{kept}>")
        if tag == "style" and not closed:
            self.in_style = True

    def _attributes(self, tag: str, attrs: list[tuple[str, str | None]]) -> str | None:
        parts = []
        for name, value in attrs:
            name = name.lower()
            if name not in ALLOWED_ATTRIBUTES and not name.startswith("aria-"):
                continue
            value = value or ""
            if name in URL_ATTRIBUTES:
                rewritten = self.rewrite_url(tag, name, value)
                if rewritten is None or not is_local_url(rewritten):
                    if tag == "link":
                        return None  # a stylesheet or icon that is not local is not loaded at all
                    rewritten = "#" if name == "href" else ""
                value = rewritten
            elif name == "style":
                value = safe_css(value)
            elif tag == "meta" and name == "content" and any(a[0].lower() == "http-equiv" for a in attrs):
                return None  # never a refresh or a policy the page did not have
            parts.append(f' {name}="{html.escape(value, quote=True)}"')
        return "".join(parts)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.skipping:
            if tag == self.skipping[-1]:
                self.skipping.pop()
            return
        if tag in ALLOWED_TAGS and tag not in VOID_TAGS:
            self.out.append(f"</{tag}>")
        if tag == "style":
            self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.skipping:
            return
        self.out.append(safe_css(data) if self.in_style else html.escape(data, quote=False))

    def handle_comment(self, data: str) -> None:  # comments are dropped (conditional comments included)
        return

    def handle_pi(self, data: str) -> None:
        return

    def unknown_decl(self, data: str) -> None:  # CDATA and the like
        return


def _keep(tag: str, attribute: str, url: str) -> str | None:
    return url


def sanitize_document(text: str, rewrite_url: Callable[[str, str, str], str | None] = _keep) -> str:
    """The page re-serialised from its inert parts. `rewrite_url(tag, attribute, url)` may point a
    reference elsewhere (a local copy) or return None to drop it; non-local results are dropped."""
    parser = _Sanitizer(rewrite_url)
    parser.feed(text)
    parser.close()
    return "".join(parser.out)
