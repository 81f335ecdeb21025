"""The whitelist sanitiser that makes GX Data Docs safe: known XSS forms lose everything that could
run, the text stays readable, and Chromium opens the result without running anything."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from audit.sanitize import is_local_url, sanitize_document

PAYLOADS = [
    "<svg onload=alert(1)>",
    "<svg><script>alert(2)</script></svg>",
    "<img src=x onerror=alert(3)>",
    "<IMG SRC=x ONERROR=alert(4)>",
    '<a href="javascript:alert(5)">x</a>',
    '<a href="&#106;avascript:alert(6)">x</a>',
    '<a href=" java\tscript:alert(7)">x</a>',
    '<a href="JaVaScRiPt:alert(8)">x</a>',
    '<iframe srcdoc="<script>alert(9)</script>"></iframe>',
    '<object data="javascript:alert(10)"></object>',
    '<embed src="javascript:alert(11)">',
    '<form action="javascript:alert(12)"><button>go</button></form>',
    "<details open ontoggle=alert(13)>",
    "<body onload=alert(14)>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(15)">',
    '<base href="javascript:alert(16)//">',
    '<div style="background:url(javascript:alert(17))">x</div>',
    "<style>@import 'http://evil.example/x.css';</style>",
    "<!--[if gte IE 4]><script>alert(18)</script><![endif]-->",
    '<math><mi xlink:href="javascript:alert(19)">x</mi></math>',
    "<scr<script>ipt>alert(20)</script>",
    '"><img src=x onerror=alert(21)>',
    "<a href=//evil.example/x>remote</a>",
    '<link rel="stylesheet" href="https://cdn.example/bootstrap.css">',
    "<img src=x onerror=alert(22)",  # unclosed at the end of the document
    '<noscript><p title="</noscript><img src=x onerror=alert(23)>"></noscript>',
    "<textarea><img src=x onerror=alert(24)></textarea>",
    "<template><img src=x onerror=alert(25)></template>",
]


def _tags(text: str) -> list[tuple[str, list[str]]]:
    """(tag, attribute names) of every element a parser (like the browser's) finds."""
    found: list[tuple[str, list[str]]] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.append((tag, [name for name, _ in attrs]))

    Collect().feed(text)
    return found


def _urls(text: str) -> list[str]:
    urls: list[str] = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            urls.extend(v or "" for name, v in attrs if name in ("href", "src"))

    Collect().feed(text)
    return urls


def _document(body: str) -> str:
    return f'<!DOCTYPE html><html><head><title>t</title><link rel="icon" href="favicon.ico"></head><body>{body}<p>表格之后的文字</p></body></html>'


@pytest.mark.parametrize("payload", PAYLOADS)
def test_nothing_that_runs_survives(payload: str):
    cleaned = sanitize_document(_document(f"<table><tr><td>{payload}</td></tr></table>"))
    lowered = cleaned.lower()
    assert "<script" not in lowered and "javascript:" not in lowered
    assert not [a for _, attrs in _tags(cleaned) for a in attrs if a.startswith("on")], cleaned
    tags = {tag for tag, _ in _tags(cleaned)}
    assert not tags & {"svg", "iframe", "object", "embed", "form", "base", "math", "template", "textarea", "noscript", "script"}
    assert "evil.example" not in " ".join(str(v) for v in _urls(cleaned))
    if payload != "<img src=x onerror=alert(22)":
        assert "表格之后的文字" in cleaned  # an injected tag never hides the rest of the page


def test_page_structure_text_and_local_links_are_kept():
    text = _document(
        '<div class="x" id="y" style="color:red"><h2>校验结果</h2><a href="validations/a.html#top">结果</a>'
        '<img src="static/images/logo.png" alt="logo"><table><tr><th colspan="2">列</th></tr>'
        "<tr><td>&lt;b&gt; 1 &amp; 2</td><td>XH01</td></tr></table></div>"
        "<style>td{padding:3px}</style>"
    )
    cleaned = sanitize_document(text)
    for kept in (
        "<!DOCTYPE html>",
        '<a href="validations/a.html#top">结果</a>',
        '<img src="static/images/logo.png" alt="logo">',
        '<th colspan="2">列</th>',
        "<td>&lt;b&gt; 1 &amp; 2</td>",
        '<div class="x" id="y" style="color:red">',
        "<style>td{padding:3px}</style>",
        '<link rel="icon" href="favicon.ico">',
    ):
        assert kept in cleaned


def test_urls_can_be_rewritten_or_dropped():
    text = _document('<img src="https://cdn.example/logo.png"><a href="https://greatexpectations.io">GX</a>')
    cleaned = sanitize_document(text, lambda tag, attribute, url: "local.png" if tag == "img" else url)
    assert '<img src="local.png">' in cleaned and '<a href="#">GX</a>' in cleaned


@pytest.mark.parametrize(
    ("url", "local"),
    [
        ("a/b.html", True),
        ("#x", True),
        ("../static/x.png", True),
        ("http://x", False),
        ("//x", False),
        ("\\\\host\\share", False),
        ("data:text/html,x", False),
        ("file:///etc/passwd", False),
        (" javascript:x", False),
        ("java\nscript:x", False),
        ("&#x6A;avascript:x", False),
    ],
)
def test_is_local_url(url: str, local: bool):
    assert is_local_url(url) is local


def test_chromium_runs_nothing_from_the_sanitised_payloads(tmp_path):
    from test_report import CHROMIUM, _browser

    page_file = tmp_path / "all.html"
    page_file.write_text(sanitize_document(_document("".join(f"<div>{p}</div>" for p in PAYLOADS))), encoding="utf-8")
    dialogs, requests = [], []
    with _browser() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.on("request", lambda r: requests.append(r.url) if not r.url.startswith("file://") else None)
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        for element in page.locator("details, a").all()[:20]:
            element.hover()
        page.wait_for_timeout(200)
        browser.close()
    assert dialogs == [] and requests == []
