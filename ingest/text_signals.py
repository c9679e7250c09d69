"""The text signals ingest writes besides CLIP's: ``passage`` (sentence model) and ``lexical``
(BM25 terms), one of each per text a point embeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from rag import payload as keys
from rag.embedding.base import LexicalEncoder, PassageEncoder, SparseTerms
from rag.store.base import LEXICAL, PASSAGE

if TYPE_CHECKING:
    from rag.services import Services

ChunkVectors = dict[str, np.ndarray | SparseTerms]


@dataclass(frozen=True)
class TextVectors:
    """Per text: its ``passage``/``lexical`` vectors (a text without terms gets no ``lexical``),
    and whether the passage model cut it at its token limit."""

    vectors: list[ChunkVectors]
    truncated: list[bool]


@dataclass(frozen=True)
class TextEncoders:
    """The passage model and the lexical encoder; either ``None`` turns its signal off.

    Example::

        encoders = TextEncoders.from_services(services)
        encoders.encode(["error E-1042 on start"]).vectors[0].keys()  # passage, lexical
    """

    passage: PassageEncoder | None = None
    lexical: LexicalEncoder | None = None

    @classmethod
    def from_services(cls, services: Services) -> TextEncoders:
        return cls(services.passage_encoder, services.lexical_encoder)

    def model_ids(self) -> dict[str, str | None]:
        """Payload values naming the models (part of the fingerprint: a change re-embeds)."""
        return {
            keys.PASSAGE_MODEL: self.passage.model_id if self.passage else None,
            keys.LEXICAL_MODEL: self.lexical.model_id if self.lexical else None,
        }

    def encode(self, texts: Sequence[str]) -> TextVectors:
        """The vectors of each text, in order."""
        vectors: list[ChunkVectors] = [{} for _ in texts]
        truncated = [False] * len(texts)
        if self.passage is not None and texts:
            limit = self.passage.max_tokens
            truncated = [n > limit for n in self.passage.count_tokens(texts)]
            for row, vector in zip(vectors, self.passage.encode_documents(texts), strict=True):
                row[PASSAGE] = vector
        if self.lexical is not None and texts:
            for row, terms in zip(vectors, self.lexical.encode_documents(texts), strict=True):
                if terms.indices:
                    row[LEXICAL] = terms
        return TextVectors(vectors, truncated)
