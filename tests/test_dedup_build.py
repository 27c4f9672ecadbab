"""``dedup_v1`` inside `pile build`: on Ray and in-process, and a one-source rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pile.build import Build
from pile.executor import LocalExecutor

OFF = {"clean": {"enabled": False}, "pii": {"enabled": False}}


def _write(path: Path, texts: list[str], prefix: str) -> None:
    path.write_text("".join(json.dumps({"text": t, "meta": {"key": f"{prefix}{i}"}}) + "\n"
                            for i, t in enumerate(texts)))


@pytest.fixture
def corpus(tmp_path: Path, shared_data: Path) -> dict:
    """Two sources of real text: `books` originals, `web` with near and exact copies."""
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    docs, cur = [], []
    for para in text.split("\n\n"):
        cur.append(para)
        if sum(len(p.split()) for p in cur) >= 100:
            docs.append("\n\n".join(cur))
            cur = []
    books = docs[:60]
    near = [" ".join(t.split()[:-2]) for t in books[:10]]      # last two words cut
    exact = [t.upper() for t in books[10:15]]                   # case only
    web = near + exact + docs[60:90]
    (tmp_path / "books").mkdir()
    (tmp_path / "web").mkdir()
    _write(tmp_path / "books" / "books.jsonl", books, "b")
    _write(tmp_path / "web" / "web.jsonl", web, "w")
    return {"root": tmp_path, "docs": docs, "books": books, "web": web}


def _config(build_config, root: Path, out: Path | None = None, **dedup):
    cfg = build_config([{"name": "books", "kind": "files", "paths": [str(root / "books")]},
                        {"name": "web", "kind": "files", "paths": [str(root / "web")]}],
                       dedup={"priority": ["books"], **dedup}, **OFF)
    if out is not None:
        from dataclasses import replace
        cfg = replace(cfg, out=str(out))
    return cfg


def _kept_ids(out: Path, source: str) -> list[str]:
    import zstandard
    ids = []
    for f in sorted((out / "docs" / source).glob("*.jsonl.zst")):
        for line in zstandard.ZstdDecompressor().stream_reader(f.open("rb")).read().decode().splitlines():
            ids.append(json.loads(line)["meta"]["id"])
    return ids


def _clusters(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "dedup" / "clusters.jsonl").read_text().splitlines()]


def test_dedup_in_pile_build_on_ray_and_in_process(corpus, build_config, ray_executor, tmp_path):
    cfg = _config(build_config, corpus["root"])
    Build(cfg, ray_executor).run()
    out = cfg.out_dir
    clusters = _clusters(out)
    assert len(clusters) == 15
    assert all(c["id"].startswith("web/") and c["duplicate_of"].startswith("books/") for c in clusters)
    assert sum(c["reason"] == "exact_duplicate" for c in clusters) == 5
    assert sum(c["reason"] == "near_duplicate" for c in clusters) == 10
    kept = _kept_ids(out, "web")
    assert len(kept) == len(corpus["web"]) - 15
    assert not {c["id"] for c in clusters} & set(kept)
    assert len(_kept_ids(out, "books")) == len(corpus["books"])
    stats = json.loads((out / "stats.json").read_text())
    assert "dedup" in json.dumps(stats)
    # report.md: the largest clusters as a table (survivor from books, members from web),
    # not a cut JSON dump; every plot embedded once.
    report = (out / "report.md").read_text()
    assert "```json" not in report
    section = report.split("## Deduplication", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in section.splitlines() if r.startswith("| `books/")]
    biggest = stats["dedup"]["largest_clusters"][0]
    assert rows and rows[0].startswith(f"| `{biggest['survivor']}` | {biggest['size']:,} |")
    images = [line for line in report.splitlines() if line.startswith("![")]
    assert images and len(images) == len(set(images))
    # The same build with one in-process worker decides the same.
    local = _config(build_config, corpus["root"], tmp_path / "out-local")
    Build(local, LocalExecutor()).run()
    assert _clusters(local.out_dir) == clusters
    assert _kept_ids(local.out_dir, "web") == kept


def test_rebuilding_one_source_reuses_the_others_signatures(corpus, build_config, tmp_path):
    cfg = _config(build_config, corpus["root"])
    Build(cfg, LocalExecutor()).run()
    books_meta = json.loads((cfg.out_dir / "dedup" / "signatures" / "books" / "meta.json").read_text())
    # web changes: two more near copies of books.
    web = corpus["web"] + [" ".join(t.split()[1:]) for t in corpus["books"][20:22]]
    _write(corpus["root"] / "web" / "web.jsonl", web, "w")
    Build(cfg, LocalExecutor(), only=["web"]).run()
    marker = json.loads((cfg.out_dir / ".work" / "dedup" / "_all.done.json").read_text())
    assert marker["counters"]["books\tsignatures_reused"] == len(corpus["books"])
    assert marker["counters"]["web\tsignatures_computed"] == len(web)
    again = json.loads((cfg.out_dir / "dedup" / "signatures" / "books" / "meta.json").read_text())
    assert again == books_meta
    fresh = _config(build_config, corpus["root"], tmp_path / "out-fresh")
    Build(fresh, LocalExecutor()).run()
    assert _clusters(cfg.out_dir) == _clusters(fresh.out_dir)
    assert len(_clusters(fresh.out_dir)) == 17
