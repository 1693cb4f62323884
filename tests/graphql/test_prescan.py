"""The lexical pre-scan (atomo/graphql/prescan.py): token counts, nesting, fragments, cost, and the
engine refusing documents over a bound before the C parser sees them."""

from __future__ import annotations

import time

import pytest
from graphql import get_introspection_query
from graphql.language import Lexer, Source, TokenKind

from atomo import Atomo
from atomo.graphql.engine import GraphQLEngine
from atomo.graphql.prescan import _TOKEN, MAX_FRAGMENTS, MAX_NESTING, check_document, nesting_bound
from tests.graphql.conftest import Runner, build_engine
from tests.graphql.test_limits import assert_document_error

BIG = 10**9


def scanned_tokens(query: str) -> int:
    return sum(1 for match in _TOKEN.finditer(query) if match.lastindex)


def reference_tokens(query: str) -> int:
    """Tokens as graphql-core's lexer sees them (comments are not tokens)."""
    lexer, count = Lexer(Source(query)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def nesting(query: str) -> str | None:
    return check_document(query, max_tokens=BIG, max_nesting=3)


DOCUMENTS = [
    "{ __typename }",
    'query Q($w: JSON = {a: [1, 2.5e-3, -0]}, $n: Int!) { records(model: "Deal", where: $w, limit: $n) }',
    '{ a: records(model: "x[{(", where: {title: {contains: "]}) \\" ]"}}) }',
    '{ records(model: """block ]]] "quoted" \\""" still ]]] inside""") }',
    '{ records(model: """\n  ((( multi\n  line {{{ \n""") }',
    "# a comment with [[[ brackets\n{ __typename } # and ))) here\r\n",
    '{ records(model: "Zoë 😀 ü [[[", where: {name: "漢字{{{"}) }',
    "\ufeff{ a,b,,,c }",
    "query { ...F ... on Query { __typename } } fragment F on Query { __typename }",
    '{ a(b: "\\u005b\\u005d \\\\ \\/ \\b\\f\\n\\r\\t") }',
    "mutation M { update(model: \"Deal\", id: \"1\", data: {value: 1.5E+10}) @skip(if: false) }",
    get_introspection_query(descriptions=True),
]


@pytest.mark.parametrize("query", DOCUMENTS)
def test_tokens_are_counted_as_the_graphql_lexer_does(query: str) -> None:
    assert scanned_tokens(query) == reference_tokens(query)


def test_brackets_in_strings_block_strings_and_comments_do_not_nest() -> None:
    assert nesting('{ a(b: "[[[[[[ {{{{ ((((") }') is None
    assert nesting('{ a(b: """ [[[[[[ \\""" {{{{ ((((""") }') is None
    assert nesting('{ a(b: """ [[[[ \n ]]]] \n ((((""") }') is None
    assert nesting("{ a } # [[[[[[[[\n# {{{{{{{{\r# ((((((((") is None
    assert nesting('{ a(b: "\\"[[[[[[") }') is None                  # an escaped quote does not end the string
    assert nesting('{ a(b: "\\\\" c: [[[[ ]]]]) }') is not None        # an escaped backslash does
    assert nesting('{ a(b: """x\\\\""" c: [[[[ ]]]]) }') is None       # \\ then \""": the block string goes on
    assert nesting('{ a(b: """x\\ """ c: [[[[ ]]]]) }') is not None     # a lone backslash is a character
    assert nesting('{ a(b: "Zoë 😀 [[[[ 漢字") }') is None


def test_where_a_string_or_comment_ends_the_brackets_count_again() -> None:
    assert nesting('{ a(b: "unterminated [[[[\n [[[[ ]]]] ) }') is not None   # the string ends at the line end
    assert nesting("# comment\r[[[[ ]]]]") is not None
    assert nesting('"""unterminated block [[[[[[') is None                    # runs to the end: one token
    assert nesting('{ a(b: """""" [[[[ ]]]]) }') is not None                  # an empty block string
    assert nesting('{ a(b: """""""[[[[ ]]]]) }') is None                      # """""" then " starts a string
    assert nesting('{ a(b: """a"""" [[[[ ]]]]") }') is None                  # """a""" then "...": a string


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ("{", "}"), ("(", ")")])
def test_nesting_bound_for_every_bracket_kind(opening: str, closing: str) -> None:
    assert check_document(opening * 64 + closing * 64, max_tokens=BIG, max_nesting=64) is None
    message = check_document(opening * 65 + closing * 65, max_tokens=BIG, max_nesting=64)
    assert message == "Document nesting exceeds 64 levels (GRAPHQL_MAX_DEPTH)"
    assert check_document(opening * 65, max_tokens=BIG, max_nesting=64) == message       # unbalanced too
    mixed = "{ a(b: [{c: [[ ]]}]) }"
    assert check_document(mixed, max_tokens=BIG, max_nesting=6) is None
    assert check_document(mixed, max_tokens=BIG, max_nesting=5) is not None


def test_stray_closing_brackets_do_not_buy_depth() -> None:
    assert check_document("]]]]]]" + "[" * 5, max_tokens=BIG, max_nesting=4) is not None
    assert check_document("[[]]" * 100, max_tokens=BIG, max_nesting=2) is None


