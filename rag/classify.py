"""Zero-shot image classification with the CLIP embedder: labels ranked with probabilities.

Each label's text vector is the mean of the normalised embeddings of the label put into several
prompt templates ("a photo of a {}.", ...), normalised again (prompt ensembling). An image's
probabilities are the softmax of ``logit_scale * cosine`` over the given labels.

Example::

    classifier = ZeroShotClassifier(embedder)
    result = classifier.classify(image, ["cat", "dog", "car"])
    result.top.label, result.top.probability  # ('cat', 0.93)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from rag.config import CLASSIFY_TEMPLATES
from rag.embedding.base import Embedder
from rag.errors import ConfigError, InvalidInputError

MAX_LABEL_CHARS = 200
MAX_TEMPLATES = 16
"""Most prompt templates one request may send (each label is embedded once per template)."""
MAX_TEMPLATE_CHARS = 200


@dataclass(frozen=True)
class LabelScore:
    """A label's softmax ``probability`` among the given labels and its ``cosine`` to the image."""

    label: str
    probability: float
    cosine: float

    def as_dict(self) -> dict[str, float | str]:
        return {"label": self.label, "probability": self.probability, "cosine": self.cosine}


@dataclass(frozen=True)
class Classification:
    """Labels ranked by probability (best first), and the model that scored them."""

    labels: list[LabelScore]
    model: str

    @property
    def top(self) -> LabelScore:
        return self.labels[0]


class ZeroShotClassifier:
    """Ranks free-text labels for an image; label vectors are cached (up to ``cache_size``)."""

    def __init__(
        self,
        embedder: Embedder,
        templates: Sequence[str] = CLASSIFY_TEMPLATES,
        max_labels: int = 100,
        cache_size: int = 4096,
    ) -> None:
        self.embedder = embedder
        self.templates = check_templates(templates)
        self.max_labels = max_labels
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @property
    def logit_scale(self) -> float:
        """The embedder's learned temperature multiplier."""
        return self.embedder.logit_scale

    def classify(self, image: Image.Image, labels: Sequence[str]) -> Classification:
        """Rank ``labels`` for ``image``, probabilities summing to 1."""
        labels = check_labels(labels, self.max_labels)
        vector = self.embedder.embed_images([image])[0]
        return self.classify_vector(vector, labels)

    def classify_vector(self, image_vector: np.ndarray, labels: Sequence[str]) -> Classification:
        """Like :meth:`classify` for an image already embedded (a unit vector)."""
        labels = check_labels(labels, self.max_labels)
        cosines = self.label_vectors(labels) @ np.asarray(image_vector, np.float32)
        probabilities = softmax(cosines * self.logit_scale)
        scores = [
            LabelScore(label, float(p), float(c))
            for label, p, c in zip(labels, probabilities, cosines, strict=True)
        ]
        ranked = sorted(scores, key=lambda score: -score.probability)
        return Classification(ranked, self.embedder.model_id)

    def label_vectors(self, labels: Sequence[str]) -> np.ndarray:
        """``(len(labels), dim)`` unit vectors: each label's template ensemble."""
        unique = list(dict.fromkeys(labels))
        with self._lock:
            found = {label: self._cache[label] for label in unique if label in self._cache}
        missing = [label for label in unique if label not in found]
        if missing:
            vectors = self._ensemble(missing)
            found.update(zip(missing, vectors, strict=True))
            self._remember(missing, vectors)
        return np.stack([found[label] for label in labels])

    def _ensemble(self, labels: list[str]) -> np.ndarray:
        prompts = [template.format(label) for label in labels for template in self.templates]
        vectors = self.embedder.embed_texts(prompts).reshape(len(labels), len(self.templates), -1)
        mean = vectors.mean(axis=1)
        return mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)

    def _remember(self, labels: list[str], vectors: np.ndarray) -> None:
        with self._lock:
            for label, vector in zip(labels, vectors, strict=True):
                self._cache[label] = vector
                self._cache.move_to_end(label)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)


def similarity(embedder: Embedder, image: Image.Image, texts: Sequence[str]) -> list[LabelScore]:
    """Each of ``texts`` scored against ``image``, in input order: the cosine, and the
    probability of a softmax over the texts at the model's temperature."""
    cosines = embedder.embed_texts(texts) @ embedder.embed_images([image])[0]
    probabilities = softmax(cosines * embedder.logit_scale)
    return [
        LabelScore(text, float(p), float(c))
        for text, c, p in zip(texts, cosines, probabilities, strict=True)
    ]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax of a 1-D array."""
    shifted = np.exp(logits - np.max(logits))
    return shifted / shifted.sum()


def check_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """The templates, each with exactly one ``{}`` for the label; ConfigError otherwise."""
    cleaned = tuple(templates)
    if not cleaned:
        raise ConfigError(
            "no prompt templates: set MMRAG_CLASSIFY__TEMPLATES, e.g. 'a photo of a {}.'"
        )
    for template in cleaned:
        if template.count("{}") != 1 or template.replace("{}", "").count("{"):
            raise ConfigError(
                f"prompt template {template!r} must hold exactly one '{{}}' where the label goes "
                "(MMRAG_CLASSIFY__TEMPLATES)"
            )
    return cleaned


def request_templates(templates: Sequence[str]) -> tuple[str, ...]:
    """Templates a caller sent: like :func:`check_templates`, but an
    :class:`InvalidInputError` (400) that says what to fix, and capped in number and length."""
    if isinstance(templates, str):
        raise InvalidInputError("templates must be a list of strings, e.g. ['a photo of a {}.']")
    cleaned = tuple(templates)
    if len(cleaned) > MAX_TEMPLATES:
        raise InvalidInputError(
            f"at most {MAX_TEMPLATES} templates per request, got {len(cleaned)}"
        )
    if any(len(template) > MAX_TEMPLATE_CHARS for template in cleaned):
        raise InvalidInputError(f"every template needs at most {MAX_TEMPLATE_CHARS} characters")
    try:
        return check_templates(cleaned)
    except ConfigError as exc:
        raise InvalidInputError(str(exc).replace(" (MMRAG_CLASSIFY__TEMPLATES)", "")) from None


def check_labels(labels: Sequence[str], max_labels: int) -> list[str]:
    """Stripped labels; InvalidInputError for none, blanks, duplicates or too many."""
    if isinstance(labels, str):
        raise InvalidInputError("labels must be a list of strings, e.g. ['cat', 'dog']")
    cleaned = [str(label).strip() for label in labels]
    if len(cleaned) < 1:
        raise InvalidInputError("give at least one label, e.g. labels=['cat', 'dog']")
    if len(cleaned) > max_labels:
        raise InvalidInputError(f"at most {max_labels} labels per request, got {len(cleaned)}")
    if any(not label or len(label) > MAX_LABEL_CHARS for label in cleaned):
        raise InvalidInputError(f"every label needs 1 to {MAX_LABEL_CHARS} characters")
    if len(set(cleaned)) != len(cleaned):
        raise InvalidInputError("labels must be unique")
    return cleaned
