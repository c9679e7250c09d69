"""The training loop: AdamW, warm-up + cosine schedule, accumulation, clipping, progress bar."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from rag.training.optim import build_optimizer
from rag.training.schedule import warmup_cosine
from rag.training.step import accumulate_gradients
from rag.training.towers import Towers, TrainBatch

MAX_LOGIT_SCALE = math.log(100.0)
TIME_CHECK_EVERY = 10


@dataclass(frozen=True)
class TrainConfig:
    """How to train. One step sees ``batch_size * accumulation`` pairs as one contrastive batch.

    ``temperature`` ``None`` learns the temperature (the model's ``logit_scale``); a number fixes
    it (logits = cosine / temperature). ``frozen`` lists parameter-name prefixes that stay fixed
    (``("visual.",)`` locks the image tower, ``("token_embedding",)`` the word vectors).
    """

    steps: int
    batch_size: int = 64
    accumulation: int = 1
    lr: float = 1e-5
    weight_decay: float = 0.1
    warmup_steps: int = 20
    min_lr_ratio: float = 0.0
    temperature: float | None = None
    frozen: tuple[str, ...] = ()
    max_grad_norm: float | None = 1.0
    max_seconds: float | None = None
    """Wall-clock budget: when the pace says ``steps`` would take longer, train fewer steps
    (the schedule is fitted to the new count). ``None``: always ``steps``."""
    seed: int = 0
    device: str = "cpu"
    progress: bool = True


@dataclass
class TrainResult:
    """Loss of every step and the wall-clock seconds the loop took."""

    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.losses)


StepHook = Callable[[int, float], None]


def train(
    model: Any, batches: Iterator[TrainBatch], config: TrainConfig, on_step: StepHook | None = None
) -> TrainResult:
    """Train ``model`` (an open_clip CLIP) in place on micro-batches drawn from ``batches``."""
    torch.manual_seed(config.seed)
    _freeze(model, config.frozen)
    _set_temperature(model, config.temperature)
    model.to(config.device)
    towers = Towers(model)
    optimizer = build_optimizer(model, config.lr, config.weight_decay)
    result, started = TrainResult(), time.perf_counter()
    total = config.steps
    model.train()
    with tqdm(total=total, desc="training", disable=not config.progress) as bar:
        step = 0
        while step < total:
            _set_lr(optimizer, config, step, total)
            micro = [_to(next(batches), config.device) for _ in range(config.accumulation)]
            optimizer.zero_grad(set_to_none=True)
            loss = accumulate_gradients(towers, micro)
            _clip_and_step(model, optimizer, config.max_grad_norm)
            result.losses.append(loss)
            step += 1
            total = _fit_to_time(config, step, total, time.perf_counter() - started)
            bar.total = total
            bar.update(1)
            bar.set_postfix(loss=f"{loss:.3f}", scale=f"{float(towers.logit_scale().detach()):.1f}")
            if on_step is not None:
                on_step(step - 1, loss)
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def _fit_to_time(config: TrainConfig, done: int, total: int, elapsed: float) -> int:
    """The step count that ends within ``config.max_seconds`` at the pace so far (re-estimated
    every few steps; the learning-rate schedule follows the new count)."""
    if config.max_seconds is None or done % TIME_CHECK_EVERY:
        return total
    affordable = int(config.max_seconds / (elapsed / done))
    return min(config.steps, max(done, affordable))


def _to(batch: TrainBatch, device: str) -> TrainBatch:
    if device == "cpu":
        return batch
    return TrainBatch(batch.pixels.to(device, non_blocking=True), batch.ids.to(device))


def _freeze(model: Any, prefixes: tuple[str, ...]) -> None:
    for name, param in model.named_parameters():
        param.requires_grad_(not name.startswith(prefixes))


def _set_temperature(model: Any, temperature: float | None) -> None:
    scale = model.logit_scale
    if temperature is None:
        scale.requires_grad_(True)
        return
    if temperature <= 0:
        raise ValueError("temperature must be > 0 (or None to learn it)")
    with torch.no_grad():
        scale.fill_(math.log(1.0 / temperature))
    scale.requires_grad_(False)


def _set_lr(optimizer: torch.optim.Optimizer, config: TrainConfig, step: int, total: int) -> None:
    factor = warmup_cosine(step, total, config.warmup_steps, config.min_lr_ratio)
    for group in optimizer.param_groups:
        group["lr"] = config.lr * factor


def _clip_and_step(model: Any, optimizer: torch.optim.Optimizer, max_norm: float | None) -> None:
    if max_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    optimizer.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, MAX_LOGIT_SCALE)
