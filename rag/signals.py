"""The signals a point may carry and a search may fuse: the one place their names are declared.

The store's vector names, the search plan, hits' scores and the API's ``signals`` enum all
derive from :data:`Signal`. A new signal is a name here, an encoder for its query
(``Retriever.embed_signals``), a weight setting and its field on ``Scores``.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Signal = Literal["image", "text", "passage", "lexical"]
"""A signal's name, which is also the name of its vector in the collection."""
SIGNALS: Final[tuple[Signal, ...]] = get_args(Signal)
"""Every signal, in the fixed order hits report their scores."""

IMAGE: Final[Signal] = "image"
"""CLIP vector of the item's picture."""
TEXT: Final[Signal] = "text"
"""CLIP vector of the item's words."""
PASSAGE: Final[Signal] = "passage"
"""Dense vector of the passage model (its own size)."""
LEXICAL: Final[Signal] = "lexical"
"""Sparse BM25 term weights (``rag.embedding.base.SparseTerms``), IDF applied by the engine."""

CLIP_SIGNALS: Final[tuple[Signal, ...]] = (IMAGE, TEXT)
"""Signals searched with the one CLIP query vector (of the words, the picture, or both); every
collection has them."""
TEXT_SIGNALS: Final[tuple[Signal, ...]] = (PASSAGE, LEXICAL)
"""Signals that need the query's words."""
SPARSE_SIGNALS: Final[tuple[Signal, ...]] = (LEXICAL,)
"""Signals stored as sparse vectors; the others are dense (cosine)."""
