"""Held-out splits and 13-gram decontamination (pile.splits, pile.decontam).

Planted overlaps between real texts (wikitext-2 paragraphs as training documents,
tinyshakespeare passages as held-out text) with exact expected results; the fast
n-gram path against the plain-Python definition; the index's determinism; the stage's
drops, counters and pickling; every validation of the two config sections.
"""

from __future__ import annotations

import functools
import hashlib
import json
import pickle
import random
import re
from pathlib import Path

import numpy as np
import pytest
import zstandard

import pile.decontam
from pile.config import DecontamConfig, SplitsConfig, parse_config
from pile.decontam import (PIECE_SEPARATOR, TOO_MANY_PIECES, TOO_SHORT, Decontaminate,
                           HeldOutNgrams, NgramIndexBuilder, _analyse, build_heldout_index,
                           build_index, find_matches, union_hash_files, iter_eval_texts, load_index, ngram_hashes,
                           reference_ngram_hashes, reference_words, removal_spans)
from pile.dedup.droptable import write_drop_table
from pile.document import Document
from pile.errors import ConfigError, PileError, SourceError
from pile.splits import split_of, split_value
from pile.stage import InMemoryPassContext

# -- real text ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wiki_paragraphs(shared_data: Path) -> list[str]:
    """Long wikitext-2 paragraphs (training text)."""
    lines = (shared_data / "text" / "wikitext-2" / "test.txt").read_text(encoding="utf-8").splitlines()
    paras = [ln.strip() for ln in lines if len(ln) > 1500 and not ln.strip().startswith("=")]
    assert len(paras) >= 30
    return paras


