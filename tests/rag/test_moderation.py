"""Moderation mechanics on the tiny CLIP: the verdict follows the thresholds (semantics:
tests/rag/demo/test_semantics.py)."""

from __future__ import annotations

import pytest
from PIL import Image

from rag.config import ModerationSettings
from rag.errors import ConfigError
from rag.moderation import Moderator

IMAGE = Image.new("RGB", (40, 40), (20, 30, 200))


def _moderator(embedder, **overrides) -> Moderator:
    values = {"unsafe": ["weapon", "gore"], "safe": ["landscape", "cat"], **overrides}
    return Moderator(embedder, ModerationSettings(**values), ("a photo of a {}.",))


def test_result_adds_up(tiny_embedder) -> None:
    result = _moderator(tiny_embedder).check(IMAGE)
    assert set(result.scores) == {"weapon", "gore", "landscape", "cat"}
    assert sum(result.scores.values()) == pytest.approx(1.0)
    unsafe = result.scores["weapon"] + result.scores["gore"]
    assert result.unsafe_probability == pytest.approx(unsafe)
    assert result.confidence == pytest.approx(max(unsafe, 1 - unsafe))
    assert result.as_dict()["model"] == tiny_embedder.model_id


def test_thresholds_decide_the_verdict_and_the_flags(tiny_embedder) -> None:
    strict = _moderator(tiny_embedder, threshold=0.001, category_threshold=0.999).check(IMAGE)
    assert not strict.is_safe
    assert len(strict.flagged) == 1  # none reaches 0.999, so the top unsafe category is named
    assert strict.flagged[0].probability == max(strict.scores["weapon"], strict.scores["gore"])
    lenient = _moderator(tiny_embedder, threshold=0.999, category_threshold=0.999).check(IMAGE)
    assert lenient.is_safe and lenient.flagged == []
    every = _moderator(tiny_embedder, threshold=0.001, category_threshold=0.001).check(IMAGE)
    assert {f.category for f in every.flagged} == {"weapon", "gore"}


def test_check_vector_matches_check(tiny_embedder) -> None:
    moderator = _moderator(tiny_embedder)
    vector = tiny_embedder.embed_images([IMAGE])[0]
    assert moderator.check_vector(vector) == moderator.check(IMAGE)


@pytest.mark.parametrize(
    "overrides", [{"unsafe": []}, {"safe": [" "]}, {"unsafe": ["cat"]}, {"safe": ["a", "a"]}]
)
def test_bad_categories_name_the_variables(tiny_embedder, overrides) -> None:
    with pytest.raises(ConfigError, match="MMRAG_MODERATION__"):
        _moderator(tiny_embedder, **overrides)


def test_categories_and_thresholds_come_from_the_environment(monkeypatch) -> None:
    from rag.config import load_settings

    monkeypatch.setenv("MMRAG_MODERATION__UNSAFE", "knife, gun")
    monkeypatch.setenv("MMRAG_MODERATION__THRESHOLD", "0.3")
    settings = load_settings(_env_file=None)
    assert settings.moderation.unsafe == ["knife", "gun"] and settings.moderation.threshold == 0.3
