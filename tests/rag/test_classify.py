"""Zero-shot classification mechanics on the tiny CLIP (semantics: tests/rag/demo)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from rag.classify import ZeroShotClassifier, check_templates, softmax
from rag.errors import ConfigError, InvalidInputError

IMAGE = Image.new("RGB", (40, 40), (200, 30, 30))


def test_probabilities_are_the_softmax_of_scaled_cosines(tiny_embedder) -> None:
    classifier = ZeroShotClassifier(tiny_embedder, ("a photo of a {}.", "a {}"))
    labels = ["cat", "dog", "red square"]
    result = classifier.classify(IMAGE, labels)
    assert [s.probability for s in result.labels] == sorted(
        (s.probability for s in result.labels), reverse=True
    )
    image = tiny_embedder.embed_images([IMAGE])[0]
    cosines = classifier.label_vectors(labels) @ image
    expected = softmax(cosines * tiny_embedder.logit_scale)
    by_label = {s.label: s for s in result.labels}
    for label, p, c in zip(labels, expected, cosines, strict=True):
        assert by_label[label].probability == pytest.approx(float(p), rel=1e-5)
        assert by_label[label].cosine == pytest.approx(float(c), abs=1e-6)
    assert result.top == result.labels[0] and result.model == tiny_embedder.model_id


def test_a_label_vector_is_the_normalised_mean_over_templates(tiny_embedder) -> None:
    templates = ("a photo of a {}.", "a drawing of a {}.", "{}")
    vector = ZeroShotClassifier(tiny_embedder, templates).label_vectors(["boat"])[0]
    prompts = tiny_embedder.embed_texts([t.format("boat") for t in templates]).mean(axis=0)
    np.testing.assert_allclose(vector, prompts / np.linalg.norm(prompts), atol=1e-6)


def test_label_vectors_are_cached(tiny_embedder) -> None:
    classifier = ZeroShotClassifier(tiny_embedder, cache_size=2)
    first = classifier.label_vectors(["a", "b"])
    assert np.array_equal(classifier.label_vectors(["b", "a"]), first[::-1])
    classifier.label_vectors(["c"])
    assert list(classifier._cache) == ["b", "c"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [([], "at least one"), (["a", "a"], "unique"), ([" "], "characters"), ("cat,dog", "list")],
)
def test_bad_labels_say_what_to_send(tiny_embedder, labels, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        ZeroShotClassifier(tiny_embedder).classify(IMAGE, labels)


def test_too_many_labels_are_refused(tiny_embedder) -> None:
    with pytest.raises(InvalidInputError, match="at most 2"):
        ZeroShotClassifier(tiny_embedder, max_labels=2).classify(IMAGE, ["a", "b", "c"])


@pytest.mark.parametrize("templates", [(), ("no slot",), ("{} and {}",), ("a {label}",)])
def test_templates_need_exactly_one_slot(templates) -> None:
    with pytest.raises(ConfigError, match="MMRAG_CLASSIFY__TEMPLATES"):
        check_templates(templates)
