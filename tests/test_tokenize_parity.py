"""The tiktoken engine gives its reference's ids on 100+ MB of real, varied text.

The shared vocabularies -- GPT-2's and GPT-NeoX-20B's ``tokenizer.json`` (reference: HF
``tokenizers``) and Mistral v1's SentencePiece ``.model`` (reference: sentencepiece) -- are
compared on the first 100 MB of `parity`'s corpus: the shared texts (the Japanese novel
included) and samples, then the default corpus as ``pile build`` reads it (the Python
standard library, the system documentation). The other vocabularies -- Mistral v3 (with
user-defined pieces) and the files of `vocabularies` (cl100k as HF merges, the Llama-3 and
Qwen2 pipeline shapes, a trained BPE, GPT-2 with flagged added tokens) -- on the first 1.5 MB;
the unit tests and the load-time probe cover them too. Two worker processes share the work.
"""

from __future__ import annotations

from corpus import stdlib_texts
from parity import compare
from vocabularies import derived_vocabularies

from pile.config import TokenizerConfig
from pile.tokenize import load_vocabulary

SHARED_MB = 100.0
OTHER_MB = 1.5
SHARED = ("gpt2", "neox", "mistral_v1")
MODELS = {"mistral_v1": "tokenizer.model.v1",
          "mistral_v3": "mistral_instruct_tokenizer_240323.model.v3"}


def test_tiktoken_engine_gives_the_reference_ids_on_100_mb(shared_data, tmp_path):
    files = {"gpt2": shared_data / "tokenizers/gpt2/tokenizer.json",
             "neox": shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json",
             **derived_vocabularies(shared_data, tmp_path / "derived",
                                    (text for _path, text in stdlib_texts()))}
    cfgs = [TokenizerConfig(name=name, path=str(path)) for name, path in files.items()]
    cfgs += [TokenizerConfig(name=name, sentencepiece=str(shared_data / "tokenizers/mistral" / f))
             for name, f in MODELS.items()]
    vocabs = [load_vocabulary(cfg, tmp_path / cfg.name) for cfg in cfgs]
    assert {v.name: v.engine for v in vocabs} == {v.name: "tiktoken" for v in vocabs}
    megabytes = {v.name: SHARED_MB if v.name in SHARED else OTHER_MB for v in vocabs}
    results = compare(vocabs, shared_data, megabytes, workers=2)
    assert set(results) == {v.name for v in vocabs}
    for name, r in results.items():
        assert r.bytes >= megabytes[name] * 1e6, (name, r.bytes)
        assert not r.differ, (name, len(r.differ), r.differ[:5])