@pytest.fixture(scope="module")
def shakespeare(shared_data: Path) -> str:
    return (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")


@functools.lru_cache(maxsize=2)
def _words_of(text: str) -> list[tuple[int, int, str]]:
    return reference_words(text)


def passage(text: str, index: int, words: int = 20) -> str:
    """The `index`-th run of `words` words of `text`, as the original substring."""
    ws = _words_of(text)
    first = 2000 + index * 400
    return text[ws[first][0]:ws[first + words - 1][1]]


def context_of(text: str, snippet: str, chars: int = 600) -> str:
    """`snippet` with its real surroundings in `text` (a held-out document)."""
    pos = text.index(snippet)
    return text[max(0, pos - chars):pos + len(snippet) + chars]


def plant(host: str, pieces: list[str], gap: int, start: int = 400) -> tuple[str, list[tuple[int, int]]]:
    """Insert `pieces` into `host` at spaces about `gap` characters apart.

    Returns:
        The new text and the (start, end) character span of each planted piece.
    """
    out, spans, pos = "", [], 0
    cursor = start
    for piece in pieces:
        cut = host.index(" ", cursor)
        out += host[pos:cut] + " "
        spans.append((len(out), len(out) + len(piece)))
        out += piece
        pos = cut
        cursor = cut + gap
    out += host[pos:]
    return out, spans


def expected_text(text: str, spans: list[tuple[int, int]], context: int) -> str:
    """The rule stated directly: cut each widened span, trim at the cuts, join."""
    pieces, pos = [], 0
    for i, (s, e) in enumerate(spans):
        piece = text[pos:max(0, s - context)]
        piece = piece.rstrip() if i == 0 else piece.strip()
        if piece:
            pieces.append(piece)
        pos = min(len(text), e + context)
    tail = text[pos:].lstrip()
    if tail:
        pieces.append(tail)
    return PIECE_SEPARATOR.join(pieces)


def heldout_id(source: str, splits: SplitsConfig, want: str = "val") -> str:
    for i in range(10_000):
        doc_id = f"{source}/{i}"
        if split_of(doc_id, splits) == want:
            return doc_id
    raise AssertionError("no id in the wanted split")


NO_SPLITS = SplitsConfig()


def stage_for(tmp_path: Path, heldout: list[str], **cfg) -> Decontaminate:
    path = tmp_path / "index.npy"
    build_index(heldout, path, ngram=cfg.get("ngram", 13))
    return Decontaminate(DecontamConfig(**cfg), NO_SPLITS, str(path))


# -- splits -----------------------------------------------------------------------------

def test_split_fractions_are_honoured_over_10k_ids():
    cfg = SplitsConfig(val_fraction=0.1, test_fraction=0.05, seed=7)
    ids = [f"wikipedia/{i}" for i in range(10_000)]
    counts = {"train": 0, "val": 0, "test": 0}
    for doc_id in ids:
        counts[split_of(doc_id, cfg)] += 1
    # Binomial standard deviations are ~30 and ~22; allow about 5 of them.
    assert abs(counts["val"] - 1000) < 150
    assert abs(counts["test"] - 500) < 110
    assert counts["train"] == 10_000 - counts["val"] - counts["test"]


def test_split_is_a_pure_function_of_the_id_and_seed():
    cfg = SplitsConfig(val_fraction=0.2, test_fraction=0.2, seed=3)
    alone = {f"a/{i}": split_of(f"a/{i}", cfg) for i in range(2000)}
    # Another source added, interleaved, in a different order: source a is unchanged.
    mixed = [f"b/{i}" for i in range(2000)] + [f"a/{i}" for i in reversed(range(2000))]
    random.Random(1).shuffle(mixed)
    with_b = {doc_id: split_of(doc_id, cfg) for doc_id in mixed}
    assert {k: with_b[k] for k in alone} == alone
    # The value is keyed BLAKE2b of the id (checked against hashlib directly).
    digest = hashlib.blake2b(b"a/17", digest_size=8, key=b"3").digest()
    assert split_value("a/17", 3) == (int.from_bytes(digest, "big") >> 11) / 2 ** 53
    other_seed = SplitsConfig(val_fraction=0.2, test_fraction=0.2, seed=4)
    assert sum(split_of(k, other_seed) != v for k, v in alone.items()) > 400


def test_raising_one_fraction_only_takes_from_train():
    ids = [f"s/{i}" for i in range(5000)]
    before = SplitsConfig(val_fraction=0.05, test_fraction=0.05)
    after = SplitsConfig(val_fraction=0.15, test_fraction=0.05)
    for doc_id in ids:
        a, b = split_of(doc_id, before), split_of(doc_id, after)
        if a == "test" or b == "test":
            assert a == b == "test"
        if a == "val":
            assert b == "val"


def test_split_thresholds_follow_the_definition_exactly():
    cfg = SplitsConfig(val_fraction=0.25, test_fraction=0.125, seed=99)
    for i in range(3000):
        doc_id = f"src/{i}"
        u = split_value(doc_id, cfg.seed)
        want = "val" if u < 0.25 else "test" if u >= 0.875 else "train"
        assert split_of(doc_id, cfg) == want


def test_zero_fractions_put_everything_in_train():
    assert {split_of(f"x/{i}", SplitsConfig()) for i in range(500)} == {"train"}


# -- normalisation and hashing ------------------------------------------------------------

TRICKY = ("İstanbul ΣΑΣ x_y 3.5 ａｂ café naïve \ud800 Kelvin \u212a Straße e\u0301 "
          "吾輩は猫である。 don't end.Start TAB\there\u00a0nbsp \u2028 line ١٢٣ ")


@pytest.mark.parametrize("name", ["tinyshakespeare.txt", "botchan.txt",
                                  "wagahaiwa_nekodearu.txt", "wikitext-2/test.txt"])
@pytest.mark.parametrize("n", [1, 2, 13])
def test_fast_hashes_equal_the_definition_on_real_text(shared_data, name, n):
    text = (shared_data / "text" / name).read_text(encoding="utf-8")[50_000:70_000]
    a = _analyse([text], n)
    assert a.hashes.tolist() == reference_ngram_hashes(text, n)
    words = reference_words(text)
    assert a.starts.tolist() == [w[0] for w in words]
    assert a.ends.tolist() == [w[1] for w in words]


@pytest.mark.parametrize("mostly_ascii", [True, False])
def test_fast_hashes_equal_the_definition_on_tricky_characters(shakespeare, mostly_ascii):
    # A few non-ASCII characters in English take the per-run path; many, the table path.
    text = shakespeare[:20_000] + TRICKY + shakespeare[20_000:30_000] if mostly_ascii else TRICKY * 3
    for n in (1, 3, 13):
        a = _analyse([text], n)
        assert a.hashes.tolist() == reference_ngram_hashes(text, n)
        assert a.starts.tolist() == [w[0] for w in reference_words(text)]
        assert a.ends.tolist() == [w[1] for w in reference_words(text)]
    words = [w for _, _, w in reference_words(TRICKY)]
    assert words[:8] == ["İstanbul", "σασ", "x", "y", "3", "5", "ａｂ", "café"]
    assert "dont" not in words
    assert words[words.index("don"):words.index("start") + 1] == ["don", "t", "end", "start"]


@pytest.mark.parametrize("a, b, same", [
    ("The Quick, brown fox!", "the quick brown   FOX", True),
    ("end.Start", "end start", True),
    ("snake_case", "snake case", True),
    ("don't", "dont", False),
    ("café", "cafe", False),
    ("1.5", "15", False),
])
def test_normalisation_table(a, b, same):
    assert (reference_ngram_hashes(a, 1) == reference_ngram_hashes(b, 1)) is same
    assert (_analyse([a], 1).hashes.tolist() == _analyse([b], 1).hashes.tolist()) is same


def test_ngrams_never_span_two_texts_of_a_batch():
    words = [f"w{i}" for i in range(30)]
    left, right = " ".join(words[:10]), " ".join(words[10:20])
    a = _analyse([left, right], 5)
    assert a.hashes.size == 2 * (10 - 5 + 1)
    joined = _analyse([left + " " + right], 5)
    assert joined.hashes.size == 20 - 5 + 1
    assert set(a.hashes.tolist()) < set(joined.hashes.tolist())


# -- the index ----------------------------------------------------------------------------

def test_index_is_deterministic_in_any_insertion_order(tmp_path, wiki_paragraphs):
    texts = wiki_paragraphs[:40]
    shuffled = list(texts)
    random.Random(5).shuffle(shuffled)
    build_index(texts, tmp_path / "a.npy")
    one_by_one = NgramIndexBuilder(compact_at=500)  # many compactions
    for text in shuffled:
        one_by_one.add(text)
    one_by_one.save(tmp_path / "b.npy")
    precomputed = NgramIndexBuilder()
    precomputed.add_hashes(ngram_hashes(shuffled[:20]))
    precomputed.add_hashes(ngram_hashes(shuffled[20:]))
    precomputed.save(tmp_path / "c.npy")
    a = (tmp_path / "a.npy").read_bytes()
    assert a == (tmp_path / "b.npy").read_bytes() == (tmp_path / "c.npy").read_bytes()
    index = load_index(tmp_path / "a.npy", ngram=13)
    assert index.dtype == np.uint64 and np.all(index[1:] > index[:-1])
    assert index.size == len(set(h for t in texts for h in reference_ngram_hashes(t)))
    assert json.loads((tmp_path / "a.npy.json").read_text())["ngrams"] == index.size


def test_load_index_rejects_bad_files(tmp_path):
    with pytest.raises(PileError, match="no such file"):
        load_index(tmp_path / "missing.npy")
    np.save(tmp_path / "f.npy", np.arange(5, dtype=np.float64))
    with pytest.raises(PileError, match="uint64"):
        load_index(tmp_path / "f.npy")
    np.save(tmp_path / "u.npy", np.array([3, 1, 2], dtype=np.uint64))
    with pytest.raises(PileError, match="sorted"):
        load_index(tmp_path / "u.npy")
    (tmp_path / "t.npy").write_text("not numpy")
    with pytest.raises(PileError, match="not a .npy"):
        load_index(tmp_path / "t.npy")
    build_index(["a b c d e f g h"], tmp_path / "n8.npy", ngram=8)
    assert load_index(tmp_path / "n8.npy", ngram=8).size == 1
    with pytest.raises(PileError, match="ngram=8"):
        load_index(tmp_path / "n8.npy", ngram=13)


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="ngram"):
        NgramIndexBuilder(ngram=0)
    with pytest.raises(ValueError, match="uint64"):
        NgramIndexBuilder().add_hashes(np.arange(3))


