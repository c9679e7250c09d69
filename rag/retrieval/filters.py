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

_EXPRESSION = re.compile(r"^\s*([A-Za-z0-9_][A-Za-z0-9_.\-]*)\s*(>=|<=|!=|=|>|<)\s*(.*?)\s*$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_RANGE_KEYS = {">=": "gte", "<=": "lte", ">": "gt", "<": "lt"}
_HELP = "write key=value, key!=value, key=a|b, key>=n, key<=n, key>n or key<n"


def parse_filter(expressions: Sequence[str]) -> Filter | None:
    """All ``expressions`` as one :class:`Filter` (``None`` when there are none)."""
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
    match = _EXPRESSION.match(expression)
    if match is None or not match.group(3):
        raise InvalidInputError(f"cannot read filter {expression!r}: {_HELP}")
    key, operator, raw = match.groups()
    if operator in _RANGE_KEYS:
        return _range(key, _RANGE_KEYS[operator], raw, expression), False
    return _match(key, raw), operator == "!="


def _match(key: str, raw: str) -> Condition:
    parts = _split_alternatives(raw)
    values = [_value(key, part) for part in parts]
    if len(values) == 1:
        value = values[0]
        if isinstance(value, float):
            return Range(key=key, gte=value, lte=value)
        return MatchValue(key=key, value=value)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return MatchAny(key=key, values=tuple(int(v) for v in values))
    return MatchAny(key=key, values=tuple(_text(part) for part in parts))


def _split_alternatives(raw: str) -> list[str]:
    if _is_quoted(raw):
        return [raw]
    parts = [part.strip() for part in raw.split("|")]
    if any(not part for part in parts):
        raise InvalidInputError(f"empty alternative in filter value {raw!r}: {_HELP}")
    return parts


def _value(key: str, raw: str) -> str | int | bool | float:
    if _is_quoted(raw) or INDEXED_PAYLOAD_FIELDS.get(key) == "keyword":
        return _text(raw)
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _INTEGER.match(raw):
        return int(raw)
    number = _number(raw)
    return raw if number is None else number


def _range(key: str, bound: str, raw: str, expression: str) -> Condition:
    number = _number(raw)
    if number is not None:
        return Range(key=key, **{bound: number})
    moment = _datetime(raw)
    if moment is not None:
        return DatetimeRange(key=key, **{bound: moment})
    message = f"filter {expression!r} compares with {raw!r}, which is neither a number nor a date"
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
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _is_quoted(raw: str) -> bool:
    return len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'"


def _text(raw: str) -> str:
    return raw[1:-1] if _is_quoted(raw) else raw
