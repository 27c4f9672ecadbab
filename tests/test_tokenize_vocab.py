"""Every vocabulary kind loads from shared data, is saved exactly, and round-trips documents."""

from __future__ import annotations

import hashlib
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pile.config import TokenizerConfig, TrainConfig, parse_config
from pile.errors import ConfigError
from pile.tokenize import load_vocabulary
from pile.tokenize.vocab import decode, train_bpe

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "The Pile is an 825 GiB diverse, open source language modelling data set. Café naïve 東京 😀"
TRICKY = ["", " ", "a  b   c", "  lead", "trail  ", "x\n\n\ny\r\n", "tab\t\tz", "1234567",
          "<|endoftext|> </s> [INST] <s>", "don't WE'LL", "\ufeffBOM", "😀" * 3, "ｶﾀｶﾅ ｱ"]


def tok_dir(shared: Path) -> Path:
    return shared / "tokenizers"


# name, config kwargs (paths relative to shared/data/tokenizers), vocab size, eod token, engine
KINDS = [
    ("gpt2", {"path": "gpt2/tokenizer.json"}, 50257, "<|endoftext|>", "tiktoken"),
    ("neox", {"path": "gpt-neox-20b/20B_tokenizer.json"}, 50277, "<|endoftext|>", "tiktoken"),
    ("cl100k", {"tiktoken": "tiktoken/cl100k_base.tiktoken"}, 100277, "<|endoftext|>", "tiktoken"),
    ("r50k", {"tiktoken": "tiktoken/gpt2.tiktoken", "encoding": "gpt2"}, 50257, "<|endoftext|>",
     "tiktoken"),
    ("p50k", {"tiktoken": "tiktoken/p50k_base.tiktoken"}, 50281, "<|endoftext|>", "tiktoken"),
    ("mistral-v1", {"sentencepiece": "mistral/tokenizer.model.v1"}, 32000, "</s>", "tiktoken"),
    ("mistral-v3", {"sentencepiece": "mistral/mistral_instruct_tokenizer_240323.model.v3"}, 32768,
     "</s>", "tiktoken"),
]


def make_cfg(shared: Path, name: str, kwargs: dict) -> TokenizerConfig:
    fixed = {k: (str(tok_dir(shared) / v) if k in ("path", "tiktoken", "sentencepiece") else v)
             for k, v in kwargs.items()}
    return TokenizerConfig(name=name, **fixed)


@pytest.fixture(scope="session")
def vocabs(shared_data, tmp_path_factory):
    out = {}
    root = tmp_path_factory.mktemp("vocabs")
    for name, kwargs, *_ in KINDS:
        out[name] = load_vocabulary(make_cfg(shared_data, name, kwargs), root / name)
    return out


@pytest.mark.parametrize("name,kwargs,size,eod,engine", KINDS, ids=[k[0] for k in KINDS])
def test_every_kind_loads_and_round_trips(vocabs, shared_data, name, kwargs, size, eod, engine):
    v = vocabs[name]
    assert (v.vocab_size, v.eod_token, v.engine) == (size, eod, engine)
    assert v.dtype == (np.uint16 if size < 65500 else np.int32)
    src = tok_dir(shared_data) / next(iter(p for k, p in kwargs.items() if k != "encoding"))
    assert v.file.read_bytes() == src.read_bytes()  # the exact vocabulary is saved
    assert v.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    enc = pickle.loads(pickle.dumps(v.encoder()))  # Ray ships encoders pickled
    enc.setup()
    texts = [SAMPLE] + TRICKY
    arrays = enc.encode_batch(texts)
    assert all(a.dtype == v.dtype and a[-1] == v.eod_id for a in arrays)
    for text, ids in zip(texts, arrays):
        # every kind here is lossless: decoding the document's ids gives its text back
        assert decode(v, ids[:-1]) == text, (name, text)
    # a lone surrogate (not UTF-8 encodable) is encoded as U+FFFD, as tiktoken does
    broken, fixed = enc.encode_batch(["a\ud800b", "a\ufffdb"])
    assert broken.tolist() == fixed.tolist()
    # specials written inside a document are text, never the EOD id
    inside = enc.encode_batch(["a<|endoftext|>b</s>c"])[0]
    assert int((inside == v.eod_id).sum()) == 1


def test_bert_wordpiece_is_out_of_scope(shared_data, tmp_path):
    # vocab.txt is not a tokenizer.json: a clear config error, not a crash
    cfg = TokenizerConfig(name="bert", path=str(tok_dir(shared_data) / "bert-base-uncased/vocab.txt"))
    with pytest.raises(ConfigError, match=r"tokenizers\.bert\.path: .*not a loadable tokenizer\.json"):
        load_vocabulary(cfg, tmp_path)


