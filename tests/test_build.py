"""End to end: `pile build` on local Ray (one instance per test session).

Cleaning, dedup, PII and tokenization are switched off here: their own tests cover
them, and tests/test_pipeline.py runs the whole chain. This file proves the runner:
accounting, the Pile output format, checkpoints and resume, the manifest, and
byte-identical results across reruns and worker counts.
"""

from __future__ import annotations

import gzip
import json

import lm_dataformat
import pytest
import zstandard

from pile.build import Build
from pile.executor import LocalExecutor
from pile.runner import RayExecutor
from pile.validate import validate_build

OFF = {"clean": {"enabled": False}, "dedup": {"enabled": False}, "pii": {"enabled": False}}


@pytest.fixture
def inputs(tmp_path, shared_data):
    """Real text in several formats, plus damaged files derived from it."""
    root = tmp_path / "in"
    root.mkdir()
    shakespeare = (shared_data / "text" / "tinyshakespeare.txt").read_text()
    scenes = [s for s in shakespeare.split("\n\n") if len(s) > 40][:300]
    blob = "".join(json.dumps({"text": s, "meta": {"n": i}}) + "\n" for i, s in enumerate(scenes))
    (root / "plays.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(blob.encode()))
    (root / "more.jsonl").write_text(blob[: len(blob) // 3] + '{"text": broken\n')
    (root / "botchan.txt").write_bytes((shared_data / "text" / "botchan.txt").read_bytes())
    full = gzip.compress(blob.encode())
    (root / "truncated.jsonl.gz").write_bytes(full[: len(full) // 2])
    (root / "latin1.txt").write_bytes("café".encode("latin-1"))
    return root, len(scenes)


def make_cfg(build_config, root, **extra):
    sections = dict(OFF)
    sections.update(extra)
    return build_config([{"name": "plays", "kind": "files", "paths": [str(root)]}], **sections)


def test_build_on_ray_accounts_for_every_document(inputs, build_config, ray_executor):
    root, n = inputs
    cfg = make_cfg(build_config, root, output={"docs_per_file": 100})
    result = Build(cfg, ray_executor).run()
    out = cfg.out_dir
    stats = json.loads((out / "stats.json").read_text())["sources"]["plays"]
    summary = stats["summary"]
    # Every document read is kept or dropped with a reason.
    assert summary["documents_read"] == summary["documents_kept"] + sum(summary["dropped"].values())
    assert summary["dropped"] == {"read:bad_json": 1, "read:invalid_utf8": 1}
    failed = {f["file"]: f["reason"] for f in summary["files_failed"]}
    assert list(failed) == ["truncated.jsonl.gz"] and "damaged after line" in failed["truncated.jsonl.gz"]
    files = sorted((out / "docs" / "plays").glob("*.jsonl.zst"))
    assert [f.name for f in files][:2] == ["00000.jsonl.zst", "00001.jsonl.zst"]
    # The Pile's format, read back by lm_dataformat unchanged.
    texts = []
    for f in files:
        for text, meta in lm_dataformat.Reader(str(f)).stream_data(get_meta=True):
            assert meta["pile_set_name"] == "plays" and meta["id"].startswith("plays/")
            texts.append(text)
    assert len(texts) == result["documents"] == summary["documents_kept"]
    assert n + n // 3 <= len(texts)
    # and by Hugging Face datasets' json loader
    import datasets

    # (file by file: the files of a unit hold the meta keys of that unit's inputs, and
    # `datasets` casts every file to the first file's columns)
    read_back = []
    for f in files:
        ds = datasets.load_dataset("json", data_files=[str(f)], split="train",
                                   cache_dir=str(out.parent / "hf-cache"))
        read_back.extend(ds["text"])
    assert read_back == texts
    problems, _ = validate_build(out)
    assert problems == []


def test_same_bytes_with_one_and_two_workers_and_in_process(inputs, build_config, ray_executor, tmp_path,
                                                                artifact_hashes):
    root, _ = inputs
    hashes = []
    for i, executor in enumerate([RayExecutor(workers=1), ray_executor, LocalExecutor()]):
        cfg = make_cfg(build_config, root, out=str(tmp_path / f"out{i}"), output={"docs_per_file": 50})
        Build(cfg, executor).run()
        hashes.append(artifact_hashes(cfg.out_dir))
    assert len(hashes[0]) > 3
    assert hashes[0] == hashes[1] == hashes[2]


def test_same_bytes_with_three_workers_in_their_own_ray(inputs, build_config, tmp_path, artifact_hashes):
    """Three workers (more than this session's Ray has CPUs, so in a `pile build` process of
    their own) and the in-process executor: the unit plan does not depend on the workers."""
    import subprocess
    import sys

    import yaml

    root, _ = inputs
    outs = []
    for name in ("three", "local"):
        cfg = make_cfg(build_config, root, out=str(tmp_path / name), output={"docs_per_file": 50},
                       run={"progress": False, "unit_bytes": 40_000})
        outs.append(cfg.out_dir)
        if name == "local":
            Build(cfg, LocalExecutor()).run()
            continue
        path = tmp_path / "three.yaml"
        path.write_text(yaml.safe_dump(cfg.to_dict()))
        proc = subprocess.run([sys.executable, "-m", "pile", "build", "--config", str(path), "--workers", "3",
                               "--no-progress"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    stats = json.loads((outs[0] / "stats.json").read_text())
    assert stats["workers"] == 3 and sum(stats["nodes"].values()) >= 6  # several units, one node
    assert artifact_hashes(outs[0]) == artifact_hashes(outs[1])


def test_rerun_reuses_finished_phases_and_resumes_after_a_lost_phase(inputs, build_config, artifact_hashes):
    root, _ = inputs
    cfg = make_cfg(build_config, root)
    first = Build(cfg, LocalExecutor()).run()
    before = artifact_hashes(cfg.out_dir)
    assert first["rebuilt"] == ["clean:plays", "final:plays"]
    report = cfg.out_dir / "report.md"
    stamp = (report.stat().st_mtime_ns, (cfg.out_dir / "stats.json").stat().st_mtime_ns)
    again = Build(cfg, LocalExecutor()).run()
    assert again["rebuilt"] == [] and again["reused"] == ["clean:plays", "final:plays"]
    # Nothing to do says so, and leaves the report of the build that did the work alone.
    from pile.build import summary_line

    assert summary_line(again).startswith("nothing to do: ") and again["documents"] == first["documents"]
    assert (report.stat().st_mtime_ns, (cfg.out_dir / "stats.json").stat().st_mtime_ns) == stamp
    # A build killed after the clean phase left no final marker: only that phase reruns.
    (cfg.out_dir / ".work" / "final" / "plays.done.json").unlink()
    resumed = Build(cfg, LocalExecutor()).run()
    assert resumed["rebuilt"] == ["final:plays"]
    assert artifact_hashes(cfg.out_dir) == before


def test_validate_names_a_tampered_artifact(inputs, build_config):
    root, _ = inputs
    cfg = make_cfg(build_config, root)
    Build(cfg, LocalExecutor()).run()
    target = next((cfg.out_dir / "docs" / "plays").glob("*.jsonl.zst"))
    target.write_bytes(target.read_bytes()[:-5])
    problems, _ = validate_build(cfg.out_dir)
    rel = target.relative_to(cfg.out_dir).as_posix()
    assert any(p.startswith(f"{rel}: size") for p in problems)
    assert any(p.startswith(f"{rel}: unreadable") for p in problems)


def test_empty_source_is_reported_not_a_crash(tmp_path, build_config):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "nothing.jsonl").write_text("")
    cfg = build_config([{"name": "void", "kind": "files", "paths": [str(empty)]}], **OFF)
    result = Build(cfg, LocalExecutor()).run()
    assert result["documents"] == 0
    assert "no documents were read" in (cfg.out_dir / "report.md").read_text()
