"""Token count table: arithmetic, the mixed view, every output format and the bar chart."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

from pile.tokenize import CountRow, CountsTable, SourceCounter


@pytest.fixture
def table() -> CountsTable:
    a = SourceCounter("wiki", epochs=3.0)
    a.add_texts(["one two three", "Café  naïve"])
    a.add_tokens("gpt2", [np.array([5, 6, 7, 0]), np.array([8, 9, 0])])
    a.add_tokens("bpe1k", [np.array([5, 6, 7, 8, 0]), np.array([8, 9, 1, 2, 0])])
    b = SourceCounter("code", epochs=1.0)
    b.add_texts(["def f():\n    return 1\n"])
    b.add_tokens("gpt2", [np.array([1, 2, 3, 4, 5, 6, 0])])
    b.add_tokens("bpe1k", [np.array([1, 2, 3, 4, 5, 6, 7, 8, 0])])
    return CountsTable.from_counters([a, b])


def test_arithmetic(table):
    wiki = next(r for r in table.rows if (r.source, r.tokenizer) == ("wiki", "gpt2"))
    assert (wiki.documents, wiki.bytes, wiki.words, wiki.tokens) == (2, 13 + 13, 5, 5)
    assert wiki.bytes_per_token == pytest.approx(26 / 5)
    assert wiki.tokens_per_word == pytest.approx(1.0)
    assert wiki.mixed_tokens == 15 and wiki.shard_tokens == 7
    # mixed view: wiki 5 x 3 = 15, code 6 x 1 = 6
    assert table.mixed_share(wiki) == pytest.approx(15 / 21)
    total = next(t for t in table.totals() if t.tokenizer == "gpt2")
    assert (total.source, total.documents, total.tokens) == ("TOTAL", 3, 11)
    assert total.epochs == pytest.approx(21 / 11, abs=1e-4)


def test_merge_of_partial_counts():
    a, b = SourceCounter("s"), SourceCounter("s")
    a.add_texts(["x y"])
    a.add_tokens("t", [np.array([1, 0])])
    b.add_texts(["z"])
    b.add_tokens("t", [np.array([1, 2, 0])])
    a.merge(b)
    assert (a.documents, a.words, a.tokens) == (2, 3, {"t": 3})


def test_formats(table):
    rows = list(csv.DictReader(io.StringIO(table.format("csv"))))
    assert len(rows) == 4 and rows[0]["source"] == "code" and rows[0]["tokenizer"] == "bpe1k"
    assert set(rows[0]) >= {"documents", "bytes", "tokens", "bytes_per_token", "tokens_per_word",
                            "epochs", "mixed_tokens", "mixed_share"}
    data = json.loads(table.format("json"))
    assert data["version"] == 1 and len(data["rows"]) == 4 and len(data["totals"]) == 2
    again = CountsTable.from_json(table.to_json())
    assert [r.to_dict() for r in again.rows] == [r.to_dict() for r in table.rows]
    md = table.format("markdown")
    assert md.startswith("## Token counts") and "| wiki | gpt2 |" in md and "counts.png" not in md  # plotted once, in the report
    text = table.format("table")
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["source", "tokenizer"] and set(lines[1]) <= {"-", " "}
    assert len(lines) == 2 + 4 + 2 and any(line.startswith("TOTAL") for line in lines)
    with pytest.raises(ValueError, match="--format: expected one of table, csv, json, markdown"):
        table.format("xml")


def test_write_and_load(table, tmp_path):
    paths = table.write(tmp_path / "tokens")
    assert sorted(p.name for p in paths.values()) == ["counts.csv", "counts.json", "counts.png"]
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    loaded = CountsTable.load(tmp_path / "tokens")
    assert loaded.to_csv() == table.to_csv()
    assert not list((tmp_path / "tokens").glob("*.tmp*"))


def test_bad_json_version():
    with pytest.raises(ValueError, match="version 9, expected 1"):
        CountsTable.from_json(json.dumps({"version": 9, "rows": []}))


def test_zero_division_safe():
    row = CountRow("empty", "t")
    assert row.bytes_per_token == 0.0 and row.tokens_per_word == 0.0
    assert CountsTable([row]).mixed_share(row) == 0.0
