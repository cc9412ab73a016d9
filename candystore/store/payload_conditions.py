"""Payload conditions (:mod:`candystore.conditions`) as SQL over ``events.payload``, on PostgreSQL and SQLite.

Each condition becomes one boolean expression that selects exactly the events whose payload
:meth:`~candystore.conditions.Condition.matches` accepts: the same path steps (an ASCII-digit key
steps into an array by index, or names an object key), the same equality (numbers by value,
``1`` equals ``1.0``; never ``"1"`` or ``true``), strings ordered by code point, and a condition on
an absent field false except ``exists=false``. A property test holds the two to it on both backends.

PostgreSQL walks the path with ``->`` (a digit key tries the object key, then the array index).
Equality on a path of object keys is containment (``payload @> '{"a": {"b": 1}}'``), which the GIN
``jsonb_path_ops`` index on ``payload`` serves; text is compared in the ``C`` collation (code points).

SQLite walks the path with one ``json_each`` per key, each joined to the previous step's value
when that value is an object or an array (a string holding JSON text is not stepped into). Keys come
back unescaped from ``json_each``, so no key needs quoting into a JSON path.

Numbers compare exactly as Python compares them within ±2**53, and 64-bit integers among themselves.
Beyond that an integer compared with a fraction may be compared by the fraction's decimal text
(PostgreSQL) and an integer beyond 64 bits as a double (SQLite, whose JSON functions hold no larger
integer; the API refuses such a value).
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import (
    Boolean,
    ColumnElement,
    Integer,
    String,
    and_,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    literal_column,
    not_,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.expression import FromClause, TableValuedAlias

from candystore.conditions import Condition, Operator, array_index
from candystore.store.schema import events

__all__ = ["payload_condition"]

_INT64 = 2**63
_PG_MAX_INDEX = 2**31 - 1
"""``jsonb -> integer`` takes an int4; a longer array than that cannot be stored."""
_NUMBER_TYPES = ("integer", "real")
_CONTAINERS = ("object", "array")


def payload_condition(dialect: str, condition: Condition) -> ColumnElement[bool]:
    """The SQL of ``condition`` over ``events.payload`` on ``dialect`` (``postgresql`` or ``sqlite``)."""
    if dialect == "postgresql":
        return _postgres(condition)
    return _sqlite(condition)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json(value: Any) -> ColumnElement[Any]:
    return cast(literal(msgspec.json.encode(value).decode(), String), JSONB)


# --- PostgreSQL -----------------------------------------------------------------------------------


def _pg_field(path: tuple[str, ...]) -> ColumnElement[Any]:
    """The jsonb value at ``path``, NULL when absent (a JSON null is the jsonb ``null``, not NULL)."""
    node: ColumnElement[Any] = events.c.payload
    for key in path:
        by_key = node.op("->", return_type=JSONB)(literal(key, String))
        index = array_index(key)
        if index is None or index > _PG_MAX_INDEX:
            node = by_key
        else:
            # Only an array: PostgreSQL answers `scalar -> 0` with the scalar itself.
            by_index = case((_pg_is(node, "array"), node.op("->", return_type=JSONB)(literal(index, Integer))))
            node = func.coalesce(by_key, by_index, type_=JSONB)
    return node


def _pg_text(node: ColumnElement[Any]) -> ColumnElement[str]:
    """A jsonb string's text, in the collation that orders by code point."""
    return node.op("#>>", return_type=String)(literal_column("'{}'")).collate("C")  # #>> '{}': the value itself


def _pg_is(node: ColumnElement[Any], kind: str) -> ColumnElement[bool]:
    return func.jsonb_typeof(node) == kind


def _postgres(condition: Condition) -> ColumnElement[bool]:  # noqa: PLR0911 - one answer per operator and type
    path, value = condition.path, condition.value
    node = _pg_field(path)
    contains = node.op("@>", return_type=Boolean)
    match condition.operator:
        case Operator.EXISTS:
            return node.is_not(None) if value else node.is_(None)
        case Operator.EQ if all(array_index(key) is None for key in path):
            document: Any = value
            for key in reversed(path):
                document = {key: document}
            payload: ColumnElement[Any] = events.c.payload
            return payload.op("@>", return_type=Boolean)(_json(document))  # served by the GIN index
        case Operator.EQ:
            return node == _json(value)
        case Operator.NE:
            return and_(node.is_not(None), node != _json(value))
        case Operator.LT | Operator.GT if _is_number(value) or isinstance(value, str):
            less = condition.operator is Operator.LT
            if isinstance(value, str):
                text = _pg_text(node)
                return and_(_pg_is(node, "string"), text < value if less else text > value)
            return and_(_pg_is(node, "number"), node < _json(value) if less else node > _json(value))
        case Operator.CONTAINS if isinstance(value, str):
            # One CASE rather than an OR of two typed tests: the planner then guesses half the rows
            # match, not a handful, and reads the first page in order instead of starting parallel workers.
            by_type = {"string": func.strpos(_pg_text(node), value) > 0, "array": contains(_json([value]))}
            return case(by_type, value=func.jsonb_typeof(node), else_=false())
        case Operator.CONTAINS:
            return and_(_pg_is(node, "array"), contains(_json([value])))
    return false()  # lt or gt against null or a boolean: nothing is ordered with them


