"""Stack Exchange in bounded memory: a large Posts.xml generated from the real sample's rows
(cstheory.meta), laid out as the worst case for pairing -- every question first, every
answer after them, as Stack Overflow's answers arrive years of ids later -- is paired in
memory, then with a small ``spill_bytes`` on disk. The documents are the same, and the
memory the reader allocates (counted by tracemalloc: bytes, not time) stays bounded."""

from __future__ import annotations

import hashlib
import html
import tracemalloc
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.sources import make_source
from pile.sources.stackexchange import PendingQuestions, Question

POSTS = "samples/stackexchange/cstheory.meta.stackexchange.com/Posts.xml"
COPIES = 4   # the real questions, each copied this many times under new ids ...
REPEAT = 5   # ... with its body written out this many times (big posts, few rows)


def attr(value: str) -> str:
    return html.escape(value, quote=True).replace("\n", "&#xA;")


@pytest.fixture(scope="module")
def big_dump(shared_data: Path, tmp_path_factory) -> tuple[Path, int]:
    rows = [r.attrib for r in ET.parse(shared_data / POSTS).getroot()]
    questions = [r for r in rows if r.get("PostTypeId") == "1" and r.get("Body")]
    answers = [r for r in rows if r.get("PostTypeId") == "2" and r.get("Body")]
    out = ['<?xml version="1.0" encoding="utf-8"?>\n<posts>\n']
    later = []
    text_bytes = 0
    for copy in range(COPIES):
        for n, q in enumerate(questions):
            qid = (copy * len(questions) + n) * 10 + 1
            mine = [answers[(qid + k) % len(answers)] for k in range(2)]
            out.append(f'  <row Id="{qid}" PostTypeId="1" Title="{attr(q.get("Title", ""))}" '
                       f'Body="{attr(q["Body"] * REPEAT)}" AnswerCount="2" />\n')
            text_bytes += len(q["Body"]) * REPEAT
            for k, a in enumerate(mine):
                later.append(f'  <row Id="{10_000_000 + qid * 3 + k}" PostTypeId="2" ParentId="{qid}" '
                             f'Score="{3 + k}" Body="{attr(a["Body"])}" />\n')
    path = tmp_path_factory.mktemp("se") / "Posts.xml"
    path.write_text("".join(out + later + ["</posts>\n"]), encoding="utf-8")
    return path, text_bytes


def read_measured(path: Path, spill_bytes: int) -> tuple[list[tuple[str, str]], int]:
    src = make_source(SourceConfig(name="se", kind="stackexchange",
                                   options={"spill_bytes": spill_bytes}), path.parent)
    tracemalloc.start()
    try:
        out = []
        for item in src.read_posts(path, "cstheory.meta.stackexchange.com", str(path)):
            # a digest, not the text: what the test keeps must not swamp the reader's memory
            out.append((item.id, hashlib.sha1(item.text.encode()).hexdigest())
                       if isinstance(item, Document) else (item.doc.id, item.reason))
            del item
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return out, peak


def test_spilled_pairing_gives_the_same_documents_in_bounded_memory(big_dump) -> None:
    path, pending_text = big_dump
    assert pending_text > 4_000_000  # every question waits for answers at once
    in_memory, peak_memory = read_measured(path, 1 << 40)
    spilled, peak_spilled = read_measured(path, 256 * 1024)
    assert spilled == in_memory and len(spilled) > 1000
    assert peak_memory > pending_text           # held every pending question's text
    print(f"pending text {pending_text}, peak in memory {peak_memory}, spilled {peak_spilled}")
    assert peak_spilled < pending_text / 4      # bounded by spill_bytes, not by the dump
    assert peak_spilled < peak_memory / 4


def test_pending_questions_never_hold_more_than_the_bound() -> None:
    store = PendingQuestions(10_000)
    try:
        for i in range(100):
            store.add_question(Question(i, f"title {i}", "body " * 100, expected=2))
            assert store.held <= 10_000
        assert store.spilled and store.peak_bytes <= 10_000
        assert store.add_answer(5, 7, 1005, "an answer") == (True, None)
        found, done = store.add_answer(5, 9, 1006, None)  # below the score: counted, not kept
        assert found and done.post_id == 5 and done.answers == [(7, 1005, "an answer")]
        assert store.add_answer(5, 1, 1007, "late") == (False, None)  # no longer pending
        assert [q.post_id for q in store.remaining()][:3] == [0, 1, 2]
    finally:
        store.close()


def test_spill_bytes_is_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="options.spill_bytes"):
        make_source(SourceConfig(name="se", kind="stackexchange", options={"spill_bytes": -1}),
                    tmp_path)
