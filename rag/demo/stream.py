"""Endless, seeded batches of synthetic scenes for training, and fixed sets for evaluation."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from rag.demo.scenes import Scene, draw_scene, random_scene
from rag.training.towers import TrainBatch

Tokenize = Callable[[list[str]], torch.Tensor]


class SceneRenderer:
    """Turns scenes into model inputs exactly as the embedder will see collection images.

    Scenes are drawn at ``draw_size`` and resized (bicubic) to the model's ``image_size``,
    then normalised with the model's ``mean`` and ``std``.
    """

    def __init__(
        self,
        image_size: int,
        mean: Sequence[float],
        std: Sequence[float],
        draw_size: int | None = None,
    ) -> None:
        self.image_size = image_size
        self.draw_size = draw_size or image_size
        self._mean = np.asarray(mean, np.float32).reshape(1, 1, 3) * 255
        self._scale = 1.0 / (np.asarray(std, np.float32).reshape(1, 1, 3) * 255)

    def image(self, scene: Scene) -> Image.Image:
        """The scene as the collection stores it (``draw_size`` pixels)."""
        return draw_scene(scene, self.draw_size)

    def pixels(self, scenes: Sequence[Scene]) -> torch.Tensor:
        """``(n, 3, image_size, image_size)`` float32, normalised."""
        arrays = [self._array(scene) for scene in scenes]
        batch = np.stack(arrays).transpose(0, 3, 1, 2)
        return torch.from_numpy(np.ascontiguousarray(batch))

    def _array(self, scene: Scene) -> np.ndarray:
        image = self.image(scene)
        if self.draw_size != self.image_size:
            size = (self.image_size, self.image_size)
            image = image.resize(size, Image.Resampling.BICUBIC)
        return (np.asarray(image, np.float32) - self._mean) * self._scale


@dataclass(frozen=True)
class TextMix:
    """Which text a training scene is paired with: the longer description (its start, as the
    text vector embeds it), a short phrase or a question, by share; the rest are captions."""

    description: float = 0.0
    phrase: float = 0.0
    question: float = 0.0

    def pick(self, scene: Scene, rng: random.Random) -> str:
        draw = rng.random()
        if draw < self.description:
            return scene.description()
        if draw < self.description + self.phrase:
            return rng.choice(scene.phrases())
        if draw < self.description + self.phrase + self.question:
            return rng.choice(scene.questions())
        return scene.caption()


def scene_batches(
    renderer: SceneRenderer,
    tokenize: Tokenize,
    batch_size: int,
    seed: int,
    mix: TextMix | None = None,
) -> Iterator[TrainBatch]:
    """Fresh random scenes forever, ``batch_size`` per batch; one ``seed``, one stream."""
    rng = random.Random(seed)
    while True:
        scenes = [random_scene(rng) for _ in range(batch_size)]
        texts = [(mix or TextMix()).pick(scene, rng) for scene in scenes]
        yield TrainBatch(renderer.pixels(scenes), tokenize(texts))


def held_out_scenes(count: int, seed: int) -> list[Scene]:
    """``count`` scenes from a stream that training never draws from (``seed`` differs)."""
    rng = random.Random(f"held-out-{seed}")
    return [random_scene(rng) for _ in range(count)]
