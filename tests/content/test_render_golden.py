"""Block renderers (content.md §6): golden files for every built-in type, the Markdown rules, custom renderers.

Regenerate the golden files with ``ATOMO_UPDATE_GOLDEN=1 python -m pytest tests/content/test_render_golden.py``
and review the diff.
"""

import json
import os
from pathlib import Path

import pytest

import atomo.content
from atomo.content import BlockRenderers, register_block_renderer, render_html, render_markdown
from atomo.content.render import default_renderers, duration_text, inline_html, safe_url

GOLDEN = Path(__file__).parent / "golden" / "render"
BLOCKS = json.loads((GOLDEN / "blocks.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "render"), [("expected.md", render_markdown), ("expected.html", render_html)])
def test_golden(name, render):
    out = render(BLOCKS)
    path = GOLDEN / name
    if os.environ.get("ATOMO_UPDATE_GOLDEN"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")


def test_golden_covers_every_built_in_type():
    from atomo.content.blocks import REQUIRED_KEYS

    assert set(REQUIRED_KEYS) <= {b["type"] for b in BLOCKS}


def test_every_block_is_one_html_line_with_its_id():
    lines = render_html(BLOCKS).splitlines()
    # the code blocks keep their newlines inside <pre>; every other block is one line
    starts = [line for line in lines if line.startswith("<") and not line.startswith("</")]
    assert [line.split('data-block-id="')[1].split('"')[0] for line in starts] == [
        "p1", "p2", "h1", "h3", "l1", "l2", "q1", "q2", "c1", "c2", "i1", "i2", "i3", "e1", "e2", "e3", "d1",
        "t1", "t2", "cl1", "cl2", "m1", "m2", "x1", "x--2&gt;",
    ]


def test_exports():
    assert {"render_markdown", "render_html", "register_block_renderer", "BlockRenderers"} <= set(atomo.content.__all__)


# -------------------------------------------------------------------------------------------------- Markdown rules


def md(block):
    return render_markdown([{"id": "b", **block}])


def test_empty_input_renders_as_empty_string():
    assert render_markdown([]) == ""
    assert render_html([]) == ""


def test_blocks_are_separated_by_one_blank_line_and_end_with_a_newline():
    out = render_markdown([{"id": "a", "type": "paragraph", "text": "one"}, {"id": "b", "type": "divider"}])
    assert out == "one\n\n---\n"


@pytest.mark.parametrize("line", [
    "# h", "###### h", "#", "> q", ">q", "- x", "+ x", "* x", "-", "1. x", "1) x", "42. x", "```", "```js", "~~~",
    "---", "***", "___", "- - -", "===", "--",
])
def test_lines_that_would_start_a_block_get_a_backslash(line):
    assert md({"type": "paragraph", "text": line}) == f"\\{line}\n"
    assert md({"type": "quote", "text": line}) == f"> \\{line}\n"
    assert md({"type": "list", "items": [line]}) == f"- \\{line}\n"


@pytest.mark.parametrize("line", ["#hashtag", "-dash", "+1", "*emph*", "**bold**", "1.5 litres", "2024", "a # b", "``code``"])
def test_ordinary_lines_pass_through(line):
    assert md({"type": "paragraph", "text": line}) == f"{line}\n"


def test_indented_construct_keeps_its_indentation():
    assert md({"type": "paragraph", "text": "ok\n  # h"}) == "ok\n  \\# h\n"


def test_inline_markup_passes_through_unchanged():
    text = "**b** *i* _i_ `c` [l](javascript:x) <b>"
    assert md({"type": "paragraph", "text": text}) == text + "\n"


def test_code_fence_is_longer_than_any_backtick_run():
    assert md({"type": "code", "code": "x"}) == "```\nx\n```\n"
    assert md({"type": "code", "code": "a ``` b", "language": "js"}) == "````js\na ``` b\n````\n"
    assert md({"type": "code", "code": "``````"}) == "```````\n``````\n```````\n"


def test_heading_list_quote():
    assert md({"type": "heading", "level": 2, "text": "Hi"}) == "## Hi\n"
    assert md({"type": "list", "style": "numbered", "items": ["a", "b"]}) == "1. a\n2. b\n"
    assert md({"type": "list", "items": ["a", "b"]}) == "- a\n- b\n"
    assert md({"type": "quote", "text": "a\nb", "cite": "Me"}) == "> a\n> b\n> — Me\n"


@pytest.mark.parametrize(("seconds", "text"), [
    (3723, "1h 2m 3s"), (0, "0s"), (59, "59s"), (60, "1m"), (3600, "1h"), (3601, "1h 1s"), (90000, "25h"), (61.6, "1m 2s"),
    (-1, ""), (True, ""), ("60", ""), (None, ""), (float("nan"), ""), (10**400, ""),
])
def test_durations(seconds, text):
    assert duration_text(seconds) == text


def test_call_log_parts_are_skipped_when_absent():
    assert md({"type": "call_log"}) == "**Call**\n"
    assert md({"type": "call_log", "outcome": "No answer", "notes": "Retry\n# later"}) == (
        "**Call** · No answer\nRetry\n\\# later\n")


def test_task_formats():
    assert md({"type": "task", "title": "T"}) == "- [ ] T\n"
    assert md({"type": "task", "title": "T", "completed": True, "dueDate": "2026-01-02"}) == "- [x] T (due 2026-01-02)\n"
    assert md({"type": "task", "title": "T", "description": "a\nb"}) == "- [ ] T\n  a\n  b\n"


def test_meeting_note_format():
    out = md({"type": "meeting_note", "title": "M", "attendees": ["a", 3, "b"], "actionItems": ["x"]})
    assert out == "**M**\nAttendees: a, b\n- [ ] x\n"


def test_image_and_embed_urls_in_markdown():
    assert md({"type": "image", "url": "img/a b.png", "alt": "x]y"}) == "![x\\]y](<img/a b.png>)\n"
    assert md({"type": "image", "url": "JavaScript:alert(1)", "caption": "c"}) == "*c*\n"
    assert md({"type": "embed", "url": "/local"}) == "[/local](/local)\n"
    assert md({"type": "embed", "url": "vbscript:x", "title": "t"}) == ""


@pytest.mark.parametrize(("btype", "bid"), [("x", "y"), ("a-->b", "c--!>d"), ("t", "-->"), ("t", "<!--"), ("--", "\n\n-->")])
def test_unknown_type_comment_cannot_be_closed(btype, bid):
    out = render_markdown([{"id": bid, "type": btype}])
    assert out.startswith("<!-- block:") and out.endswith(" -->\n")
    inner = out[len("<!--"):-len("-->\n")]
    assert "--" not in inner and ">" not in inner and "<" not in inner and "\n" not in inner


# ------------------------------------------------------------------------------------------------------ HTML rules


def test_inline_markup_in_html():
    assert inline_html("**b** *i* _i_ `c`") == "<strong>b</strong> <em>i</em> <em>i</em> <code>c</code>"
    assert inline_html("[l](https://x.io/?a=1&b=2)") == '<a href="https://x.io/?a=1&amp;b=2" rel="nofollow noopener">l</a>'
    assert inline_html("[l](javascript:alert(1))") == "l)"
    assert inline_html("a\nb <i>") == "a<br>b &lt;i&gt;"
    assert inline_html("snake_case_name and 2 * 3 * 4") == "snake_case_name and 2 * 3 * 4"
    assert inline_html("**a *b* c**") == "<strong>a <em>b</em> c</strong>"
    assert inline_html("``a ` b``") == "<code>a ` b</code>"


@pytest.mark.parametrize("url", [
    "https://x.io", "HTTP://x.io", "mailto:a@b.c", "/path", "/", "#frag", "?q=1", " https://x.io ", "https:&#47;&#47;x",
])
def test_allowed_urls(url):
    assert safe_url(url) is not None


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JaVaScRiPt:x", " javascript:x", "java\tscript:x", "&#106;avascript:x", "&amp;#106;avascript:x",
    "javascript&colon;x", "data:text/html,x", "vbscript:x", "//evil.com", "/\\evil.com", "\\\\evil.com", "evil.com",
    "", "   ", None, 42, "\x00javascript:x", "ftp://x",
])
def test_rejected_urls(url):
    assert safe_url(url) is None


def test_wrong_types_are_skipped_in_both_formats():
    blocks = [
        {"id": "a", "type": "paragraph", "text": 5}, {"id": "b", "type": "heading", "level": "2", "text": ["x"]},
        {"id": "c", "type": "list", "items": "abc", "style": 3}, {"id": "d", "type": "image", "url": 1, "width": "9"},
        {"id": "e", "type": "task", "title": None, "completed": "yes", "dueDate": 3},
        {"id": "f", "type": "meeting_note", "attendees": "ann", "actionItems": [1, None]},
        {"id": 7, "type": None}, "not a block", None,
    ]
    render_markdown(blocks)
    html = render_html(blocks)
    assert '<h1 data-block-id="b"></h1>' in html
    assert '<div class="atomo-block" data-block-type="" data-block-id=""></div>' in html
    assert render_markdown(None) == "" and render_html("text") == ""


# ------------------------------------------------------------------------------------------------ custom renderers


def test_registered_renderer_for_a_custom_type():
    renderers = BlockRenderers()
    renderers.register("kanban_card", markdown=lambda b: f"Card: {b['column']}\n", html=lambda b: "<div>card</div>")
    blocks = [{"id": "k", "type": "kanban_card", "column": "todo"}, {"id": "d", "type": "divider"}]
    assert renderers.render_markdown(blocks) == "Card: todo\n\n---\n"
    assert renderers.render_html(blocks) == '<div>card</div>\n<hr data-block-id="d">\n'
    # the default instance is untouched
    assert render_markdown(blocks[:1]) == "<!-- block:kanban_card k -->\n"


def test_registering_one_format_keeps_the_other():
    renderers = BlockRenderers()
    renderers.register("paragraph", markdown=lambda b: b["text"].upper())
    blocks = [{"id": "p", "type": "paragraph", "text": "hi"}]
    assert renderers.render_markdown(blocks) == "HI\n"
    assert renderers.render_html(blocks) == '<p data-block-id="p">hi</p>\n'
    renderers.unregister("paragraph")
    assert renderers.render_markdown(blocks) == "hi\n"


def test_register_block_renderer_uses_the_default_instance():
    try:
        register_block_renderer("poll", markdown=lambda b: "Poll", html=lambda b: "<p>Poll</p>")
        assert render_markdown([{"id": "x", "type": "poll"}]) == "Poll\n"
        assert render_html([{"id": "x", "type": "poll"}]) == "<p>Poll</p>\n"
    finally:
        default_renderers.unregister("poll")
    assert render_markdown([{"id": "x", "type": "poll"}]) == "<!-- block:poll x -->\n"


def test_register_rejects_bad_arguments():
    with pytest.raises(ValueError):
        register_block_renderer("", markdown=lambda b: "")
    with pytest.raises(TypeError):
        register_block_renderer("x", markdown="not callable")  # type: ignore[arg-type]
