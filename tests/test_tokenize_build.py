"""The tokenize phase inside `pile build`: shards per source x vocabulary, counts, manifest,
reuse on rebuild, identical bytes with 1 and 2 workers, and `pile validate` on the shards."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from pile.build import Build
from pile.executor import LocalExecutor
from pile.tokenize import ShardReader
from pile.tokenize.checks import validate_build_shards
from pile.tokenize.counts import format_counts, load_counts
from pile.tokenize.shards import find_shards
from pile.tokenize.vocab import Vocabulary, decode
from pile.validate import validate_build

OFF = {"clean": {"enabled": False}, "dedup": {"enabled": False}, "pii": {"enabled": False}}


@pytest.fixture
def inputs(tmp_path, shared_data) -> Path:
    root = tmp_path / "in"
    for name, rel, limit in (("plays", "text/tinyshakespeare.txt", 60_000),
                             ("novel", "text/botchan.txt", 40_000)):
        (root / name).mkdir(parents=True)
        text = (shared_data / rel).read_text(encoding="utf-8-sig")[:limit]
        for i in range(0, len(text), 1500):
            (root / name / f"{i:06d}.txt").write_text(text[i:i + 1500], encoding="utf-8")
    return root


def _cfg(build_config, inputs, shared_data, **extra):
    tok = shared_data / "tokenizers"
    sections = dict(OFF)
    sections.update(extra)
    sections.setdefault("tokenizers", [
        {"name": "gpt2", "path": str(tok / "gpt2/tokenizer.json")},
        {"name": "bpe500", "train": {"vocab_size": 500}},
    ])
    sections.setdefault("output", {"shard_tokens": 8_000, "docs_per_file": 20})
    return build_config([{"name": "plays", "kind": "files", "paths": [str(inputs / "plays")],
                          "epochs": 2.0},
                         {"name": "novel", "kind": "files", "paths": [str(inputs / "novel")]}],
                        **sections)


def _hashes(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((out / "tokens").rglob("*")) if p.is_file()}


def test_build_tokenizes_every_source(build_config, inputs, shared_data):
    cfg = _cfg(build_config, inputs, shared_data)
    Build(cfg, LocalExecutor()).run()
    out = cfg.out_dir
    manifest = json.loads((out / "manifest.json").read_text())
    toks = manifest["tokenizers"]
    assert sorted(toks) == ["bpe500", "gpt2"]
    assert toks["gpt2"]["engine"] == "tiktoken" and toks["bpe500"]["vocab_size"] == 500
    assert "tokens/bpe500/tokenizer.json" in manifest["artifacts"]
    for name, rec in toks.items():
        vocab = Vocabulary.from_dict(rec, out / "tokens" / name)
        for source in ("plays", "novel"):
            reader = ShardReader(out / "tokens" / name / source)
            docs = [json.loads(line) for line in _doc_lines(out / "docs" / source)]
            assert len(reader) == len(docs) == rec["sources"][source]["documents"]
            assert reader.num_tokens == rec["sources"][source]["tokens"]
            for k in (0, len(docs) - 1):  # sequence k is document k of docs/<source>
                assert decode(vocab, reader[k][:-1]) == docs[k]["text"]
    assert (out / "tokens/gpt2/plays_00001.idx").is_file()  # 8k-token shards
    table = load_counts(out)
    plays = next(r for r in table.rows if (r.source, r.tokenizer) == ("plays", "gpt2"))
    assert plays.epochs == 2.0 and plays.mixed_tokens == 2 * plays.tokens
    assert "| plays | gpt2 |" in format_counts(table, "markdown")
    assert "## Token counts" in (out / "report.md").read_text()
    assert (out / "tokens/counts.png").is_file()
    problems, summary = validate_build(out)
    assert problems == [] and "token shards checked" in summary


def _doc_lines(folder: Path):
    from pile.docs_io import iter_jsonl_zst

    for path in sorted(folder.glob("*.jsonl.zst")):
        for _n, rec in iter_jsonl_zst(path):
            yield json.dumps(rec)


def test_rebuild_reuses_and_damage_is_named(build_config, inputs, shared_data):
    cfg = _cfg(build_config, inputs, shared_data)
    Build(cfg, LocalExecutor()).run()
    out = cfg.out_dir
    before = _hashes(out)
    again = Build(cfg, LocalExecutor())
    again.run()
    assert "tokenize:plays" in again.reused and "tokenize:novel" in again.reused
    assert _hashes(out) == before
    manifest = json.loads((out / "manifest.json").read_text())
    # flip the last token of the novel's gpt2 shard: not an EOD any more
    last = find_shards(out / "tokens/gpt2/novel")[-1]
    binary = last.with_suffix(".bin")
    raw = bytearray(binary.read_bytes())
    raw[-2:] = struct.pack("<H", 13)
    binary.write_bytes(bytes(raw))
    problems, checked = validate_build_shards(out, manifest)
    assert checked >= 4
    assert any(p.startswith(f"tokens/gpt2/{last.name}: missing_eod:") for p in problems), problems


def test_same_tokens_with_one_and_two_ray_workers(build_config, inputs, shared_data, tmp_path,
                                                  ray_executor):
    one = _cfg(build_config, inputs, shared_data)
    Build(one, LocalExecutor()).run()
    two = _cfg(build_config, inputs, shared_data)
    two = type(two)(**{**two.__dict__, "out": str(tmp_path / "out2")})
    Build(two, ray_executor).run()
    assert _hashes(one.out_dir) == _hashes(two.out_dir)