def test_find_matches_locates_a_planted_passage(wiki_paragraphs, shakespeare, tmp_path):
    snippet = passage(shakespeare, 0)
    text, spans = plant(wiki_paragraphs[0], [snippet], gap=0)
    build_index([context_of(shakespeare, snippet)], tmp_path / "i.npy")
    matches = find_matches(text, load_index(tmp_path / "i.npy"))
    assert len(matches) == 20 - 13 + 1
    assert matches[0][0] == spans[0][0] and matches[-1][1] == spans[0][1]


# -- removal ------------------------------------------------------------------------------

@pytest.mark.parametrize("matches, length, context, expected", [
    ([(10, 20)], 100, 5, [(5, 25)]),
    ([(10, 20), (22, 30)], 100, 0, [(10, 20), (22, 30)]),
    ([(10, 20), (22, 30)], 100, 1, [(9, 31)]),          # touching after widening: merged
    ([(10, 20), (12, 18)], 100, 0, [(10, 20)]),         # contained
    ([(50, 60), (10, 20)], 100, 0, [(10, 20), (50, 60)]),  # any order
    ([(2, 8), (90, 99)], 100, 200, [(0, 100)]),         # clipped to the text
])
def test_removal_spans_table(matches, length, context, expected):
    assert removal_spans(matches, length, context) == expected


