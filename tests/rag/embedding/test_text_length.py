"""Texts run at the batch's real token length, give padded-run vectors, and never overflow."""

from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch

from rag.embedding import TINY_MODEL
from rag.embedding.text_length import real_length_text_encoder

QUERIES = ["cat", "a photo of a dog", "two red squares and a blue circle on grass"]


def _tiny(**kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    return open_clip.create_model(TINY_MODEL, **kwargs).eval()


@pytest.mark.parametrize("custom_text", [False, True], ids=["clip", "custom-text-tower"])
def test_real_length_equals_padded(custom_text: bool) -> None:
    model = _tiny(force_custom_text=custom_text)
    encode = real_length_text_encoder(model)
    assert encode is not None
    ids = open_clip.get_tokenizer(TINY_MODEL)(QUERIES)
    longest = int((ids != 0).sum(dim=1).max())
    with torch.inference_mode():
        short = encode(ids[:, :longest]).numpy()
        padded = model.encode_text(ids).numpy()
    cos = np.sum(short * padded, 1) / np.linalg.norm(short, axis=1) / np.linalg.norm(padded, axis=1)
    assert cos.min() >= 0.9999


def test_towers_where_trimming_is_wrong_use_the_padded_path() -> None:
    assert real_length_text_encoder(_tiny(text_cfg={"no_causal_mask": True})) is None
    model = _tiny(force_custom_text=True)
    model.text.pool_type = "last"
    assert real_length_text_encoder(model) is None


def test_long_texts_are_truncated_and_reported(tiny_embedder) -> None:
    long_text = "word " * 300
    encoding = tiny_embedder.encode_texts(["short", long_text])
    assert encoding.truncated == [False, True]
    assert encoding.vectors.shape == (2, 32)
    assert tiny_embedder.count_tokens(["short", long_text]) == [3, 302]
    cut = tiny_embedder.embed_texts([" ".join(["word"] * 75)])
    assert float(cut[0] @ encoding.vectors[1]) == pytest.approx(1.0, abs=1e-5)


def test_batch_length_does_not_change_vectors(tiny_embedder) -> None:
    alone = np.stack([tiny_embedder.embed_texts([q])[0] for q in QUERIES])
    together = tiny_embedder.embed_texts(QUERIES)
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_token_ids_equal_open_clip_tokenizer(tiny_embedder) -> None:
    texts = ["", "A  Photo of &amp; a Dog!", "café naïve 東京", "word " * 100, "x" * 3]
    batch = tiny_embedder._loaded().tokenizer.tokenize(texts)
    expected = open_clip.get_tokenizer(TINY_MODEL)(texts).numpy()
    np.testing.assert_array_equal(batch.ids, expected)
    assert batch.lengths == [int((row != 0).sum()) for row in expected]
