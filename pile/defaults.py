"""The embedded default build: real text already on the machine, so `pile build` runs offline.

Two components, each capped so the default build finishes in minutes on a laptop:
the Python installation's standard library (code and its documentation, like the
Pile's GitHub) and the system documentation (/usr/share/doc and the manual pages).
Two byte-level BPE vocabularies of different sizes are trained on the cleaned corpus
itself, so the token-count comparison works without downloading a vocabulary.
"""

from __future__ import annotations

from typing import Any

# On-disk bytes per source (manual pages and changelogs are gzip'd: about 3x as text).
PYTHON_CAP_BYTES = 24_000_000
DOCS_CAP_BYTES = 12_000_000


def default_config_data() -> dict[str, Any]:
    return {
        "out": "build/pile",
        "sources": [
            {"name": "python_stdlib", "kind": "python", "max_bytes": PYTHON_CAP_BYTES,
             # Code is not prose: no language or Gopher filter (the Pile's GitHub had none).
             "clean": {"languages": [], "quality": {"enabled": False}, "min_chars": 100}},
            {"name": "system_docs", "kind": "system_docs", "max_bytes": DOCS_CAP_BYTES,
             # Manual pages are terse: Gopher's word-count floor would drop most of them.
             "clean": {"languages": ["en"], "min_chars": 200,
                       "quality": {"min_words": 30, "max_symbol_word_ratio": 0.2,
                                   "min_alpha_words_ratio": 0.6}}},
        ],
        "tokenizers": [
            # trained on the first 16 MB of the cleaned corpus: minutes, not tens of minutes
            {"name": "bpe8k", "train": {"vocab_size": 8192, "max_bytes": 16_000_000}},
            {"name": "bpe32k", "train": {"vocab_size": 32768, "max_bytes": 16_000_000}},
        ],
    }
