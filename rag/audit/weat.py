"""WEAT (Caliskan et al., 2017): how strongly a text tower associates two target word sets with
two attribute word sets.

For a word ``w``: ``s(w, A, B) = mean_a cos(w, a) - mean_b cos(w, b)``. The test statistic is
``S = sum_x s(x, A, B) - sum_y s(y, A, B)``; the effect size is
``(mean_x s(x) - mean_y s(y)) / std_{w in X u Y} s(w)`` (sample standard deviation), in about
[-2, 2]; the one-sided p-value is the share of equal-size re-partitions of ``X u Y`` whose
statistic exceeds ``S`` (every partition when there are few, else a seeded sample).

Example::

    result = weat(encoder.encode_queries, DEFAULT_WORD_SETS[0])
    result.effect_size, result.statistic, result.p_value
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import InvalidInputError

Encode = Callable[[Sequence[str]], np.ndarray]
"""Texts in, ``(n, dim)`` unit vectors out (a text tower)."""

MAX_WORDS = 64
"""Most words in one set (a test embeds at most 4 x this many)."""
MAX_WORD_CHARS = 100
MAX_TESTS = 16
EXACT_PARTITIONS = 20_000
"""Up to this many re-partitions the p-value is exact; past it, this many are sampled."""


@dataclass(frozen=True)
class WordSets:
    """One WEAT test: targets ``x`` and ``y`` against attributes ``a`` and ``b``."""

    name: str
    x: tuple[str, ...]
    y: tuple[str, ...]
    a: tuple[str, ...]
    b: tuple[str, ...]


@dataclass(frozen=True)
class WeatResult:
    """``statistic`` S, ``effect_size`` d and the permutation ``p_value`` of one test."""

    name: str
    statistic: float
    effect_size: float
    p_value: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_WORD_SETS: tuple[WordSets, ...] = (
    WordSets(
        "flowers vs insects / pleasant vs unpleasant",
        ("rose", "tulip", "daisy", "lily", "orchid", "violet", "daffodil", "lilac"),
        ("ant", "wasp", "flea", "spider", "mosquito", "cockroach", "beetle", "moth"),
        ("love", "peace", "friend", "happy", "gift", "honest", "gentle", "heaven"),
        ("hatred", "war", "enemy", "sad", "poison", "cruel", "filth", "disaster"),
    ),
    WordSets(
        "male vs female / career vs family",
        ("man", "he", "him", "his", "son", "father", "brother", "uncle"),
        ("woman", "she", "her", "hers", "daughter", "mother", "sister", "aunt"),
        ("executive", "management", "salary", "office", "business", "career", "professional"),
        ("home", "parents", "children", "family", "marriage", "wedding", "relatives"),
    ),
)
"""The classic WEAT 1 (flowers/insects, pleasant/unpleasant) and WEAT 6 with common words."""


def association(words: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``s(w, A, B)`` for each row of ``words`` (unit vectors throughout)."""
    return (words @ a.T).mean(axis=1) - (words @ b.T).mean(axis=1)


def weat_vectors(
    x: np.ndarray, y: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int = 0
) -> tuple[float, float, float]:
    """``(statistic, effect_size, p_value)`` of target vectors ``x``, ``y`` and attribute vectors
    ``a``, ``b`` (rows are unit vectors)."""
    s_x, s_y = association(x, a, b), association(y, a, b)
    statistic = float(s_x.sum() - s_y.sum())
    joint = np.concatenate([s_x, s_y])
    spread = float(joint.std(ddof=1)) if len(joint) > 1 else 0.0
    effect = 0.0 if spread == 0 else float(s_x.mean() - s_y.mean()) / spread
    return statistic, effect, _p_value(joint, len(s_x), statistic, seed)


def weat(encode: Encode, sets: WordSets, seed: int = 0) -> WeatResult:
    """Run one test with the text tower ``encode``."""
    words = [*sets.x, *sets.y, *sets.a, *sets.b]
    vectors = _unit(np.asarray(encode(words), np.float64))
    cuts = np.cumsum([len(sets.x), len(sets.y), len(sets.a)])
    x, y, a, b = np.split(vectors, cuts)
    statistic, effect, p_value = weat_vectors(x, y, a, b, seed)
    return WeatResult(sets.name, statistic, effect, p_value)


def load_word_sets(path: Path) -> tuple[WordSets, ...]:
    """Tests from a JSON file: ``[{"name": ..., "x": [...], "y": [...], "a": [...], "b": [...]}]``
    (at most :data:`MAX_TESTS`, :data:`MAX_WORDS` words a set)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"cannot read word sets {path}: {exc}") from None
    return parse_word_sets(data, str(path))


def parse_word_sets(data: Any, where: str = "word sets") -> tuple[WordSets, ...]:
    """Checked :class:`WordSets` from JSON ``data`` (a list of objects)."""
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_TESTS:
        raise InvalidInputError(f"{where}: give a JSON list of 1 to {MAX_TESTS} tests")
    tests = []
    for n, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise InvalidInputError(f"{where}[{n}] must be an object with x, y, a and b")
        name = str(entry.get("name") or f"test {n + 1}")[:MAX_WORD_CHARS]
        parts = [_words(entry.get(key), f"{where}[{n}].{key}") for key in "xyab"]
        tests.append(WordSets(name, *parts))
    return tuple(tests)


def _words(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_WORDS:
        raise InvalidInputError(f"{where} must be a list of 2 to {MAX_WORDS} words")
    words = tuple(str(w).strip() for w in value)
    if not all(0 < len(w) <= MAX_WORD_CHARS for w in words):
        raise InvalidInputError(f"{where}: each word must have 1 to {MAX_WORD_CHARS} characters")
    return words


def _p_value(joint: np.ndarray, n_x: int, observed: float, seed: int) -> float:
    """Share of re-partitions of ``joint`` into ``n_x`` and the rest with statistic > observed."""
    n = len(joint)
    if math.comb(n, n_x) <= EXACT_PARTITIONS:
        picks = np.array(list(itertools.combinations(range(n), n_x)), dtype=np.intp)
    else:
        shuffled = np.argsort(np.random.default_rng(seed).random((EXACT_PARTITIONS, n)), axis=1)
        picks = shuffled[:, :n_x]
    sides = joint[picks].sum(axis=1)
    statistics = sides - (float(joint.sum()) - sides)
    return float((statistics > observed + 1e-12).mean())


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
