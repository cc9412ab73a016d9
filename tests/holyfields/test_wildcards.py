"""Event-type patterns: AMQP topic semantics, exact error messages, linear matching and what SQL needs."""

from __future__ import annotations

import re

import pytest

from holyfields.wildcards import MAX_PATTERN_LENGTH, SYNTAX, InvalidPattern, TypePattern


@pytest.mark.parametrize(
    ("pattern", "event_type", "expected"),
    [
        ("retail.offer.surfaced.v1", "retail.offer.surfaced.v1", True),
        ("retail.offer.surfaced.v1", "retail.offer.surfaced.v2", False),
        ("#", "retail.offer.surfaced.v1", True),
        ("#", "x", True),
        ("retail.#", "retail.offer.surfaced.v1", True),
        ("retail.#", "retail", True),
        ("retail.#", "retailer.offer.surfaced.v1", False),
        ("retail.*", "retail.offer.surfaced.v1", False),
        ("retail.*", "retail.offer", True),
        ("retail.*", "retail", False),
        ("#.v1", "retail.offer.surfaced.v1", True),
        ("#.v1", "v1", True),
        ("#.v1", "retail.offer.surfaced.v10", False),
        ("retail.#.v1", "retail.offer.surfaced.v1", True),
        ("retail.#.v1", "retail.v1", True),
        ("retail.#.v1", "github.offer.surfaced.v1", False),
        ("*.workflow.*.v1", "n8n.workflow.started.v1", True),
        ("*.workflow.*.v1", "github.workflow.completed.v1", True),
        ("*.workflow.*.v1", "n8n.workflow.started.v2", False),
        ("*.workflow.*.v1", "n8n.workflow.x.started.v1", False),
        ("*.*.*.*", "retail.offer.surfaced.v1", True),
        ("*.*.*", "retail.offer.surfaced.v1", False),
        ("#.offer.#", "retail.offer.surfaced.v1", True),
        ("#.offer.#", "offer", True),
        ("#.offer.#", "retail.offers.surfaced.v1", False),
        ("#.#.#", "retail.offer.surfaced.v1", True),
        ("retail.#.#.v1", "retail.v1", True),
        ("*.#", "retail", True),
        ("*.#", "retail.offer", True),
        ("#.*", "retail", True),
        ("*.#.*", "retail", False),
        ("*.#.*", "retail.v1", True),
        ("github.pr_x.#", "github.pr_x.opened.v1", True),
        ("github.pr_x.#", "github.prax.opened.v1", False),
    ],
)
def test_patterns_follow_amqp_topic_semantics(pattern, event_type, expected):
    """`*` matches exactly one word and `#` zero or more, wherever they stand in the pattern."""
    assert TypePattern.parse(pattern).matches(event_type) is expected


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "",
            (
                "'' is not a valid event-type pattern: it is empty: name a type, e.g. 'retail.offer.surfaced.v1', "
                "or use wildcards, e.g. 'retail.#'"
            ),
        ),
        (
            "retail..offer",
            (
                "'retail..offer' is not a valid event-type pattern: it has an empty word ('..'): "
                "separate words with one dot, e.g. 'retail.#'"
            ),
        ),
        (
            ".retail",
            (
                "'.retail' is not a valid event-type pattern: it starts with a dot: "
                "words are separated by single dots, e.g. 'retail.#'"
            ),
        ),
        (
            "retail.",
            (
                "'retail.' is not a valid event-type pattern: it ends with a dot: words are separated by single dots, "
                "e.g. 'retail.#'"
            ),
        ),
        (
            "retail*",
            (
                "'retail*' is not a valid event-type pattern: the word 'retail*' mixes a wildcard with other "
                "characters: a wildcard is a word of its own, e.g. 'retail.*.surfaced.v1' or 'retail.#'"
            ),
        ),
        (
            "retail.of#fer",
            (
                "'retail.of#fer' is not a valid event-type pattern: the word 'of#fer' mixes a wildcard with other "
                "characters: a wildcard is a word of its own, e.g. 'retail.*.surfaced.v1' or 'retail.#'"
            ),
        ),
        (
            "Retail.#",
            (
                "'Retail.#' is not a valid event-type pattern: the word 'Retail' has 'R', which no event type holds: "
                "words are lowercase letters, digits and '_', e.g. 'retail.#'"
            ),
        ),
        (
            "retail.of-fer",
            (
                "'retail.of-fer' is not a valid event-type pattern: the word 'of-fer' has '-', which no event type "
                "holds: words are lowercase letters, digits and '_', e.g. 'retail.#'"
            ),
        ),
        (
            "a" * (MAX_PATTERN_LENGTH + 1),
            f"'{'a' * 56}... is not a valid event-type pattern: it has 256 characters, more than the 255 allowed",
        ),
    ],
)
def test_malformed_patterns_are_refused_saying_what_is_wrong(pattern, message):
    """A malformed pattern raises InvalidPattern (a ValueError) whose message says what is wrong, with an example."""
    with pytest.raises(InvalidPattern) as refused:
        TypePattern.parse(pattern)
    assert str(refused.value) == message
    assert isinstance(refused.value, ValueError)
    assert refused.value.pattern == pattern


