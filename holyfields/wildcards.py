"""Event-type patterns: one wildcard language wherever a user names event types.

AMQP topic semantics on the dot-separated event type: ``*`` stands for exactly one word,
``#`` for zero or more words. ``retail.#`` is every retail type, ``*.workflow.*.v1`` the
first version of every workflow action, ``#`` everything. ``GET /events``, the live
stream, retention, replay, the dead-letter filters and the bus's bindings all read
patterns through :meth:`TypePattern.parse`, so a pattern means the same everywhere.

Matching simulates the pattern as a nondeterministic automaton over the words (the set
of pattern positions reachable so far, as the bits of one integer), so it takes time
linear in the length of the type whatever the pattern: nothing backtracks. For SQL a pattern also gives the literal
prefix every matching type starts with (for an index-usable ``LIKE 'prefix%'``) and an
equivalent POSIX regular expression (PostgreSQL's ``~``).

Exceptions::

    InvalidPattern (ValueError)    not a pattern; ``str()`` says what is wrong and gives an example
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["MAX_PATTERN_LENGTH", "SYNTAX", "InvalidPattern", "TypePattern"]

MAX_PATTERN_LENGTH = 255
"""Characters a pattern may have at most."""
SYNTAX = r"^(?:[a-z0-9_]+|\*|#)(?:\.(?:[a-z0-9_]+|\*|#))*$"
"""The well-formed patterns (length aside) as a regular expression, for documents such as OpenAPI."""

ONE_WORD = "*"
ANY_WORDS = "#"
_WILDCARDS = (ONE_WORD, ANY_WORDS)
_WORD = re.compile(r"[a-z0-9_]+", re.ASCII)  # what a word of an event type can hold
_EXAMPLE = "e.g. 'retail.#'"
_MAX_CACHED_RESULTS = 1024


class InvalidPattern(ValueError):
    """A text that is not an event-type pattern; ``reason`` says what is wrong."""

    def __init__(self, pattern: str, reason: str) -> None:
        self.pattern = pattern
        self.reason = reason
        super().__init__(f"{_show(pattern)} is not a valid event-type pattern: {reason}")


def _show(value: str) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."  # noqa: PLR2004


@dataclass(frozen=True, slots=True)
class TypePattern:
    """A parsed event-type pattern; build it with :meth:`parse`."""

    text: str
    """The pattern as given."""
    words: tuple[str, ...]
    """Its words, consecutive ``#`` collapsed into one (they match the same)."""
    _automaton: _Automaton = field(compare=False, repr=False, hash=False)

    @classmethod
    def parse(cls, text: str) -> TypePattern:
        """The pattern ``text`` stands for; raises :class:`InvalidPattern` saying what is wrong."""
        return _parse(text)

    @property
    def is_exact(self) -> bool:
        """Whether the pattern has no wildcard: it matches one type, itself."""
        return not any(word in _WILDCARDS for word in self.words)

    @property
    def matches_everything(self) -> bool:
        """Whether every type matches (the pattern is ``#``)."""
        return self.words == (ANY_WORDS,)

    @property
    def literal_prefix(self) -> str:
        """Text every matching type starts with: the words before the first wildcard (``retail.`` of ``retail.*.x``)."""
        literal: list[str] = []
        for index, word in enumerate(self.words):
            if word in _WILDCARDS:
                rest = self.words[index:]
                # `retail.#` also matches `retail`; `retail.*` and `retail.#.v1` need the dot.
                dot = "." if literal and any(part != ANY_WORDS for part in rest) else ""
                return ".".join(literal) + dot
            literal.append(word)
        return self.text

    @property
    def posix_regex(self) -> str:
        """A POSIX regular expression (PostgreSQL ``~``) matching ``'.' || event_type`` exactly when the pattern does.

        Every word is preceded by its dot, so ``#`` (zero or more words) is simply a repetition.
        Groups are non-capturing: PostgreSQL then runs it as a DFA, without backtracking.
        """
        parts = {ONE_WORD: r"\.[^.]+", ANY_WORDS: r"(?:\.[^.]+)*"}
        return "^" + "".join(parts.get(word, r"\." + word) for word in self.words) + "$"

    def matches(self, event_type: str) -> bool:
        """Whether ``event_type`` matches, in time linear in its length (results are remembered per type)."""
        return self._automaton.matches(event_type)


