"""The training loop on the tiny CLIP: learns, freezes, fixes the temperature, accumulates."""

from __future__ import annotations

import copy
import itertools
import math

import pytest
import torch

from rag.embedding.loading import load_clip
from rag.training.loop import TrainConfig, train
from rag.training.step import accumulate_gradients
from rag.training.towers import Towers, TrainBatch


@pytest.fixture(scope="module")
def tiny_model(tiny_clip, tmp_path_factory):
    return load_clip(tiny_clip, tmp_path_factory.mktemp("models"))


def _batch(clip, n: int = 8, seed: int = 0) -> TrainBatch:
    generator = torch.Generator().manual_seed(seed)
    pixels = torch.randn(n, 3, clip.image_size, clip.image_size, generator=generator)
    texts = [f"picture number {i} of a {['red', 'blue'][i % 2]} thing" for i in range(n)]
    return TrainBatch(pixels, torch.from_numpy(clip.tokenizer.tokenize(texts).ids))


def test_loss_falls_when_training_on_one_batch(tiny_model) -> None:
    model = copy.deepcopy(tiny_model.model)
    batch = _batch(tiny_model)
    config = TrainConfig(steps=25, lr=3e-3, warmup_steps=2, progress=False)
    result = train(model, itertools.repeat(batch), config)
    assert result.steps == 25 and result.seconds > 0
    assert result.losses[-1] < 0.5 * result.losses[0]
    assert not model.training


def test_frozen_parameters_and_fixed_temperature_do_not_move(tiny_model) -> None:
    model = copy.deepcopy(tiny_model.model)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    config = TrainConfig(
        steps=3, lr=1e-2, warmup_steps=0, temperature=0.05, frozen=("visual.",), progress=False
    )
    train(model, itertools.repeat(_batch(tiny_model)), config)
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before if n.startswith("visual."))
    assert not torch.equal(before["text_projection"], after["text_projection"])
    assert model.logit_scale.exp().item() == pytest.approx(20.0, rel=1e-5)


def test_learned_temperature_is_capped_at_100(tiny_model) -> None:
    model = copy.deepcopy(tiny_model.model)
    with torch.no_grad():
        model.logit_scale.fill_(math.log(500.0))
    train(model, itertools.repeat(_batch(tiny_model)), TrainConfig(steps=1, progress=False))
    assert model.logit_scale.exp().item() <= 100.0 + 1e-3


def test_accumulated_gradients_equal_the_full_batch_gradients(tiny_model) -> None:
    """Two micro-batches of 4 give the gradient of one contrastive batch of 8 (not of two 4s)."""
    model = copy.deepcopy(tiny_model.model).train()
    full = _batch(tiny_model, 8)
    halves = [TrainBatch(full.pixels[:4], full.ids[:4]), TrainBatch(full.pixels[4:], full.ids[4:])]
    towers = Towers(model)
    loss_full = accumulate_gradients(towers, [full])
    expected = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    loss_split = accumulate_gradients(towers, halves)
    assert loss_split == pytest.approx(loss_full, rel=1e-5)
    for name, param in model.named_parameters():
        if name in expected:
            torch.testing.assert_close(param.grad, expected[name], rtol=1e-4, atol=1e-6)


def test_a_time_budget_trains_fewer_steps(tiny_model) -> None:
    model = copy.deepcopy(tiny_model.model)
    config = TrainConfig(steps=1000, max_seconds=1e-6, warmup_steps=0, progress=False)
    result = train(model, itertools.repeat(_batch(tiny_model)), config)
    assert result.steps == 10  # the pace is checked every 10 steps; never fewer than done
