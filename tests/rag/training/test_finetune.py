"""Fine-tuning end to end on the tiny CLIP: pairs from a real ingested collection, a checkpoint
folder that the embedder loads, recall before and after."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.runner import ingest_paths
from rag.config import Settings
from rag.demo.collection import write_sample_collection
from rag.embedding import load_embedder
from rag.errors import InvalidInputError
from rag.services import Services
from rag.training import (
    Pair,
    TrainConfig,
    finetune,
    is_model_folder,
    pairs_from_store,
    read_training_info,
    recall_at_k,
    split_pairs,
)


@pytest.fixture
def ingested(settings: Settings, tmp_path: Path):
    folder = tmp_path / "pictures"
    write_sample_collection(folder, count=16, size=32)
    services = Services(settings)
    ingest_paths(services, [folder])
    yield services
    services.close()


def test_pairs_come_from_items_with_a_picture_and_a_text(ingested: Services) -> None:
    pairs = pairs_from_store(ingested.store, page=5)
    assert len(pairs) == 16
    assert all(pair.image_path.is_file() and pair.text for pair in pairs)


def test_split_is_seeded_and_keeps_both_sides(tmp_path: Path) -> None:
    pairs = [Pair(tmp_path / f"{i}.png", f"text {i}") for i in range(10)]
    train_a, held_a = split_pairs(pairs, 0.3, seed=1)
    train_b, held_b = split_pairs(pairs, 0.3, seed=1)
    assert (train_a, held_a) == (train_b, held_b)
    assert len(held_a) == 3 and sorted(train_a + held_a, key=str) == sorted(pairs, key=str)
    assert len(split_pairs(pairs, 4)[1]) == 4
    with pytest.raises(InvalidInputError, match="at least 4"):
        split_pairs(pairs[:3], 0.5)


def test_finetune_writes_a_folder_the_embedder_loads(
    ingested: Services, settings: Settings, tmp_path: Path
) -> None:
    pairs = pairs_from_store(ingested.store)
    output = tmp_path / "my-clip"
    config = TrainConfig(
        steps=3, batch_size=6, accumulation=2, lr=1e-3, warmup_steps=1, progress=False
    )
    report = finetune(settings.clip, settings.model_cache_dir, pairs, output, config, holdout=4)

    assert (report.train_pairs, report.held_out_pairs, report.steps) == (12, 4, 3)
    assert (
        set(report.before)
        == set(report.after)
        == {f"{d}@{k}" for d in ("t2i", "i2t") for k in (1, 5, 10)}
    )
    assert is_model_folder(output)
    info = read_training_info(output)
    assert info["after"] == report.after and info["base_model"] == "mmrag-tiny/random-seed0"
    config_json = json.loads((output / "open_clip_config.json").read_text())
    assert config_json["model_cfg"]["embed_dim"] == 32

    tuned = load_embedder(settings.clip.model_copy(update={"pretrained": str(output)}), tmp_path)
    base = ingested.embedder
    assert tuned.model_id.startswith("local-dir/my-clip@")
    texts = ["a red circle", "two blue squares"]
    assert not np.allclose(tuned.embed_texts(texts), base.embed_texts(texts))
    # the loaded checkpoint reproduces the recall measured right after training
    held = split_pairs(pairs, 4, config.seed)[1]
    images = tuned.embed_images([Image.open(pair.image_path) for pair in held])
    recall = recall_at_k(images, tuned.embed_texts([pair.text for pair in held]), (1, 5, 10))
    assert recall == pytest.approx(report.after)
