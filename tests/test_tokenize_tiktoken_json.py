"""The tiktoken engine for tokenizer.json files: its merge-rank proof, its pipeline, its probe.

Every comparison is against HF ``tokenizers`` running the same file.
"""

from __future__ import annotations

import itertools
import json
import pickle
import random
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer, normalizers

from pile.config import TokenizerConfig
from pile.tokenize import load_vocabulary
from pile.tokenize.convert import bytes_to_unicode
from pile.tokenize.engines import HFEncoder, TiktokenPlanEncoder
from pile.tokenize.merges import Inexpressible, merge_ranks
from pile.tokenize.pipeline import hf_nfc_not_newer, plan_tokenizer_json, translate_onig
from pile.tokenize.probe import first_difference, probe_texts
from pile.tokenize.vocab import Vocabulary

ALPHABET = "abc"
WORDS = ["".join(w) for n in range(1, 8) for w in itertools.product(ALPHABET, repeat=n)]


def _file(merges: list[tuple[str, str]], ids: dict[str, int] | None = None,
          ignore_merges: bool = False) -> dict:
    """A byte-level BPE tokenizer.json: the 256 bytes (ids in byte order), then each merge's
    token (ids in merge order unless `ids` says otherwise)."""
    table = bytes_to_unicode()
    vocab = {table[b]: b for b in range(256)}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab.update(ids or {})
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
            "normalizer": None, "post_processor": None, "decoder": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False,
                              "trim_offsets": True, "use_regex": True},
            "model": {"type": "BPE", "dropout": None, "unk_token": None,
                      "continuing_subword_prefix": None, "end_of_word_suffix": None,
                      "fuse_unk": False, "byte_fallback": False, "ignore_merges": ignore_merges,
                      "vocab": vocab, "merges": [f"{a} {b}" for a, b in merges]}}


def _ids_both(data: dict, words: list[str]) -> tuple[list[list[int]], list[list[int]]]:
    hf = Tokenizer.from_str(json.dumps(data))
    want = [e.ids for e in hf.encode_batch_fast(words, add_special_tokens=False)]
    enc = TiktokenPlanEncoder(plan_tokenizer_json(data, hf), 0, np.int32)
    return enc.encode_ids(words), want


def test_a_token_hf_never_builds_is_left_out():
    # "abc" is in the vocabulary, but HF merges b+c first and never lists a+bc: HF's BPE
    # of "abc" is [a, bc]. tiktoken with "abc" among its ranks would say [abc].
    data = _file([("b", "c"), ("a", "b"), ("ab", "c")])
    ranks = merge_ranks(data["model"])
    assert ranks.unreachable == 1 and "abc".encode() not in ranks.ranks
    got, want = _ids_both(data, WORDS)
    assert got == want
    vocab = data["model"]["vocab"]
    assert want[WORDS.index("abc")] == [vocab["a"], vocab["bc"]]


def test_several_merges_of_one_token_in_one_block_are_exact():
    # as files converted from tiktoken list them: every split of a token, side by side
    data = _file([("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc"), ("c", "a"), ("abc", "a"),
                  ("ab", "ca")])
    got, want = _ids_both(data, WORDS)
    assert got == want


def test_merges_of_one_token_far_apart_are_inexpressible():
    data = _file([("a", "b"), ("b", "c"), ("ab", "c"), ("c", "a"), ("a", "bc")])
    with pytest.raises(Inexpressible, match="far apart"):
        merge_ranks(data["model"])


def test_ignore_merges_keeps_a_three_part_token_and_refuses_a_two_part_one():
    # HF's whole-word lookup emits "abc" for the word "abc" only; its BPE makes [a, b, c]
    three = _file([("c", "c")], ids={"abc": 300})
    assert merge_ranks(three["model"]).kept == 0  # no whole-word lookup: simply left out
    three["model"]["ignore_merges"] = True
    assert merge_ranks(three["model"]).kept == 1
    got, want = _ids_both(three, WORDS)
    assert got == want and want[WORDS.index("abc")] == [300]
    # BPE makes [ab, c] of "abc": tiktoken would merge ab+c inside "abca" too, HF would not
    two = _file([("a", "b")], ids={"abc": 300}, ignore_merges=True)
    with pytest.raises(Inexpressible, match="end in two tokens"):
        merge_ranks(two["model"])


