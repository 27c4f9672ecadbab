"""Drop tables: dedup's decisions per source as the final and held-out workers read them
(digests of the removed ids, memory-mapped), against the id -> reason mapping they stand for."""

from __future__ import annotations

import random

import numpy as np
import pytest

from pile.dedup.droptable import EXACT, NEAR, REASONS, DropTable, id_digest, open_drops, write_drop_table
from pile.errors import PileError


def _ids(n: int) -> list[str]:
    # ids shaped as the build makes them (source file and position), some not ASCII, one
    # from a file name that is not valid UTF-8 (a surrogate escape)
    out = [f"wikipedia/enwiki-20201001-pages-articles{i % 7}.xml.bz2#{i}" for i in range(n)]
    out[3] = "books/Tolstoï — Война и мир.txt#0"
    out[4] = b"system_docs/caf\xe9.txt".decode("utf-8", "surrogateescape")
    return out


def test_table_answers_as_the_mapping_does(tmp_path):
    ids = _ids(40_000)
    rng = random.Random(7)
    removed = {i: rng.choice(REASONS) for i in rng.sample(ids, 15_000)}
    removed[ids[3]] = NEAR
    removed[ids[4]] = EXACT
    path = tmp_path / "wiki.drops.npy"
    assert write_drop_table(path, removed.items()) == len(removed)
    table = DropTable(path)
    assert len(table) == len(removed)
    for doc_id in ids:
        assert table.get(doc_id) == removed.get(doc_id)
        assert (doc_id in table) == (doc_id in removed)
    assert table.get("never/seen#1", "kept") == "kept"
    # the same decisions in any order give the same bytes (the file is hashed into the build)
    again = tmp_path / "again.npy"
    write_drop_table(again, sorted(removed.items(), reverse=True))
    assert again.read_bytes() == path.read_bytes()


def test_equal_high_halves_are_searched_by_their_low_half(tmp_path):
    # digests that share their first 64 bits (the binary search lands on the first of them)
    table = np.array([[5, 5, 5, 9], [1, 3, 7, 2], [0, 1, 0, 1]], dtype=np.uint64)
    path = tmp_path / "crafted.npy"
    np.save(path, table)
    t = DropTable(path)
    assert [t.find(5, 1), t.find(5, 3), t.find(5, 7), t.find(9, 2)] == [0, 1, 0, 1]
    assert [t.find(5, 4), t.find(5, 8), t.find(6, 1), t.find(1, 1), t.find(10, 2)] == [-1] * 5


def test_empty_and_missing_tables(tmp_path):
    path = tmp_path / "none.npy"
    assert write_drop_table(path, []) == 0
    assert DropTable(path).get("a#1") is None and len(DropTable(path)) == 0
    assert open_drops(None) == {} and open_drops(tmp_path / "missing.npy") == {}
    assert isinstance(open_drops(path), DropTable)


def test_bad_tables_and_decisions_are_refused(tmp_path):
    with pytest.raises(PileError, match="unknown reason 'spam'"):
        write_drop_table(tmp_path / "a.npy", [("a#1", "spam")])
    with pytest.raises(PileError, match="decided twice"):
        write_drop_table(tmp_path / "b.npy", [("a#1", EXACT), ("a#1", NEAR)])
    assert not (tmp_path / "a.npy").exists() and not (tmp_path / "b.npy").exists()
    (tmp_path / "text.npy").write_text('{"a#1": "exact_duplicate"}')  # the old JSON form
    with pytest.raises(PileError, match="cannot be read"):
        DropTable(tmp_path / "text.npy")
    np.save(tmp_path / "shape.npy", np.zeros((2, 4), dtype=np.uint64))
    with pytest.raises(PileError, match=r"expected a \(3, n\) uint64"):
        DropTable(tmp_path / "shape.npy")
    np.save(tmp_path / "dtype.npy", np.zeros((3, 4), dtype=np.int32))
    with pytest.raises(PileError, match=r"expected a \(3, n\) uint64"):
        DropTable(tmp_path / "dtype.npy")
    np.save(tmp_path / "order.npy", np.asfortranarray(np.zeros((3, 4), dtype=np.uint64)))
    with pytest.raises(PileError, match="not in C order"):
        DropTable(tmp_path / "order.npy")
    hi, lo = id_digest("a#1")
    np.save(tmp_path / "code.npy", np.array([[hi], [lo], [9]], dtype=np.uint64))
    with pytest.raises(PileError, match="unknown reason code 9"):
        DropTable(tmp_path / "code.npy").get("a#1")
