"""One pass over sources with several vocabularies: shards round-trip, counts are exact,
outputs are identical with 1 and 2 workers, and the shards validate."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from pile.config import TokenizerConfig, TrainConfig
from pile.tokenize import (CountsTable, ShardReader, ShardWriter, encode_texts, load_vocabulary,
                           tokenize_source, validate_shards)
from pile.tokenize.vocab import decode


def _docs(path: Path, n_chars: int = 60_000, size: int = 2000) -> list[str]:
    text = path.read_text(encoding="utf-8", errors="replace")[:n_chars]
    return [text[i:i + size] for i in range(0, len(text), size)]


@pytest.fixture(scope="module")
def sources(shared_data) -> dict[str, list[str]]:
    return {
        "shakespeare": _docs(shared_data / "text/tinyshakespeare.txt"),
        "wikitext": _docs(shared_data / "text/wikitext-2/test.txt"),
        "neko": _docs(shared_data / "text/wagahaiwa_nekodearu.txt", 30_000, 700),
        "irc": [line for line in (shared_data / "samples/ubuntu_irc/2025-11-26_ubuntu.txt")
                .read_text(encoding="utf-8").splitlines() if line][:150],
    }


@pytest.fixture(scope="module")
def vocabs(shared_data, sources, tmp_path_factory):
    root = tmp_path_factory.mktemp("tokens")
    tok = shared_data / "tokenizers"
    cfgs = [TokenizerConfig(name="gpt2", path=str(tok / "gpt2/tokenizer.json")),
            TokenizerConfig(name="mistral", sentencepiece=str(tok / "mistral/tokenizer.model.v1")),
            TokenizerConfig(name="bpe1k", train=TrainConfig(vocab_size=1000)),
            TokenizerConfig(name="neox", path=str(tok / "gpt-neox-20b/20B_tokenizer.json"))]
    corpus = [t for docs in sources.values() for t in docs]
    return [load_vocabulary(c, root / c.name, train_texts=lambda: corpus) for c in cfgs]


def _batches(texts: list[str], size: int = 16):
    for i in range(0, len(texts), size):
        yield texts[i:i + size]


def _run(out: Path, sources, vocabs, epochs=None, shard_tokens=10**9):
    counters = []
    for name, texts in sources.items():
        counters.append(tokenize_source(name, _batches(texts), vocabs, out, shard_tokens,
                                        epochs=(epochs or {}).get(name, 1.0)))
    return counters


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.suffix in (".bin", ".idx")}


def test_round_trip_counts_and_validation(tmp_path, sources, vocabs):
    counters = _run(tmp_path, sources, vocabs, epochs={"wikitext": 3.0}, shard_tokens=5_000)
    for v in vocabs:
        for c in counters:
            reader = ShardReader(tmp_path / v.name / c.source)
            texts = sources[c.source]
            assert len(reader) == len(texts)
            for k in (0, len(texts) // 2, len(texts) - 1):
                ids = reader[k]
                assert ids[-1] == v.eod_id
                assert decode(v, ids[:-1]) == texts[k], (v.name, c.source, k)
            # counts equal a direct encode count with the vocabulary's own library
            direct = sum(len(a) - 1 for a in v.encoder().encode_batch(texts))
            assert c.tokens[v.name] == direct == reader.num_tokens - len(texts)
            assert validate_shards(tmp_path / v.name / c.source, v.vocab_size, v.eod_id,
                                   expected_docs=len(texts),
                                   expected_tokens=direct + len(texts)) == []
    # the 5k-token limit split the big sources into numbered shards
    assert (tmp_path / "gpt2" / "shakespeare_00001.idx").is_file()
    assert (tmp_path / "gpt2" / "irc.idx").is_file()
    table = CountsTable.from_counters(counters)
    row = next(r for r in table.rows if (r.source, r.tokenizer) == ("wikitext", "gpt2"))
    assert row.documents == len(sources["wikitext"])
    assert row.bytes == sum(len(t.encode()) for t in sources["wikitext"])
    assert row.words == sum(len(t.split()) for t in sources["wikitext"])
    assert row.mixed_tokens == 3 * row.tokens
    assert row.bytes_per_token == pytest.approx(row.bytes / row.tokens)
    # a small trained vocabulary needs more tokens than GPT-2 for the same text
    tokens = {r.tokenizer: r.tokens for r in table.totals()}
    assert tokens["bpe1k"] > tokens["gpt2"]


_WORKER_ENCODERS: dict = {}


def _init_worker(encoders):
    # each worker unpickles the encoders once and loads their vocabularies once
    _WORKER_ENCODERS.update(encoders)
    for enc in encoders.values():
        enc.setup()


def _encode_batch(texts):
    return encode_texts(_WORKER_ENCODERS, texts)


def test_same_bytes_with_one_and_two_workers(tmp_path, sources, vocabs):
    one = tmp_path / "one"
    _run(one, sources, vocabs, shard_tokens=8_000)
    two = tmp_path / "two"
    encoders = {v.name: v.encoder() for v in vocabs}  # pickled to the workers
    with ProcessPoolExecutor(2, initializer=_init_worker, initargs=(encoders,)) as pool:
        for name, texts in sources.items():
            writers = {v.name: ShardWriter(two / v.name / name, v.dtype, 8_000) for v in vocabs}
            for result in pool.map(_encode_batch, _batches(texts)):  # results come back in order
                for vname, arrays in result.items():
                    writers[vname].add_many(arrays)
            for w in writers.values():
                w.close()
    digest = _tree_digest(one)
    assert digest == _tree_digest(two) and any("_00001.bin" in k for k in digest)


def test_failure_leaves_no_partial_shards(tmp_path, vocabs):
    def broken():
        yield ["fine text"]
        raise OSError("disk gone")
    with pytest.raises(OSError):
        tokenize_source("bad", broken(), vocabs, tmp_path, 10**9)
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "bad" in p.name]


def test_manifest_entry(vocabs):
    entry = vocabs[0].to_dict()
    assert json.loads(json.dumps(entry)) == entry
    assert entry["dtype"] == "uint16" and entry["engine"] == "tiktoken"
    assert len(entry["sha256"]) == 64 and entry["file"] == "tokenizer.json"
    assert np.dtype(entry["dtype"]) == vocabs[0].dtype
