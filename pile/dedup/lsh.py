"""LSH banding parameters from a Jaccard threshold.

A pair with Jaccard similarity ``s`` shares at least one band of ``r`` rows out of ``b``
bands with probability ``P(s) = 1 - (1 - s**r)**b`` (Leskovec, Rajaraman, Ullman,
*Mining of Massive Datasets*, ch. 3.4). Like datasketch's ``MinHashLSH``, the bands and
rows are the ``(b, r)`` with ``b * r <= num_perm`` minimising

    fp_weight * integral_0^t P(s) ds  +  fn_weight * integral_t^1 (1 - P(s)) ds,

the weighted areas of false positives below the threshold ``t`` and false negatives
above it. ``P`` is a polynomial of degree ``b * r <= num_perm``, so Gauss-Legendre
quadrature with ``num_perm // 2 + 1`` nodes integrates it exactly (up to rounding):
datasketch's adaptive ``scipy.integrate.quad`` converges to the same areas, so the same
weights give the same parameters (a test compares with ``datasketch.lsh._optimal_param``),
without importing scipy on the driver, and vectorised over every ``(b, r)`` at once.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair of this Jaccard similarity shares at least one band."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


def _areas(bands: np.ndarray, rows: np.ndarray, lo: float, hi: float, nodes: np.ndarray,
           weights: np.ndarray) -> np.ndarray:
    """integral_lo^hi P(s) ds for each (bands[i], rows[i]), by Gauss-Legendre."""
    s = (hi - lo) / 2.0 * nodes + (hi + lo) / 2.0  # nodes mapped from [-1, 1]
    p = 1.0 - (1.0 - s[None, :] ** rows[:, None]) ** bands[:, None]
    return (hi - lo) / 2.0 * (p @ weights)


@lru_cache(maxsize=64)
def optimal_params(threshold: float, num_perm: int, fp_weight: float = 0.5,
                   fn_weight: float = 0.5) -> tuple[int, int]:
    """The ``(bands, rows)`` minimising the weighted false positive and negative areas.

    Args:
        threshold: the Jaccard threshold in (0, 1].
        num_perm: MinHash permutations (``bands * rows <= num_perm``).
        fp_weight / fn_weight: the weights of the two areas.

    Returns:
        ``(bands, rows)``; ties keep the first found scanning bands then rows upward.
    """
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    bands = np.array([b for b, _ in pairs], dtype=np.float64)
    rows = np.array([r for _, r in pairs], dtype=np.float64)
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    fp = _areas(bands, rows, 0.0, threshold, nodes, weights)
    fn = (1.0 - threshold) - _areas(bands, rows, threshold, 1.0, nodes, weights)
    error = fp * fp_weight + fn * fn_weight
    return pairs[int(np.argmin(error))]  # argmin keeps the first of equal minima
