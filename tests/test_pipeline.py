"""The whole chain inside `pile build` on local Ray: clean, dedup, held-out splits and
decontamination, PII, several vocabularies and the mix, then `pile validate`."""

from __future__ import annotations

import json
import re

import numpy as np
import yaml

from pile.build import Build
from pile.docs_io import iter_jsonl_zst
from pile.tokenize import ShardReader
from pile.tokenize.vocab import Vocabulary, decode
from pile.validate import validate_build

CARD = "4929 8731 6640 2255"  # a Visa-range number with a valid Luhn digit, generated for this test


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def articles(shared_data, n):
    text = (shared_data / "text" / "wikitext-2" / "test.txt").read_text()
    parts = re.split(r"\n = (?!=)", text)
    return [p.strip() for p in parts if len(p) > 2000][:n]


def test_full_chain_in_pile_build(tmp_path, shared_data, build_config, ray_executor):
    assert luhn_ok(CARD.replace(" ", ""))
    docs = articles(shared_data, 24)
    docs[3] = docs[3][:1500] + f" Payment went through on card {CARD} yesterday. " + docs[3][1500:]
    docs.append(docs[5])  # an exact duplicate
    src = tmp_path / "in"
    src.mkdir()
    (src / "wiki.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))
    # an evaluation set that quotes a passage of a training document verbatim
    quoted = " ".join(docs[7].split()[100:160])
    (tmp_path / "eval.jsonl").write_text(json.dumps({"text": quoted}) + "\n")
    cfg = build_config(
        [{"name": "wiki", "kind": "files", "paths": [str(src)]},
         {"name": "plays", "kind": "files", "paths": [str(shared_data / "text" / "tinyshakespeare.txt")]}],
        clean={"languages": ["en"], "min_chars": 200, "quality": False},
        splits={"val_fraction": 0.1, "test_fraction": 0.1},
        decontam={"eval_paths": [str(tmp_path / "eval.jsonl")], "min_chars": 100},
        tokenizers=[{"name": "gpt2", "path": str(shared_data / "tokenizers" / "gpt2" / "tokenizer.json")},
                    {"name": "bpe2k", "train": {"vocab_size": 2000}}],
        output={"docs_per_file": 10})
    Build(cfg, ray_executor).run()
    out = cfg.out_dir
    stats = json.loads((out / "stats.json").read_text())
    wiki = stats["sources"]["wiki"]["summary"]
    assert wiki["documents_read"] == 25
    assert wiki["dropped"].get("dedup_v1:exact_duplicate") == 1
    assert wiki["documents_read"] == wiki["documents_kept"] + sum(wiki["dropped"].values())
    assert wiki["counters"].get("pii.CREDIT_CARD") == 1
    assert wiki["counters"].get("decontam.spans_removed", 0) >= 1
    held = wiki["counters"].get("split.val", 0) + wiki["counters"].get("split.test", 0)
    assert wiki["counters"].get("split.train", 0) + held == wiki["documents_kept"]

    written = {}
    for root in (out, out / "val", out / "test"):
        for f in sorted((root / "docs" / "wiki").glob("*.jsonl.zst")):
            for _, rec in iter_jsonl_zst(f):
                written[rec["meta"]["id"]] = (root.name, rec["text"])
    assert len(written) == wiki["documents_kept"]
    assert all(CARD not in text and CARD.replace(" ", "") not in text for _, text in written.values())
    assert any("<CREDIT_CARD>" in text for _, text in written.values())
    train_texts = [t for part, t in written.values() if part == out.name]
    assert all(quoted not in t for t in train_texts)  # decontaminated from the training split

    # Tokens: every vocabulary, the card absent from the decoded shards too.
    manifest = json.loads((out / "manifest.json").read_text())
    for name in ("gpt2", "bpe2k"):
        vocab = Vocabulary.from_dict(manifest["tokenizers"][name], out / "tokens" / name)
        reader = ShardReader(out / "tokens" / name / "wiki")
        assert len(reader) == len(train_texts)
        decoded = [decode(vocab, np.asarray(reader[k][:-1])) for k in range(len(reader))]
        assert decoded == train_texts
        assert all(int(reader[k][-1]) == vocab.eod_id for k in range(len(reader)))
        mix = ShardReader(out / "tokens" / name / "mix" / "train")
        assert len(mix) > 0
        neox = yaml.safe_load((out / "tokens" / name / "neox_data.yml").read_text())
        assert abs(sum(neox["train_data_weights"]) - 1) < 1e-9
        held_paths = neox.get("valid_data_paths", []) + neox.get("test_data_paths", [])
        assert held_paths and all((out / f"{p}.bin").is_file() for p in held_paths)
    problems, summary = validate_build(out)
    assert problems == [], problems
    assert "no card number or e-mail found" in summary
    report = (out / "report.md").read_text()
    assert "| wiki |" in report and "tokens gpt2" in report and "doc_lengths.png" in report


def test_batches_and_row_groups_cut_by_bytes_change_no_output_byte(tmp_path, shared_data, build_config,
                                                                    artifact_hashes, monkeypatch):
    """Batches close at `BATCH_BYTES` of text and checkpoint row groups at
    `CHECKPOINT_ROW_GROUP_BYTES`, so a worker holds a bounded slice of a unit, not the unit:
    with both bounds a few kB (batches of one or two documents, several row groups per
    part), every stage on gives the same artifacts as the defaults (the config is the
    same: the bounds are not settings, so no fingerprint differs)."""
    import pyarrow.parquet as pq

    import pile.docs_io
    import pile.phases.work
    from pile.executor import LocalExecutor

    src = tmp_path / "in"
    src.mkdir()
    docs = articles(shared_data, 30)
    docs.append(docs[4])
    (src / "wiki.jsonl").write_text("".join(json.dumps({"text": d}) + "\n" for d in docs))

    def build(name: str):
        cfg = build_config(
            [{"name": "wiki", "kind": "files", "paths": [str(src)]}],
            out=str(tmp_path / name), clean={"languages": ["en"], "min_chars": 200, "quality": False},
            splits={"val_fraction": 0.1, "test_fraction": 0.1},
            tokenizers=[{"name": "gpt2", "path": str(shared_data / "tokenizers" / "gpt2" / "tokenizer.json")}],
            output={"docs_per_file": 10})
        Build(cfg, LocalExecutor()).run()
        return cfg.out_dir

    default = build("default")
    monkeypatch.setattr(pile.phases.work, "BATCH_BYTES", 5_000)
    monkeypatch.setattr(pile.docs_io, "CHECKPOINT_ROW_GROUP_BYTES", 8_000)
    small = build("small")
    groups = [pq.ParquetFile(p).metadata.num_row_groups
              for p in sorted((small / ".work" / "clean" / "wiki").glob("part-*.parquet"))]
    assert groups and max(groups) > 1
    hashes = artifact_hashes(default)
    assert len(hashes) > 5 and artifact_hashes(small) == hashes
