"""LSH banding parameters from a Jaccard threshold.

A pair with Jaccard similarity ``s`` shares at least one band of ``r`` rows out of ``b``
bands with probability ``P(s) = 1 - (1 - s**r)**b`` (Leskovec, Rajaraman, Ullman,
*Mining of Massive Datasets*, ch. 3.4). Like datasketch's ``MinHashLSH``, the bands and
rows are the ``(b, r)`` with ``b * r <= num_perm`` minimising

    fp_weight * integral_0^t P(s) ds  +  fn_weight * integral_t^1 (1 - P(s)) ds,

the weighted areas of false positives below the threshold ``t`` and false negatives
above it, integrated with ``scipy.integrate.quad`` as datasketch does, so the same
weights give the same parameters (a test compares with ``datasketch.lsh._optimal_param``
without depending on that private function at run time).
"""

from __future__ import annotations

from functools import lru_cache

from scipy.integrate import quad


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair of this Jaccard similarity shares at least one band."""
    return 1.0 - (1.0 - similarity ** rows) ** bands


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
    best = (0, 0)
    best_error = float("inf")
    for b in range(1, num_perm + 1):
        for r in range(1, num_perm // b + 1):
            fp, _ = quad(lambda s: candidate_probability(s, b, r), 0.0, threshold)
            fn, _ = quad(lambda s: 1.0 - candidate_probability(s, b, r), threshold, 1.0)
            error = fp * fp_weight + fn * fn_weight
            if error < best_error:
                best_error = error
                best = (b, r)
    return best