def test_random_merge_lists_give_hf_ids_whenever_expressible():
    """The proof in `pile.tokenize.merges`, tried: random merge lists over three letters
    (tokens built by unlisted splits, listed twice, ids out of merge order, with and
    without ignore_merges), every word of up to 7 letters, against HF."""
    rng = random.Random(1234)
    expressible = with_unreachable = mapped = 0
    for _trial in range(120):
        tokens = list(ALPHABET)
        merges: list[tuple[str, str]] = []
        for _ in range(rng.randint(3, 14)):
            a, b = rng.choice(tokens), rng.choice(tokens)
            if len(a + b) > 7 or (a, b) in merges:
                continue
            merges.append((a, b))
            if a + b not in tokens:
                tokens.append(a + b)
        data = _file(merges, ignore_merges=rng.random() < 0.3)
        vocab = data["model"]["vocab"]
        if rng.random() < 0.5:  # shuffle the merged tokens' ids
            multi = [t for t in vocab if vocab[t] >= 256]
            ids = [vocab[t] for t in multi]
            rng.shuffle(ids)
            vocab.update(zip(multi, ids))
        try:
            ranks = merge_ranks(data["model"])
        except Inexpressible:
            continue
        got, want = _ids_both(data, WORDS)
        assert got == want, merges
        expressible += 1
        with_unreachable += ranks.unreachable > 0
        mapped += ranks.ids is not None
    assert expressible > 60 and with_unreachable > 10 and mapped > 20


def test_a_missing_byte_is_inexpressible():
    data = _file([("a", "b")])
    del data["model"]["vocab"][bytes_to_unicode()[0x41]]
    with pytest.raises(Inexpressible, match="0x41"):
        merge_ranks(data["model"])


@pytest.mark.parametrize("onig,fancy", [
    (r"\p{L}+|\s+$|\d", r"\p{L}+|\s+(?m:$)|\d"),
    (r"^ab|[$^]x|\$", r"(?m:^)ab|[$^]x|\$"),
    (r"[]$]|[^]^]+", r"[]$]|[^]^]+"),
    (r"\p{N}{1,3}| ?\p{L}++", r"\p{N}{1,3}| ?\p{L}++"),
])
def test_onig_patterns_translate(onig, fancy):
    assert translate_onig(onig) == f"(?:{fancy})|(?:(?!(?:{fancy}))[\\s\\S])+"


@pytest.mark.parametrize("onig", [r"\p{N}{1,3}+", r"(a)\1", r"\h+", r"(?m:a.b)", r"\Z"])
def test_onig_only_patterns_are_inexpressible(onig):
    with pytest.raises(Inexpressible):
        translate_onig(onig)


