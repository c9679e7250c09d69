"""Is one way to search better than another on the same queries? Paired tests over per-query
scores (e.g. nDCG@10 of configuration A and B on each query).

The paired randomisation test (Fisher's, as Smucker, Allan and Carterette 2007 recommend for
IR) flips the sign of each query's difference at random and counts how often the mean
difference is at least as far from 0 as the one observed. The paired t-test comes from SciPy
when it is installed (it is a dependency of scikit-learn).

Example::

    result = paired_test([0.5, 1.0, 0.0], [0.3, 1.0, 0.0])
    result.mean_difference, result.p_randomisation  # 0.0667, 1.0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.errors import InvalidInputError

ROUNDS = 10_000


@dataclass(frozen=True)
class PairedResult:
    """``mean_difference``: mean of a - b; p-values two-sided (``p_t`` None without SciPy or
    when every difference is equal)."""

    queries: int
    mean_difference: float
    p_randomisation: float
    p_t: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return {
            "queries": self.queries,
            "mean_difference": self.mean_difference,
            "p_randomisation": self.p_randomisation,
            "p_t": self.p_t,
        }


def paired_test(
    a: Sequence[float], b: Sequence[float], rounds: int = ROUNDS, seed: int = 0
) -> PairedResult:
    """Two-sided paired randomisation test (and t-test) of ``a`` against ``b``."""
    if len(a) != len(b) or not a:
        raise InvalidInputError(f"a paired test needs equal, non-empty lists ({len(a)}, {len(b)})")
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    observed = abs(diffs.mean())
    signs = np.random.default_rng(seed).choice((-1.0, 1.0), size=(rounds, len(diffs)))
    means = np.abs((signs * diffs).mean(axis=1))
    at_least = int((means >= observed - 1e-12).sum())
    p_randomisation = (at_least + 1) / (rounds + 1)
    return PairedResult(len(diffs), float(diffs.mean()), p_randomisation, _t_test(diffs))


def _t_test(diffs: np.ndarray) -> float | None:
    if len(diffs) < 2 or np.allclose(diffs, diffs[0]):
        return None
    try:
        from scipy import stats
    except ImportError:
        return None
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)