def test_a_pattern_of_the_maximum_length_is_accepted():
    """A pattern of exactly 255 characters parses."""
    pattern = ".".join(["#"] * 128)
    assert len(pattern) == MAX_PATTERN_LENGTH
    assert TypePattern.parse(pattern).words == ("#",)


def test_many_hashes_against_a_long_type_answer_at_once():
    """A pattern full of `#` against a type of a hundred thousand words is answered (no backtracking)."""
    pattern = TypePattern.parse("#.a." * 50 + "z")
    long_type = ".".join(["a"] * 100_000)
    assert pattern.matches(long_type + ".b") is False
    assert pattern.matches(long_type + ".z") is True


def test_consecutive_hashes_collapse():
    """`#.#` means what `#` means, so it is kept as one word."""
    assert TypePattern.parse("retail.#.#.#.v1").words == ("retail", "#", "v1")


def test_results_stay_right_once_remembered():
    """Asking twice gives the same answer, for a match and for a miss."""
    pattern = TypePattern.parse("retail.#")
    for _ in range(2):
        assert pattern.matches("retail.offer.surfaced.v1")
        assert not pattern.matches("github.pr.opened.v1")


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("retail.offer.surfaced.v1", "retail.offer.surfaced.v1"),
        ("retail.#", "retail"),
        ("retail.*", "retail."),
        ("retail.#.v1", "retail."),
        ("retail.offer.*.v1", "retail.offer."),
        ("*.workflow.*.v1", ""),
        ("#", ""),
    ],
)
def test_the_literal_prefix_is_what_every_match_starts_with(pattern, prefix):
    """The prefix stops at the first wildcard, with the dot only when a word must follow."""
    assert TypePattern.parse(pattern).literal_prefix == prefix


SAMPLE_TYPES = [
    "retail",
    "retail.v1",
    "retail.offer",
    "retail.offer.surfaced.v1",
    "retailer.offer.surfaced.v1",
    "n8n.workflow.started.v1",
    "github.workflow.completed.v2",
    "github.pr_x.opened.v1",
    "fireflies.transcript.ready.v1",
]


@pytest.mark.parametrize(
    "pattern",
    ["#", "retail.#", "retail.*", "retail.#.v1", "*.workflow.*.v1", "#.v1", "*.#.*", "#.offer.#", "github.pr_x.#"],
)
def test_the_regular_expression_agrees_with_the_matcher(pattern):
    """The POSIX expression matched against `'.' || type` (as PostgreSQL does) agrees with matches()."""
    parsed = TypePattern.parse(pattern)
    expression = re.compile(parsed.posix_regex)
    for event_type in SAMPLE_TYPES:
        assert bool(expression.search("." + event_type)) is parsed.matches(event_type), event_type
        assert event_type.startswith(parsed.literal_prefix) or not parsed.matches(event_type), event_type


@pytest.mark.parametrize("pattern", ["retail.#", "*.workflow.*.v1", "#", "a.b_c.v1", "retail*", "a..b", "A.#", ""])
def test_the_documented_syntax_agrees_with_the_parser(pattern):
    """SYNTAX (for OpenAPI documents) accepts exactly the patterns the parser accepts."""
    try:
        TypePattern.parse(pattern)
    except InvalidPattern:
        parses = False
    else:
        parses = True
    assert bool(re.fullmatch(SYNTAX, pattern)) is parses


def test_exact_and_everything():
    """A pattern without wildcards is exact; `#` (however repeated) matches everything."""
    assert TypePattern.parse("retail.offer.surfaced.v1").is_exact
    assert not TypePattern.parse("retail.*").is_exact
    assert TypePattern.parse("#.#").matches_everything
    assert not TypePattern.parse("retail.#").matches_everything