def test_planted_overlap_is_removed_with_its_context(tmp_path, wiki_paragraphs, shakespeare):
    snippet = passage(shakespeare, 1)
    host = wiki_paragraphs[1]
    text, spans = plant(host, [snippet], gap=0, start=len(host) // 2)
    # The held-out copy differs in case, punctuation and spacing only.
    variant = re.sub(r"[,.;:!?]", " ; ", context_of(shakespeare, snippet)).upper()
    stage = stage_for(tmp_path, [variant])
    other = Document("wiki/other", "wiki", wiki_paragraphs[2], {"pile_set_name": "Wikipedia"})
    doc = Document("wiki/1", "wiki", text, {"pile_set_name": "Wikipedia", "url": "u"})
    kept, dropped = stage.process_batch([other, doc])
    assert dropped == []
    assert kept[0] is other
    assert kept[1].text == expected_text(text, spans, 200)
    assert kept[1].id == doc.id and kept[1].meta == doc.meta
    assert snippet not in kept[1].text
    before, after = kept[1].text.split(PIECE_SEPARATOR)
    assert text.startswith(before) and text.endswith(after)
    counters = stage.drain_counters()
    assert counters == {("wiki", "decontam.spans_removed"): 1,
                        ("wiki", "decontam.documents_changed"): 1,
                        ("wiki", "decontam.chars_removed"): len(text) - len(before) - len(after)}


def test_planted_overlap_after_multibyte_text_keeps_character_offsets(tmp_path, shared_data,
                                                                      wiki_paragraphs, shakespeare):
    japanese = (shared_data / "text" / "wagahaiwa_nekodearu.txt").read_text(encoding="utf-8")[5000:6000]
    snippet = passage(shakespeare, 2)
    host = japanese + " café " + wiki_paragraphs[3]
    text, spans = plant(host, [snippet], gap=0, start=len(japanese) + 300)
    stage = stage_for(tmp_path, [context_of(shakespeare, snippet)])
    (out,), _ = stage.process_batch([Document("mix/1", "mix", text)])
    assert out.text == expected_text(text, spans, 200)


def test_overlapping_spans_merge(tmp_path, wiki_paragraphs, shakespeare):
    a, b, c = passage(shakespeare, 3), passage(shakespeare, 4), passage(shakespeare, 5)
    host = " ".join(wiki_paragraphs[4:7])
    # a and b 100 characters apart (their 200-character contexts overlap); c far away.
    text, spans = plant(host, [a, b], gap=100, start=500)
    text, more = plant(text, [c], gap=0, start=spans[1][1] + 1500)
    spans.append(more[0])
    stage = stage_for(tmp_path, [context_of(shakespeare, s) for s in (a, b, c)])
    (out,), _ = stage.process_batch([Document("w/1", "w", text)])
    merged = [(spans[0][0], spans[1][1]), spans[2]]
    assert out.text == expected_text(text, merged, 200)
    assert len(out.text.split(PIECE_SEPARATOR)) == 3
    assert stage.drain_counters()[("w", "decontam.spans_removed")] == 2


def test_too_many_pieces_drops_the_document(tmp_path, wiki_paragraphs, shakespeare):
    snippets = [passage(shakespeare, 10 + i) for i in range(11)]
    host = " ".join(wiki_paragraphs[7:17])
    text, spans = plant(host, snippets, gap=800)
    assert len(removal_spans(spans, len(text), 200)) == 11  # 12 pieces
    heldout = [context_of(shakespeare, s) for s in snippets]
    stage = stage_for(tmp_path, heldout)
    doc = Document("w/many", "w", text)
    kept, dropped = stage.process_batch([doc])
    assert kept == [] and [(d.doc, d.reason) for d in dropped] == [(doc, TOO_MANY_PIECES)]
    assert stage.drain_counters() == {("w", "decontam.spans_removed"): 11}
    # The limit is inclusive: 11 allowed still drops 12 pieces; 12 allowed keeps them.
    assert [d.reason for d in stage_for(tmp_path, heldout, max_pieces=11).process_batch([doc])[1]] \
        == [TOO_MANY_PIECES]
    roomy = stage_for(tmp_path, heldout, max_pieces=12)
    (out,), _ = roomy.process_batch([doc])
    assert out.text == expected_text(text, spans, 200)
    assert len(out.text.split(PIECE_SEPARATOR)) == 12


@pytest.mark.parametrize("context, min_chars, reason", [
    (200, 200, TOO_SHORT),      # the contexts swallow everything: no piece left
    (0, 400, TOO_SHORT),        # ~300 characters left, fewer than 400
    (0, 200, None),             # the same 300 are enough
])
def test_too_short_drops_the_document(tmp_path, wiki_paragraphs, shakespeare, context, min_chars, reason):
    snippet = passage(shakespeare, 30)
    host = wiki_paragraphs[20][:150] + " " + wiki_paragraphs[21][:150]
    text, spans = plant(host, [snippet], gap=0, start=140)
    stage = stage_for(tmp_path, [context_of(shakespeare, snippet)], context_chars=context,
                      min_chars=min_chars)
    doc = Document("w/short", "w", text)
    kept, dropped = stage.process_batch([doc])
    if reason is None:
        assert kept[0].text == expected_text(text, spans, context) and dropped == []
    else:
        assert kept == [] and [d.reason for d in dropped] == [reason]


def test_documents_without_overlap_and_heldout_documents_pass_unchanged(tmp_path, wiki_paragraphs,
                                                                         shakespeare):
    snippet = passage(shakespeare, 40)
    splits = SplitsConfig(val_fraction=0.3, test_fraction=0.3)
    build_index([context_of(shakespeare, snippet)], tmp_path / "i.npy")
    stage = Decontaminate(DecontamConfig(), splits, str(tmp_path / "i.npy"))
    contaminated, _ = plant(wiki_paragraphs[22], [snippet], gap=0)
    clean = Document(heldout_id("w", splits, "train"), "w", wiki_paragraphs[23])
    val = Document(heldout_id("w", splits, "val"), "w", contaminated)
    test = Document(heldout_id("w", splits, "test"), "w", contaminated)
    kept, dropped = stage.process_batch([clean, val, test])
    assert dropped == [] and kept[0] is clean and kept[1] is val and kept[2] is test
    assert kept[0].text.encode() == wiki_paragraphs[23].encode()
    assert stage.drain_counters() == {}
    # Disabled: even a contaminated training document passes.
    off = Decontaminate(DecontamConfig(enabled=False), NO_SPLITS, str(tmp_path / "i.npy"))
    train = Document("w/t", "w", contaminated)
    assert off.process_batch([train])[0][0] is train


def test_empty_index_changes_nothing(tmp_path, wiki_paragraphs):
    stage = stage_for(tmp_path, [])
    docs = [Document(f"w/{i}", "w", t) for i, t in enumerate(wiki_paragraphs[:5])]
    kept, dropped = stage.process_batch(docs)
    assert dropped == [] and all(a is b for a, b in zip(kept, docs))


def test_stage_pickles_without_its_index(tmp_path, wiki_paragraphs, shakespeare):
    snippet = passage(shakespeare, 50)
    stage = stage_for(tmp_path, [context_of(shakespeare, snippet)])
    text, _ = plant(wiki_paragraphs[24], [snippet], gap=0)
    docs = [Document("w/0", "w", text), Document("w/1", "w", wiki_paragraphs[25])]
    expected, _ = stage.process_batch(docs)
    blob = pickle.dumps(stage)
    assert len(blob) < 2000  # the index is transient
    clone = pickle.loads(blob)
    assert clone.name == "decontam_v1" and clone._index is None
    got, _ = clone.process_batch(docs)
    assert [d.text for d in got] == [d.text for d in expected]
    assert got[0].text != text


def test_build_heldout_index_covers_the_splits_and_the_eval_set(tmp_path, wiki_paragraphs, shakespeare):
    splits = SplitsConfig(val_fraction=0.3, test_fraction=0.2, seed=11)
    wiki = [Document(f"wiki/{i}", "wiki", t) for i, t in enumerate(wiki_paragraphs[:24])]
    plays = [Document(f"plays/{i}", "plays", shakespeare[i * 3000:(i + 1) * 3000]) for i in range(12)]
    heldout = [d for d in wiki + plays if split_of(d.id, splits) != "train"]
    assert 4 <= len(heldout) <= 30
    evalfile = tmp_path / "eval.jsonl"
    evalfile.write_text(json.dumps({"text": wiki_paragraphs[30]}) + "\n", encoding="utf-8")
    cfg = DecontamConfig(eval_paths=(str(evalfile),))
    ctx = InMemoryPassContext(tmp_path / "work", {"wiki": wiki, "plays": plays}, batch_size=5)
    fn = pickle.loads(pickle.dumps(HeldOutNgrams(splits, 13)))
    assert fn([d for d in wiki if split_of(d.id, splits) == "train"][:3]) == []
    count, sha256 = build_heldout_index(ctx, splits, cfg, tmp_path / "built.npy")
    build_index([d.text for d in heldout] + [wiki_paragraphs[30]], tmp_path / "direct.npy")
    assert (tmp_path / "built.npy").read_bytes() == (tmp_path / "direct.npy").read_bytes()
    assert count == load_index(tmp_path / "built.npy").size > 0
    assert sha256 == hashlib.sha256((tmp_path / "built.npy").read_bytes()).hexdigest()
    # Held-out documents dedup removed are left out of the index.
    gone = tmp_path / "wiki.drops.npy"  # dedup's drop table, read by the workers
    write_drop_table(gone, [(heldout[0].id, "near_duplicate"), (heldout[1].id, "exact_duplicate")])
    assert heldout[0].source == heldout[1].source == "wiki"
    build_heldout_index(ctx, splits, cfg, tmp_path / "less.npy", exclude={"wiki": str(gone)})
    build_index([d.text for d in heldout[2:]] + [wiki_paragraphs[30]], tmp_path / "direct_less.npy")
    assert (tmp_path / "less.npy").read_bytes() == (tmp_path / "direct_less.npy").read_bytes()
    # A training document that quotes a held-out one and the eval set is rewritten;
    # the held-out documents themselves pass.
    stage = Decontaminate(cfg, splits, str(tmp_path / "built.npy"))
    quote = next(d for d in heldout if d.source == "wiki").text[100:700]
    host = " ".join(wiki_paragraphs[31:34]) + " " + quote + " " + wiki_paragraphs[34]
    host += " " + wiki_paragraphs[30][200:500] + " " + wiki_paragraphs[35]
    train_id = next(f"mix/{i}" for i in range(100) if split_of(f"mix/{i}", splits) == "train")
    kept, dropped = stage.process_batch(heldout + [Document(train_id, "mix", host)])
    assert dropped == [] and all(a is b for a, b in zip(kept, heldout))
    assert quote[150:450] not in kept[-1].text and wiki_paragraphs[30][250:450] not in kept[-1].text
    assert stage.drain_counters()[("mix", "decontam.spans_removed")] == 2


@pytest.mark.parametrize("range_hashes", [1, 7, 1000, None])
def test_union_of_hash_files_in_value_ranges_is_the_sorted_union(tmp_path, range_hashes):
    rng = np.random.default_rng(5)
    common = rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False)
    arrays = [np.unique(np.concatenate([common[i::2], rng.integers(0, 2**64, n, dtype=np.uint64)]))
              for i, n in enumerate([0, 1, 500, 2000])]
    arrays.append(np.array([0, 2**64 - 1], dtype=np.uint64))  # both ends of the hash space
    paths = []
    for i, a in enumerate(arrays):
        paths.append(tmp_path / f"{i}.u64")
        paths[-1].write_bytes(a.astype("<u8").tobytes())
    (tmp_path / "empty.u64").write_bytes(b"")
    with open(tmp_path / "out.u64", "wb") as fh:
        count = union_hash_files([*paths, tmp_path / "empty.u64"], fh, range_hashes)
    expected = np.unique(np.concatenate(arrays))
    assert count == expected.size
    assert (tmp_path / "out.u64").read_bytes() == expected.astype("<u8").tobytes()
    with open(tmp_path / "none.u64", "wb") as fh:
        assert union_hash_files([tmp_path / "empty.u64"], fh) == 0


