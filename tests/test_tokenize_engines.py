"""The faster engines give identical ids to the reference engine on the test corpora.

The test corpora: every text under ``shared/data/text`` and every sample under
``shared/data/samples`` (decompressed), capped per file, cut into documents, plus a few
Python standard library sources and hand-picked edge cases. The 100 MB comparison is
``tests/test_tokenize_parity.py``.
"""

from __future__ import annotations

import bz2
import gzip
import json
import sysconfig
from pathlib import Path

import pytest
import tiktoken
from tiktoken.load import load_tiktoken_bpe

from pile.config import TokenizerConfig
from pile.tokenize import load_vocabulary
from pile.tokenize.convert import TIKTOKEN_ENCODINGS, tiktoken_to_hf
from pile.tokenize.engines import HFEncoder, TiktokenEncoder

PER_FILE = 150_000  # characters per corpus file: every file and script is represented
DOC_CHARS = 12_000
EDGE = ["", " ", "\n", "a  b   c    d", "  lead", "trail   ", "x\n\n\ny\r\n\r\nz", "\t\tq",
        "1234567890 12 1", "<|endoftext|> <|fim_prefix|>", "don't DON'T we'll I'M", "\ufeffBOM",
        "😀😀 東京 Café naïve", "\u00a0nbsp\u2003em", "a\u0301 e\u0308", "ｶﾀｶﾅ", " \n \n ",
        "lone\ud800surrogate"]


def _read(path: Path) -> str:
    raw = path.read_bytes()
    if path.suffix == ".bz2":
        raw = bz2.decompress(raw)
    elif path.suffix == ".gz":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", errors="replace")


@pytest.fixture(scope="session")
def corpus(shared_data) -> list[str]:
    files = sorted((shared_data / "text").rglob("*")) + sorted((shared_data / "samples").rglob("*"))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files += [stdlib / name for name in ("tokenize.py", "inspect.py", "email/_header_value_parser.py")]
    docs = []
    for path in files:
        if not path.is_file():
            continue
        text = _read(path)[:PER_FILE]
        docs += [text[i:i + DOC_CHARS] for i in range(0, len(text), DOC_CHARS)]
    assert len(docs) > 250  # about 40 files, each one present
    return docs + EDGE


def _assert_same(a: list, b: list, texts: list[str]) -> None:
    bad = [i for i, (x, y) in enumerate(zip(a, b)) if list(x) != list(y)]
    assert len(a) == len(b) and not bad, f"{len(bad)} documents differ, first: {texts[bad[0]][:80]!r}"


def test_gpt2_tokenizer_json_gets_tiktoken_and_same_ids(shared_data, corpus, tmp_path):
    path = shared_data / "tokenizers/gpt2/tokenizer.json"
    v = load_vocabulary(TokenizerConfig(name="gpt2", path=str(path)), tmp_path)
    assert (v.engine, v.encoding) == ("tiktoken", "r50k_base")
    fast = v.encoder().encode_batch(corpus)
    reference = v.reference_encoder().encode_batch(corpus)
    _assert_same(fast, reference, corpus)
    # OpenAI's own gpt2.tiktoken file gives the same ids as well
    pat, specials = TIKTOKEN_ENCODINGS["r50k_base"]
    whisper = TiktokenEncoder(shared_data / "tokenizers/tiktoken/gpt2.tiktoken", "gpt2", pat,
                              specials, v.eod_id, v.dtype).encode_batch(corpus)
    _assert_same(whisper, reference, corpus)


def test_cl100k_tiktoken_equals_hf_conversion(shared_data, corpus, tmp_path):
    src = shared_data / "tokenizers/tiktoken/cl100k_base.tiktoken"
    v = load_vocabulary(TokenizerConfig(name="cl100k", tiktoken=str(src)), tmp_path)
    pat, specials = TIKTOKEN_ENCODINGS["cl100k_base"]
    hf = tiktoken_to_hf(load_tiktoken_bpe(str(src)), pat, specials)
    hf.save(str(tmp_path / "cl100k.json"))
    reference = HFEncoder(tmp_path / "cl100k.json", v.eod_id, v.dtype).encode_batch(corpus)
    _assert_same(v.encoder().encode_batch(corpus), reference, corpus)


