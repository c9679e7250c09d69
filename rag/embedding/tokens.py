"""Text tokenization with real lengths: counts before truncation, truncation flags, trimming."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from open_clip.tokenizer import SimpleTokenizer

from rag.errors import InvalidInputError


@dataclass(frozen=True)
class TokenBatch:
    """Token ids padded to the context, each text's real length, and which texts were cut."""

    ids: np.ndarray
    lengths: list[int]
    truncated: list[bool]

    @property
    def longest(self) -> int:
        """The longest real length in the batch (at least 1)."""
        return max(self.lengths, default=1)


class TextTokenizer:
    """Wraps an open_clip tokenizer; reports real token counts (start and end tokens included)."""

    def __init__(self, tokenizer: Any, context_length: int) -> None:
        self._tokenizer = tokenizer
        self.context_length = context_length

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text before truncation, start and end tokens included."""
        return [self._count_one(_check_text(text, i)) for i, text in enumerate(texts)]

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        """Ids ``(n, context_length)`` int64; texts past the context keep their end token."""
        counts = self.count(texts)
        ids = self._tokenizer(list(texts), context_length=self.context_length)
        return TokenBatch(
            ids=ids.numpy().astype(np.int64, copy=False),
            lengths=[min(c, self.context_length) for c in counts],
            truncated=[c > self.context_length for c in counts],
        )

    def _count_one(self, text: str) -> int:
        tok = self._tokenizer
        if isinstance(tok, SimpleTokenizer):
            return len(tok.encode(text)) + 2
        inner = getattr(tok, "tokenizer", None)
        if inner is not None:  # HF tokenizers add their own special tokens
            clean = getattr(tok, "clean_fn", lambda s: s)
            return len(inner(clean(text))["input_ids"])
        ids = tok([text], context_length=self.context_length)[0]
        return int((ids != 0).sum())


def _check_text(text: object, index: int) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"text #{index} is a {type(text).__name__}, not a str")
    return text
