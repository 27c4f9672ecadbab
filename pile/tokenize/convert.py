"""Conversions between vocabulary formats, and the proof that two formats agree.

- `bytes_to_unicode`: GPT-2's reversible byte <-> printable-character table, which
  byte-level BPE ``tokenizer.json`` files use to spell raw bytes.
- `tiktoken_file_sha256`: the hash of ranks in ``.tiktoken`` form; when it equals the hash
  tiktoken pins for an OpenAI encoding, a ``tokenizer.json`` whose merges give those ranks
  holds exactly that encoding's vocabulary (the manifest then names it: GPT-2's is r50k).
- `tiktoken_to_hf` and `sentencepiece_to_hf`: build an HF ``tokenizers.Tokenizer`` from a
  ``.tiktoken`` file or a SentencePiece BPE ``.model``. The merge list is recovered as in
  Hugging Face's converters: every split of a token into two tokens is a merge, ranked by the
  merged token's rank, which reproduces rank-ordered (tiktoken) and score-ordered
  (SentencePiece BPE) merging. Used to export HF vocabularies, as the HF baseline in the
  benchmark, and to cross-check engines in tests.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

# tiktoken's own regexes when importable (they are what its pinned vocabularies expect);
# the literal fallbacks are the same published patterns.
try:  # pragma: no cover - depends on the installed tiktoken
    from tiktoken_ext.openai_public import r50k_pat_str as R50K_PAT
except Exception:  # pragma: no cover
    R50K_PAT = (r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++"""
                 r"""|\s++$|\s+(?!\S)|\s""")
CL100K_PAT = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+"""
               r"""| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")

ENDOFTEXT = "<|endoftext|>"

# name -> (regex, special tokens); `gpt2` is tiktoken's alias of r50k_base.
TIKTOKEN_ENCODINGS: dict[str, tuple[str, dict[str, int]]] = {
    "r50k_base": (R50K_PAT, {ENDOFTEXT: 50256}),
    "gpt2": (R50K_PAT, {ENDOFTEXT: 50256}),
    "p50k_base": (R50K_PAT, {ENDOFTEXT: 50256}),
    "cl100k_base": (CL100K_PAT, {ENDOFTEXT: 100257, "<|fim_prefix|>": 100258,
                                  "<|fim_middle|>": 100259, "<|fim_suffix|>": 100260,
                                  "<|endofprompt|>": 100276}),
}

