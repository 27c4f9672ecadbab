"""The written ``docs/<source>/*.jsonl.zst``: one line per document for every reader.

Real Stack Exchange post bodies (one holds a raw U+2028), some with U+2029 and U+0085
planted at test time, written by `DocsPartWriter` and read back by splitting lines as
`str.splitlines()` does and by HF ``datasets``.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import zstandard

from pile.docs_io import DocsPartWriter
from pile.document import Document
from pile.pii.scrub import PiiScrubber
from pile.config import PiiConfig


def _posts(shared_data) -> list[str]:
    path = shared_data / "samples" / "stackexchange" / "cstheory.meta.stackexchange.com" / "Posts.xml"
    bodies = [row.get("Body") for row in ET.parse(path).getroot().iter("row") if row.get("Body")]
    assert any("\u2028" in b for b in bodies)  # the real one
    return [b + ("\u2029tail\x85end" if i % 7 == 0 else "") for i, b in enumerate(bodies[:400])]


def _write(tmp_path, shared_data):
    scrub = PiiScrubber(PiiConfig())
    docs = [scrub.map(Document(f"se/{i}", "se", t, {"pile_set_name": "StackExchange"}))
            for i, t in enumerate(_posts(shared_data))]
    assert 0 < sum("pii" in d.meta for d in docs) < len(docs)  # found in some, not all
    folder = tmp_path / "docs" / "se"
    writer = DocsPartWriter(folder, "000000", docs_per_file=150)
    for d in docs:
        writer.write(d)
    return docs, [folder / name for name, _size, _sha, _n in writer.close()]


def test_splitlines_sees_one_line_per_document_and_every_meta_has_the_same_keys(tmp_path, shared_data):
    docs, files = _write(tmp_path, shared_data)
    records = []
    for path in files:
        text = zstandard.ZstdDecompressor().stream_reader(path.open("rb")).read().decode("utf-8")
        records += [json.loads(line) for line in text.splitlines()]
    assert [r["text"] for r in records] == [d.text for d in docs]
    assert {tuple(r["meta"]) for r in records} == {("pile_set_name", "id", "pii")}
    assert sum(bool(r["meta"]["pii"]) for r in records) == sum("pii" in d.meta for d in docs)


def test_hf_datasets_reads_every_file_as_one_schema(tmp_path, shared_data):
    import datasets

    docs, files = _write(tmp_path, shared_data)
    assert len(files) == 3
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("json", data_files=[str(p) for p in files], split="train",
                               cache_dir=str(tmp_path / "hf"))
    assert ds.num_rows == len(docs)
    assert ds["text"] == [d.text for d in docs]
    assert [m["id"] for m in ds["meta"]] == [d.id for d in docs]
