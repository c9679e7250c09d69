"""Small deterministic encoders that speak the ``PassageEncoder`` and ``LexicalEncoder``
protocols, so that fusion over four signals can be checked against a longhand reference. (The
real models are tested in tests/rag/embedding; these only need to be reproducible.)"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Sequence

import numpy as np

from rag.embedding.base import SparseTerms

PASSAGE_DIM = 6
_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def term_id(word: str) -> int:
    return zlib.crc32(word.encode()) % (1 << 20)


class BagOfWordsPassageEncoder:
    """The normalised sum of a fixed random vector per word."""

    model_id = "test-bag-of-words"
    dim = PASSAGE_DIM
    max_tokens = 128

    def warm_up(self) -> None:
        pass

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(words(text)) for text in texts]

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            total = np.zeros(PASSAGE_DIM)
            for word in words(text) or [""]:
                total += np.random.default_rng(term_id(word)).standard_normal(PASSAGE_DIM)
            rows.append(total / np.linalg.norm(total))
        return np.asarray(rows, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.encode_documents(texts)


class WordCountLexicalEncoder:
    """Term counts for documents, scaled by a factor of the whole text (so that two documents
    rarely tie); 1 per distinct word for queries."""

    model_id = "test-word-counts"

    def encode_documents(self, texts: Sequence[str]) -> list[SparseTerms]:
        return [
            self._terms(text, 1 + zlib.crc32(text.encode()) % 100_003 / 100_003) for text in texts
        ]

    def encode_queries(self, texts: Sequence[str]) -> list[SparseTerms]:
        return [self._terms(text, None) for text in texts]

    @staticmethod
    def _terms(text: str, scale: float | None) -> SparseTerms:
        counts = Counter(term_id(word) for word in words(text))
        ids = sorted(counts)
        values = [1.0 if scale is None else counts[i] * scale for i in ids]
        return SparseTerms(tuple(ids), tuple(values))
