"""The engines' vectors as float32 arrays (:func:`rag.store.convert.float32_vectors`)."""

from __future__ import annotations

import numpy as np

from rag.store.convert import float32_vectors


def test_float32_vectors_gives_numpys_float32_of_the_bindings_lists() -> None:
    rng = np.random.default_rng(0)
    image, text = rng.standard_normal(512).tolist(), rng.standard_normal(3).tolist()
    edges = [1e39, -1e39, float("nan"), 1e-50, 0.0, 3.4e38]
    got = float32_vectors({"image": image, "text": text, "edges": edges, "none": None})
    assert set(got) == {"image", "text", "edges"}
    for name, values in (("image", image), ("text", text)):
        assert got[name].dtype == np.float32
        assert np.array_equal(got[name], np.array(values, np.float32))
    with np.errstate(over="ignore"):
        wanted = np.array(edges, np.float64).astype(np.float32)
    assert np.array_equal(got["edges"], wanted, equal_nan=True)  # out of range: +-inf
    got["image"][0] = 2.0  # callers may scale a vector in place