def _split_file(pattern: str) -> dict:
    data = _file([("a", "b")])
    data["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    return data


def test_text_a_split_regex_does_not_match_is_kept_as_hf_keeps_it():
    # HF keeps unmatched text as pieces; plain tiktoken would drop it
    data = _split_file(r"\p{L}+|\$")
    texts = ["ab, 12 cd!", "  x", "..."]
    got, want = _ids_both(data, texts)
    # "ab" + ", 12 " (a gap: five bytes) + "c" "d" + "!" (a gap)
    assert got == want and len(want[0]) == 9


def test_nfc_agrees_with_hf_where_python_and_hf_unicode_tables_differ():
    """Python's unicodedata (NFC check) and HF's NFC come from different Unicode versions;
    around every character whose decomposition or combining class differs between them the
    engine's NFC is HF's."""
    nfd = normalizers.NFD()
    marks = ["\u0316", "\u0301", "\u05b0", "\u0334"]
    odd = [chr(cp) for cp in range(0x30000) if not 0xD800 <= cp < 0xE000
           and unicodedata.category(chr(cp)) != "Cn"
           and any(unicodedata.normalize("NFD", "a" + chr(cp) + m) != nfd.normalize_str("a" + chr(cp) + m)
                   for m in marks)]
    assert len(odd) > 20  # the tables do differ here: the test tests something
    assert hf_nfc_not_newer()
    texts = [f"{a}{c}{m}" for c in odd for a in ("a", "e\u0301", "") for m in marks + [""]]
    texts += [f"{m}{c}" for c in odd for m in marks]
    data = _file([("a", "b")])
    data["normalizer"] = {"type": "NFC"}
    got, want = _ids_both(data, texts)
    assert got == want


def test_added_token_flags_cut_the_text_as_hf_does(shared_data, tmp_path):
    """GPT-2 with a prefix space and non-special added tokens carrying every flag, on text
    where they touch words, spaces, each other and the ends."""
    from vocabularies import gpt2_flags

    path = gpt2_flags(shared_data, tmp_path)
    words = ["def", "return", "self", "import", "the", ":\n", "ing", "x", " ", "  ", "\n", "é"]
    rng = random.Random(7)
    texts = ["".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    data = json.loads(path.read_text(encoding="utf-8"))
    got, want = _ids_both(data, texts)
    assert got == want


def test_a_vocabulary_failing_the_probe_falls_back_to_hf_with_a_warning(shared_data, tmp_path,
                                                                        caplog):
    # POSIX classes: Unicode letters in Onig, ASCII in tiktoken's fancy-regex. The static
    # check lets them pass; the probe (German, Greek, CJK...) catches the difference.
    data = json.loads((shared_data / "tokenizers/gpt2/tokenizer.json").read_text(encoding="utf-8"))
    data["pre_tokenizer"] = _split_file(r"[[:alpha:]]+| ?[^\s[:alpha:]]+|\s+")["pre_tokenizer"]
    path = tmp_path / "posix.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with caplog.at_level("WARNING", logger="pile.tokenize.vocab"):
        v = load_vocabulary(TokenizerConfig(name="posix", path=str(path)), tmp_path / "out")
    assert v.engine == "hf"
    assert any("tokenizer posix: HF engine (the tiktoken engine failed the probe on" in r.getMessage()
               for r in caplog.records)


def test_probe_covers_every_category_and_finds_a_difference(shared_data):
    texts = probe_texts()
    joined = "".join(texts)
    cats = {unicodedata.category(c) for c in joined}
    assert {"Lu", "Ll", "Lo", "Mn", "Nd", "Zs", "Cc", "Cf", "So", "Co", "Cn"} <= cats
    assert any(len(t.encode()) > 100 and " " not in t for t in texts)  # tiktoken's long path
    gpt2 = shared_data / "tokenizers/gpt2/tokenizer.json"
    neox = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    assert first_difference(HFEncoder(gpt2, 0, "int32"), HFEncoder(gpt2, 0, "int32")) is None
    assert first_difference(HFEncoder(gpt2, 0, "int32"), HFEncoder(neox, 0, "int32")) is not None


def test_engine_pickles_and_reloads_from_a_manifest_entry(shared_data, tmp_path):
    path = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    v = load_vocabulary(TokenizerConfig(name="neox", path=str(path)), tmp_path)
    text = ["GPT-NeoX  pads   runs of spaces\tand NFC: e\u0301"]
    want = v.reference_encoder().encode_batch(text)[0]
    enc = pickle.loads(pickle.dumps(v.encoder()))
    assert enc._impl is None and (enc.encode_batch(text)[0] == want).all()
    entry = json.loads(json.dumps(v.to_dict()))  # what manifest.json holds: no plan
    again = Vocabulary.from_dict(entry, Path(v.file).parent)
    assert again.plan is None and again.engine == "tiktoken"
    assert (again.encoder().encode_batch(text)[0] == want).all()


def test_neox_space_runs_cut_in_one_call_as_hf_cuts_them(shared_data):
    """GPT-NeoX's added space runs become private-use sentinels the regex isolates; random
    texts of spaces, other whitespace, punctuation, letters, contractions and literal
    private-use characters (those take the piece-by-piece way) against HF."""
    path = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    hf = Tokenizer.from_file(str(path))
    plan = plan_tokenizer_json(data, hf)
    compiled = plan.compile()
    assert compiled.sentinel is not None  # the one-call way is the one tested
    parts = [" ", "  ", "   ", " " * 23, " " * 25, " " * 49, "\t", "\n", "\r\n", "\u00a0", "a",
             "word", "1", "22", ".", ",", "'s", "'", "é", "e\u0301", "東", "😀", "\ue000",
             "\ue016", "<|endoftext|>"]
    rng = random.Random(11)
    texts = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 16))) for _ in range(6000)]
    hf.encode_special_tokens = True
    want = [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)]
    got = TiktokenPlanEncoder(plan, 0, np.int32).encode_ids(texts)
    assert got == want


