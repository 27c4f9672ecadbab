"""pile: build a Pile-style pretraining corpus.

Per-source downloaders feed one pipeline that cleans text, removes near-duplicates,
scrubs PII and tokenizes with several vocabularies into Megatron/GPT-NeoX shards.
"""

__version__ = "0.1.0"