def test_tiktoken_regexes_are_tiktokens_own():
    import inspect

    from tiktoken_ext import openai_public

    assert TIKTOKEN_ENCODINGS["r50k_base"][0] == openai_public.r50k_pat_str
    assert TIKTOKEN_ENCODINGS["p50k_base"][0] == openai_public.r50k_pat_str
    assert TIKTOKEN_ENCODINGS["cl100k_base"][0] in inspect.getsource(openai_public.cl100k_base)


def _variant(src: Path, dest: Path, change) -> Path:
    data = json.loads(src.read_text(encoding="utf-8"))
    change(data)
    dest.write_text(json.dumps(data), encoding="utf-8")
    return dest


def _swap_ids(data):
    vocab = data["model"]["vocab"]
    vocab["the"], vocab["ing"] = vocab["ing"], vocab["the"]


def _extra_special(data):
    data["added_tokens"].append({"id": 50257, "content": "<|pad|>", "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": True})


def _swap_and_add(data):
    # ids out of merge order (ranks mapped to ids) together with added tokens cut from the text
    _swap_ids(data)
    data["added_tokens"].append({"id": 50257, "content": "ing", "single_word": False,
                                 "lstrip": True, "rstrip": False, "normalized": True,
                                 "special": False})


@pytest.mark.parametrize("change", [
    lambda d: d.update(normalizer={"type": "NFC"}),
    lambda d: d.update(normalizer={"type": "Lowercase"}),
    lambda d: d["pre_tokenizer"].update(add_prefix_space=True),
    _swap_ids,
    _extra_special,
    _swap_and_add,
], ids=["nfc", "lowercase", "prefix_space", "swapped_ids", "extra_special", "swapped_and_added"])
def test_changed_gpt2_json_keeps_tiktoken_with_the_same_ids(shared_data, corpus, tmp_path, change):
    path = _variant(shared_data / "tokenizers/gpt2/tokenizer.json", tmp_path / "t.json", change)
    v = load_vocabulary(TokenizerConfig(name="g", path=str(path)), tmp_path / "out")
    assert v.engine == "tiktoken"
    docs = corpus[::3]  # every file is still there (each gives several documents)
    _assert_same(v.encoder().encode_batch(docs), v.reference_encoder().encode_batch(docs), docs)


@pytest.mark.parametrize("change", [
    lambda d: d["model"].update(dropout=0.1),
    lambda d: d["pre_tokenizer"].update(use_regex=False),
    lambda d: d.update(pre_tokenizer={"type": "Whitespace"}),
    lambda d: d["model"].update(byte_fallback=True),
], ids=["dropout", "no_regex", "whitespace_pre_tokenizer", "byte_fallback"])
def test_inexpressible_gpt2_json_falls_back_to_hf(shared_data, tmp_path, change, caplog):
    path = _variant(shared_data / "tokenizers/gpt2/tokenizer.json", tmp_path / "t.json", change)
    with caplog.at_level("INFO", logger="pile.tokenize.vocab"):
        v = load_vocabulary(TokenizerConfig(name="g", path=str(path)), tmp_path / "out")
    assert v.engine == "hf"
    assert any("tokenizer g: HF engine (tiktoken cannot express it" in r.getMessage()
               for r in caplog.records)


def test_neox_gets_tiktoken_and_same_ids(shared_data, corpus, tmp_path):
    path = shared_data / "tokenizers/gpt-neox-20b/20B_tokenizer.json"
    v = load_vocabulary(TokenizerConfig(name="neox", path=str(path)), tmp_path)
    assert v.engine == "tiktoken" and v.eod_id == 0 and v.encoding is None
    _assert_same(v.encoder().encode_batch(corpus), v.reference_encoder().encode_batch(corpus), corpus)


def test_tiktoken_on_plain_tiktoken_matches_library(shared_data, corpus):
    # our encoder (ordinary text + EOD) against tiktoken's public API on the same ranks
    src = shared_data / "tokenizers/tiktoken/p50k_base.tiktoken"
    pat, specials = TIKTOKEN_ENCODINGS["p50k_base"]
    lib = tiktoken.Encoding("p50k_base", pat_str=pat, mergeable_ranks=load_tiktoken_bpe(str(src)),
                            special_tokens=specials)
    ours = TiktokenEncoder(src, "p50k_base", pat, specials, 50256, "uint16").encode_batch(corpus[:50])
    want = [lib.encode_ordinary(t) + [50256] for t in corpus[:50]]
    _assert_same(ours, want, corpus)
