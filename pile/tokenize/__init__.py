"""Tokenization: several vocabularies in one pass into Megatron-compatible shards.

- `vocab`: obtain and save each configured vocabulary, choose its exact engine;
- `engines`: the encoders (HF ``tokenizers``, tiktoken, sentencepiece);
- `merges`: tiktoken ranks from a ``tokenizer.json``'s merges, and why they are exact;
- `pipeline`: a ``tokenizer.json``'s normalizer, added tokens and pre-tokenizer around tiktoken;
- `sp_ranks`: a SentencePiece BPE model run by tiktoken;
- `probe`: the fixed texts a fast engine must encode like its reference before it is used;
- `convert`: vocabulary format conversions (tiktoken or SentencePiece to HF, byte tables);
- `shards`: the ``MMapIndexedDataset`` writer (Megatron-LM / GPT-NeoX ``.bin/.idx``);
- `write`: one source through every vocabulary (encode, shards, counts);
- `reader`: `ShardReader`, packed seeded samples, blends, the PyTorch adapter;
- `counts`: the token count comparison (csv, json, markdown, bar chart);
- `validate`: shard checks for ``pile validate``; `checks`: the same over a whole build;
- the build's tokenize phase lives in `pile.phases.tokenize` (vocabularies, shards, counts);
- `torch_dataset`: the optional PyTorch adapter (imports torch; loaded only on request).

This package is ``pile.tokenize``; there is deliberately no top-level ``tokenize`` package,
which would shadow the standard library module that tracebacks depend on.
"""

from pile.tokenize.counts import CountRow, CountsTable, SourceCounter
from pile.tokenize.reader import BlendedSamples, PackedSamples, ShardReader, torch_dataset
from pile.tokenize.shards import ShardWriter
from pile.tokenize.validate import validate_shards
from pile.tokenize.vocab import Vocabulary, dtype_for, load_vocabulary
from pile.tokenize.write import encode_texts, tokenize_source

__all__ = [
    "BlendedSamples", "CountRow", "CountsTable", "PackedSamples", "ShardReader", "ShardWriter",
    "SourceCounter", "Vocabulary", "dtype_for", "encode_texts", "load_vocabulary",
    "tokenize_source", "torch_dataset", "validate_shards",
]