def test_index_merged_in_many_value_ranges_is_the_same_file(tmp_path, wiki_paragraphs, shakespeare,
                                                          monkeypatch):
    splits = SplitsConfig(val_fraction=0.4, test_fraction=0.2, seed=3)
    wiki = [Document(f"wiki/{i}", "wiki", t) for i, t in enumerate(wiki_paragraphs[:20])]
    plays = [Document(f"plays/{i}", "plays", shakespeare[i * 3000:(i + 1) * 3000]) for i in range(10)]
    ctx = InMemoryPassContext(tmp_path / "work", {"wiki": wiki, "plays": plays}, batch_size=4)
    cfg = DecontamConfig()
    count, sha = build_heldout_index(ctx, splits, cfg, tmp_path / "one.npy")
    monkeypatch.setattr(pile.decontam, "MERGE_RANGE_HASHES", 50)  # hundreds of ranges
    assert build_heldout_index(ctx, splits, cfg, tmp_path / "many.npy") == (count, sha)
    assert (tmp_path / "many.npy").read_bytes() == (tmp_path / "one.npy").read_bytes()
    assert count > 50 * 20 and load_index(tmp_path / "many.npy", 13).size == count
    assert not list(tmp_path.glob(".*"))  # the eval part and temporary files are gone


# -- the user's evaluation set ---------------------------------------------------------------

