"""Held-out validation and test splits, chosen per document by a keyed hash of its id.

The Pile ships validation and test sets drawn from every component; GPT-NeoX and Pythia
train on the rest. Here a document's split is a pure function of its id and the
configured seed: the id is hashed with keyed BLAKE2b (key = the decimal seed), the first
8 bytes of the digest, big-endian, give an integer whose top 53 bits are scaled to a
uniform number ``u`` in ``[0, 1)``, and

- ``u < val_fraction`` -> ``"val"``;
- ``u >= 1 - test_fraction`` -> ``"test"``;
- otherwise -> ``"train"``.

Because nothing but the id enters the hash, a document keeps its split when other
documents or whole sources are added or removed, when workers are added, and across
runs. Placing ``test`` at the top of the range and ``val`` at the bottom means raising
one fraction only ever takes documents from ``train``: the other held-out set is
unchanged. Document ids are per source (``"<source>/<key>"``), so every source gets the
configured fractions, up to sampling noise.
"""

from __future__ import annotations

import hashlib

from pile.config import SplitsConfig

TRAIN = "train"
VAL = "val"
TEST = "test"
SPLITS = (TRAIN, VAL, TEST)
HELD_OUT = (VAL, TEST)

_SCALE = 2.0 ** -53


def split_value(doc_id: str, seed: int) -> float:
    """The document's uniform number in ``[0, 1)`` (the quantity the split thresholds).

    Args:
        doc_id: the document's stable id (``"wikipedia/Alan_Turing"``).
        seed: the hash key (`SplitsConfig.seed`).

    Returns:
        A float in ``[0, 1)`` that depends only on `doc_id` and `seed`.
    """
    digest = hashlib.blake2b(doc_id.encode("utf-8", "surrogatepass"), digest_size=8,
                             key=str(seed).encode("ascii")).digest()
    return (int.from_bytes(digest, "big") >> 11) * _SCALE


def split_of(doc_id: str, cfg: SplitsConfig) -> str:
    """The split of a document: ``"train"``, ``"val"`` or ``"test"``.

    Args:
        doc_id: the document's stable id.
        cfg: the fractions and the seed.

    Returns:
        One of `SPLITS`; always ``"train"`` when both fractions are 0.
    """
    if cfg.val_fraction == 0.0 and cfg.test_fraction == 0.0:
        return TRAIN
    u = split_value(doc_id, cfg.seed)
    if u < cfg.val_fraction:
        return VAL
    if u >= 1.0 - cfg.test_fraction:
        return TEST
    return TRAIN


def is_held_out(doc_id: str, cfg: SplitsConfig) -> bool:
    """True when the document belongs to the validation or the test split."""
    return split_of(doc_id, cfg) != TRAIN
