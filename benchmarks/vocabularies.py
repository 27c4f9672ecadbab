"""Byte-level BPE ``tokenizer.json`` files beyond the two shared ones, built from real parts.

The shared data holds GPT-2's and GPT-NeoX-20B's ``tokenizer.json``; these add the other
pipeline shapes the tiktoken engine accepts, so the benchmark and the parity test cover
them (imported by ``bench_tokenize.py`` and the tests; not part of the `pile` package):

- ``cl100k_json``: OpenAI's cl100k ranks converted to HF (every split a merge, ranked by
  the merged token: `pile.tokenize.convert.tiktoken_to_hf`), its regex in a Split;
- ``llama3_style``: the same ranks behind Llama-3's published Split regex, with
  ``ignore_merges`` (HF's whole-word lookup), as Meta's ``tokenizer.json`` sets it;
- ``qwen_style``: the same ranks behind Qwen2's regex (one digit per piece) and an NFC
  normalizer, as Qwen2's ``tokenizer.json`` has;
- ``bpe_trained``: a byte-level BPE trained by HF ``tokenizers`` on real text
  (`pile.tokenize.vocab.train_bpe`, the recipe of ``train:`` vocabularies);
- ``gpt2_flags``: GPT-2 with ``add_prefix_space`` and non-special added tokens carrying
  every flag (``single_word``, ``lstrip``, ``rstrip``, ``normalized`` off), on words real
  code and prose are full of.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable

# Meta's Llama-3 and Qwen2 pre-tokenizer regexes as their tokenizer.json files spell them.
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                  r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
                 r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def _save(data: dict, path: Path) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def cl100k_json(shared: Path, dest: Path) -> Path:
    from tiktoken.load import load_tiktoken_bpe

    from pile.tokenize.convert import TIKTOKEN_ENCODINGS, tiktoken_to_hf

    out = dest / "cl100k_json.json"
    if not out.is_file():
        pat, specials = TIKTOKEN_ENCODINGS["cl100k_base"]
        ranks = load_tiktoken_bpe(str(shared / "tokenizers/tiktoken/cl100k_base.tiktoken"))
        tiktoken_to_hf(ranks, pat, specials).save(str(out))
    return out


def _restyle(src: Path, dest: Path, pattern: str, normalizer: dict | None,
             ignore_merges: bool) -> Path:
    data = json.loads(src.read_text(encoding="utf-8"))
    data["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {"Regex": pattern}
    data["normalizer"] = normalizer
    data["model"]["ignore_merges"] = ignore_merges
    return _save(data, dest)


def gpt2_flags(shared: Path, dest: Path) -> Path:
    data = json.loads((shared / "tokenizers/gpt2/tokenizer.json").read_text(encoding="utf-8"))
    data["pre_tokenizer"]["add_prefix_space"] = True
    flags = [("def", {"single_word": True}), ("return", {"rstrip": True}),
             ("self", {"lstrip": True}), ("import", {"normalized": False}),
             ("the", {"single_word": True, "lstrip": True, "rstrip": True}),
             (":\n", {}), ("ing", {})]
    next_id = 1 + max(t["id"] for t in data["added_tokens"])
    for i, (content, extra) in enumerate(flags):
        tok = {"id": next_id + i, "content": content, "single_word": False, "lstrip": False,
               "rstrip": False, "normalized": True, "special": False}
        tok.update(extra)
        data["added_tokens"].append(tok)
    return _save(data, dest / "gpt2_flags.json")


def bpe_trained(texts: Iterable[str], dest: Path, vocab_size: int = 8192,
                max_bytes: int = 2_000_000) -> Path:
    from pile.config import TrainConfig
    from pile.tokenize.vocab import train_bpe

    out = dest / f"bpe{vocab_size}.json"
    if not out.is_file():
        tok = train_bpe(texts, TrainConfig(vocab_size=vocab_size, max_bytes=max_bytes))
        out.write_text(tok.to_str(pretty=False), encoding="utf-8")
    return out


def derived_vocabularies(shared: Path, dest: Path, train_texts: Iterable[str]) -> dict[str, Path]:
    """name -> tokenizer.json of every vocabulary above, written into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    cl = cl100k_json(shared, dest)
    return {
        "cl100k_json": cl,
        "llama3_style": _restyle(cl, dest / "llama3_style.json", LLAMA3_PATTERN, None, True),
        "qwen_style": _restyle(cl, dest / "qwen_style.json", QWEN2_PATTERN, {"type": "NFC"}, False),
        "bpe_trained": bpe_trained(train_texts, dest),
        "gpt2_flags": gpt2_flags(shared, dest),
    }
