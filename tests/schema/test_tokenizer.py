"""Tokenizer: token kinds, decoded values, 1-based positions in code points, never crashing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from atomo.schema.tokenizer import COMMENT, EOF, IDENT, NUMBER, PUNCT, STRING, TEMPLATE, Sink, normalise_text, tokenize


def toks(text: str) -> tuple[list, Sink]:
    sink = Sink("schema.ts")
    return tokenize(text, sink), sink


def test_kinds_values_and_positions() -> None:
    tokens, sink = toks("export const x = model('a\\n', { n: 1_000, f: 2.50, h: 0x1F, e: 1e3 }) // hi")
    assert not sink.items
    assert [(t.kind, t.value) for t in tokens[:6]] == [
        (IDENT, "export"), (IDENT, "const"), (IDENT, "x"), (PUNCT, "="), (IDENT, "model"), (PUNCT, "(")]
    s = tokens[6]
    assert (s.kind, s.value, s.line, s.col) == (STRING, "a\n", 1, 24)
    numbers = [t.value for t in tokens if t.kind == NUMBER]
    assert numbers == [1000, 2.5, 31, 1000]
    assert all(isinstance(n, int) for n in (numbers[0], numbers[2], numbers[3]))
    comment = tokens[-2]
    assert (comment.kind, comment.value, comment.block) == (COMMENT, " hi", False)
    assert tokens[-1].kind == EOF


def test_columns_count_code_points_and_lines_are_one_based() -> None:
    tokens, _ = toks("a\n  '😀é' b\r\n\tc")
    by_value = {t.value: (t.line, t.col) for t in tokens if t.kind != EOF}
    assert by_value == {"a": (1, 1), "😀é": (2, 3), "b": (2, 8), "c": (3, 2)}


def test_backticks_and_templates() -> None:
    tokens, sink = toks("`plain` `with ${x}`")
    assert [(t.kind, t.value) for t in tokens[:2]] == [(STRING, "plain"), (TEMPLATE, "with ${x}")]
    assert not sink.items


def test_block_comment_spanning_lines() -> None:
    tokens, _ = toks("/* one\ntwo */ x")
    assert tokens[0].kind == COMMENT and tokens[0].block and tokens[0].value == " one\ntwo "
    assert (tokens[1].line, tokens[1].col) == (2, 8)


def test_escapes() -> None:
    tokens, _ = toks(r"'\u00e9\x41\u{1F600}\t\'q' " + '"a\\"b"')
    assert tokens[0].value == "éA😀\t'q"
    assert tokens[1].value == 'a"b'


def test_errors_are_reported_with_positions() -> None:
    _, sink = toks("x = 'open\n  \\ y")
    assert [(d.line, d.col, d.code) for d in sink.items] == [(1, 5, "syntax"), (2, 3, "syntax")]
    assert "unterminated string" in sink.items[0].message
    _, sink = toks("a /* never closed")
    assert [(d.line, d.col, d.message) for d in sink.items] == [(1, 3, "unterminated comment")]
    _, sink = toks("12px")
    assert sink.items[0].message == "invalid number '12px'"


def test_offset_start_position() -> None:
    tokens, _ = toks("")
    assert tokens[0].kind == EOF and (tokens[0].line, tokens[0].col) == (1, 1)
    sink = Sink("f")
    tokens = tokenize("a\nb", sink, line=7, col=10)
    assert [(t.line, t.col) for t in tokens[:2]] == [(7, 10), (8, 1)]


def test_normalise_text() -> None:
    assert normalise_text("\ufeffa\r\nb\rc") == "a\nb\nc"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab1_ \n\t'\"`/*${}()[]<>:;,.|@#\\-+=?!é😀")), max_size=80))
def test_tokenizer_never_crashes_and_positions_are_inside_the_text(text: str) -> None:
    text = normalise_text(text)
    tokens, sink = toks(text)
    lines = text.split("\n")
    assert tokens[-1].kind == EOF
    for item in [*tokens, *sink.items]:
        assert 1 <= item.line <= len(lines)
        assert 1 <= item.col <= len(lines[item.line - 1]) + 1
    for t in tokens[:-1]:
        assert 0 <= t.pos < t.end <= len(text)
