"""The record type and the stage contracts, without Ray."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

from pile.document import Document, make_id
from pile.stage import DropIds, Filter, Mapper, Stage, run_chain

REPO = Path(__file__).resolve().parents[1]


class Upper(Mapper):
    name = "upper_v1"

    def map(self, doc):
        return Document(doc.id, doc.source, doc.text.upper(), doc.meta)


class Short(Filter):
    name = "short_v1"
    transient = ("model",)

    def setup(self):
        self.model = object()  # stands for heavy state: must not be pickled
        self.calls = getattr(self, "calls", 0) + 1

    def drop_reason(self, doc):
        self.count(doc.source, "seen")
        return "too_short" if len(doc.text) < 5 else None


def docs(*texts):
    return [Document(make_id("s", i), "s", t, {"pile_set_name": "S"}) for i, t in enumerate(texts)]


def test_pile_json_has_text_and_meta_with_id_and_no_private_keys():
    doc = Document("s/1", "s", "héllo", {"pile_set_name": "S", "language": "en", "_pii_spans": [[1]]})
    rec = json.loads(doc.to_pile_json())
    assert rec == {"text": "héllo", "meta": {"pile_set_name": "S", "id": "s/1", "language": "en",
                                             "pii": {}}}
    assert list(rec) == ["text", "meta"]
    assert doc.nbytes == len("héllo".encode())


def test_row_round_trip():
    doc = Document("s/1", "s", "t", {"pile_set_name": "S", "n": [1, 2]})
    assert Document.from_row(doc.to_row()) == doc


def test_chain_keeps_order_and_names_every_drop():
    kept, dropped = run_chain([Short(), Upper()], docs("hello world", "hi", "again here"))
    assert [d.text for d in kept] == ["HELLO WORLD", "AGAIN HERE"]
    assert [(stage, d.doc.id, d.reason) for stage, d in dropped] == [("short_v1", "s/1", "too_short")]


def test_setup_runs_once_and_counters_drain():
    stage = Short()
    stage.process_batch(docs("hello world"))
    stage.process_batch(docs("hello again"))
    assert stage.calls == 1
    assert stage.drain_counters() == {("s", "seen"): 2}
    assert stage.drain_counters() == {}


def test_pickle_drops_transient_state_and_sets_up_again():
    stage = Short()
    stage.ensure_setup()
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.model is None and clone._ready is False
    kept, dropped = clone.process_batch(docs("hello world", "x"))
    assert len(kept) == 1 and len(dropped) == 1 and clone.model is not None


def test_drop_ids():
    d = docs("aaaaaa", "bbbbbb")
    kept, dropped = DropIds({"s/1": "near_duplicate"}, "dedup").process_batch(d)
    assert [x.id for x in kept] == ["s/0"] and dropped[0].reason == "near_duplicate"


def test_base_stage_is_abstract():
    import pytest

    with pytest.raises(NotImplementedError):
        Stage().process_batch([])


def test_import_tokenize_from_repo_root_is_the_standard_library():
    """pile/tokenize must never shadow the stdlib `tokenize` (linecache, tracebacks use it)."""
    code = ("import tokenize, linecache, inspect, pile.tokenize; "
            "print(tokenize.__file__); print(pile.tokenize.__file__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    std, ours = out.stdout.split()
    assert Path(std).parent != REPO / "pile" and "site-packages" not in std and std.endswith("tokenize.py")
    assert Path(ours).parent == REPO / "pile" / "tokenize"
    assert not (REPO / "tokenize").exists() and not (REPO / "tokenize.py").exists()


def test_pile_json_escapes_the_line_breaks_json_leaves_raw_and_nothing_else():
    text = "one\u2028two\u2029three\x85four\u00e9\u6771\U0001f600 \"q\" \\ \t\x0b\x1c end"
    doc = Document("s/1", "s", text, {"pile_set_name": "S", "pii": {"EMAIL_ADDRESS": 1}})
    line = doc.to_pile_json()
    assert len(line.splitlines()) == 1 and json.loads(line)["text"] == text
    plain = json.dumps({"text": text, "meta": {"pile_set_name": "S", "id": "s/1",
                                              "pii": {"EMAIL_ADDRESS": 1}}}, ensure_ascii=False)
    # the same bytes as before, but for the three escapes
    assert line == (plain.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
                    .replace("\x85", "\\u0085"))
    assert "\u00e9\u6771\U0001f600" in line  # other non-ASCII stays UTF-8
