"""The tiktoken engine gives HF's ids on 100+ MB of real, varied text per shared vocabulary.

GPT-2's and GPT-NeoX-20B's ``tokenizer.json`` (the shared data's byte-level BPE files) are
compared on the first 100 MB of `parity`'s corpus (the shared texts, Japanese included,
and samples, then the default corpus: the Python standard library and the system
documentation, as ``pile build`` reads them); the derived files of `vocabularies`
(cl100k as HF merges, Llama-3 and Qwen2 pipeline shapes, a trained BPE, GPT-2 with flagged
added tokens) on the first 4 MB (the unit tests and the probe cover them too). Two worker processes share the work.
"""

from __future__ import annotations

from corpus import stdlib_texts
from parity import compare
from vocabularies import derived_vocabularies

from pile.config import TokenizerConfig
from pile.tokenize import load_vocabulary

SHARED_MB = 100.0
DERIVED_MB = 4.0


def test_tiktoken_engine_gives_hf_ids_on_100_mb(shared_data, tmp_path):
    files = {"gpt2": shared_data / "tokenizers/gpt2/tokenizer.json",
             "neox": shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json",
             **derived_vocabularies(shared_data, tmp_path / "derived",
                                    (text for _path, text in stdlib_texts()))}
    vocabs = [load_vocabulary(TokenizerConfig(name=name, path=str(path)), tmp_path / name)
              for name, path in files.items()]
    assert {v.name: v.engine for v in vocabs} == {name: "tiktoken" for name in files}
    megabytes = {name: SHARED_MB if name in ("gpt2", "neox") else DERIVED_MB for name in files}
    results = compare(vocabs, shared_data, megabytes, workers=2)
    for name, r in results.items():
        assert r.bytes >= megabytes[name] * 1e6, (name, r.bytes)
        assert not r.differ, (name, len(r.differ), r.differ[:5])
