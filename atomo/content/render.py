"""Rendering: a Blocks value as Markdown or as safe HTML (content.md §6).

`render_markdown(blocks)` and `render_html(blocks)` use the module's default `BlockRenderers`;
`register_block_renderer(type, markdown=fn, html=fn)` adds a renderer for a custom type (or replaces
a built-in one). A renderer receives the block dict and returns text; HTML from a custom renderer is
trusted as it is, so it must escape what it emits.

Safety of the built-in HTML renderers:
- every text is escaped with `html.escape(quote=True)`; only the inline markup of §2 produces tags,
  parsed by a small scanner (no nested regexes): bounded nesting depth, O(n log n) in the text size;
- a URL is kept only if it passes `safe_url`: after decoding HTML entities, dropping control
  characters and surrounding white space, it must start (case-insensitively) with `http:`,
  `https:` or `mailto:`, or with `#`, `?`, or a single `/` not followed by `/` or `\\` (so
  protocol-relative `//host` and `/\\host` are refused). The kept URL is the normalised one, so the
  value a browser sees is exactly the checked value;
- values of the wrong type in a block are skipped, never raised on; non-object entries are left out.

Markdown passes text and its inline markup through unchanged (lines that would start a block
construct get a backslash); image and embed URLs whose scheme is not http, https or mailto are left
out there too (scheme-less relative paths are kept, since Markdown is often exported with them).
The Markdown of unknown types is a comment `<!-- block:<type> <id> -->`; `&`, `<`, `>`, control
characters and every `-` that follows a `-` are written as character references so that a type or
id can never end the comment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from atomo.content.inline import (
    ALL_MARKUP,
    ALLOWED_SCHEMES,
    MARKUP_LINK,
    SCHEME,
    escape,
    inline_html,
    normalize_url,
    one_line,
    raw_text,
    safe_url,
    strings_of,
    text_of,
)

Renderer = Callable[[dict[str, Any]], str]

__all__ = [
    "BlockRenderers", "default_renderers", "register_block_renderer", "render_html", "render_markdown", "safe_url",
]

# ------------------------------------------------------------------------------------------------------- Markdown

_ORDERED = re.compile(r"\d{1,9}[.)](?:[ \t]|$)")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")


def _starts_block(rest: str) -> bool:
    """Whether a line (indentation removed) would start a Markdown block construct."""
    if not rest:
        return False
    first, second = rest[0], rest[1:2]
    if first == ">" or rest.startswith(("```", "~~~")):
        return True
    if first in "-+*" and second in ("", " ", "\t"):
        return True
    if first == "#" and _HEADING.match(rest):
        return True
    if first.isdigit() and _ORDERED.match(rest):
        return True
    compact = rest.replace(" ", "").replace("\t", "")
    if len(compact) >= 3 and compact[0] in "-*_" and compact == compact[0] * len(compact):
        return True  # thematic break: ---, ***, ___, - - -
    stripped = rest.rstrip(" \t")
    return stripped[0] in "=-" and stripped == stripped[0] * len(stripped)  # setext underline


def _escape_line(line: str) -> str:
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3 or not _starts_block(line[indent:]):
        return line
    return f"{line[:indent]}\\{line[indent:]}"


def _md_lines(text: Any) -> list[str]:
    return [_escape_line(line) for line in text_of(text).split("\n")]


def _md_text(text: Any, indent: str = "") -> str:
    return "\n".join(f"{indent}{line}" if line else "" for line in _md_lines(text))


def _md_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


_DEST_UNSAFE = re.compile(r"[\s()<>]")


def _md_url(value: Any) -> str | None:
    """An image or embed URL for Markdown: kept unless its scheme is not http, https or mailto
    (scheme-less relative paths are kept; `javascript:`, `data:`, ... are left out)."""
    url = normalize_url(value)
    if url is None or (SCHEME.match(url) and not url.lower().startswith(ALLOWED_SCHEMES)):
        return None
    return url


def _md_dest(url: str) -> str:
    if not _DEST_UNSAFE.search(url):
        return url
    return "<" + url.replace("\\", "%5C").replace("<", "%3C").replace(">", "%3E") + ">"


_AUTOLINK = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{1,31}:[^\s<>\\]*")


_MAX_DURATION = 10**12  # seconds; larger values are treated as wrong ones


def duration_text(value: Any) -> str:
    """Seconds as `1h 2m 3s` (zero parts left out, `0s` for zero); "" for a non-number or a negative."""
    if type(value) not in (int, float) or not 0 <= value <= _MAX_DURATION:  # also refuses NaN
        return ""
    seconds = int(round(value))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return " ".join(parts) or "0s"


def _comment_text(value: str) -> str:
    out = []
    previous = ""
    for ch in value:
        if ch == "&":
            out.append("&amp;")
        elif ch == "<":
            out.append("&lt;")
        elif ch == ">":
            out.append("&gt;")
        elif ch == "-" and previous == "-" or ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"&#{ord(ch)};")
        else:
            out.append(ch)
        previous = ch
    return "".join(out)


def _md_paragraph(b: dict[str, Any]) -> str:
    return _md_text(b.get("text"))


def _md_heading(b: dict[str, Any]) -> str:
    return f"{'#' * _level(b.get('level'))} {one_line(b.get('text'))}"


def _md_list(b: dict[str, Any]) -> str:
    numbered = b.get("style") == "numbered"
    lines = []
    for n, item in enumerate(strings_of(b.get("items")), 1):
        marker = f"{n}. " if numbered else "- "
        first, *more = _md_lines(item)
        lines.append(marker + first)
        lines += [" " * len(marker) + line if line else "" for line in more]
    return "\n".join(lines)


def _md_quote(b: dict[str, Any]) -> str:
    lines = [f"> {line}" if line else ">" for line in _md_lines(b.get("text"))]
    cite = one_line(b.get("cite"))
    if cite:
        lines.append(f"> — {cite}")
    return "\n".join(lines)


def _md_code(b: dict[str, Any]) -> str:
    code = text_of(b.get("code"))
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    language = _language(b.get("language"))
    body = code if code.endswith("\n") or not code else code + "\n"
    return f"{fence}{language}\n{body}{fence}"


def _md_image(b: dict[str, Any]) -> str:
    url = _md_url(b.get("url"))
    out = f"![{_md_label(one_line(b.get('alt')))}]({_md_dest(url)})" if url is not None else ""
    caption = one_line(b.get("caption"))
    return "\n".join(part for part in (out, f"*{caption}*" if caption else "") if part)


def _md_embed(b: dict[str, Any]) -> str:
    url = _md_url(b.get("url"))
    if url is None:
        return ""
    title = one_line(b.get("title"))
    if not title and _AUTOLINK.fullmatch(url):
        return f"<{url}>"
    return f"[{_md_label(title or url)}]({_md_dest(url)})"


def _md_task(b: dict[str, Any]) -> str:
    mark = "x" if b.get("completed") is True else " "
    line = f"- [{mark}] {one_line(b.get('title'))}"
    due = one_line(b.get("dueDate"))
    if due:
        line += f" (due {due})"
    description = text_of(b.get("description"))
    return f"{line}\n{_md_text(description, '  ')}" if description else line


def _call_parts(b: dict[str, Any]) -> list[str]:
    return [p for p in (duration_text(b.get("duration")), one_line(b.get("outcome")), one_line(b.get("recordedAt"))) if p]


def _md_call_log(b: dict[str, Any]) -> str:
    head = " · ".join(["**Call**", *_call_parts(b)])
    notes = text_of(b.get("notes"))
    return f"{head}\n{_md_text(notes)}" if notes else head


def _md_meeting_note(b: dict[str, Any]) -> str:
    head = f"**{one_line(b.get('title'))}**"
    date = one_line(b.get("meetingDate"))
    lines = [f"{head} · {date}" if date else head]
    attendees = [one_line(a) for a in strings_of(b.get("attendees"))]
    if attendees:
        lines.append("Attendees: " + ", ".join(attendees))
    lines += [_md_text(b.get(key)) for key in ("agenda", "notes") if text_of(b.get(key))]
    lines += [f"- [ ] {one_line(item)}" for item in strings_of(b.get("actionItems"))]
    return "\n".join(lines)


def _md_other(b: dict[str, Any]) -> str:
    return f"<!-- block:{_comment_text(raw_text(b.get('type')))} {_comment_text(raw_text(b.get('id')))} -->"


# ----------------------------------------------------------------------------------------------------------- HTML


def _level(value: Any) -> int:
    return min(6, max(1, value)) if type(value) is int else 1


def _language(value: Any) -> str:
    words = text_of(value).replace("`", "").split()
    return words[0] if words else ""


def _open(tag: str, b: dict[str, Any], cls: str = "") -> str:
    class_attr = f' class="{cls}"' if cls else ""
    return f'<{tag}{class_attr} data-block-id="{escape(raw_text(b.get("id")))}">'


def _html_paragraph(b: dict[str, Any]) -> str:
    return f"{_open('p', b)}{inline_html(b.get('text'))}</p>"


def _html_heading(b: dict[str, Any]) -> str:
    tag = f"h{_level(b.get('level'))}"
    return f"{_open(tag, b)}{inline_html(one_line(b.get('text')))}</{tag}>"


def _html_list(b: dict[str, Any]) -> str:
    tag = "ol" if b.get("style") == "numbered" else "ul"
    items = "".join(f"<li>{inline_html(item)}</li>" for item in strings_of(b.get("items")))
    return f"{_open(tag, b)}{items}</{tag}>"


def _html_quote(b: dict[str, Any]) -> str:
    cite = text_of(b.get("cite"))
    footer = f"<footer>{inline_html(cite)}</footer>" if cite else ""
    return f"{_open('blockquote', b)}<p>{inline_html(b.get('text'))}</p>{footer}</blockquote>"


def _html_code(b: dict[str, Any]) -> str:
    language = _language(b.get("language"))
    cls = f' class="language-{escape(language)}"' if language else ""
    return f"{_open('pre', b)}<code{cls}>{escape(text_of(b.get('code')))}</code></pre>"


def _html_image(b: dict[str, Any]) -> str:
    url = safe_url(b.get("url"))
    img = ""
    if url is not None:
        size = "".join(f' {key}="{b[key]}"' for key in ("width", "height") if type(b.get(key)) is int and 0 < b[key] < 100_000)
        img = f'<img src="{escape(url)}" alt="{escape(text_of(b.get("alt")))}"{size} loading="lazy">'
    caption = text_of(b.get("caption"))
    figcaption = f"<figcaption>{inline_html(caption)}</figcaption>" if caption else ""
    return f"{_open('figure', b)}{img}{figcaption}</figure>"


def _html_embed(b: dict[str, Any]) -> str:
    url = safe_url(b.get("url"))
    link = ""
    if url is not None:
        title = text_of(b.get("title"))
        label = inline_html(title, ALL_MARKUP & ~MARKUP_LINK) if title else escape(url)
        link = f'<a href="{escape(url)}" rel="nofollow noopener">{label}</a>'
    return f"{_open('p', b, 'atomo-embed')}{link}</p>"


def _html_task(b: dict[str, Any]) -> str:
    checked = " checked" if b.get("completed") is True else ""
    out = f'{_open("div", b, "atomo-task")}<input type="checkbox" disabled{checked}> {inline_html(one_line(b.get("title")))}'
    due = one_line(b.get("dueDate"))
    if due:
        out += f' <span class="atomo-task-due">(due {escape(due)})</span>'
    description = text_of(b.get("description"))
    if description:
        out += f'<p class="atomo-task-description">{inline_html(description)}</p>'
    return out + "</div>"


def _html_call_log(b: dict[str, Any]) -> str:
    parts = [duration_text(b.get("duration")), inline_html(one_line(b.get("outcome"))), escape(one_line(b.get("recordedAt")))]
    head = " · ".join(["<strong>Call</strong>", *(p for p in parts if p)])
    notes = text_of(b.get("notes"))
    body = f"<p>{inline_html(notes)}</p>" if notes else ""
    return f"{_open('section', b, 'atomo-call-log')}<p>{head}</p>{body}</section>"


def _html_meeting_note(b: dict[str, Any]) -> str:
    out = [_open("section", b, "atomo-meeting-note"), f"<h3>{inline_html(one_line(b.get('title')))}</h3>"]
    date = one_line(b.get("meetingDate"))
    if date:
        out.append(f'<p class="atomo-meeting-date">{escape(date)}</p>')
    attendees = [escape(one_line(a)) for a in strings_of(b.get("attendees"))]
    if attendees:
        out.append(f'<p class="atomo-attendees">Attendees: {", ".join(attendees)}</p>')
    for key in ("agenda", "notes"):
        if text_of(b.get(key)):
            out.append(f'<p class="atomo-{key}">{inline_html(b.get(key))}</p>')
    items = strings_of(b.get("actionItems"))
    if items:
        lis = "".join(f'<li><input type="checkbox" disabled> {inline_html(one_line(i))}</li>' for i in items)
        out.append(f'<ul class="atomo-action-items">{lis}</ul>')
    return "".join(out) + "</section>"


def _html_other(b: dict[str, Any]) -> str:
    return (f'<div class="atomo-block" data-block-type="{escape(raw_text(b.get("type")))}" '
            f'data-block-id="{escape(raw_text(b.get("id")))}"></div>')


# ------------------------------------------------------------------------------------------------------- registry

_BUILTIN_MARKDOWN: dict[str, Renderer] = {
    "paragraph": _md_paragraph, "heading": _md_heading, "list": _md_list, "quote": _md_quote, "code": _md_code,
    "image": _md_image, "embed": _md_embed, "divider": lambda b: "---", "task": _md_task,
    "call_log": _md_call_log, "meeting_note": _md_meeting_note,
}
_BUILTIN_HTML: dict[str, Renderer] = {
    "paragraph": _html_paragraph, "heading": _html_heading, "list": _html_list, "quote": _html_quote,
    "code": _html_code, "image": _html_image, "embed": _html_embed, "divider": lambda b: _open("hr", b),
    "task": _html_task, "call_log": _html_call_log, "meeting_note": _html_meeting_note,
}


class BlockRenderers:
    """The Markdown and HTML renderers by block type: the built-in ones plus registered ones."""

    def __init__(self) -> None:
        self._markdown: dict[str, Renderer] = dict(_BUILTIN_MARKDOWN)
        self._html: dict[str, Renderer] = dict(_BUILTIN_HTML)

    def register(self, type: str, markdown: Renderer | None = None, html: Renderer | None = None) -> None:
        """Render blocks of `type` with these functions (a built-in type's name replaces it; None keeps
        the current renderer of that format)."""
        if not isinstance(type, str) or not type:
            raise ValueError("block type must be a non-empty string")
        for fn in (markdown, html):
            if fn is not None and not callable(fn):
                raise TypeError("a block renderer must be callable")
        if markdown is not None:
            self._markdown[type] = markdown
        if html is not None:
            self._html[type] = html

    def unregister(self, type: str) -> None:
        """Back to the built-in renderers of `type` (or the unknown-type output)."""
        for registry, builtin in ((self._markdown, _BUILTIN_MARKDOWN), (self._html, _BUILTIN_HTML)):
            registry.pop(type, None)
            if type in builtin:
                registry[type] = builtin[type]

    def _render(self, blocks: Any, registry: dict[str, Renderer], other: Renderer) -> list[str]:
        if not isinstance(blocks, Iterable) or isinstance(blocks, (str, bytes, dict)):
            return []
        out = []
        for block in blocks:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            fn = registry.get(btype, other) if isinstance(btype, str) else other
            text = fn(block)
            text = "" if text is None else str(text).rstrip("\n")
            if text:
                out.append(text)
        return out

    def render_markdown(self, blocks: Any) -> str:
        parts = self._render(blocks, self._markdown, _md_other)
        return "\n\n".join(parts) + "\n" if parts else ""

    def render_html(self, blocks: Any) -> str:
        parts = self._render(blocks, self._html, _html_other)
        return "\n".join(parts) + "\n" if parts else ""


default_renderers = BlockRenderers()


def render_markdown(blocks: Any) -> str:
    """Blocks as Markdown: separated by a blank line, ending with a newline ("" for no blocks)."""
    return default_renderers.render_markdown(blocks)


def render_html(blocks: Any) -> str:
    """Blocks as HTML: one element per block (carrying `data-block-id`), one per line."""
    return default_renderers.render_html(blocks)


def register_block_renderer(type: str, markdown: Renderer | None = None, html: Renderer | None = None) -> None:
    """Render blocks of `type` with these functions in `render_markdown`/`render_html`."""
    default_renderers.register(type, markdown=markdown, html=html)