def corpus_texts(shared: Path) -> list[str]:
    texts = []
    for path in sorted((shared / "text").rglob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace")
        texts += [text[i:i + 8000] for i in range(0, min(len(text), 60_000), 8000)]
    return texts


def test_training_is_deterministic_and_usable(shared_data, tmp_path):
    texts = corpus_texts(shared_data)
    cfg = TokenizerConfig(name="bpe2k", train=TrainConfig(vocab_size=2000))
    v = load_vocabulary(cfg, tmp_path / "a", train_texts=lambda: texts)
    assert (v.kind, v.engine, v.vocab_size, v.eod_id, v.eod_token) == \
        ("train", "tiktoken", 2000, 0, "<|endoftext|>")
    # same texts -> same tokenizer.json bytes, in a fresh process too
    script = ("import sys, json; sys.path.insert(0, sys.argv[1]);"
              "from pile.config import TrainConfig; from pile.tokenize.vocab import train_bpe;"
              "texts = json.load(open(sys.argv[2]));"
              "sys.stdout.write(train_bpe(texts, TrainConfig(vocab_size=2000)).to_str(pretty=False))")
    dump = tmp_path / "texts.json"
    import json
    dump.write_text(json.dumps(texts))
    fresh = subprocess.run([sys.executable, "-c", script, str(REPO), str(dump)], check=True,
                           capture_output=True, text=True, env={"RAYON_NUM_THREADS": "1",
                                                                "PATH": "/usr/bin:/bin"})
    assert hashlib.sha256(fresh.stdout.encode()).hexdigest() == v.sha256
    enc = v.encoder()
    ids = enc.encode_batch([SAMPLE])[0]
    assert decode(v, ids[:-1]) == SAMPLE and ids[-1] == 0
    # a different size is a different vocabulary
    small = train_bpe(texts[:4], TrainConfig(vocab_size=500))
    assert small.get_vocab_size() == 500


def test_training_byte_cap(shared_data):
    texts = corpus_texts(shared_data)
    seen = []

    def spy():
        for t in texts:
            seen.append(t)
            yield t
    train_bpe(spy(), TrainConfig(vocab_size=300, max_bytes=20_000))
    assert 2 <= len(seen) <= 5  # stops right after the cap (8 kB documents)


@pytest.mark.parametrize("kwargs,match", [
    ({"train": TrainConfig(vocab_size=300)}, r"tokenizers\.t\.train: training needs the corpus"),
    ({"path": "gpt2/tokenizer.json", "eod": "<nope>"}, r"tokenizers\.t\.eod: token '<nope>' is not"),
    ({"tiktoken": "tiktoken/gpt2.tiktoken", "encoding": "o999k"},
     r"tokenizers\.t\.encoding: unknown encoding 'o999k'"),
    ({"tiktoken": "tiktoken/cl100k_base.tiktoken", "encoding": "gpt2"},
     r"tokenizers\.t\.encoding: .* does not fit encoding 'gpt2'"),
    ({"sentencepiece": "gpt2/merges.txt"}, r"tokenizers\.t\.sentencepiece: .*not a SentencePiece"),
])
def test_config_errors(shared_data, tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        load_vocabulary(make_cfg(shared_data, "t", kwargs), tmp_path)


def test_unknown_tiktoken_file_needs_encoding(shared_data, tmp_path):
    changed = tmp_path / "mine.tiktoken"
    changed.write_bytes((tok_dir(shared_data) / "tiktoken/gpt2.tiktoken").read_bytes()[:-1] + b"\n\n")
    with pytest.raises(ConfigError, match=r"tokenizers\.t\.encoding: mine\.tiktoken is not one"):
        load_vocabulary(TokenizerConfig(name="t", tiktoken=str(changed)), tmp_path / "o")
    v = load_vocabulary(TokenizerConfig(name="t", tiktoken=str(changed), encoding="gpt2"),
                        tmp_path / "o")
    assert v.encoding == "gpt2" and v.vocab_size == 50257


def test_custom_eod(shared_data, tmp_path):
    v = load_vocabulary(make_cfg(shared_data, "n", {"path": "gpt-neox-20b/20B_tokenizer.json",
                                                     "eod": "<|padding|>"}), tmp_path)
    assert (v.eod_token, v.eod_id) == ("<|padding|>", 1)
    assert v.encoder().encode_batch(["hi"])[0][-1] == 1


def test_hub_offline_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"tokenizers\.h\.hub: HF_HUB_OFFLINE is set"):
        load_vocabulary(TokenizerConfig(name="h", hub="gpt2"), tmp_path)


def test_config_section_parses(shared_data):
    cfg = parse_config({"sources": [{"name": "a", "kind": "files", "paths": ["x"]}],
                        "tokenizers": [{"name": "bpe8k", "train": {"vocab_size": 8000}},
                                       {"name": "cl", "tiktoken": str(tok_dir(shared_data) /
                                                                      "tiktoken/cl100k_base.tiktoken")}]})
    assert cfg.tokenizers[0].train.vocab_size == 8000
    with pytest.raises(ConfigError, match=r"tokenizers\[0\]\.train\.vocab_size"):
        parse_config({"sources": [{"name": "a", "kind": "files"}],
                      "tokenizers": [{"name": "b", "train": {"vocab_size": 10}}]})


def test_import_tokenize_is_the_standard_library():
    # `pile/tokenize/` must never shadow the stdlib module, even from the repository root.
    out = subprocess.run([sys.executable, "-c", "import tokenize, inspect; print(tokenize.__file__)"],
                         cwd=REPO, check=True, capture_output=True, text=True).stdout
    assert "/pile/" not in out and out.strip().endswith("tokenize.py")


def test_a_second_load_of_the_same_bytes_reuses_the_analysis_and_a_changed_file_does_not(
        shared_data, tmp_path):
    """`Build.check` and the tokenize phase both load each vocabulary; the second load of
    the same bytes and entry reuses the first one's analysis (engine, eod, size), and any
    change of the file is analysed again."""
    import json

    from pile.tokenize import vocab as vocab_module
    from pile.tokenize.vocab import load_vocabulary

    src = tmp_path / "gpt2.json"
    src.write_bytes((shared_data / "tokenizers" / "gpt2" / "tokenizer.json").read_bytes())
    cfg = TokenizerConfig(name="gpt2", path=str(src))
    first = load_vocabulary(cfg, tmp_path / "a")
    cached = len(vocab_module._ANALYSES)
    second = load_vocabulary(cfg, tmp_path / "b")
    assert len(vocab_module._ANALYSES) == cached
    assert {**first.to_dict()} == {**second.to_dict()} and second.file == tmp_path / "b" / "tokenizer.json"
    assert second.engine == "tiktoken"
    # The same vocabulary with one more added token: new bytes, a new analysis.
    data = json.loads(src.read_text())
    data["added_tokens"].append({"id": 50257, "content": "<|pad|>", "single_word": False, "lstrip": False,
                                 "rstrip": False, "normalized": False, "special": True})
    src.write_text(json.dumps(data))
    third = load_vocabulary(cfg, tmp_path / "c")
    assert len(vocab_module._ANALYSES) == cached + 1
    assert third.vocab_size == first.vocab_size + 1 and third.sha256 != first.sha256


def _fields(plan) -> dict:
    """A plan's fields (either kind is a dataclass, as its ranks are), arrays as lists."""
    return {k: _fields(v) if hasattr(v, "__dataclass_fields__") else
            v.tolist() if isinstance(v, np.ndarray) else v for k, v in vars(plan).items()}


@pytest.mark.parametrize("name", ["gpt2", "neox", "mistral-v1", "mistral-v3"])
def test_the_loaded_plan_is_kept_and_read_back_by_the_workers(vocabs, shared_data, tmp_path, name):
    """The worker that loads a vocabulary keeps its derived tiktoken plan beside it (a
    tokenizer.json's or a SentencePiece model's); an encoder rebuilt from the manifest
    entry (as on the other workers) reads it back and encodes the same ids; a plan of
    other bytes, or a missing one, is not read (derived again)."""
    from pile.tokenize import vocab as vocab_module
    from pile.tokenize.pipeline import load_plan
    from pile.tokenize.sp_ranks import load_sp_plan
    from pile.tokenize.vocab import Vocabulary, keep_plan, plan_file

    loaded = vocabs[name]
    load = load_sp_plan if loaded.file.suffix == ".model" else load_plan
    assert loaded.plan is not None and not plan_file(loaded.file).exists()
    keep_plan(loaded)
    kept = plan_file(loaded.file)
    assert kept.name.startswith(".") and kept.is_file()  # hidden: not a manifest artifact
    back = load(kept, loaded.sha256)
    assert back is not None and type(back) is type(loaded.plan)
    assert _fields(back) == _fields(loaded.plan)
    assert load(kept, "0" * 64) is None and load(tmp_path / "missing.npz", loaded.sha256) is None
    other = load_sp_plan if load is load_plan else load_plan
    assert other(kept, loaded.sha256) is None  # the other kind's format is refused
    with np.load(kept) as z:  # a file of the right format and vocabulary, an array short
        arrays = {k: z[k] for k in z.files if k != "ranks"}
    np.savez(tmp_path / "damaged.npz", **arrays)
    assert load(tmp_path / "damaged.npz", loaded.sha256) is None
    vocab_module._plan_of.cache_clear()
    entry = Vocabulary.from_dict(loaded.to_dict(), loaded.file.parent)  # as a worker gets it
    assert entry.plan is None
    enc = pickle.loads(pickle.dumps(entry.encoder()))

    def derive(*_args):
        raise AssertionError("derived, not read from the kept plan")

    with pytest.MonkeyPatch.context() as mp:  # the kept plan is read: nothing is derived
        mp.setattr("pile.tokenize.sp_ranks.plan_sentencepiece", derive)
        mp.setattr("pile.tokenize.pipeline.plan_tokenizer_json", derive)
        enc.setup()
    ref = loaded.encoder()
    ref.setup()
    texts = TRICKY + [SAMPLE, "def f(x):\n        return  x\n\t\tpass\n"]
    assert [a.tolist() for a in enc.encode_batch(texts)] == [a.tolist() for a in ref.encode_batch(texts)]
    kept.unlink()
