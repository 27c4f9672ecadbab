"""Rebuild one source: byte-identical to a clean full build, and untouched artifacts are
left alone (same inode and mtime). Splits stay put when another source is added."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pile.build import Build
from pile.executor import LocalExecutor


def stamp(root: Path, rels: list[str]) -> dict[str, tuple[int, int]]:
    return {r: ((root / r).stat().st_ino, (root / r).stat().st_mtime_ns) for r in rels}


@pytest.fixture
def corpus(tmp_path, shared_data):
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text().split("\n\n")
    wiki = (shared_data / "text" / "wikitext-2" / "test.txt").read_text().split("\n \n")
    for name, parts in (("plays", text[:400]), ("wiki", wiki[:300])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "part.jsonl").write_text(
            "".join(json.dumps({"text": p}) + "\n" for p in parts if len(p) > 100))
    return tmp_path


def make(build_config, root: Path, out: Path, shared_data: Path, names=("plays", "wiki")):
    return build_config(
        [{"name": n, "kind": "files", "paths": [str(root / n)]} for n in names],
        out=str(out), clean={"languages": [], "min_chars": 50, "quality": False},
        splits={"val_fraction": 0.05, "test_fraction": 0.05},
        tokenizers=[{"name": "gpt2", "path": str(shared_data / "tokenizers" / "gpt2" / "tokenizer.json")}],
        output={"docs_per_file": 100})


def test_rebuild_one_source_equals_a_full_build_and_leaves_the_rest_alone(
        corpus, build_config, shared_data, tmp_path, artifact_hashes):
    out = tmp_path / "incremental"
    Build(make(build_config, corpus, out, shared_data), LocalExecutor()).run()
    untouched = [r for r in artifact_hashes(out) if "/plays" in r and "mix" not in r]
    assert any(r.startswith("docs/plays/") for r in untouched)
    assert any(r.startswith("tokens/gpt2/plays") for r in untouched)
    before = stamp(out, untouched)

    # The wiki upstream changes: one record edited, one added.
    path = corpus / "wiki" / "part.jsonl"
    lines = path.read_text().splitlines()
    lines[3] = json.dumps({"text": json.loads(lines[3])["text"] + " An edit upstream."})
    lines.append(json.dumps({"text": "A new article about the sea and the islands, " * 5}))
    path.write_text("\n".join(lines) + "\n")

    result = Build(make(build_config, corpus, out, shared_data), LocalExecutor(), only=["wiki"]).run()
    assert "clean:wiki" in result["rebuilt"] and "clean:plays" not in result["rebuilt"]
    assert "final:plays" in result["reused"]

    full = tmp_path / "full"
    Build(make(build_config, corpus, full, shared_data), LocalExecutor()).run()
    assert artifact_hashes(out) == artifact_hashes(full)
    assert stamp(out, untouched) == before  # same inode and mtime: not rewritten


def test_splits_are_stable_when_a_source_is_added(corpus, build_config, shared_data, tmp_path):
    one = make(build_config, corpus, tmp_path / "one", shared_data, names=("plays",))
    two = make(build_config, corpus, tmp_path / "two", shared_data, names=("plays", "wiki"))
    for cfg in (one, two):
        Build(cfg, LocalExecutor()).run()
    for part in ("val", "test"):
        a = sorted((tmp_path / "one" / part / "docs" / "plays").glob("*.zst"))
        b = sorted((tmp_path / "two" / part / "docs" / "plays").glob("*.zst"))
        assert a and [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_a_damaged_held_out_index_is_rebuilt_and_an_intact_one_reused(
        corpus, build_config, shared_data, tmp_path):
    out = tmp_path / "out"
    cfg = make(build_config, corpus, out, shared_data)
    Build(cfg, LocalExecutor()).run()
    index = out / ".work" / "decontam" / "index.npy"
    good = index.read_bytes()
    again = Build(cfg, LocalExecutor()).run()
    assert "decontam:_all" in again["reused"]
    index.write_bytes(good[:-8] + bytes(8))  # damaged in place: another size or mtime
    result = Build(cfg, LocalExecutor()).run()
    assert "decontam:_all" in result["rebuilt"] and index.read_bytes() == good
