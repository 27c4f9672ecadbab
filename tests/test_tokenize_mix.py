"""The Pile's mix: config checks, epochs from budgets, the seeded plan, mixed shards, NeoX lines."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from pile.config import MixConfig, parse_config
from pile.errors import ConfigError, PileError
from pile.tokenize import ShardReader, ShardWriter, validate_shards
from pile.tokenize.mix import (
    MixResult, effective_epochs, load_mix_result, mix_markdown, mix_prefix, neox_data_config,
    plan_mix, run_mix, source_tokens, split_epochs, write_mix, write_neox_config,
)
from pile.tokenize.shards import find_shards

EOD = 0
VOCAB = 1000
REPO = Path(__file__).resolve().parents[1]


def base(**extra):
    data = {"sources": [{"name": "a", "kind": "files", "paths": ["x"]},
                        {"name": "b", "kind": "files", "paths": ["y"]}],
            "tokenizers": [{"name": "t", "train": {}}]}
    data.update(extra)
    return data


# -- config -----------------------------------------------------------------------------

def test_mix_config_defaults_and_values():
    cfg = parse_config(base())
    assert cfg.mix == MixConfig(enabled=True, seed=1234, token_budget={})
    cfg = parse_config(base(mix={"seed": 7, "token_budget": {"b": 1_000_000}}))
    assert cfg.mix.seed == 7 and cfg.mix.token_budget == {"b": 1_000_000}
    assert parse_config(base(mix=False)).mix.enabled is False
    assert parse_config(yaml.safe_load("sources: [{name: a, kind: files, paths: [x]}]\n"
                                       "tokenizers: [{name: t, train: {}}]\n"
                                       "mix: {token_budget: {a: 1_000_000_000}}\n")
                        ).mix.token_budget == {"a": 10**9}


@pytest.mark.parametrize("mix, field, words", [
    ({"seed": -1}, "mix.seed", "must be >= 0"),
    ({"seed": "x"}, "mix.seed", "expected an integer"),
    ({"token_budget": {"b": 0}}, "mix.token_budget.b", "must be >= 1"),
    ({"token_budget": {"b": -5}}, "mix.token_budget.b", "must be >= 1"),
    ({"token_budget": {"b": 1.5e9}}, "mix.token_budget.b", "expected an integer"),
    ({"token_budget": {"b": "1e9"}}, "mix.token_budget.b", "expected an integer"),
    ({"token_budget": {"b": True}}, "mix.token_budget.b", "expected an integer"),
    ({"token_budget": {"Bad Name": 5}}, "mix.token_budget", "keys must be source names"),
    ({"token_budget": {7: 5}}, "mix.token_budget", "keys must be source names"),
    ({"token_budget": [5]}, "mix.token_budget", "expected a mapping"),
    ({"bogus": 1}, "mix.bogus", "unknown key"),
])
def test_mix_config_validations_fire(mix, field, words):
    with pytest.raises(ConfigError) as err:
        parse_config(base(mix=mix))
    assert str(err.value).startswith(field + ":") and words in str(err.value)


@pytest.mark.parametrize("budget, tokenizers, field, words", [
    ({"zzz": 5}, 1, "mix.token_budget.zzz", "no source named 'zzz'"),
    ({"a": 5}, 0, "mix.token_budget", "needs at least one entry in tokenizers"),
])
def test_mix_check_sources_fires(budget, tokenizers, field, words):
    toks = [{"name": f"t{i}", "train": {}} for i in range(tokenizers)]
    with pytest.raises(ConfigError) as err:  # Config.validate runs check_sources
        parse_config(base(mix={"token_budget": budget}, tokenizers=toks))
    assert str(err.value).startswith(field + ":") and words in str(err.value)


def test_mix_check_sources_accepts_good_budgets():
    parse_config(base(mix={"token_budget": {"a": 5}})).mix.check_sources(("a", "b"), 1)
    MixConfig().check_sources(("a",), 0)  # no budget, no tokenizer needed


# -- epochs -----------------------------------------------------------------------------

@pytest.mark.parametrize("epochs, n, expected", [
    (1.0, 10, (1, 0)), (3.0, 10, (3, 0)), (2.5, 10, (2, 5)), (0.4, 10, (0, 4)),
    (0.25, 10, (0, 3)),          # 2.5 documents round half up
    (0.3, 10, (0, 3)),           # 0.3 * 10 is 3.0000000000000004 in floats
    (0.04, 10, (0, 0)), (1.5, 0, (1, 0)), (0.5, 1, (0, 1)),
    (2.9999999999, 10, (3, 0)),  # budget / tokens float error does not lose a pass
    (7 * (1 / 7) * 2, 5, (2, 0)),
])
def test_split_epochs(epochs, n, expected):
    assert split_epochs(epochs, n) == expected


@pytest.mark.parametrize("epochs", [-1.0, float("nan"), float("inf")])
def test_split_epochs_rejects(epochs):
    with pytest.raises(ValueError, match="epochs must be a finite number"):
        split_epochs(epochs, 3)


def test_effective_epochs_from_budget():
    got = effective_epochs({"a": 3.0, "b": 2.0, "c": 1.0}, {"b": 400, "c": 1000},
                           {"b": 1000, "c": 250})
    assert got == {"a": 3.0, "b": 2.5, "c": 0.25}
    assert list(got) == ["a", "b", "c"]
    assert effective_epochs({"a": 2}, {}, {}) == {"a": 2.0}


@pytest.mark.parametrize("tokens, budget, error, words", [
    ({"a": 10}, {"zzz": 5}, ConfigError, "mix.token_budget.zzz: no source named 'zzz'"),
    ({"a": 0}, {"a": 5}, PileError, "mix.token_budget.a: source 'a' has 0 tokens"),
    ({}, {"a": 5}, PileError, "mix.token_budget.a: no token count for source 'a'"),
])
def test_effective_epochs_errors(tokens, budget, error, words):
    with pytest.raises(error) as err:
        effective_epochs({"a": 1.0}, tokens, budget)
    assert words in str(err.value)


# -- the plan ---------------------------------------------------------------------------

COUNTS = {"a": 7, "b": 10, "c": 4}
EPOCHS = {"a": 2.0, "b": 1.5, "c": 0.5}


def test_plan_is_deterministic_and_seeded():
    one = plan_mix(COUNTS, EPOCHS, 1234).pairs()
    assert one == plan_mix(COUNTS, EPOCHS, 1234).pairs()
    other = plan_mix(COUNTS, EPOCHS, 99).pairs()
    assert other != one
    # A different seed reorders and picks other subsets, never other counts per source.
    assert Counter(s for s, _k in one) == Counter(s for s, _k in other)


def test_plan_is_shuffled_across_sources():
    pairs = plan_mix({"a": 200, "b": 200}, {"a": 1.0, "b": 1.0}, 5).pairs()
    first_half = Counter(s for s, _k in pairs[:200])
    assert 60 < first_half["a"] < 140  # not source after source
    assert [k for s, k in pairs if s == "a"] != list(range(200))


GOLDEN = [("b", 1), ("a", 1), ("a", 0), ("a", 2), ("b", 0), ("a", 2), ("a", 0)]


def test_plan_golden():
    """The plan is pinned: PCG64's raw stream and a stable argsort are the same on every
    machine and numpy version, so a change here means the mix of old configs changed."""
    got = plan_mix({"a": 3, "b": 2}, {"a": 1.5, "b": 1.0}, 1234).pairs()
    assert got == GOLDEN


@pytest.mark.parametrize("epochs, n, times", [
    (1.0, 9, {1: 9}),
    (3.0, 9, {3: 9}),
    (1.5, 9, {2: 5, 1: 4}),   # round(4.5) = 5 documents get a second pass
    (0.4, 10, {1: 4, 0: 6}),
    (2.25, 8, {3: 2, 2: 6}),
])
def test_plan_counts_exact(epochs, n, times):
    plan = plan_mix({"x": n, "y": 3}, {"x": epochs, "y": 1.0}, 3)
    seen = Counter(k for s, k in plan if s == "x")
    per_doc = Counter(seen.get(k, 0) for k in range(n))
    assert dict(per_doc) == times
    assert plan.documents("x") == sum(t * c for t, c in times.items())
    assert Counter(k for s, k in plan if s == "y") == Counter(range(3))


def test_subset_of_a_source_does_not_depend_on_other_sources():
    alone = plan_mix({"b": 50}, {"b": 0.3}, 11)
    more = plan_mix({"a": 20, "b": 50, "z": 9}, {"a": 2.0, "b": 0.3, "z": 1.0}, 11)
    assert np.array_equal(alone.subsets[0], more.subsets[1])
    assert len(alone.subsets[0]) == 15


def test_plan_same_in_another_process():
    code = ("from pile.tokenize.mix import plan_mix; import json, sys; "
            "json.dump(plan_mix({'a': 30, 'b': 20}, {'a': 1.7, 'b': 0.6}, 42).pairs(), sys.stdout)")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout
    here = plan_mix({"a": 30, "b": 20}, {"a": 1.7, "b": 0.6}, 42).pairs()
    assert [tuple(p) for p in json.loads(out)] == here


@pytest.mark.parametrize("counts, epochs, seed, words", [
    ({"a": 3}, {}, 1, "no epochs for source(s) a"),
    ({"a": -1}, {"a": 1.0}, 1, "document counts must be >= 0"),
    ({"a": 3}, {"a": 1.0}, -1, "seed must be >= 0"),
])
def test_plan_rejects(counts, epochs, seed, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        plan_mix(counts, epochs, seed)


def test_plan_pickles():
    plan = plan_mix(COUNTS, EPOCHS, 1)
    assert pickle.loads(pickle.dumps(plan)).pairs() == plan.pairs()


# -- writing the mix --------------------------------------------------------------------

def make_source(tokens_dir: Path, tok: str, name: str, n: int, seed: int, dtype=np.uint16,
                shard_tokens: int = 10**9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    docs = [np.append(rng.integers(1, VOCAB, size=int(rng.integers(4, 30))), EOD).astype(dtype)
            for _ in range(n)]
    with ShardWriter(tokens_dir / tok / name, dtype, shard_tokens) as w:
        for d in docs:
            w.add(d)
    return docs


@pytest.fixture
def corpus(tmp_path):
    tokens = tmp_path / "tokens"
    docs = {"a": make_source(tokens, "tok", "a", 40, 1, shard_tokens=200),  # several shards
            "b": make_source(tokens, "tok", "b", 25, 2),
            "c": make_source(tokens, "tok", "c", 12, 3)}
    return tokens, docs


MIX_EPOCHS = {"a": 2.0, "b": 1.5, "c": 0.4}


def test_write_mix_documents_counts_and_validation(corpus):
    tokens, docs = corpus
    result = write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, shard_tokens=300)
    plan = plan_mix({s: len(d) for s, d in docs.items()}, MIX_EPOCHS, 7).pairs()
    mixed = ShardReader(mix_prefix(tokens, "tok"))
    assert len(mixed) == len(plan) == result.documents
    for k, (source, index) in enumerate(plan):
        assert np.array_equal(mixed.document(k), docs[source][index]), (k, source, index)
    # Exact per-source counts, recomputed from the plan independently.
    for source in docs:
        picked = [index for s, index in plan if s == source]
        assert result.sources[source].documents == len(picked)
        assert result.sources[source].tokens == sum(len(docs[source][i]) for i in picked)
        assert result.sources[source].epochs == MIX_EPOCHS[source]
    assert result.sources["a"].documents == 80
    assert result.sources["b"].documents == 25 + 13  # round half up of 12.5
    assert result.sources["c"].documents == 5        # round(4.8)
    assert result.tokens == mixed.num_tokens == sum(c.tokens for c in result.sources.values())
    assert abs(sum(result.share(s) for s in docs) - 1) < 1e-12
    assert len(result.shards) > 1 and result.shards == [p.with_suffix(".bin") for p in
                                                         find_shards(mix_prefix(tokens, "tok"))]
    assert result.dtype == "uint16"
    assert validate_shards(mix_prefix(tokens, "tok"), VOCAB, EOD, result.documents,
                           result.tokens) == []
    assert validate_shards(tokens / "tok" / "mix", VOCAB, EOD) == []
    loaded = load_mix_result(tokens, "tok")
    assert loaded is not None and loaded.to_dict() == result.to_dict()
    summary = json.loads((tokens / "tok" / "mix" / "train.json").read_text())
    assert summary["sources"]["b"]["text_tokens"] == result.sources["b"].tokens - 38


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_write_mix_is_byte_identical_and_seeded(corpus, tmp_path):
    tokens, _docs = corpus
    write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    first = _files(tokens / "tok" / "mix")
    write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    assert _files(tokens / "tok" / "mix") == first
    write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 8, 300)
    assert _files(tokens / "tok" / "mix") != first
    # Fewer, larger shards replace the old ones without leaving stale files.
    result = write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 10**9)
    assert sorted(_files(tokens / "tok" / "mix")) == ["train.bin", "train.idx", "train.json"]
    assert validate_shards(tokens / "tok" / "mix", VOCAB, EOD, result.documents,
                           result.tokens) == []


def test_budget_drives_the_mix(corpus):
    tokens, docs = corpus
    have = source_tokens(tokens, "tok", ["a", "b", "c"])
    assert have["b"] == sum(len(d) for d in docs["b"])
    epochs = effective_epochs({"a": 1.0, "b": 1.0, "c": 1.0}, have, {"b": 3 * have["b"]})
    assert epochs["b"] == 3.0
    result = write_mix(tokens, "tok", ["a", "b", "c"], epochs, 1, 10**9)
    assert result.sources["b"].tokens == 3 * have["b"]
    assert result.sources["b"].documents == 75
    assert result.sources["a"].tokens == have["a"]


def test_damaged_source_fails_before_the_old_mix_is_touched(corpus):
    tokens, docs = corpus
    write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    before = _files(tokens / "tok" / "mix")
    # Cut the last two tokens of b's shard: its index describes more than the .bin holds.
    b_bin = tokens / "tok" / "b.bin"
    with open(b_bin, "r+b") as f:
        f.truncate(b_bin.stat().st_size - 2 * 2)
    want = sum(len(d) for d in docs["b"])
    with pytest.raises(PileError, match=f"b.bin: holds {want - 2} tokens, its index says {want}"):
        write_mix(tokens, "tok", ["a", "b", "c"], {"a": 1.0, "b": 1.0, "c": 1.0}, 7, 300)
    assert _files(tokens / "tok" / "mix") == before
    assert load_mix_result(tokens, "tok") is not None


KILL_SCRIPT = """
import sys
from pathlib import Path
from pile.tokenize.mix import write_mix
write_mix(Path(sys.argv[1]), "tok", ["big", "small"], {"big": 1.5, "small": 2.0}, 9, 200_000)
"""


def test_killed_mix_is_not_finished_and_a_rerun_gives_the_same_bytes(tmp_path):
    tokens = tmp_path / "tokens"
    rng = np.random.default_rng(0)
    with ShardWriter(tokens / "tok" / "big", np.uint16, 10**9) as w:
        for _ in range(60_000):
            w.add(np.append(rng.integers(1, VOCAB, size=4), EOD).astype(np.uint16))
    make_source(tokens, "tok", "small", 50, 1)
    script = tmp_path / "mix.py"
    script.write_text(KILL_SCRIPT)
    write_mix(tokens, "tok", ["big", "small"], {"big": 1.5, "small": 2.0}, 9, 200_000)
    good = _files(tokens / "tok" / "mix")
    assert load_mix_result(tokens, "tok") is not None

    proc = subprocess.Popen([sys.executable, str(script), str(tokens)], cwd=REPO)
    try:
        deadline = time.time() + 60
        while not list((tokens / "tok" / "mix").glob("*.bin.tmp")):
            assert proc.poll() is None, "the mix finished before it could be killed"
            assert time.time() < deadline
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert load_mix_result(tokens, "tok") is None  # never looks finished
    subprocess.run([sys.executable, str(script), str(tokens)], cwd=REPO, check=True)
    assert load_mix_result(tokens, "tok") is not None
    assert _files(tokens / "tok" / "mix") == good  # and no temporary file left behind


def test_tampered_mix_is_not_finished(corpus):
    tokens, _docs = corpus
    result = write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    with open(result.shards[-1], "ab") as f:
        f.write(b"\x00\x00")
    assert load_mix_result(tokens, "tok") is None
    result = write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    result.shards[0].with_suffix(".idx").unlink()
    assert load_mix_result(tokens, "tok") is None
    (tokens / "tok" / "mix" / "train.json").write_text("{not json")
    assert load_mix_result(tokens, "tok") is None
    assert load_mix_result(tokens, "nothing") is None


def test_write_mix_errors(corpus):
    tokens, _docs = corpus
    make_source(tokens, "tok", "wide", 3, 9, dtype=np.int32)
    with pytest.raises(PileError, match=r"disagree on dtype \(a=uint16, wide=int32\)"):
        write_mix(tokens, "tok", ["a", "wide"], {"a": 1.0, "wide": 1.0}, 1, 300)
    with pytest.raises(FileNotFoundError, match="no shards at"):
        write_mix(tokens, "tok", ["a", "missing"], {"a": 1.0, "missing": 1.0}, 1, 300)


def test_empty_sources_give_an_empty_valid_mix(tmp_path):
    tokens = tmp_path / "tokens"
    ShardWriter(tokens / "tok" / "a", np.uint16, 100).close()
    result = write_mix(tokens, "tok", ["a"], {"a": 2.0}, 1, 100)
    assert result.documents == result.tokens == 0
    assert validate_shards(mix_prefix(tokens, "tok"), VOCAB, EOD, 0, 0) == []


# -- NeoX lines and summaries -----------------------------------------------------------

def test_neox_config(corpus, tmp_path):
    tokens, docs = corpus
    have = source_tokens(tokens, "tok", ["a", "b", "c"])
    held = tmp_path / "held"
    make_source(held, "tok", "a_valid", 5, 20)
    make_source(held, "tok", "b_valid", 3, 21, shard_tokens=20)
    cfg = neox_data_config(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, have,
                           valid_prefixes=[held / "tok" / "a_valid", held / "tok" / "b_valid"],
                           test_prefixes=[held / "tok" / "a_valid"])
    for split in ("train", "valid", "test"):
        paths, weights = cfg[f"{split}_data_paths"], cfg[f"{split}_data_weights"]
        assert len(paths) == len(weights) and abs(sum(weights) - 1) < 1e-12
        for p in paths:
            assert Path(p).is_absolute()
            assert Path(p + ".bin").is_file() and Path(p + ".idx").is_file()
    # Weights are each source's share of tokens x epochs, split over its shards.
    mass = {s: have[s] * MIX_EPOCHS[s] for s in have}
    by_source = Counter()
    for p, w in zip(cfg["train_data_paths"], cfg["train_data_weights"]):
        by_source[Path(p).name.split("_")[0]] += w
    for s in mass:
        assert by_source[s] == pytest.approx(mass[s] / sum(mass.values()), rel=1e-12)
    assert len([p for p in cfg["train_data_paths"] if Path(p).name.startswith("a_")]) > 1
    assert cfg["test_data_weights"] == [1.0]
    out = write_neox_config(tmp_path / "neox.yml", cfg)
    text = out.read_text()
    assert text.startswith("# GPT-NeoX data lines")
    assert yaml.safe_load(text) == cfg


def test_neox_config_errors(corpus):
    tokens, _docs = corpus
    with pytest.raises(PileError, match="every source has 0 tokens x epochs"):
        neox_data_config(tokens, "tok", ["a"], {"a": 1.0}, {"a": 0})
    with pytest.raises(FileNotFoundError, match="no shards at"):
        neox_data_config(tokens, "tok", ["a", "zz"], {"a": 1.0, "zz": 1.0}, {"a": 5, "zz": 5})


def test_markdown_and_roundtrip(corpus):
    tokens, _docs = corpus
    result = write_mix(tokens, "tok", ["a", "b", "c"], MIX_EPOCHS, 7, 300)
    text = mix_markdown([result])
    assert "### tok (seed 7" in text
    row = f"| b | 1.5 | {result.sources['b'].documents:,} | {result.sources['b'].tokens:,} |"
    assert row in text
    assert f"| TOTAL | | {result.documents:,} | {result.tokens:,} |" in text
    back = MixResult.from_dict(json.loads(json.dumps(result.to_dict())), result.shards[0].parent)
    assert back.to_dict() == result.to_dict()
    assert pickle.loads(pickle.dumps(result)).to_dict() == result.to_dict()


# -- the whole step with real vocabularies ----------------------------------------------

def test_run_mix_with_real_vocabularies(tmp_path, shared_data):
    from tokenizers import Tokenizer

    from pile.tokenize.vocab import dtype_for

    tok_dir = shared_data / "tokenizers"
    cfg = parse_config({
        "sources": [{"name": "shakespeare", "kind": "files", "paths": ["x"], "epochs": 2},
                    {"name": "wiki", "kind": "files", "paths": ["y"], "epochs": 1}],
        "tokenizers": [{"name": "gpt2", "path": str(tok_dir / "gpt2" / "tokenizer.json")},
                       {"name": "neox", "path": str(tok_dir / "gpt-neox-20b" /
                                                    "20B_tokenizer.json")}],
        "mix": {"seed": 3, "token_budget": {"wiki": 1500}},
        "output": {"shard_tokens": 2000},
    })
    raw = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    texts = {"shakespeare": [p for p in raw.split("\n\n") if p.strip()][:60]}
    wiki = sorted((shared_data / "text" / "wikitext-2").rglob("*"))
    wtext = next(p for p in wiki if p.is_file()).read_text(encoding="utf-8")
    texts["wiki"] = [p for p in wtext.split("\n \n") if len(p.strip()) > 40][:40]
    assert len(texts["shakespeare"]) == 60 and len(texts["wiki"]) == 40
    tokens = tmp_path / "tokens"
    vocabs = {}  # name -> (HF tokenizer, EOD id); ids straight from the real vocabularies
    for tc in cfg.tokenizers:
        hf = Tokenizer.from_file(tc.path)
        eod = hf.token_to_id("<|endoftext|>")
        vocabs[tc.name] = (hf, eod)
        for name, docs in texts.items():
            with ShardWriter(tokens / tc.name / name, dtype_for(hf.get_vocab_size()), 2000) as w:
                for enc in hf.encode_batch(docs, add_special_tokens=False):
                    w.add(np.array(enc.ids + [eod]))

    results = run_mix(cfg, tokens, ["shakespeare", "wiki"])
    assert set(results) == {"gpt2", "neox"}
    wiki_gpt2 = source_tokens(tokens, "gpt2", ["wiki"])["wiki"]
    plans = {}
    for name, result in results.items():
        hf, eod = vocabs[name]
        assert result.sources["shakespeare"].epochs == 2.0
        assert result.sources["wiki"].epochs == pytest.approx(1500 / wiki_gpt2)
        assert result.sources["shakespeare"].documents == 120
        mixed = ShardReader(mix_prefix(tokens, name))
        plan = plan_mix({"shakespeare": 60, "wiki": 40},
                        {s: c.epochs for s, c in result.sources.items()}, 3).pairs()
        plans[name] = plan
        assert len(plan) == len(mixed) == result.documents
        for k, (source, index) in enumerate(plan):
            ids = mixed.document(k)
            assert ids[-1] == eod
            assert hf.decode(ids[:-1].tolist(), skip_special_tokens=False) == texts[source][index]
        assert validate_shards(mix_prefix(tokens, name), hf.get_vocab_size(), eod,
                               result.documents, result.tokens) == []
        neox = yaml.safe_load((tokens / name / "neox_data.yml").read_text())
        assert abs(sum(neox["train_data_weights"]) - 1) < 1e-12
        assert neox["train_data_paths"][0] == f"tokens/{name}/shakespeare_00000"
        assert all((tmp_path / (p + ".bin")).is_file() for p in neox["train_data_paths"])
    # Same epochs for every vocabulary: the same documents in the same order.
    assert plans["gpt2"] == plans["neox"]
    # The budget is met in the first tokenizer's tokens up to the fractional subset.
    assert abs(results["gpt2"].sources["wiki"].tokens - 1500) < 1500 * 0.5
    assert run_mix(parse_config({**base(), "mix": {"enabled": False}}), tokens, ["a"]) == {}


def _build_cfg(**mix):
    return parse_config({
        "sources": [{"name": "a", "kind": "files", "paths": ["x"], "epochs": 2},
                    {"name": "b", "kind": "files", "paths": ["y"], "epochs": 0.5},
                    {"name": "c", "kind": "files", "paths": ["z"]}],
        "tokenizers": [{"name": "tok", "train": {"vocab_size": 300}},
                       {"name": "tok2", "train": {"vocab_size": 400}}],
        "mix": mix, "output": {"shard_tokens": 300},
    })


def _out_tree(out: Path) -> dict[str, bytes]:
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ("mix" in p.parts or p.name == "neox_data.yml")}


def test_run_mix_reuses_up_to_date_mix_and_is_the_same_in_another_folder(tmp_path):
    outs = []
    for folder in ("one", "two"):
        tokens = tmp_path / folder / "tokens"
        for tok in ("tok", "tok2"):
            for i, (name, n) in enumerate((("a", 30), ("b", 20), ("c", 10))):
                make_source(tokens, tok, name, n, i)
        outs.append(tokens)
    cfg = _build_cfg(seed=5)
    fps = {"a": "fa", "b": "fb", "c": "fc"}
    first = run_mix(cfg, outs[0], ["a", "b", "c"], fps)
    assert not any(r.reused for r in first.values())
    run_mix(cfg, outs[1], ["a", "b", "c"], fps)
    # Byte-identical wherever the build lives (NeoX paths are relative to OUT).
    assert _out_tree(outs[0].parent) == _out_tree(outs[1].parent)
    assert first["tok"].sources["b"].documents == 10

    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns)
              for p in (outs[0] / "tok").rglob("*") if p.is_file()}
    again = run_mix(cfg, outs[0], ["a", "b", "c"], fps)
    assert all(r.reused for r in again.values())
    assert again["tok"].to_dict() == first["tok"].to_dict()
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stamps} == stamps

    changed = run_mix(cfg, outs[0], ["a", "b", "c"], {**fps, "c": "fc2"})
    assert not any(r.reused for r in changed.values())
    assert changed["tok"].inputs != first["tok"].inputs
    assert not run_mix(_build_cfg(seed=6), outs[0], ["a", "b", "c"], fps)["tok"].reused
    assert not any(r.reused for r in run_mix(cfg, outs[0], ["a", "b", "c"]).values())


def test_run_mix_budget_uses_first_tokenizer(tmp_path):
    tokens = tmp_path / "tokens"
    make_source(tokens, "tok", "a", 30, 0)
    make_source(tokens, "tok", "b", 20, 1)
    make_source(tokens, "tok", "c", 10, 2)
    for name, n in (("a", 30), ("b", 20), ("c", 10)):  # tok2: other token counts
        make_source(tokens, "tok2", name, n, 10 + n)
    have = source_tokens(tokens, "tok", ["c"])["c"]
    results = run_mix(_build_cfg(token_budget={"c": 2 * have}), tokens, ["a", "b", "c"])
    assert results["tok"].sources["c"].epochs == 2.0
    assert results["tok2"].sources["c"].epochs == 2.0
    assert results["tok"].sources["c"].tokens == 2 * have
    # A budget for a source that was not built is ignored (logged), not an error.
    results = run_mix(_build_cfg(token_budget={"c": 2 * have}), tokens, ["a", "b"])
    assert set(results["tok"].sources) == {"a", "b"}


# -- neox_data.yml as GPT-NeoX reads it -------------------------------------------------
#
# What GPT-NeoX (EleutherAI/gpt-neox, read at commit ea7aefd8) does with these keys,
# reproduced step by step (its code is not copied, only its documented behaviour):
# 1. megatron/neox_arguments/arguments.py, NeoXArgs: weights default to [1.0] per path when
#    absent; train, valid and test data paths are given all together or not at all
#    (`any(has_separate_path) == all(has_separate_path)`); each path list is as long as
#    its weight list.
# 2. megatron/data/data_utils.py, get_normalized_weights_and_num_samples: `sum(weights)`
#    must be > 0, weights are divided by it, and each dataset draws
#    ceil(num_samples * weight * 1.005) samples.
# 3. megatron/data/indexed_dataset.py, make_dataset: a prefix whose ``.idx`` or ``.bin``
#    does not exist (os.path.exists, so relative to the working directory) gives None.

def _neox_num_samples(data: dict, split: str, num_samples: int) -> list[int]:
    paths = data.get(f"{split}_data_paths")
    weights = data.get(f"{split}_data_weights")
    if paths and weights is None:
        weights = [1.0] * len(paths)
    assert len(paths) == len(weights), split
    total = sum(weights)  # a missing list is sum(None): the TypeError of a split-less build
    assert total > 0.0
    return [int(np.ceil(num_samples * w / total * 1.005)) for w in weights]


def _neox_reads(data: dict, split: str) -> list[ShardReader]:
    out = []
    for prefix in data[f"{split}_data_paths"]:
        exists = os.path.exists(prefix + ".idx") and os.path.exists(prefix + ".bin")
        assert exists, f"GPT-NeoX's make_dataset gives None for {prefix} from {os.getcwd()}"
        out.append(ShardReader(prefix))
    return out


def _neox_load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    has = [data.get(f"{s}_data_paths") is not None for s in ("train", "valid", "test")]
    assert any(has) == all(has), data
    return data


@pytest.mark.parametrize("held_out", [False, True], ids=["no-splits", "val-and-test"])
def test_neox_data_yml_is_read_by_gpt_neox_from_any_directory(tmp_path, monkeypatch, held_out):
    out = tmp_path / "out"
    tokens = out / "tokens"
    for i, (name, n) in enumerate((("a", 30), ("b", 20))):
        make_source(tokens, "tok", name, n, i, shard_tokens=300)
        if held_out:
            make_source(out / "val" / "tokens", "tok", name, 3, 10 + i)
            make_source(out / "test" / "tokens", "tok", name, 2, 20 + i)
    base = {"sources": [{"name": "a", "kind": "files", "paths": ["x"], "epochs": 2},
                        {"name": "b", "kind": "files", "paths": ["y"]}],
            "tokenizers": [{"name": "tok", "train": {"vocab_size": 300}}]}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # default: relative to OUT, so the trainer starts there (and the header says so)
    run_mix(parse_config(base), tokens, ["a", "b"])
    yml = tokens / "tok" / "neox_data.yml"
    assert "--set mix.neox_prefix=" in yml.read_text()
    assert ("repeat the training shards" in yml.read_text()) is not held_out
    monkeypatch.chdir(out)
    data = _neox_load(yml)
    for split in ("train", "valid", "test"):
        assert all(n > 0 for n in _neox_num_samples(data, split, 1000))
        assert len(_neox_reads(data, split)) == len(data[f"{split}_data_paths"])
    # with the prefix set, from anywhere
    run_mix(parse_config({**base, "mix": {"neox_prefix": str(out)}}), tokens, ["a", "b"])
    monkeypatch.chdir(elsewhere)
    data = _neox_load(yml)
    assert all(Path(p).is_absolute() for s in ("train", "valid", "test")
               for p in data[f"{s}_data_paths"])
    readers = {s: _neox_reads(data, s) for s in ("train", "valid", "test")}
    if held_out:
        assert sum(len(r) for r in readers["valid"]) == 6 and sum(len(r) for r in readers["test"]) == 4
    else:  # no held-out split: the training shards with the training weights
        assert data["valid_data_paths"] == data["test_data_paths"] == data["train_data_paths"]
    # weights: the share of tokens x epochs, as GPT-NeoX draws them
    samples = _neox_num_samples(data, "train", 10_000)
    mass, drawn = Counter(), Counter()
    for reader, n, path in zip(readers["train"], samples, data["train_data_paths"]):
        source = Path(path).name.split("_")[0]
        mass[source] += reader.num_tokens * {"a": 2, "b": 1}[source]
        drawn[source] += n
    assert drawn["a"] / sum(samples) == pytest.approx(mass["a"] / sum(mass.values()), abs=2e-3)
