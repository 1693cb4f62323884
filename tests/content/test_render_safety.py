"""Block renderers against hostile input: Hypothesis-generated blocks, the HTML checked with html.parser.

The URL rule checked here is written independently of `safe_url`: after the parser's entity decoding an
`href`/`src` starts with `http:`, `https:` or `mailto:` (any case), or with `#`, `?`, or one `/` not
followed by `/` or `\\`.
"""

import re
import time
from html.parser import HTMLParser

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from atomo.content import render_html, render_markdown
from atomo.content.blocks import REQUIRED_KEYS
from atomo.content.render import inline_html

BUILT_IN = sorted(REQUIRED_KEYS)
FORBIDDEN_TAGS = {"script", "iframe", "object", "embed", "style", "frame", "frameset", "base", "link", "meta", "svg",
                  "math", "form", "textarea", "template"}
ALLOWED_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "blockquote", "footer", "pre", "code",
                "figure", "img", "figcaption", "a", "hr", "div", "input", "span", "section", "strong", "em", "br"}
VOID = {"br", "hr", "img", "input"}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")

HOSTILE_URLS = [
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", " javascript:alert(1)", "java\tscript:alert(1)", "java\nscript:x",
    "&#106;avascript:alert(1)", "&#x6A;avascript:x", "&amp;#106;avascript:x", "javascript&colon;alert(1)",
    "javascript&#58;x", "data:text/html,<script>alert(1)</script>", "data:image/svg+xml;base64,PHN2Zz4=",
    "vbscript:msgbox(1)", "//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "\\/evil.com", "\x00javascript:x",
    "\x01https://x", "https://ok.example/a?b=1&c=2", "HTTPS://OK", "mailto:a@b.c", "/ok", "#frag", "?q=1", "", " ",
    "&#x2F;&#x2F;evil.com", "&sol;&sol;evil.com", "/&#47;evil.com", "/&#92;evil.com", "http:", "\u3000javascript:x",
    "javascript:/*--></title></style></textarea></script><svg/onload=x>", "\"onmouseover=alert(1) x=\"",
]
FRAGMENTS = [
    "<script>alert(1)</script>", "<iframe src=//evil.com>", "<img src=x onerror=alert(1)>", "<svg onload=x>", '"', "'",
    "&", "&amp;", "&lt;", "&#106;avascript:", "&colon;", "&#0;", "**", "*", "_", "`", "``", "```", "[", "]", "](", "(",
    ")", "\n", "\r\n", "\r", "-->", "--!>", "<!--", "--", ">", "<", "# ", "> ", "- ", "+ ", "* ", "1. ", "~~~", "---",
    "===", "\\", "\x00", "\t", " ", "   ", "a", "word", "snake_case", "é", "😀", "onerror=", "style=",
    *HOSTILE_URLS,
]

fragment_text = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=4), max_size=8).map("".join)
urls = st.sampled_from(HOSTILE_URLS) | st.tuples(st.sampled_from(HOSTILE_URLS), fragment_text).map("".join)
links = st.tuples(fragment_text, urls).map(lambda p: f"[{p[0]}]({p[1]})")
markup = st.tuples(st.sampled_from(["**", "*", "_", "`", "``"]), fragment_text).map(lambda p: f"{p[0]}{p[1]}{p[0]}")
texts = st.lists(fragment_text | links | markup, max_size=4).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts | urls,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
KEYS = ["text", "level", "items", "style", "cite", "code", "language", "url", "alt", "caption", "width", "height",
        "title", "provider", "completed", "description", "assignedTo", "dueDate", "duration", "outcome", "notes",
        "recordedAt", "meetingDate", "attendees", "agenda", "actionItems"]
good_values = {
    "text": texts, "level": st.integers(0, 7), "items": st.lists(texts, max_size=3),
    "style": st.sampled_from(["bullet", "numbered"]),
    "url": urls, "title": texts, "completed": st.booleans(), "duration": st.integers(-5, 10**6) | st.floats(),
    "attendees": st.lists(texts, max_size=3), "actionItems": st.lists(texts, max_size=3),
}
values_by_key = {key: (good_values[key] | json_values) if key in good_values else (texts | urls | json_values) for key in KEYS}
block_types = st.sampled_from(BUILT_IN) | texts
block_ids = texts | st.sampled_from(["-->", "--!>", "<!--", "a--b", "x>y", '"><script>'])


