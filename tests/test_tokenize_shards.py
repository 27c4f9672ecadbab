"""The MMapIndexedDataset writer: byte layout, naming rule, dtype rule, atomicity, validation."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from pile.tokenize import ShardReader, ShardWriter, dtype_for, validate_shards
from pile.tokenize.shards import find_shards

EOD = 0
VOCAB = 1000


def independent_read(idx_path: Path) -> tuple[int, int, list[np.ndarray], np.ndarray]:
    """A reader written from DESIGN.md's layout alone (struct + np.frombuffer)."""
    raw = idx_path.read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, = struct.unpack("<Q", raw[9:17])
    code, = struct.unpack("<B", raw[17:18])
    n, d = struct.unpack("<QQ", raw[18:34])
    off = 34
    sizes = np.frombuffer(raw, dtype=np.int32, count=n, offset=off)
    pointers = np.frombuffer(raw, dtype=np.int64, count=n, offset=off + 4 * n)
    doc_idx = np.frombuffer(raw, dtype=np.int64, count=d, offset=off + 12 * n)
    assert len(raw) == off + 12 * n + 8 * d
    dtype = {8: np.uint16, 4: np.int32}[code]
    data = idx_path.with_suffix(".bin").read_bytes()
    docs = [np.frombuffer(data, dtype=dtype, count=int(s), offset=int(p))
            for s, p in zip(sizes, pointers)]
    return version, code, docs, doc_idx


def make_docs(rng: np.random.Generator, n: int, hi: int = VOCAB) -> list[np.ndarray]:
    docs = []
    for _ in range(n):
        ids = rng.integers(1, hi, size=int(rng.integers(0, 40)))
        docs.append(np.append(ids, EOD))
    return docs


def write(prefix: Path, docs: list[np.ndarray], dtype=np.uint16, shard_tokens=10**9) -> list[Path]:
    with ShardWriter(prefix, dtype, shard_tokens) as w:
        for d in docs:
            w.add(d)
    return find_shards(prefix)


def test_layout_matches_independent_reader(tmp_path):
    docs = make_docs(np.random.default_rng(0), 50)
    (idx,) = write(tmp_path / "src", docs)
    assert idx.name == "src.idx" and (tmp_path / "src.bin").is_file()
    version, code, got, doc_idx = independent_read(idx)
    assert version == 1 and code == 8
    assert doc_idx.tolist() == list(range(51))
    assert all(np.array_equal(a, b) for a, b in zip(got, docs))
    reader = ShardReader(tmp_path / "src")
    assert len(reader) == 50 and reader.num_tokens == sum(map(len, docs))
    assert np.array_equal(reader[7], docs[7]) and np.array_equal(reader[-1], docs[-1])
    assert not list(tmp_path.glob("*.tmp"))


def test_header_bytes_exact(tmp_path):
    write(tmp_path / "x", [np.array([5, 6, 0]), np.array([0])], dtype=np.int32)
    raw = (tmp_path / "x.idx").read_bytes()
    assert raw == (b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, 4, 2, 3)
                   + struct.pack("<2i", 3, 1) + struct.pack("<2q", 0, 12)
                   + struct.pack("<3q", 0, 1, 2))
    assert (tmp_path / "x.bin").read_bytes() == struct.pack("<4i", 5, 6, 0, 0)


@pytest.mark.parametrize("vocab_size,dtype,code", [
    (50257, np.uint16, 8), (65499, np.uint16, 8), (65500, np.int32, 4), (100277, np.int32, 4),
])
def test_dtype_rule_at_65500(tmp_path, vocab_size, dtype, code):
    assert dtype_for(vocab_size) == np.dtype(dtype)
    top = np.array([vocab_size - 1, EOD])
    (idx,) = write(tmp_path / "t", [top], dtype=dtype_for(vocab_size))
    _v, got_code, docs, _d = independent_read(idx)
    assert got_code == code and int(docs[0][0]) == vocab_size - 1
    assert validate_shards(tmp_path / "t", vocab_size, EOD) == []


@pytest.mark.parametrize("shard_tokens,expected_shards", [(10**9, 1), (100, 3), (95, 4), (1, 30)])
def test_sharding_rule(tmp_path, shard_tokens, expected_shards):
    rng = np.random.default_rng(1)
    docs = [np.append(rng.integers(1, 50, size=9), EOD) for _ in range(30)]  # 10 tokens each
    paths = write(tmp_path / "s", docs, shard_tokens=shard_tokens)
    assert len(paths) == expected_shards
    names = [p.name for p in paths]
    assert names == (["s.idx"] if expected_shards == 1
                     else [f"s_{i:05d}.idx" for i in range(expected_shards)])
    reader = ShardReader(tmp_path / "s")
    assert len(reader) == 30
    assert all(np.array_equal(reader[k], docs[k]) for k in range(30))
    for idx in paths:  # no shard exceeds the limit unless it holds a single document
        _v, _c, got, _d = independent_read(idx)
        assert sum(map(len, got)) <= shard_tokens or len(got) == 1