def test_eval_set_files_are_read_and_count_as_heldout(tmp_path, wiki_paragraphs, shakespeare):
    snippets = [passage(shakespeare, 60 + i) for i in range(3)]
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "a.txt").write_text("\ufeff" + context_of(shakespeare, snippets[0]),
                                             encoding="utf-8")
    lines = [json.dumps({"text": context_of(shakespeare, snippets[1]), "label": 1}), "",
             json.dumps({"text": "short"})]
    (tmp_path / "eval" / "b.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    raw = (json.dumps({"text": context_of(shakespeare, snippets[2])}) + "\n").encode()
    (tmp_path / "eval" / "c.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    texts = list(iter_eval_texts([str(tmp_path / "eval" / "*.txt"), str(tmp_path / "eval" / "b.jsonl"),
                                  str(tmp_path / "eval" / "*.jsonl*")]))
    assert texts == [context_of(shakespeare, snippets[0]), context_of(shakespeare, snippets[1]),
                     "short", context_of(shakespeare, snippets[2])]
    stage = stage_for(tmp_path, texts)
    host = " ".join(wiki_paragraphs[26:29])
    text, spans = plant(host, snippets, gap=1200)
    (out,), _ = stage.process_batch([Document("w/e", "w", text)])
    assert out.text == expected_text(text, spans, 200)


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", b'{"text": "ok"}\nnot json\n', r"bad.jsonl:2: expected a JSON object"),
    ("notext.jsonl", b'{"body": "x"}\n', r"notext.jsonl:1: expected an object with a string"),
    ("list.jsonl", b'["text"]\n', r"list.jsonl:1: expected an object"),
    ("latin1.txt", "caf\u00e9".encode("latin-1"), r"latin1.txt: not UTF-8"),
    ("cut.jsonl.zst", zstandard.ZstdCompressor().compress(b'{"text": "x"}\n' * 100)[:-6],
     r"cut.jsonl.zst: damaged"),
    ("eval.csv", b"text\n", r"unsupported evaluation file"),
])
def test_eval_set_errors_name_the_file(tmp_path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(SourceError, match=message):
        list(iter_eval_texts([str(tmp_path / name)]))


def test_eval_set_missing_file_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="no file matches"):
        list(iter_eval_texts([str(tmp_path / "nothing*.jsonl")]))