@st.composite
def block(draw):
    out = {"id": draw(block_ids), "type": draw(block_types)}
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=8, unique=True)):
        out[key] = draw(values_by_key[key])
    return out


def allowed_url(value: str) -> bool:
    if not value or CONTROL.search(value) or value != value.strip():
        return False
    lowered = value.lower()
    if lowered.startswith(("http:", "https:", "mailto:")) or value[0] in "#?":
        return True
    return value[0] == "/" and value[1:2] not in ("/", "\\")


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.blocks = 0
        self.problems: list[str] = []

    def _start(self, tag: str, attrs: list[tuple[str, str | None]], void: bool) -> None:
        names = dict(attrs)
        if tag in FORBIDDEN_TAGS or tag not in ALLOWED_TAGS:
            self.problems.append(f"tag {tag}")
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcdoc", "formaction"):
                self.problems.append(f"attribute {name}")
            if name in ("href", "src") and not (value and allowed_url(value)):
                self.problems.append(f"{name}={value!r}")
        if tag == "a" and names.get("rel") != "nofollow noopener":
            self.problems.append("a without rel")
        if self.depth == 0:
            self.blocks += 1
            if "data-block-id" not in names:
                self.problems.append(f"block element {tag} without data-block-id")
        if not void and tag not in VOID:
            self.depth += 1

    def handle_starttag(self, tag, attrs):
        self._start(tag, attrs, False)

    def handle_startendtag(self, tag, attrs):
        self._start(tag, attrs, True)

    def handle_endtag(self, tag):
        self.depth -= 1
        if self.depth < 0:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_comment(self, data):
        self.problems.append("comment")

    def handle_decl(self, decl):
        self.problems.append("declaration")

    def handle_pi(self, data):
        self.problems.append("processing instruction")

    def unknown_decl(self, data):
        self.problems.append("unknown declaration")


def check_html(out: str) -> Checker:
    checker = Checker()
    checker.feed(out)
    checker.close()
    assert checker.problems == [], (checker.problems, out)
    assert checker.depth == 0, out
    return checker


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.lists(block(), max_size=6))
def test_hostile_blocks_render_safely_in_both_formats(value):
    checker = check_html(render_html(value))
    assert checker.blocks == len(value)
    markdown = render_markdown(value)
    assert markdown == "" or (markdown.endswith("\n") and not markdown.endswith("\n\n"))


@FUZZ
@given(texts)
def test_inline_markup_of_hostile_text_is_safe(text):
    out = inline_html(text)
    checker = check_html(f'<p data-block-id="x">{out}</p>')
    assert checker.blocks == 1


@FUZZ
@given(block_types.filter(lambda t: t not in REQUIRED_KEYS), block_ids)
def test_type_and_id_never_close_the_markdown_comment(btype, bid):
    out = render_markdown([{"id": bid, "type": btype}])
    assert out.startswith("<!-- block:") and out.endswith(" -->\n")
    inner = out[len("<!--"):-len("-->\n")]
    assert "--" not in inner and ">" not in inner and "<" not in inner and "\n" not in inner and "\r" not in inner


# ------------------------------------------------------------------------------------------------ bounded work

PATHOLOGICAL = [
    "*a" * 40_000, "**a" * 30_000, "_a " * 30_000, "[" * 100_000, "[a](" * 30_000, "](" * 50_000, "`" * 100_000,
    "".join("`" * n + "x" for n in range(1, 400)), "***" * 30_000, "*_`[" * 25_000, "[**_`x" * 20_000,
    "a_" * 50_000, "\n" * 100_000, "<&>\"'" * 20_000, "[x](" + "(" * 100_000,
]


def test_pathological_texts_render_in_bounded_time():
    started = time.perf_counter()
    for text in PATHOLOGICAL:
        check_html(f'<p data-block-id="x">{inline_html(text)}</p>')
        render_markdown([{"id": "p", "type": "paragraph", "text": text}])
    assert time.perf_counter() - started < 20  # quadratic behaviour would take minutes


def test_huge_and_deep_block_lists():
    deep: object = "x"
    for _ in range(10_000):
        deep = [deep]
    value = [{"id": str(i), "type": ["paragraph", "list", "custom"][i % 3], "text": "**x** " * 10, "items": ["- y"],
              "extra": deep} for i in range(5_000)]
    started = time.perf_counter()
    html = render_html(value)
    markdown = render_markdown(value)
    assert time.perf_counter() - started < 20
    assert check_html(html).blocks == 5_000
    assert markdown.count("<!-- block:custom") == 1666