class _Automaton:
    """The pattern as a bit-parallel NFA: bit ``i`` of a state says "the next pattern word to match is ``i``".

    A word moves every set bit past a ``*``, or past a literal equal to it, one step on, and
    leaves the bits at a ``#`` where they are (``#`` takes the word and may take more). A bit
    at a ``#`` also sets the next one, as ``#`` may match no word at all; consecutive ``#``
    are collapsed, so one shift does it. Each word costs a few operations on one integer.
    """

    __slots__ = ("_any_words", "_final", "_literals", "_one_word", "_results", "_start")

    def __init__(self, words: tuple[str, ...]) -> None:
        self._any_words = _mask(index for index, word in enumerate(words) if word == ANY_WORDS)
        self._one_word = _mask(index for index, word in enumerate(words) if word == ONE_WORD)
        self._literals: dict[str, int] = {}
        for index, word in enumerate(words):
            if word not in _WILDCARDS:
                self._literals[word] = self._literals.get(word, 0) | 1 << index
        self._final = 1 << len(words)
        self._start = self._closure(1)
        self._results: dict[str, bool] = {}

    def matches(self, event_type: str) -> bool:
        known = self._results.get(event_type)
        if known is None:
            known = self._run(event_type.split("."))
            if len(self._results) >= _MAX_CACHED_RESULTS:
                self._results.clear()  # types are few; a flood of distinct ones must not grow memory
            self._results[event_type] = known
        return known

    def _run(self, words: list[str]) -> bool:
        state = self._start
        for word in words:
            advancing = state & (self._one_word | self._literals.get(word, 0))
            state = self._closure((state & self._any_words) | advancing << 1)
            if not state:
                return False
        return bool(state & self._final)

    def _closure(self, state: int) -> int:
        return state | (state & self._any_words) << 1


def _mask(indexes: Iterable[int]) -> int:
    bits = 0
    for index in indexes:
        bits |= 1 << index
    return bits


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> TypePattern:
    if not text:
        raise InvalidPattern(
            text, f"it is empty: name a type, e.g. 'retail.offer.surfaced.v1', or use wildcards, {_EXAMPLE}"
        )
    if len(text) > MAX_PATTERN_LENGTH:
        raise InvalidPattern(text, f"it has {len(text)} characters, more than the {MAX_PATTERN_LENGTH} allowed")
    if text.startswith("."):
        raise InvalidPattern(text, f"it starts with a dot: words are separated by single dots, {_EXAMPLE}")
    if text.endswith("."):
        raise InvalidPattern(text, f"it ends with a dot: words are separated by single dots, {_EXAMPLE}")
    words = text.split(".")
    if "" in words:
        raise InvalidPattern(text, f"it has an empty word ('..'): separate words with one dot, {_EXAMPLE}")
    for word in words:
        _check_word(text, word)
    collapsed: list[str] = []
    for word in words:
        if not (word == ANY_WORDS and collapsed[-1:] == [ANY_WORDS]):
            collapsed.append(word)
    return TypePattern(text, tuple(collapsed), _Automaton(tuple(collapsed)))


def _check_word(text: str, word: str) -> None:
    if word in _WILDCARDS:
        return
    if ONE_WORD in word or ANY_WORDS in word:
        raise InvalidPattern(
            text,
            f"the word {word!r} mixes a wildcard with other characters: a wildcard is a word of its own, "
            "e.g. 'retail.*.surfaced.v1' or 'retail.#'",
        )
    if not _WORD.fullmatch(word):
        character = next(character for character in word if not _WORD.fullmatch(character))
        raise InvalidPattern(
            text,
            f"the word {word!r} has {character!r}, which no event type holds: words are lowercase letters, "
            f"digits and '_', {_EXAMPLE}",
        )
