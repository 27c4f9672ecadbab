"""The `files` source on every supported format, and on damaged input."""

from __future__ import annotations

import gzip
import json

import lm_dataformat
import pytest
import zstandard

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.stage import Dropped


def source(tmp_path, *paths, **options):
    cfg = SourceConfig(name="mine", kind="files", paths=tuple(str(p) for p in paths), options=options)
    return make_source(cfg, tmp_path / "raw")


def read_all(src, path):
    return list(src.read(path))


def jsonl_bytes(records):
    return "".join(json.dumps(r) + "\n" for r in records).encode()


RECORDS = [{"text": "first document", "meta": {"pile_set_name": "Upstream", "url": "u1"}},
           {"text": "second document"}]


@pytest.mark.parametrize("name, encode", [
    ("a.jsonl", lambda b: b),
    ("a.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("a.jsonl.gz", gzip.compress),
    ("a.json.gz", gzip.compress),
])
def test_jsonl_formats(tmp_path, name, encode):
    path = tmp_path / "in" / name
    path.parent.mkdir()
    path.write_bytes(encode(jsonl_bytes(RECORDS)))
    src = source(tmp_path, tmp_path / "in")
    out = read_all(src, src.inputs()[0])
    assert [d.text for d in out] == ["first document", "second document"]
    assert [d.id for d in out] == [f"mine/{name}:1", f"mine/{name}:2"]
    # An upstream pile_set_name is kept when the config does not set one.
    assert out[0].meta["pile_set_name"] == "Upstream" and out[0].meta["url"] == "u1"
    assert out[1].meta["pile_set_name"] == "mine"


def test_text_and_markdown_are_one_document_per_file(tmp_path, shared_data):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "notes.md").write_text("# Title\n\nbody\n")
    src = source(tmp_path, shared_data / "text" / "botchan.txt", tmp_path / "in" / "notes.md")
    inputs = src.inputs()
    docs = [d for p in inputs for d in read_all(src, p)]
    assert len(docs) == 2
    botchan = next(d for d in docs if d.id.endswith("botchan.txt"))
    assert not botchan.text.startswith("\ufeff") and "Botchan" in botchan.text[:2000]


def test_lm_dataformat_archive_is_read_with_lm_dataformat(tmp_path):
    ar = lm_dataformat.Archive(str(tmp_path / "lmd"))
    ar.add_data("alpha text", meta={"pile_set_name": "X"})
    ar.add_data("beta text", meta={})
    ar.commit()
    # lm_dataformat writes .jsonl.zst; its .dat.zst and .json.zst variants use the same path
    dat = lm_dataformat.DatArchive(str(tmp_path / "dat"))
    dat.add_data("gamma text")
    dat.commit()
    src = source(tmp_path, tmp_path / "lmd", tmp_path / "dat")
    texts = [d.text for p in src.inputs() for d in read_all(src, p) if isinstance(d, Document)]
    assert sorted(texts) == ["alpha text", "beta text", "gamma text"]


def test_broken_lines_are_dropped_with_reasons_and_the_file_goes_on(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "good one"}\n{"text": broken\n\xff\xfe{"text":"x"}\n'
                     b'{"no_text": 1}\n["list"]\n{"text": "good two"}\n')
    src = source(tmp_path, path)
    out = read_all(src, path)
    assert [d.text for d in out if isinstance(d, Document)] == ["good one", "good two"]
    assert [(d.doc.id, d.reason) for d in out if isinstance(d, Dropped)] == [
        ("mine/a.jsonl:2", "bad_json"), ("mine/a.jsonl:3", "invalid_utf8"),
        ("mine/a.jsonl:4", "no_text"), ("mine/a.jsonl:5", "no_text")]


