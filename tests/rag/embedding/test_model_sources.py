"""Weights from tags, the hub, local files and folders; one clear error when they are missing."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import open_clip
import pytest
import torch

from rag.config import ClipSettings
from rag.embedding import TINY_MODEL, ClipEmbedder
from rag.embedding.checkpoints import save_clip_folder
from rag.errors import ConfigError, ModelUnavailableError

TEXTS = ["a dog", "a red square"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    """A tiny model with weights unlike the seeded ones, saved in open_clip's hub layout."""
    torch.manual_seed(123)
    model = open_clip.create_model(TINY_MODEL).eval()
    folder = tmp_path_factory.mktemp("ckpt") / "my-clip"
    save_clip_folder(model, open_clip.get_model_config(TINY_MODEL), folder)
    return model, folder


def _expected(model: torch.nn.Module) -> np.ndarray:
    with torch.inference_mode():
        ids = open_clip.get_tokenizer(TINY_MODEL)(TEXTS)
        return model.encode_text(ids, normalize=True).numpy()


def _embed(tmp_path: Path, **settings) -> tuple[ClipEmbedder, np.ndarray]:
    # torch: these tests are about where weights come from (test_runtimes covers the runtimes),
    # and each set of weights here would cost its own ONNX export
    clip = ClipSettings(threads=1, runtime="torch", **settings)
    embedder = ClipEmbedder(clip, tmp_path / "cache")
    return embedder, embedder.embed_texts(TEXTS)


def test_pretrained_tag_offline_gives_one_clear_error_fast(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = ClipEmbedder(ClipSettings(pretrained="laion2b_s34b_b79k"), tmp_path / "cache")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        embedder.warm_up()
    assert time.monotonic() - started < 10
    message = str(info.value)
    for part in ("ViT-B-32", "laion2b_s34b_b79k", "MMRAG_CLIP__PRETRAINED", "HF_HUB_OFFLINE"):
        assert part in message
    assert str(tmp_path / "cache") in message


def test_hf_hub_repo_offline_gives_the_same_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder = ClipEmbedder(ClipSettings(model="hf-hub:acme/nothing-here"), tmp_path)
    with pytest.raises(ModelUnavailableError, match="hf-hub:acme/nothing-here"):
        embedder.warm_up()


def test_folder_in_hub_layout_loads_the_saved_weights(tmp_path: Path, trained) -> None:
    model, folder = trained
    embedder, vectors = _embed(tmp_path, model="ignored-with-a-config", pretrained=str(folder))
    np.testing.assert_allclose(vectors, _expected(model), atol=1e-5)
    assert embedder.model_id.startswith("local-dir/my-clip@")


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_single_checkpoint_file_loads(tmp_path: Path, trained, suffix: str) -> None:
    model, folder = trained
    checkpoint = tmp_path / f"weights{suffix}"
    if suffix == ".pt":
        torch.save(model.state_dict(), checkpoint)
    else:
        checkpoint.write_bytes((folder / "open_clip_model.safetensors").read_bytes())
    embedder, vectors = _embed(tmp_path, model=TINY_MODEL, pretrained=str(checkpoint))
    np.testing.assert_allclose(vectors, _expected(model), atol=1e-5)
    assert embedder.model_id.startswith(f"{TINY_MODEL}/weights{suffix}@")
    _, from_folder = _embed(tmp_path, model=TINY_MODEL, pretrained=str(tmp_path))
    np.testing.assert_allclose(from_folder, vectors, atol=1e-6)


def test_random_weights_are_seeded(tmp_path: Path) -> None:
    _, first = _embed(tmp_path, model=TINY_MODEL, pretrained="", seed=7)
    _, again = _embed(tmp_path, model=TINY_MODEL, pretrained="", seed=7)
    _, other = _embed(tmp_path, model=TINY_MODEL, pretrained="", seed=8)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_unknown_names_and_missing_files_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MMRAG_CLIP__MODEL"):
        ClipEmbedder(ClipSettings(model="ViT-Nope", pretrained="x"), tmp_path).warm_up()
    with pytest.raises(ModelUnavailableError, match="openai"):
        ClipEmbedder(ClipSettings(pretrained="/no/such/weights.pt"), tmp_path).warm_up()


def test_weights_that_do_not_fit_the_architecture_are_refused(tmp_path: Path, trained) -> None:
    model, _ = trained
    state = model.state_dict()
    state.pop("text_projection")
    torch.save(state, tmp_path / "partial.pt")
    settings = ClipSettings(model=TINY_MODEL, pretrained=str(tmp_path / "partial.pt"))
    with pytest.raises(ModelUnavailableError, match="MMRAG_CLIP__MODEL"):
        ClipEmbedder(settings, tmp_path).warm_up()


def test_hf_hub_repo_loads_from_the_cache_offline(tmp_path: Path, trained, monkeypatch) -> None:
    model, folder = trained
    repo = tmp_path / "cache" / "models--acme--tiny-clip"
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(folder, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    embedder, vectors = _embed(tmp_path, model="hf-hub:acme/tiny-clip", pretrained="")
    np.testing.assert_allclose(vectors, _expected(model), atol=1e-5)
    assert embedder.model_id == "hf-hub:acme/tiny-clip"
