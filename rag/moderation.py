"""Image moderation as zero-shot classification over unsafe and safe categories.

The image is scored against every category (prompt-ensembled, like :mod:`rag.classify`); the
probabilities of the unsafe categories are summed. The image is unsafe when that sum reaches
``threshold``; unsafe categories at or above ``category_threshold`` are flagged (the top unsafe
category always is, when the image is unsafe).

CLIP moderation is a coarse screen, not a guarantee: tune the categories and thresholds on
your own data.

Example::

    moderator = Moderator(embedder, settings.moderation)
    result = moderator.check(image)
    result.is_safe, result.confidence, [f.category for f in result.flagged]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from rag.classify import ZeroShotClassifier
from rag.config import CLASSIFY_TEMPLATES, ModerationSettings
from rag.embedding.base import Embedder
from rag.errors import ConfigError


@dataclass(frozen=True)
class FlaggedCategory:
    """An unsafe category the image matched, with its probability."""

    category: str
    probability: float


@dataclass(frozen=True)
class ModerationResult:
    """The verdict: ``is_safe``, how sure (``confidence`` in [0.5, 1]), what was flagged.

    ``unsafe_probability`` is the summed probability of the unsafe categories; ``scores`` holds
    every category's probability.
    """

    is_safe: bool
    confidence: float
    unsafe_probability: float
    flagged: list[FlaggedCategory]
    scores: dict[str, float] = field(default_factory=dict)
    model: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "is_safe": self.is_safe,
            "confidence": self.confidence,
            "unsafe_probability": self.unsafe_probability,
            "flagged": [
                {"category": f.category, "probability": f.probability} for f in self.flagged
            ],
            "scores": self.scores,
            "model": self.model,
        }


class Moderator:
    """Checks images against the configured unsafe and safe categories."""

    def __init__(
        self,
        embedder: Embedder,
        settings: ModerationSettings,
        templates: Sequence[str] = CLASSIFY_TEMPLATES,
    ) -> None:
        self.settings = settings
        self.unsafe, self.safe = _check_categories(settings)
        categories = [*self.unsafe, *self.safe]
        self._classifier = ZeroShotClassifier(embedder, templates, max_labels=len(categories))
        self._categories = categories

    def check(self, image: Image.Image) -> ModerationResult:
        """Moderate one image."""
        vector = self._classifier.embedder.embed_images([image])[0]
        return self.check_vector(vector)

    def check_vector(self, image_vector: np.ndarray) -> ModerationResult:
        """Moderate an image already embedded (e.g. at ingest time, from its image vector)."""
        result = self._classifier.classify_vector(image_vector, self._categories)
        scores = {score.label: score.probability for score in result.labels}
        unsafe_probability = float(sum(scores[c] for c in self.unsafe))
        is_safe = unsafe_probability < self.settings.threshold
        return ModerationResult(
            is_safe=is_safe,
            confidence=max(unsafe_probability, 1.0 - unsafe_probability),
            unsafe_probability=unsafe_probability,
            flagged=self._flagged(scores, is_safe),
            scores=scores,
            model=result.model,
        )

    def _flagged(self, scores: dict[str, float], is_safe: bool) -> list[FlaggedCategory]:
        ranked = sorted(self.unsafe, key=lambda c: -scores[c])
        limit = self.settings.category_threshold
        flagged = [c for c in ranked if scores[c] >= limit]
        if not is_safe and not flagged:
            flagged = ranked[:1]
        return [FlaggedCategory(c, scores[c]) for c in flagged]


def _check_categories(settings: ModerationSettings) -> tuple[list[str], list[str]]:
    unsafe = [c.strip() for c in settings.unsafe if c.strip()]
    safe = [c.strip() for c in settings.safe if c.strip()]
    if not unsafe or not safe:
        raise ConfigError(
            "moderation needs unsafe and safe categories: set MMRAG_MODERATION__UNSAFE and "
            "MMRAG_MODERATION__SAFE (comma-separated)"
        )
    overlap = set(unsafe) & set(safe)
    if overlap or len(set(unsafe)) != len(unsafe) or len(set(safe)) != len(safe):
        raise ConfigError(
            "moderation categories must be unique and not both unsafe and safe "
            f"({', '.join(sorted(overlap)) or 'duplicates'}): fix MMRAG_MODERATION__UNSAFE/SAFE"
        )
    return unsafe, safe
