"""ClipEmbeddings against LangChain's standard embeddings tests and its own image methods."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from PIL import Image

from rag.errors import InvalidInputError
from rag.integrations.langchain import ClipEmbeddings
from tests.integrations.standard import with_async_tests


class _TinyParams:
    @pytest.fixture(autouse=True)
    def _embedder(self, tiny_embedder: Any) -> None:
        self._tiny = tiny_embedder

    @property
    def embeddings_class(self) -> type[ClipEmbeddings]:
        return ClipEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": self._tiny}


@with_async_tests
class TestClipEmbeddingsStandard(_TinyParams, EmbeddingsIntegrationTests):
    pass


class TestClipEmbeddingsUnit(_TinyParams, EmbeddingsUnitTests):
    pass


def test_vectors_match_the_embedder(tiny_embedder: Any) -> None:
    embeddings = ClipEmbeddings(tiny_embedder)
    expected = tiny_embedder.embed_texts(["a red square", "a blue circle"])
    np.testing.assert_allclose(
        embeddings.embed_documents(["a red square", "a blue circle"]), expected
    )
    np.testing.assert_allclose(embeddings.embed_query("a red square"), expected[0])
    assert embeddings.dim == tiny_embedder.dim
    assert embeddings.embed_documents([]) == []


def test_images_from_paths_and_pil(tiny_embedder: Any, tmp_path: Path) -> None:
    red = Image.new("RGB", (40, 30), (220, 20, 20))
    path = tmp_path / "red.png"
    red.save(path)
    embeddings = ClipEmbeddings(tiny_embedder)
    by_path = embeddings.embed_image(path)
    by_str, by_pil = embeddings.embed_images([str(path), red])
    assert len(by_path) == tiny_embedder.dim
    np.testing.assert_allclose(by_path, by_pil, atol=1e-6)
    np.testing.assert_allclose(by_str, by_pil, atol=1e-6)


def test_bad_inputs_are_clear(tiny_embedder: Any, tmp_path: Path) -> None:
    embeddings = ClipEmbeddings(tiny_embedder)
    with pytest.raises(InvalidInputError, match="does not exist"):
        embeddings.embed_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("not a picture")
    with pytest.raises(InvalidInputError, match="cannot read image"):
        embeddings.embed_image(tmp_path / "notes.txt")
    with pytest.raises(InvalidInputError, match="PIL image or a file path"):
        embeddings.embed_image(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="mmrag Embedder"):
        ClipEmbeddings("ViT-B-32")  # type: ignore[arg-type]