@pytest.mark.parametrize("which", ["neox", "llama3_style"])
def test_every_assigned_code_point_gets_the_reference_ids(which, shared_data, tmp_path):
    """Each of the ~150,000 characters Python's tables assign (planes 0-3 and 14) between
    letters, after a space, before a digit, doubled: the regex engines' Unicode classes
    (Onig's for HF, fancy-regex's for tiktoken) and both NFCs agree on every one, for the
    GPT-2 regex behind NFC and added tokens (GPT-NeoX) and a translated Split regex."""
    from vocabularies import LLAMA3_PATTERN, cl100k_json

    if which == "neox":
        path = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    else:
        data = json.loads(cl100k_json(shared_data, tmp_path).read_text(encoding="utf-8"))
        data["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": LLAMA3_PATTERN}
        data["model"]["ignore_merges"] = True
        path = tmp_path / "llama3.json"
        path.write_text(json.dumps(data), encoding="utf-8")
    v = load_vocabulary(TokenizerConfig(name="v", path=str(path)), tmp_path / "out")
    assert v.engine == "tiktoken"
    chars = [chr(cp) for cp in itertools.chain(range(0x40000), range(0xE0000, 0xE1000))
             if not 0xD800 <= cp < 0xE000 and unicodedata.category(chr(cp)) != "Cn"]
    assert len(chars) > 140_000
    texts = [" ".join(f"a{c}b {c}1{c} {c}{c}\n" for c in chars[i:i + 500])
             for i in range(0, len(chars), 500)]
    got, want = v.encoder().encode_batch(texts), v.reference_encoder().encode_batch(texts)
    assert [i for i, (a, b) in enumerate(zip(got, want)) if len(a) != len(b) or (a != b).any()] == []


def test_neox_space_runs_cut_by_one_quantifier_as_by_the_alternation(shared_data):
    """GPT-NeoX's added tokens are the space runs of 2 to 24: the cut is ``( {2,24})``, and
    it splits texts of every run length (with the special tokens beside them) exactly
    where the leftmost-longest alternation of the tokens does. Any other set of tokens
    keeps the alternation."""
    import regex

    from pile.tokenize.pipeline import AddedToken, _run_pattern

    path = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    compiled = plan_tokenizer_json(json.loads(path.read_text(encoding="utf-8")),
                                   Tokenizer.from_file(str(path))).compile()
    assert compiled.cut.__self__.pattern == r"(\ {2,24})"
    alternation = regex.compile(f"({compiled.norm.regex.pattern})").split
    rng = random.Random(5)
    parts = [" " * n for n in range(1, 60)] + ["a", "\t", "\n", "<|endoftext|>", "<|padding|>", "x y"]
    texts = ["".join(rng.choice(parts) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    assert [compiled.cut(t) for t in texts] == [alternation(t) for t in texts]

    def runs(*lengths: int, char: str = " ") -> list[AddedToken]:
        return [AddedToken(char * n, 100 + n) for n in lengths]

    special = AddedToken("<|endoftext|>", 0, special=True)
    assert _run_pattern(runs(2, 3, 4), (*runs(2, 3, 4), special)) == r"\ {2,4}"
    assert _run_pattern(runs(2, 4), tuple(runs(2, 4))) is None  # a gap: "   " would differ
    assert _run_pattern(runs(2, 3) + runs(2, char="\t"), ()) is None  # two characters
    assert _run_pattern(runs(2, 3), (*runs(2, 3), AddedToken("< >", 1, special=True))) is None
    assert _run_pattern([AddedToken(" a", 5)], ()) is None


@pytest.mark.parametrize("which", ["gpt2/tokenizer.json", "gpt-neox-20b/20B_tokenizer.json"])
def test_the_guard_token_in_a_text_is_text_and_ids_come_as_one_array(which, shared_data):
    """Each tiktoken Encoding of a plan carries `GUARD_TOKEN` as a special token so its
    ids come back as tiktoken's own buffer; written inside a document it is plain text,
    encoded exactly as HF encodes those characters."""
    from pile.tokenize.pipeline import GUARD_TOKEN

    path = shared_data / "tokenizers" / which
    hf = Tokenizer.from_file(str(path))
    plan = plan_tokenizer_json(json.loads(path.read_text(encoding="utf-8")), hf)
    compiled = plan.compile()
    texts = [GUARD_TOKEN, f"a {GUARD_TOKEN}b", f"    {GUARD_TOKEN}\n\n  {GUARD_TOKEN * 3} end",
             "plain words", "    indented(code)\n"]
    hf.encode_special_tokens = True
    want = [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)]
    assert TiktokenPlanEncoder(plan, 0, np.int32).encode_ids(texts) == want
    assert all(isinstance(compiled.encode(t), np.ndarray) for t in texts)
