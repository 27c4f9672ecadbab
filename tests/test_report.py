"""The report's samples and pages: seeded samples that merge exactly across units, the
rule's numbers of a drop, token boundaries, the page's size limit, and what the sampled
build (tests/conftest.py) wrote under samples/, report.md and plots/."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from pile.config import QualityConfig
from pile.document import Document
from pile.quality import GopherQualityFilter, LengthFilter, gopher_drop_reason
from pile.report.boundaries import passage, split_passage
from pile.report.page import PageData, SourceView, diff_html, fit_page, render_page
from pile.report.table import Table
from pile.samples import (SampleSettings, UnitSampler, cut_text, merge_parts, rule_numbers, sample_rank,
                          scrubbed_spans)
from pile.tokenize.vocab import load_vocabulary


def docs(n: int) -> list[Document]:
    rng = random.Random(7)
    return [Document(f"src/{i}", "src", " ".join(rng.choice(["alpha", "beta", "gamma", "the"]) for _ in range(
        rng.randint(5, 400))), {"pile_set_name": "Src"}) for i in range(n)]


def sample_of(partition: list[list[Document]], tmp: Path, settings: SampleSettings) -> dict:
    """Each list of `partition` sampled as one unit (keeps and drops), then merged."""
    folder = tmp / f"parts{len(partition)}"
    folder.mkdir()
    stage = LengthFilter(min_chars=200)
    for i, unit in enumerate(partition):
        sampler = UnitSampler(settings)
        for doc in unit:
            if stage.drop_reason(doc):
                sampler.dropped(stage, doc, "too_short")
            else:
                sampler.kept(doc)
        sampler.write(folder / f"{i:06d}.json")
    return merge_parts([folder], settings.k).groups


def test_a_sample_is_the_same_however_the_documents_are_split_into_units(tmp_path):
    corpus = docs(300)
    settings = SampleSettings(k=4, seed=99, chars=120)
    whole = sample_of([corpus], tmp_path, settings)
    cuts = sorted(random.Random(1).sample(range(1, 300), 9))
    split = sample_of([corpus[a:b] for a, b in zip([0, *cuts], [*cuts, 300])], tmp_path, settings)
    assert whole == split
    assert set(whole) == {"kept", "length_v1:too_short"}
    # the k smallest ranks of each group over the whole corpus, texts cut on the way
    kept = sorted((d for d in corpus if len(d.text) >= 200), key=lambda d: sample_rank(99, "kept", d.id))[:4]
    assert [r["id"] for r in whole["kept"]] == [d.id for d in kept]
    assert all(len(r["text"]) <= 120 and r["cut"] and r["chars"] > 120 for r in whole["kept"])
    assert all(r["numbers"] == {"chars": r["chars"], "min_chars": 200, "max_chars": None}
               for r in whole["length_v1:too_short"])


def test_another_seed_picks_other_documents(tmp_path):
    corpus = docs(200)
    a = sample_of([corpus], tmp_path, SampleSettings(4, 1, 500))
    (tmp_path / "b").mkdir()
    b = sample_of([corpus], tmp_path / "b", SampleSettings(4, 2, 500))
    assert [r["id"] for r in a["kept"]] != [r["id"] for r in b["kept"]]


def test_a_record_the_reader_dropped_is_sampled_without_text(tmp_path):
    from pile.report.page import sample_html

    sampler = UnitSampler(SampleSettings(2, 1, 100))
    sampler.read_dropped(Document("s/big", "s", "", {"record_bytes": 99_000_000}), "too_large", 99_000_000)
    sampler.read_dropped(Document("s/bin", "s", ""), "not_utf8_text", 0)
    sampler.write(tmp_path / "000000.json")
    groups = merge_parts([tmp_path], 2).groups
    assert groups["read:too_large"][0]["numbers"] == {"record_bytes": 99_000_000}
    assert groups["read:not_utf8_text"][0]["numbers"] == {}  # the reader did not measure it
    assert "the reader dropped the record before decoding it" in sample_html(groups["read:too_large"][0], 100)


def test_cut_text_stops_at_a_space_and_replaces_lone_surrogates():
    text = "word " * 100
    cut, was_cut = cut_text(text, 102)
    assert was_cut and cut == ("word " * 20).rstrip(" ") and len(cut) <= 102
    assert cut_text("x" * 50, 10) == ("x" * 10, True)  # no space near the cut: a hard cut
    assert cut_text("caf\udce9", 10) == ("caf\ufffd", False)


@pytest.mark.parametrize("text,reason,expected", [
    ("word " * 10, "gopher_min_words", {"words": 10, "min_words": 50}),
    ("the and " + "# " * 40 + "word " * 60, "gopher_hash_ratio", {"hashes_per_word": round(40 / 62, 4),
                                                                   "max_symbol_word_ratio": 0.1}),
    ("plain words here " * 30, "gopher_stop_words", {"stop_words": 0, "min_stop_words": 2}),
])
def test_the_numbers_of_a_gopher_drop_are_what_the_rule_compared(text, reason, expected):
    cfg = QualityConfig()
    assert gopher_drop_reason(text, cfg) == reason
    doc = Document("s/1", "s", text)
    assert rule_numbers(GopherQualityFilter(cfg), doc, reason) == expected


def test_pii_spans_move_to_the_scrubbed_text():
    original = "mail a@b.co or 4929 8731 6640 2255 now"
    spans = [["EMAIL_ADDRESS", 5, 11], ["CREDIT_CARD", 15, 34]]
    scrubbed = "mail <EMAIL> or <CREDIT_CARD> now"
    lengths = {"EMAIL_ADDRESS": len("<EMAIL>"), "CREDIT_CARD": len("<CREDIT_CARD>")}
    placed = scrubbed_spans(spans, lambda entity, n: lengths[entity])
    assert [scrubbed[s:e] for _e, s, e in placed] == ["<EMAIL>", "<CREDIT_CARD>"]
    assert original[5:11] == "a@b.co"


@pytest.mark.parametrize("spec", [
    {"name": "neox", "path": "gpt-neox-20b/20B_tokenizer.json"},
    {"name": "cl100k", "tiktoken": "tiktoken/cl100k_base.tiktoken"},
    {"name": "mistral", "sentencepiece": "mistral/tokenizer.model.v1"},
])
def test_a_passage_is_split_where_each_vocabulary_puts_its_boundaries(spec, shared_data, tmp_path):
    from pile.config import TokenizerConfig

    key = next(k for k in spec if k != "name")
    vocab = load_vocabulary(TokenizerConfig(name=spec["name"], **{key: str(shared_data / "tokenizers" / spec[key])}),
                            tmp_path)
    text = "Naïve café owners don't like 🎉 emoji,\nor   spaces."
    split = split_passage(vocab, text)
    ids = vocab.encoder().encode_ids([text])[0]
    assert split.tokens == len(ids) and split.bytes == len(text.encode())
    assert sum(n for _p, n in split.pieces) == len(ids)
    if split.exact:
        assert "".join(p for p, _n in split.pieces) == text
        assert any(n > 1 for p, n in split.pieces if "🎉" in p) or vocab.kind == "sentencepiece"
    else:  # only a normalising decoder (SentencePiece's) falls back to one token per piece
        assert vocab.kind == "sentencepiece" and len(split.pieces) == len(ids)


def test_a_passage_ends_at_a_space():
    assert passage("one two three four", 12) == "one two"
    assert passage("short", 100) == "short"


def test_diff_marks_only_the_words_that_differ():
    left, right = diff_html("the cat sat on the mat", "the cat sat\non a mat today")
    assert left == "the cat sat on <del>the </del>mat"
    assert right == "the cat sat\non <ins>a </ins>mat <ins>today</ins>"  # a line break for a space is no change


def page_data(n_samples: int, chars: int) -> PageData:
    text = ("lorem ipsum dolor sit amet " * (chars // 27 + 1))[:chars]
    rec = {"id": "s/1", "text": text, "chars": 10 * chars, "meta": {}}
    view = SourceView("s", "S", 10, kept_samples=[dict(rec, id=f"s/{i}") for i in range(n_samples)],
                      drops={"length_v1:too_short": (5, [dict(rec, numbers={"chars": 3})] * n_samples)})
    return PageData("t", "summary", Table(["source"], [False], [[("s", "s")]], [("total", "")]), [], {},
                    [view], [], True, True, [], n_samples)


def test_the_page_cuts_texts_shorter_then_shows_fewer_until_it_fits():
    data = page_data(10, 5000)
    full = render_page(data, 5000, 10)
    assert len(full.encode()) > 100_000
    page, limit, shown = fit_page(data, 5000, 10, 100_000)
    assert len(page.encode()) <= 100_000 and limit < 5000 and shown == 10  # shorter texts were enough
    bare = len(render_page(data, 120, 0).encode())  # styles, script, table: ~5 kB
    page, limit, shown = fit_page(data, 5000, 10, bare + 2_000)
    assert len(page.encode()) <= bare + 2_000 and limit == 120 and 0 < shown < 10
    assert page.count('class="sample"') == 2 * shown


# -- the sampled build ------------------------------------------------------------------------


def records(out: Path, source: str) -> list[dict]:
    return [json.loads(x) for x in (out / "samples" / "sources" / f"{source}.jsonl").read_text().splitlines()]


def test_the_build_samples_every_drop_reason_and_no_pii_value(sampled_build):
    cfg, _result, planted = sampled_build
    out = cfg.out_dir
    stats = json.loads((out / "stats.json").read_text())
    for source, data in stats["sources"].items():
        recs = records(out, source)
        groups = {r["group"] for r in recs if r["kind"] == "dropped"}
        assert groups == set(data["summary"]["dropped"]), source  # every reason, and only those
        kept = [r for r in recs if r["kind"] == "kept"]
        assert len(kept) == min(cfg.report.samples, data["summary"]["documents_kept"])
        assert all(len(r["text"]) <= cfg.report.sample_chars for r in recs)
        if source == "wiki":
            assert any(r.get("cut") for r in recs)  # the long documents were cut
    wiki = records(out, "wiki")
    numbers = {r["group"]: r["numbers"] for r in wiki if r["kind"] == "dropped"}
    assert numbers["length_v1:too_short"] == {"chars": 17, "min_chars": 200, "max_chars": 50_000_000}
    assert numbers["langid_v1:language:de"]["language"] == "de"
    assert set(numbers["dedup_v1:near_duplicate"]) == {"duplicate_of", "jaccard"}
    assert numbers["dedup_v1:near_duplicate"]["duplicate_of"].startswith("plays/")
    pii = [r for r in wiki if r["kind"] == "pii"]
    assert {r["group"] for r in pii} == {"pii:CREDIT_CARD", "pii:EMAIL_ADDRESS"}
    for r in pii:
        assert {r["text"][s:e] for s, e, _ent in r["marks"]} == {"<CREDIT_CARD>", "<EMAIL>"}
    pairs = [json.loads(x) for x in (out / "samples" / "duplicates.jsonl").read_text().splitlines()]
    assert {(p["source"], p["duplicate_source"], p["reason"]) for p in pairs} == {
        ("wiki", "plays", "near_duplicate"), ("wiki", "wiki", "exact_duplicate")}
    assert all(p["removed"]["text"] and p["duplicate"]["text"] for p in pairs)
    everything = "".join(p.read_text() for p in (out / "samples").rglob("*.jsonl"))
    everything += (out / "report.html").read_text() + (out / "README.md").read_text()
    assert planted["email"] not in everything
    assert planted["card"] not in everything and planted["card"].replace(" ", "") not in everything


def test_texts_sampled_before_the_pii_stage_are_scrubbed(sampled_build):
    """The document with planted PII has an exact copy: the one removed is sampled at the
    dedup drop and both are captured for the pair view, all before the PII stage ran; the
    report's task scrubs them before anything is written."""
    cfg, _result, _planted = sampled_build
    out = cfg.out_dir
    exact = [r for r in records(out, "wiki") if r["group"] == "dedup_v1:exact_duplicate"]
    assert len(exact) == 1 and "<EMAIL>" in exact[0]["text"] and "<CREDIT_CARD>" in exact[0]["text"]
    pairs = [json.loads(x) for x in (out / "samples" / "duplicates.jsonl").read_text().splitlines()]
    (pair,) = [p for p in pairs if p["reason"] == "exact_duplicate"]
    assert pair["removed"]["text"] == pair["duplicate"]["text"] == exact[0]["text"]
    assert pair["removed"]["id"] == exact[0]["id"] and exact[0]["numbers"]["jaccard"] == 1.0


def test_report_md_links_each_plot_once_and_the_files_exist(sampled_build):
    cfg, _result, _planted = sampled_build
    out = cfg.out_dir
    report = (out / "report.md").read_text()
    images = [line for line in report.splitlines() if line.startswith("![")]
    assert images == ["![counts](tokens/counts.png)", "![doc_lengths](plots/doc_lengths.png)",
                      "![drops](plots/drops.png)", "![duplicates](plots/duplicates.png)"]
    for line in images:
        assert (out / line.split("(")[1].rstrip(")")).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((out / "manifest.json").read_text())
    assert "tokens/counts.png" in manifest["artifacts"]
    assert "| wiki |" in report and "| plays |" in report