@pytest.mark.parametrize("name, compress", [
    ("t.jsonl.zst", lambda b: zstandard.ZstdCompressor().compress(b)),
    ("t.jsonl.gz", gzip.compress),
])
def test_truncated_compressed_file_keeps_what_was_read_and_fails_the_file(tmp_path, shared_data, name, compress):
    lines = (shared_data / "text" / "tinyshakespeare.txt").read_text().split("\n\n")
    blob = compress(jsonl_bytes([{"text": t} for t in lines]))
    path = tmp_path / name
    path.write_bytes(blob[: len(blob) // 2])
    src = source(tmp_path, path)
    got = []
    with pytest.raises(SourceError, match=f"{name}: damaged after line"):
        for item in src.read(path):
            got.append(item)
    assert 0 < len(got) < len(lines)
    assert all(d.text == lines[i] for i, d in enumerate(got))


def test_invalid_utf8_text_file_is_dropped(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"caf\xe9 latin-1")
    out = read_all(source(tmp_path, path), path)
    assert isinstance(out[0], Dropped) and out[0].reason == "invalid_utf8"


def test_missing_paths_and_empty_globs_fail_before_work(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.mine\.paths\[0\]: no such file or folder"):
        source(tmp_path, tmp_path / "nope").check_inputs()
    with pytest.raises(ConfigError, match=r"sources\.mine\.paths\[0\]: the pattern matches no file"):
        source(tmp_path, str(tmp_path / "*.jsonl")).check_inputs()


def test_globs_are_sorted_and_unsupported_files_skipped(tmp_path):
    for name in ("b.txt", "a.txt", "c.png"):
        (tmp_path / "d" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "d" / name).write_bytes(b"x")
    src = source(tmp_path, str(tmp_path / "d" / "*"))
    assert [p.name for p in src.inputs()] == ["a.txt", "b.txt"]


def test_unknown_option_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.mine\.options\.bogus: unknown option for kind 'files'"):
        source(tmp_path, tmp_path, bogus=1)


def test_unknown_kind_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"sources\.x\.kind: unknown source kind 'nope'"):
        make_source(SourceConfig(name="x", kind="nope"), tmp_path)


def test_file_name_not_utf8_is_read_with_escaped_ids(tmp_path):
    """Issue 11, defect 1: the bad bytes are percent-escaped, deterministically."""
    import os

    from pile.docs_io import DocsPartWriter
    from pile.executor import Unit
    from pile.phases.work import read_source_unit
    from pile.stats import UnitStats

    (tmp_path / "good.jsonl").write_bytes(jsonl_bytes(RECORDS))
    bad = tmp_path / os.fsdecode(b"caf\xe9-\xff.jsonl")
    bad.write_bytes(jsonl_bytes(RECORDS))
    cut = tmp_path / os.fsdecode(b"cut\xe9.jsonl.gz")
    packed = gzip.compress(jsonl_bytes(RECORDS * 50))
    cut.write_bytes(packed[: len(packed) // 2])
    src = source(tmp_path, tmp_path)
    stats = UnitStats("mine")
    docs = [d for batch in read_source_unit(src, Unit("mine", 0, tuple(str(p) for p in src.inputs())), stats, 8)
            for d in batch]
    ids = [d.id for d in docs]
    assert "mine/caf%E9-%FF.jsonl:1" in ids and "mine/caf%E9-%FF.jsonl:2" in ids
    assert "mine/good.jsonl:1" in ids and "mine/good.jsonl:2" in ids
    [error] = stats.files_failed
    assert error["file"] == "cut%E9.jsonl.gz" and "cut%E9.jsonl.gz" in error["reason"]
    json.dumps(error, ensure_ascii=False).encode("utf-8")  # stats.json can hold it
    writer = DocsPartWriter(tmp_path / "out" / "mine", "000000", docs_per_file=100)
    for doc in docs:
        writer.write(doc)  # the document writer encodes every id strictly
    assert sum(n for _name, _size, _sha, n in writer.close()) == len(docs)


def test_lm_dataformat_members_escaping_the_archive_are_refused(tmp_path):
    """Issue 11, defect 5: the same member rules as the native kinds."""
    import io
    import tarfile

    path = tmp_path / "docs.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name in ("ok.txt", "../../etc/evil.txt"):
            info = tarfile.TarInfo(name)
            info.size = 5
            tf.addfile(info, io.BytesIO(b"hello"))
    got = []
    with pytest.raises(SourceError, match=r"member '\.\./\.\./etc/evil\.txt' has a '\.\.' component; refused"):
        for item in source(tmp_path, path).read(path):
            got.append(item)
    assert [d.text for d in got] == ["hello"]


def test_huge_jsonl_line_is_dropped_while_streaming(tmp_path):
    """Issue 11, defect 3: a line over max_record_bytes is skipped, with its size."""
    big = json.dumps({"text": "x" * (3 << 20)}).encode() + b"\n"
    path = tmp_path / "a.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl_bytes(RECORDS[:1]) + big + jsonl_bytes(RECORDS[1:])))
    cfg = SourceConfig(name="mine", kind="files", paths=(str(path),), max_record_bytes=1 << 20)
    items = list(make_source(cfg, tmp_path / "raw").read(path))
    assert [(i.id if isinstance(i, Document) else (i.doc.id, i.reason)) for i in items] == [
        "mine/a.jsonl.gz:1", ("mine/a.jsonl.gz:2", "too_large"), "mine/a.jsonl.gz:3"]
    assert items[1].doc.meta["record_bytes"] == len(big)
