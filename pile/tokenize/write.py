"""One pass over a source's documents for every vocabulary: encode, write shards, count.

`tokenize_source` is the tokenize step of the pipeline for one source: the documents are
read once (they come from ``docs/<source>/`` in file order) and each batch goes through
every configured vocabulary's encoder into that vocabulary's `ShardWriter`, so sequence
``k`` of ``tokens/<tok>/<source>`` is document ``k`` of the source for every ``<tok>``.
Encoding a batch is independent of other batches, so a runner may encode batches in
parallel workers (`encode_texts`) as long as it hands the results to the writers in
document order.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

from pile.tokenize.counts import SourceCounter
from pile.tokenize.engines import Encoder
from pile.tokenize.shards import ShardWriter
from pile.tokenize.vocab import Vocabulary


def encode_texts(encoders: Mapping[str, Encoder], texts: list[str]) -> dict[str, list[np.ndarray]]:
    """Every vocabulary's ids for one batch (EOD appended): tokenizer name -> arrays."""
    return {name: enc.encode_batch(texts) for name, enc in encoders.items()}


def tokenize_source(source: str, batches: Iterable[list[str]], vocabularies: Sequence[Vocabulary],
                    tokens_dir: str | Path, shard_tokens: int, epochs: float = 1.0,
                    encoders: Mapping[str, Encoder] | None = None) -> SourceCounter:
    """Encode a source's documents with every vocabulary into its shards.

    Args:
        source: the source name (the shard prefix ``tokens/<tok>/<source>``).
        batches: lists of document texts, in document order.
        vocabularies: the resolved vocabularies (`load_vocabulary`).
        tokens_dir: ``OUT/tokens``.
        shard_tokens: tokens per shard (``output.shard_tokens``).
        epochs: the source's mixing weight, carried into the counts.
        encoders: already set-up encoders by vocabulary name (default: built here).

    Returns:
        The source's counts (documents, bytes, words, tokens per vocabulary).

    On an exception every writer is aborted: no partial shard is left under a final name.
    """
    tokens_dir = Path(tokens_dir)
    if encoders is None:
        encoders = {v.name: v.encoder() for v in vocabularies}
    for enc in encoders.values():
        enc.setup()
    writers = {v.name: ShardWriter(tokens_dir / v.name / source, v.dtype, shard_tokens)
               for v in vocabularies}
    counter = SourceCounter(source, epochs)
    try:
        for texts in batches:
            if not texts:
                continue
            counter.add_texts(texts)
            for name, arrays in encode_texts(encoders, texts).items():
                counter.add_tokens(name, arrays)
                writers[name].add_many(arrays)
        for v in vocabularies:
            counter.tokens.setdefault(v.name, 0)
            writers[v.name].close()
    except BaseException:
        for w in writers.values():
            if not w.closed:
                w.abort()
        raise
    return counter