# --- SQLite ---------------------------------------------------------------------------------------


def _each(source: ColumnElement[Any], name: str) -> TableValuedAlias:
    """``json_each(source)``: one row (key, type, value) per member or item."""
    return func.json_each(source).table_valued(column("key"), column("type"), column("value")).alias(name)


def _sqlite_key(step: TableValuedAlias, key: str) -> ColumnElement[bool]:
    """The row of ``step`` is ``key``: the object member, or the array item when ``key`` is an index."""
    by_key = step.c.key == literal(key, String)
    index = array_index(key)
    if index is None or index >= _INT64:
        return by_key
    return or_(by_key, step.c.key == literal(index, Integer))  # an array's keys are integers, an object's text


def _sqlite_bound(value: float) -> ColumnElement[Any]:
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return literal(float(value))  # SQLite holds no larger integer; its JSON functions read one as a double
    return literal(value)


def _sqlite_equal(kind: ColumnElement[Any], found: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    """A ``json_each`` row's (type, value) equals the JSON scalar ``value``; never NULL."""
    if value is None:
        return kind == "null"
    if isinstance(value, bool):
        return kind == ("true" if value else "false")
    if isinstance(value, str):
        return and_(kind == "text", found == literal(value, String))
    return and_(kind.in_(_NUMBER_TYPES), found == _sqlite_bound(value))


def _sqlite_test(
    operator: Operator, kind: ColumnElement[Any], found: ColumnElement[Any], value: Any
) -> ColumnElement[bool]:
    """What ``operator`` asks of the field found, given its json_each type and value."""
    if operator is Operator.EQ:
        return _sqlite_equal(kind, found, value)
    if operator is Operator.NE:
        return not_(_sqlite_equal(kind, found, value))
    if operator is Operator.CONTAINS:
        items = _each(_sqlite_if(kind == "array", found), "item")
        equal_item = _sqlite_equal(items.c.type, items.c.value, value)
        has_item = and_(kind == "array", exists(select(1).select_from(items).where(equal_item)))
        if isinstance(value, str):
            return or_(and_(kind == "text", func.instr(found, literal(value, String)) > 0), has_item)
        return has_item
    if isinstance(value, str):
        bound: ColumnElement[Any] = literal(value, String)
        typed = kind == "text"
    else:
        bound = _sqlite_bound(value)
        typed = kind.in_(_NUMBER_TYPES)
    return and_(typed, found < bound if operator is Operator.LT else found > bound)


def _sqlite_if(test: ColumnElement[bool], then: ColumnElement[Any]) -> ColumnElement[Any]:
    """``then`` when ``test`` holds, else NULL (json_each of NULL has no rows)."""
    return func.iif(test, then, None)


def _sqlite(condition: Condition) -> ColumnElement[bool]:
    operator, value = condition.operator, condition.value
    if operator in (Operator.LT, Operator.GT) and not (_is_number(value) or isinstance(value, str)):
        return false()  # nothing is ordered with null or a boolean
    step = _each(events.c.payload, "step0")
    walk: FromClause = step
    found = _sqlite_key(step, condition.path[0])
    for depth, key in enumerate(condition.path[1:], start=1):
        # Step into the previous value only when it is an object or an array (json_each of NULL has no rows).
        inner = _each(_sqlite_if(step.c.type.in_(_CONTAINERS), step.c.value), f"step{depth}")
        walk = walk.join(inner, _sqlite_key(inner, key))
        step = inner
    if operator is Operator.EXISTS:
        present = exists(select(1).select_from(walk).where(found))
        return present if value else not_(present)
    return exists(select(1).select_from(walk).where(found, _sqlite_test(operator, step.c.type, step.c.value, value)))
