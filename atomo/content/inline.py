"""Text of blocks for the renderers (content.md §2, §6): string coercion, HTML escaping, the URL allow-list of
HTML output (`safe_url`), and the inline markup (`**bold**`, `*italic*`/`_italic_`, `` `code` ``, `[label](url)`)
as HTML, parsed by a small scanner: bounded nesting, O(n log n) in the text size. See `atomo.content.render`.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_left
from typing import Any

# ---------------------------------------------------------------------------------------------------------- helpers


def text_of(value: Any) -> str:
    """The value when it is a string (newlines normalised to \\n), else ""."""
    if not isinstance(value, str):
        return ""
    return value.replace("\r\n", "\n").replace("\r", "\n") if "\r" in value else value


def raw_text(value: Any) -> str:
    """The value when it is a string, unchanged (ids and types), else ""."""
    return value if isinstance(value, str) else ""


def one_line(value: Any) -> str:
    """A single-line string value: newlines become spaces."""
    return " ".join(text_of(value).split("\n")).strip()


def strings_of(value: Any) -> list[str]:
    return [text_of(v) for v in value if isinstance(v, str)] if isinstance(value, list) else []


def escape(text: str) -> str:
    return html.escape(text, quote=True)


def _esc_text(text: str) -> str:
    return html.escape(text, quote=True).replace("\n", "<br>")


_CONTROL = re.compile(r"[\x00-\x20\x7f]+")
ALLOWED_SCHEMES = ("http:", "https:", "mailto:")


SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def normalize_url(value: Any) -> str | None:
    """Entities decoded (to a fixpoint), control characters dropped, white space trimmed; None if unusable."""
    if not isinstance(value, str):
        return None
    url = value
    for _ in range(4):  # entities may be nested (&amp;#106;); a browser decodes once, we check the fixpoint
        decoded = html.unescape(url)
        if decoded == url:
            break
        url = decoded
    else:
        return None
    return _CONTROL.sub(lambda m: " " if " " in m.group() else "", url).strip() or None


def safe_url(value: Any) -> str | None:
    """The normalised URL if it is allowed in HTML output (see the module docstring), else None."""
    url = normalize_url(value)
    if url is None:
        return None
    lowered = url.lower()
    if lowered.startswith(ALLOWED_SCHEMES) or url[0] in "#?":
        return url
    if url[0] == "/" and (len(url) == 1 or url[1] not in "/\\"):
        return url
    return None


# ----------------------------------------------------------------------------------------------- inline markup (HTML)

_BOLD, _STAR, _UNDER, MARKUP_LINK = 1, 2, 4, 8
ALL_MARKUP = _BOLD | _STAR | _UNDER | MARKUP_LINK
_SPECIAL = re.compile(r"[*_`\[]")
_BOLD_CLOSE = re.compile(r"(?<=\S)(?=\*\*)")  # "**" after a non-space (overlapping positions)
_STAR_CLOSE = re.compile(r"(?<=[^\s*])\*(?!\*)")  # a lone "*" after a non-space
_UNDER_CLOSE = re.compile(r"(?<=\S)_(?![^\W_])")  # "_" after a non-space, not followed by a letter/digit
_TICKS = re.compile(r"`+")
_LABEL_CLOSE = re.compile(r"\]\(")
_PAREN_CLOSE = re.compile(r"\)")


class _Inline:
    """One text's inline markup. Closing delimiters are indexed once; each opener finds its closer by
    bisection, and nesting is bounded because a construct never contains itself."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._index: dict[str, list[int]] = {}
        self._runs: dict[int, list[int]] | None = None

    def _positions(self, name: str, pattern: re.Pattern[str]) -> list[int]:
        if name not in self._index:
            self._index[name] = [m.start() for m in pattern.finditer(self.text)]
        return self._index[name]

    def _next(self, name: str, pattern: re.Pattern[str], lo: int, hi: int) -> int:
        """The first indexed position in [lo, hi], or -1."""
        positions = self._positions(name, pattern)
        i = bisect_left(positions, lo)
        return positions[i] if i < len(positions) and positions[i] <= hi else -1

    def _next_run(self, length: int, lo: int, hi: int) -> int:
        """The start of the first run of exactly `length` backticks starting in [lo, hi], or -1."""
        if self._runs is None:
            self._runs = {}
            for m in _TICKS.finditer(self.text):
                self._runs.setdefault(m.end() - m.start(), []).append(m.start())
        positions = self._runs.get(length, [])
        i = bisect_left(positions, lo)
        return positions[i] if i < len(positions) and positions[i] <= hi else -1

    def render(self, start: int, end: int, allow: int) -> str:
        t = self.text
        out: list[str] = []
        pending = i = start
        while True:
            m = _SPECIAL.search(t, i, end)
            if m is None:
                break
            i = m.start()
            c = t[i]
            after = t[i + 1] if i + 1 < end else " "
            made: str | None = None
            nxt = i + 1
            if c == "`":
                run = _TICKS.match(t, i, end).end() - i  # type: ignore[union-attr]
                k = self._next_run(run, i + run + 1, end - run)
                if k >= 0:
                    made, nxt = f"<code>{_esc_text(t[i + run:k])}</code>", k + run
                else:
                    nxt = i + run  # an unmatched run of backticks is literal text
            elif c == "*" and after == "*" and allow & _BOLD and i + 2 < end and not t[i + 2].isspace():
                k = self._next("bold", _BOLD_CLOSE, i + 3, end - 2)
                if k >= 0:
                    made, nxt = f"<strong>{self.render(i + 2, k, allow & ~_BOLD)}</strong>", k + 2
            elif c == "*" and allow & _STAR and not after.isspace():
                k = self._next("star", _STAR_CLOSE, i + 2, end - 1)
                if k >= 0:
                    made, nxt = f"<em>{self.render(i + 1, k, allow & ~_STAR)}</em>", k + 1
            elif c == "_" and allow & _UNDER and not after.isspace() and (i == 0 or not t[i - 1].isalnum()):
                k = self._next("under", _UNDER_CLOSE, i + 2, end - 1)
                if k >= 0:
                    made, nxt = f"<em>{self.render(i + 1, k, allow & ~_UNDER)}</em>", k + 1
            elif c == "[" and allow & MARKUP_LINK:
                k = self._next("label", _LABEL_CLOSE, i + 2, end - 3)
                p = self._next("paren", _PAREN_CLOSE, k + 2, end - 1) if k >= 0 else -1
                if p >= 0:
                    label = self.render(i + 1, k, allow & ~MARKUP_LINK)
                    url = safe_url(t[k + 2:p])
                    made = label if url is None else f'<a href="{escape(url)}" rel="nofollow noopener">{label}</a>'
                    nxt = p + 1
            if made is not None:
                out.append(_esc_text(t[pending:i]))
                out.append(made)
                pending = nxt
            i = nxt
        out.append(_esc_text(t[pending:end]))
        return "".join(out)


def inline_html(text: Any, allow: int = ALL_MARKUP) -> str:
    """A text value as HTML: escaped, inline markup turned into tags, newlines into `<br>`."""
    text = text_of(text)
    if not _SPECIAL.search(text):
        return _esc_text(text)
    return _Inline(text).render(0, len(text), allow)