# sha256 of OpenAI's .tiktoken files, as pinned in tiktoken_ext/openai_public.py.
KNOWN_TIKTOKEN_SHA256 = {
    "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930": "r50k_base",
    "94b5ca7dff4d00767bc256fdd1b27e5b17361d7b8a5f968547f9f23eb70d2069": "p50k_base",
    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7": "cl100k_base",
}


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte -> character table: printable Latin-1 bytes map to themselves, the
    other 68 bytes to U+0100 onwards, in byte order."""
    keep = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
            + list(range(ord("®"), ord("ÿ") + 1)))
    table: dict[int, str] = {}
    extra = 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


@lru_cache(maxsize=1)
def unicode_to_bytes() -> dict[str, int]:
    return {c: b for b, c in bytes_to_unicode().items()}


@lru_cache(maxsize=1)
def _latin1_of_token_chars() -> dict[int, int]:
    """str.translate table: each byte character -> the character of its byte's value; the
    other characters below 256 -> U+FFFF, which latin-1 cannot encode (so they fail)."""
    table = {ord(c): b for c, b in unicode_to_bytes().items()}
    return {**{x: 0xFFFF for x in range(256)}, **table}


def token_to_bytes(token: str) -> bytes:
    """A byte-level BPE token string -> the raw bytes it stands for.

    Raises:
        UnicodeEncodeError: a character that is not one of the 256 byte characters.
    """
    return token.translate(_latin1_of_token_chars()).encode("latin-1")


def bytes_to_token(data: bytes) -> str:
    table = bytes_to_unicode()
    return "".join(table[b] for b in data)


def tiktoken_file_bytes(ranks: dict[bytes, int]) -> bytes:
    """The ``.tiktoken`` file content of `ranks` (base64 token, space, rank; by rank)."""
    lines = [base64.b64encode(tok) + b" " + str(rank).encode()
             for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    return b"\n".join(lines) + b"\n"


def tiktoken_file_sha256(ranks: dict[bytes, int]) -> str:
    return hashlib.sha256(tiktoken_file_bytes(ranks)).hexdigest()


def merges_from_ranks(ranks: dict[Any, int], vocab_ok: Iterable[Any] | None = None
                      ) -> list[tuple[Any, Any]]:
    """Every split ``(left, right)`` of each token into two tokens, ordered by the merged
    token's rank, then the parts' ranks (Hugging Face's converter rule)."""
    allowed = ranks if vocab_ok is None else set(vocab_ok)
    found = []
    for tok, rank in ranks.items():
        if tok not in allowed or len(tok) < 2:
            continue
        for i in range(1, len(tok)):
            left, right = tok[:i], tok[i:]
            if left in allowed and right in allowed:
                found.append((rank, ranks[left], ranks[right], left, right))
    found.sort(key=lambda x: (x[0], x[1], x[2]))
    return [(left, right) for _r, _a, _b, left, right in found]


def tiktoken_to_hf(ranks: dict[bytes, int], pat_str: str, special_tokens: dict[str, int]):
    """An HF ``tokenizers.Tokenizer`` equivalent to a tiktoken encoding.

    Onig (HF's regex engine, Ruby syntax) reads ``{1,3}+`` as "one or more runs of 1-3",
    not as a possessive ``{1,3}``; nothing follows it in its branch, so the plain greedy
    form is equivalent and is what we give to HF.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers

    vocab = {bytes_to_token(tok): rank for tok, rank in ranks.items()}
    merges = [(bytes_to_token(a), bytes_to_token(b)) for a, b in merges_from_ranks(ranks)]
    # Specials go in the model vocab at their own ids (cl100k leaves gaps before them).
    vocab.update(special_tokens)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    pattern = pat_str.replace("{1,3}+", "{1,3}")
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(pattern), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    _add_specials(tok, special_tokens)
    return tok


def _add_specials(tok, special_tokens: dict[str, int]) -> None:
    from tokenizers import AddedToken

    for content, idx in sorted(special_tokens.items(), key=lambda kv: kv[1]):
        tok.add_special_tokens([AddedToken(content, special=True, normalized=False)])
        got = tok.token_to_id(content)
        if got != idx:
            raise ValueError(f"special token {content!r} got id {got}, expected {idx}")


# sentencepiece_model.proto piece types
_SP_NORMAL, _SP_UNKNOWN, _SP_CONTROL, _SP_USER, _SP_UNUSED, _SP_BYTE = 1, 2, 3, 4, 5, 6


def sentencepiece_to_hf(model_path: str | Path):
    """An HF ``tokenizers.Tokenizer`` for a SentencePiece BPE model with byte fallback.

    Supports the LLaMA/Mistral family: BPE, identity normalizer, ``add_dummy_prefix``, no
    whitespace collapsing. User-defined pieces become non-special added tokens; control
    pieces and ``<unk>`` become special tokens.

    This is the "legacy" layout HF's fast LLaMA tokenizer uses; like it, it is *not*
    id-identical to SentencePiece: SentencePiece splits whitespace runs from the following
    word (``"  a"`` -> ``▁`` ``▁a``) where this BPE merges ``▁▁`` first. So the build encodes
    ``.model`` vocabularies with sentencepiece itself; this conversion serves as the HF
    baseline of the benchmark.

    Raises:
        ValueError: a model outside that family (unigram, NFKC normalization...).
    """
    from sentencepiece import sentencepiece_model_pb2 as pb
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers

    proto = pb.ModelProto()
    proto.ParseFromString(Path(model_path).read_bytes())
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    if spec.model_type != 2:  # BPE
        raise ValueError(f"{model_path}: only SentencePiece BPE models convert "
                         f"(model_type={spec.model_type})")
    if norm.precompiled_charsmap or norm.remove_extra_whitespaces:
        raise ValueError(f"{model_path}: normalizer {norm.name!r} is not supported by the converter")
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    normal = [p.piece for p in proto.pieces if p.type == _SP_NORMAL]
    merges = merges_from_ranks(vocab, vocab_ok=normal)
    unk = proto.pieces[spec.unk_id].piece
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk, fuse_unk=True,
                               byte_fallback=bool(spec.byte_fallback)))
    steps = [normalizers.Replace(" ", "▁")]
    if norm.add_dummy_prefix:
        steps.insert(0, normalizers.Prepend("▁"))
    tok.normalizer = normalizers.Sequence(steps)
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(),
                                     decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(p.piece, special=True, normalized=False)
                            for p in proto.pieces if p.type in (_SP_CONTROL, _SP_UNKNOWN)])
    tok.add_tokens([AddedToken(p.piece, special=False, normalized=False)
                    for p in proto.pieces if p.type == _SP_USER])
    return tok
