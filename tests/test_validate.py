"""`pile validate`'s shard scan: batch decoding, and which decoded texts it scans again."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from pile.config import TokenizerConfig
from pile.pii.leaks import scan_for_leaks
from pile.tokenize.checks import text_digest, validate_build_shards
from pile.tokenize.reader import ShardReader
from pile.tokenize.shards import ShardWriter
from pile.tokenize.vocab import decode, decode_batch, load_vocabulary

CARD = "4532 0151 1283 0366"  # Luhn-valid Visa


@pytest.fixture(scope="module", params=["gpt-neox-20b/20B_tokenizer.json", "gpt2/tokenizer.json"],
                ids=["hf", "tiktoken"])
def vocab(request, shared_data, tmp_path_factory):
    path = shared_data / "tokenizers" / request.param
    return load_vocabulary(TokenizerConfig(name="t", path=str(path)), tmp_path_factory.mktemp("v"))


def _build(out: Path, vocab, texts: list[str]) -> dict:
    enc = vocab.encoder()
    enc.setup()
    writer = ShardWriter(out / "tokens" / "t" / "src", vocab.dtype, 1 << 20)
    batch = enc.encode_batch(texts)
    writer.add_many(batch)
    writer.close()
    shutil.copyfile(vocab.file, out / "tokens" / "t" / vocab.file.name)  # checked by sha256
    return {"tokenizers": {"t": {**vocab.to_dict(), "sources": {
        "src": {"documents": len(texts), "tokens": int(sum(len(b) for b in batch))}}}}}


def test_decode_of_a_memmap_equals_decode_of_ints_and_batches_agree(vocab, shared_data, tmp_path):
    texts = [t for t in (shared_data / "text" / "tinyshakespeare.txt").read_text("utf-8")
             .split("\n\n")[:300] if t]
    _build(tmp_path, vocab, texts)
    reader = ShardReader(tmp_path / "tokens" / "t" / "src")
    ids = [reader[k][:-1] for k in range(len(reader))]
    assert isinstance(ids[0], np.memmap) or isinstance(ids[0].base, np.memmap)
    one = [decode(vocab, x) for x in ids]
    assert one == [decode(vocab, [int(i) for i in x]) for x in ids] == texts
    assert decode_batch(vocab, ids) == one


def test_a_decoded_text_already_scanned_is_skipped_and_a_different_one_is_scanned(vocab, tmp_path):
    texts = ["Please bill the card on file.", f"leaked {CARD} here", "nothing to see"]
    manifest = _build(tmp_path, vocab, texts)
    scan = scan_for_leaks
    problems, checked = validate_build_shards(tmp_path, manifest, scan)
    assert checked == 1 and problems == [
        f"tokens/t/src: CREDIT_CARD left in document 1 at characters 7-{7 + len(CARD)} "
        f"of its decoded text"]
    # docs/src held exactly these texts and were scanned (and reported) there: no repeat
    done = [text_digest(t) for t in texts]
    advanced = []
    assert validate_build_shards(tmp_path, manifest, scan, {"src": done}, advanced.append) == ([], 1)
    assert sum(advanced) == 3
    # a shard whose text differs from its document is scanned on its own
    clean_doc = [done[0], text_digest("leaked card here"), done[2]]
    problems, _ = validate_build_shards(tmp_path, manifest, scan, {"src": clean_doc})
    assert len(problems) == 1 and "document 1" in problems[0]
    # fewer scanned documents than sequences: the rest are scanned
    problems, _ = validate_build_shards(tmp_path, manifest, scan, {"src": done[:1]})
    assert len(problems) == 1