def test_rebuild_replaces_old_shards(tmp_path):
    docs = [np.array([1, 2, EOD])] * 10
    assert len(write(tmp_path / "r", docs, shard_tokens=6)) == 5
    paths = write(tmp_path / "r", docs[:2])
    assert [p.name for p in paths] == ["r.idx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.bin", "r.idx"]
    write(tmp_path / "r", docs, shard_tokens=6)
    assert sorted(p.name for p in tmp_path.glob("*.idx")) == [f"r_{i:05d}.idx" for i in range(5)]


def test_abort_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with ShardWriter(tmp_path / "a", np.uint16, 4) as w:
            w.add(np.array([1, 2, 3, EOD]))
            w.add(np.array([1, EOD]))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_empty_source_and_bad_input(tmp_path):
    (idx,) = write(tmp_path / "e", [])
    assert ShardReader(tmp_path / "e").num_tokens == 0
    assert validate_shards(tmp_path / "e", VOCAB, EOD, expected_docs=0, expected_tokens=0) == []
    w = ShardWriter(tmp_path / "b", np.uint16, 10)
    with pytest.raises(ValueError, match="empty sequence"):
        w.add(np.array([], dtype=np.uint16))
    with pytest.raises(ValueError, match="shard_tokens"):
        ShardWriter(tmp_path / "c", np.uint16, 0)
    with pytest.raises(ValueError, match="no MMapIndexedDataset code"):
        ShardWriter(tmp_path / "c", np.uint32, 10)
    with pytest.raises(FileNotFoundError, match="no shards"):
        ShardReader(tmp_path / "missing")


# --- validation: every kind of damage is caught and named --------------------------------

def _good(tmp_path: Path) -> Path:
    docs = make_docs(np.random.default_rng(2), 20)
    write(tmp_path / "v", docs)
    return tmp_path / "v"


def _patch(path: Path, offset: int, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    raw[offset:offset + len(data)] = data
    path.write_bytes(bytes(raw))


def _n(prefix: Path) -> int:
    return struct.unpack("<Q", prefix.with_suffix(".idx").read_bytes()[18:26])[0]


DAMAGES = {
    "bad_magic": lambda p: _patch(p.with_suffix(".idx"), 0, b"XXIDIDX"),
    "bad_version": lambda p: _patch(p.with_suffix(".idx"), 9, struct.pack("<Q", 2)),
    "dtype_mismatch": lambda p: _patch(p.with_suffix(".idx"), 17, struct.pack("<B", 4)),
    "truncated_index": lambda p: p.with_suffix(".idx").write_bytes(
        p.with_suffix(".idx").read_bytes()[:-8]),
    "pointers_not_monotonic": lambda p: _patch(p.with_suffix(".idx"), 34 + 4 * _n(p) + 8 * 3,
                                               struct.pack("<q", 2)),
    "bin_size_mismatch": lambda p: p.with_suffix(".bin").write_bytes(
        p.with_suffix(".bin").read_bytes() + b"\x01\x00"),
    "doc_index": lambda p: _patch(p.with_suffix(".idx"), 34 + 12 * _n(p) + 8 * _n(p),
                                  struct.pack("<q", 7)),
    "missing_eod": lambda p: _patch(p.with_suffix(".bin"), len(p.with_suffix(".bin").read_bytes()) - 2,
                                    struct.pack("<H", 3)),
    "id_out_of_range": lambda p: _patch(p.with_suffix(".bin"), 0, struct.pack("<H", VOCAB + 5)),
    "bad_sizes": lambda p: _patch(p.with_suffix(".idx"), 34, struct.pack("<i", 0)),
    "missing_bin": lambda p: p.with_suffix(".bin").unlink(),
}


def test_validate_clean_shard(tmp_path):
    prefix = _good(tmp_path)
    reader = ShardReader(prefix)
    assert validate_shards(prefix, VOCAB, EOD, expected_docs=20,
                           expected_tokens=reader.num_tokens) == []
    assert validate_shards(tmp_path, VOCAB, EOD) == []  # a whole directory


@pytest.mark.parametrize("kind", sorted(DAMAGES))
def test_validate_names_each_damage(tmp_path, kind):
    prefix = _good(tmp_path)
    DAMAGES[kind](prefix)
    problems = validate_shards(prefix, VOCAB, EOD)
    assert problems, kind
    assert any(f": {kind}:" in p for p in problems), problems
    assert all(p.startswith("v.") for p in problems)  # the damaged file is named


@pytest.mark.parametrize("docs,tokens,kind", [(21, None, "doc_count_mismatch"),
                                              (None, 1, "token_count_mismatch")])
def test_validate_counts_against_manifest(tmp_path, docs, tokens, kind):
    prefix = _good(tmp_path)
    problems = validate_shards(prefix, VOCAB, EOD, expected_docs=docs, expected_tokens=tokens)
    assert len(problems) == 1 and f": {kind}:" in problems[0]


def test_validate_orphans_and_missing(tmp_path):
    (tmp_path / "orphan.bin").write_bytes(b"\x00\x00")
    assert any(": missing_idx:" in p for p in validate_shards(tmp_path, VOCAB, EOD))
    assert any(": missing_idx:" in p for p in validate_shards(tmp_path / "nothing", VOCAB, EOD))