# -- config -------------------------------------------------------------------------------------

def config(**sections):
    return parse_config({"sources": [{"name": "x", "kind": "files", "paths": ["p"]}], **sections})


def test_config_defaults_and_values(tmp_path):
    cfg = config()
    assert cfg.splits == SplitsConfig(val_fraction=0.0, test_fraction=0.0, seed=1234)
    assert cfg.decontam == DecontamConfig(enabled=True, ngram=13, context_chars=200, max_pieces=10,
                                          min_chars=200, eval_paths=())
    (tmp_path / "e.jsonl").write_text('{"text": "x"}\n')
    cfg = config(splits={"val_fraction": 0.01, "test_fraction": 0.02, "seed": 9},
                 decontam={"ngram": 8, "eval_paths": [str(tmp_path / "*.jsonl")]})
    assert cfg.splits.test_fraction == 0.02 and cfg.decontam.ngram == 8
    assert cfg.decontam.eval_paths == (str(tmp_path / "*.jsonl"),)


@pytest.mark.parametrize("section, value, field", [
    ("splits", {"val_fraction": -0.1}, "splits.val_fraction"),
    ("splits", {"val_fraction": 1.0}, "splits.val_fraction"),
    ("splits", {"test_fraction": 1.5}, "splits.test_fraction"),
    ("splits", {"test_fraction": -0.5}, "splits.test_fraction"),
    ("splits", {"val_fraction": 0.5, "test_fraction": 0.5}, "splits.test_fraction"),
    ("splits", {"seed": "abc"}, "splits.seed"),
    ("splits", {"fraction": 0.1}, "splits.fraction"),
    ("decontam", {"ngram": 0}, "decontam.ngram"),
    ("decontam", {"ngram": 65}, "decontam.ngram"),
    ("decontam", {"context_chars": -1}, "decontam.context_chars"),
    ("decontam", {"max_pieces": 0}, "decontam.max_pieces"),
    ("decontam", {"min_chars": -5}, "decontam.min_chars"),
    ("decontam", {"eval_paths": ["evals/set.csv"]}, "decontam.eval_paths[0]"),
    ("decontam", {"eval_paths": ["/nonexistent/eval/*.jsonl"]}, "decontam.eval_paths[0]"),
    ("decontam", {"enabled": "yes"}, "decontam.enabled"),
])
def test_config_validations_fire(section, value, field):
    with pytest.raises(ConfigError, match=re.escape(field)):
        config(**{section: value})
