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
        if self._clip_bpe:
            return [len(seq) for seq in self._clip_sequences(texts)]
        return [self._count_one(_check_text(text, i)) for i, text in enumerate(texts)]

    def tokenize(self, texts: Sequence[str]) -> TokenBatch:
        """Ids ``(n, context_length)`` int64; texts past the context keep their end token."""
        if self._clip_bpe:  # one BPE pass gives both the ids and the real lengths
            return self._pack(self._clip_sequences(texts))
        counts = self.count(texts)
        ids = self._tokenizer(list(texts), context_length=self.context_length)
        return TokenBatch(
            ids=ids.numpy().astype(np.int64, copy=False),
            lengths=[min(c, self.context_length) for c in counts],
            truncated=[c > self.context_length for c in counts],
        )

    @property
    def _clip_bpe(self) -> bool:
        tok = self._tokenizer
        return isinstance(tok, SimpleTokenizer) and tok.reduction_fn is None

    def _clip_sequences(self, texts: Sequence[str]) -> list[list[int]]:
        tok = self._tokenizer
        start, end = tok.sot_token_id, tok.eot_token_id
        return [[start, *tok.encode(_check_text(t, i)), end] for i, t in enumerate(texts)]

    def _pack(self, sequences: list[list[int]]) -> TokenBatch:
        """Pad to the context, or cut keeping the end token, as open_clip's tokenizer does."""
        context, end = self.context_length, self._tokenizer.eot_token_id
        ids = np.zeros((len(sequences), context), dtype=np.int64)
        for row, seq in enumerate(sequences):
            cut = seq if len(seq) <= context else [*seq[: context - 1], end]
            ids[row, : len(cut)] = cut
        return TokenBatch(
            ids=ids,
            lengths=[min(len(s), context) for s in sequences],
            truncated=[len(s) > context for s in sequences],
        )

    def _count_one(self, text: str) -> int:
        tok = self._tokenizer
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
