"""Filter expressions (``key=value``, ``key>=n``, ``key=a|b``) as the store's neutral Filter.

The CLI's ``--filter`` and the API's filter strings share this parser. Every expression must hold.

==================  =========================================================================
expression          meaning
==================  =========================================================================
``key=value``       equals (``true``/``false`` are booleans, whole numbers integers, else text)
``key="123"``       equals the text ``123`` (quotes force text)
``key=a|b|c``       is one of the values
``key!=value``      does not equal (``key!=a|b``: is none of them)
``key>=n`` ...      ``>=``, ``<=``, ``>``, ``<`` on a number or a date (``2024-05-01``, RFC 3339)
==================  =========================================================================

Nested payload fields use dots: ``metadata.year>=2020``. Fields the store indexes as keywords
(``source``, ``external_id``, ...) always compare as text.

A filter is bounded before any work is spent on it (at most ``MAX_EXPRESSIONS`` expressions of
``MAX_EXPRESSION_CHARS`` characters and ``MAX_VALUES`` alternatives each), and read in linear
time: no pattern here can backtrack over the caller's text.

Example::

    parse_filter(["source=cats.jsonl", "metadata.year>=2020"])
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from rag.errors import InvalidInputError
from rag.store.base import (
    INDEXED_PAYLOAD_FIELDS,
    Condition,
    DatetimeRange,
    Filter,
    MatchAny,
    MatchValue,
    Range,
)

MAX_EXPRESSIONS = 32
"""Expressions in one filter, at most."""
MAX_EXPRESSION_CHARS = 4096
"""Characters in one expression, at most."""
MAX_VALUES = 256
"""Alternatives (``key=a|b|c``) in one expression, at most."""
INT64_MAX = 2**63 - 1
"""Whole numbers outside ``-INT64_MAX - 1 .. INT64_MAX`` cannot be stored, so cannot match."""

_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_OPERATORS = (">=", "<=", "!=", "=", ">", "<")  # two-character ones first
_INTEGER = re.compile(r"[+-]?\d+")
_RANGE_KEYS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
_HELP = "write key=value, key!=value, key=a|b, key>=n, key<=n, key>n or key<n"


def parse_filter(expressions: Sequence[str]) -> Filter | None:
    """All ``expressions`` as one :class:`Filter` (``None`` when there are none)."""
    if len(expressions) > MAX_EXPRESSIONS:
        raise InvalidInputError(
            f"the filter has {len(expressions)} expressions, more than the cap of "
            f"{MAX_EXPRESSIONS}; combine values of one key as key=a|b"
        )
    must: list[Condition] = []
    must_not: list[Condition] = []
    for expression in expressions:
        condition, negated = parse_condition(expression)
        (must_not if negated else must).append(condition)
    if not must and not must_not:
        return None
    return Filter(must=tuple(must), must_not=tuple(must_not))


def parse_condition(expression: str) -> tuple[Condition, bool]:
    """One expression as a condition, and whether it is negated (``!=``)."""
    key, operator, raw = _split(expression)
    if operator in _RANGE_KEYS:
        return _range(key, _RANGE_KEYS[operator], raw, expression), False
    return _match(key, raw), operator == "!="


def _split(expression: str) -> tuple[str, str, str]:
    """``(key, operator, value)`` of an expression, read left to right without backtracking."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidInputError(
            f"a filter expression has {len(expression)} characters, more than the cap of "
            f"{MAX_EXPRESSION_CHARS}; shorten it"
        )
    text = expression.strip()
    key_match = _KEY.match(text)
    if key_match is None:
        raise InvalidInputError(f"cannot read filter {_shown(expression)}: {_HELP}")
    key = key_match.group()
    rest = text[key_match.end() :].lstrip()
    operator = next((op for op in _OPERATORS if rest.startswith(op)), None)
    raw = rest[len(operator) :].strip() if operator else ""
    if operator is None or not raw:
        raise InvalidInputError(f"cannot read filter {_shown(expression)}: {_HELP}")
    if "" in key.split("."):
        raise InvalidInputError(
            f"filter key {key!r} has an empty part between dots: name a field as "
            "metadata.year (one dot between parts, none at either end)"
        )
    return key, operator, raw


def _shown(expression: str) -> str:
    return repr(expression if len(expression) <= 80 else expression[:77] + "...")


def _match(key: str, raw: str) -> Condition:
    parts = _split_alternatives(raw)
    values = [_value(key, part) for part in parts]
    if len(values) == 1:
        value = values[0]
        if isinstance(value, float):
            return Range(key=key, gte=value, lte=value)
        return MatchValue(key=key, value=_stored(key, value))
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return MatchAny(key=key, values=tuple(_stored(key, int(v)) for v in values))
    return MatchAny(key=key, values=tuple(_text(part) for part in parts))


def _split_alternatives(raw: str) -> list[str]:
    if _is_quoted(raw):
        return [raw]
    if raw.count("|") >= MAX_VALUES:
        raise InvalidInputError(
            f"filter value {_shown(raw)} has {raw.count('|') + 1} alternatives, more than the "
            f"cap of {MAX_VALUES}; split the search"
        )
    parts = [part.strip() for part in raw.split("|")]
    if any(not part for part in parts):
        raise InvalidInputError(f"empty alternative in filter value {_shown(raw)}: {_HELP}")
    return parts


def _value(key: str, raw: str) -> str | int | bool | float:
    if _is_quoted(raw) or INDEXED_PAYLOAD_FIELDS.get(key) == "keyword":
        return _text(raw)
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _INTEGER.fullmatch(raw):
        return int(raw)  # at most MAX_EXPRESSION_CHARS digits, under Python's 4,300
    number = _number(raw)
    return raw if number is None else number


def _stored(key: str, value: str | int | bool) -> str | int | bool:
    """``value``, refused when it is a whole number no stored value can equal (past int64)."""
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        raise InvalidInputError(
            f"filter value {_shown(str(value))} for {key!r} is a whole number outside the stored "
            f"range (-{INT64_MAX + 1} to {INT64_MAX}); no stored value can equal it"
        )
    return value


def _range(key: str, bound: str, raw: str, expression: str) -> Condition:
    number = _number(raw)
    if number is not None:
        return Range(key=key, **{bound: number})
    moment = _datetime(raw)
    if moment is not None:
        return DatetimeRange(key=key, **{bound: moment})
    if _INTEGER.fullmatch(raw):  # digits that float() reads as infinity
        raise InvalidInputError(
            f"filter {_shown(expression)} compares with a number too large to store; use a "
            "smaller bound"
        )
    message = f"filter {_shown(expression)} compares with {_shown(raw)}, which is neither a number"
    message += " nor a date"
    raise InvalidInputError(message + " (use 2024-05-01 or 2024-05-01T12:00:00Z)")


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _datetime(raw: str) -> str | None:
    """An ISO date or datetime as RFC 3339 in UTC (naive values are taken as UTC)."""
    try:
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    try:
        moment = moment.astimezone(dt.UTC)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        raise InvalidInputError(
            f"date {_shown(raw)} lies outside the years 0001 to 9999 once taken to UTC; "
            "use a date inside them"
        ) from None
    return moment.isoformat().replace("+00:00", "Z")


def _is_quoted(raw: str) -> bool:
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'"


def _text(raw: str) -> str:
    return raw[1:-1] if _is_quoted(raw) else raw