def test_token_bound() -> None:
    assert check_document("{ a b c }", max_tokens=5, max_nesting=64) is None
    assert check_document("{ a b c d }", max_tokens=5, max_nesting=64) == \
        "Document has more than 5 tokens (GRAPHQL_MAX_TOKENS)"
    assert check_document("{ a, , , b }  # c d e f g h", max_tokens=4, max_nesting=64) is None
    assert check_document("?" * 6, max_tokens=5, max_nesting=64) is not None             # unknown characters count


def test_fragment_bound() -> None:
    def chain(n: int) -> str:
        return "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n - 1)) + \
            f" fragment F{n - 1} on Query {{ __typename }}"
    assert check_document(chain(MAX_FRAGMENTS), max_tokens=BIG, max_nesting=64) is None
    assert check_document(chain(MAX_FRAGMENTS + 1), max_tokens=BIG, max_nesting=64) == \
        f"Document defines more than {MAX_FRAGMENTS} fragments"
    fields = " ".join("fragment" for _ in range(MAX_FRAGMENTS + 1))    # fields called "fragment" are not definitions
    assert check_document(f"{{ {fields} }}", max_tokens=BIG, max_nesting=64) is None


def test_nesting_bound_from_the_depth_limit() -> None:
    assert nesting_bound(20) == 64
    assert nesting_bound(1) == 64
    assert nesting_bound(50) == 124
    assert nesting_bound(1000) == MAX_NESTING


@pytest.mark.parametrize("document", [
    "[" * (1 << 20),
    "[]" * (1 << 19),
    "a " * (1 << 19),
    '"\\"' * (1 << 18),
    '"' * (1 << 20),
    "?" * (1 << 20),
    "-1.5e3 " * (1 << 17),
])
def test_a_megabyte_over_a_bound_is_refused_in_milliseconds(document: str) -> None:
    started = time.perf_counter()
    assert check_document(document, max_tokens=10_000, max_nesting=64) is not None
    assert time.perf_counter() - started < 0.1   # about 3 ms; generous for a loaded machine


@pytest.mark.parametrize("document", [
    '{ a(b: "' + "x" * (1 << 20) + '") }',
    "{ a }" + " ," * (1 << 19),
    '{ a(b: """' + "é😀[" * (1 << 18) + '""") }',
    "#]\n" * (1 << 18) + "{ a }",
])
def test_a_megabyte_within_the_bounds_is_scanned_linearly(document: str) -> None:
    started = time.perf_counter()
    assert check_document(document, max_tokens=10_000, max_nesting=64) is None
    assert time.perf_counter() - started < 0.5   # 2-20 ms


# -- through the engine ----------------------------------------------------------------------------
DEPTH = 25_000   # crashed the process in libgraphqlparser before the pre-scan
DEEP = {
    "list": '{ records(model: "Deal", where: ' + "[" * DEPTH + "]" * DEPTH + ") }",
    "object": '{ records(model: "Deal", where: ' + "{c: " * DEPTH + "1" + "}" * DEPTH + ") }",
    "selection": "{ " + "a { " * DEPTH + "b" + " }" * DEPTH + " }",
    "parentheses": "{ a" + "(" * DEPTH + ")" * DEPTH + " }",
}


@pytest.mark.parametrize("tail", ["", " }"])
@pytest.mark.parametrize("kind", DEEP)
async def test_engine_refuses_deep_documents_before_parsing(gql: Runner, kind: str, tail: str) -> None:
    query = DEEP[kind] + tail
    started = time.perf_counter()
    outcome = await gql(query)
    assert time.perf_counter() - started < 0.5
    error = assert_document_error(outcome, "Document nesting exceeds 64 levels (GRAPHQL_MAX_DEPTH)")
    assert "locations" not in error
    assert gql.engine.operation_type(query, None) is None


async def test_engine_token_bound_and_its_setting(crm: Atomo) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(100)) + " }"   # 302 tokens
    small = Runner(await build_engine(crm, graphql_max_tokens=301), crm)
    assert_document_error(await small(query), "Document has more than 301 tokens (GRAPHQL_MAX_TOKENS)")
    assert_document_error(await small(query), "GRAPHQL_MAX_TOKENS")                  # cached answer
    enough = Runner(await build_engine(crm, graphql_max_tokens=302), crm)
    assert (await enough.data(query))["a99"] == "Query"


async def test_engine_nesting_follows_the_depth_setting(crm: Atomo) -> None:
    deep: GraphQLEngine = await build_engine(crm, graphql_max_depth=50)
    where = "{NOT: " * 100 + "{}" + "}" * 100
    query = '{ count(model: "Deal", where: ' + where + ") }"   # 102 brackets: under 124, over 64
    outcome = await Runner(deep, crm)(query)
    assert "nesting" not in str(outcome.body)
    assert_document_error(await Runner(await build_engine(crm), crm)(query), "exceeds 64 levels")


async def test_a_legitimate_where_literal_fits(gql: Runner) -> None:
    leaf = '{title: {contains: "a"}}'
    where = leaf
    for combinator in ("AND", "OR", "NOT") * 2 + ("AND", "OR"):   # the 8 levels the filter allows
        where = f"{{{combinator}: [{where}, {leaf}]}}"
    data = await gql.data('{ count(model: "Deal", where: ' + where + ") }")
    assert isinstance(data["count"], int)
