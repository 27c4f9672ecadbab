"""tiktoken ranks for a ``tokenizer.json``'s byte-level BPE, with the proof that they are exact.

The two BPE rules:

- Hugging Face (``tokenizers``): a word starts as its bytes; repeatedly merge the adjacent
  pair that is *listed* in ``merges`` with the lowest list index (leftmost on ties).
- tiktoken: repeatedly merge the adjacent pair whose *concatenation is a token*, lowest
  rank first (leftmost on ties); a word that is a token as a whole is that token at once.

They can differ: tiktoken merges a pair HF never lists (``a`` + ``bc`` when only ``ab`` +
``c`` is listed), and a token HF can never build (GPT-2's ``<|endoftext|>`` sits in its
vocabulary) would come out of tiktoken's whole-word lookup.

When they agree (every byte-level BPE the build meets passes this, and
`merge_ranks` checks it for each file): call a token *reachable* when HF's BPE of the
token's own bytes gives the token itself. Suppose tokens ``x`` and ``y`` are adjacent at some
point of HF's BPE of any word. No merge so far crossed the span of ``x + y`` (they are two
whole tokens), so every merge inside that span was the lowest-ranked pair of the word at its
turn, hence of the span: HF's BPE of the bytes of ``x + y`` alone passes through ``[x, y]``.
That run is one path and ends in ``[x + y]`` when ``x + y`` is reachable, so only *one*
split of each reachable token can ever be adjacent -- the pair the run merges last -- and
it is listed. Ranking each reachable token by the list index of its merges (one index, or
one unbroken block of indices when the file lists several splits of it, as files converted
from tiktoken do) orders the pairs tiktoken can see exactly as HF orders them; leaving the
unreachable tokens out removes only pairs HF never merges. By induction over the merges the
two rules produce the same tokens on every word, and the whole-word lookup returns what
HF's BPE returns for a reachable token.

What stays inexpressible (`Inexpressible`, and the vocabulary keeps the HF engine): a token
produced by merges scattered through the list, a byte that valid UTF-8 can contain missing
from the vocabulary (tiktoken has no unknown token), and, with ``ignore_merges`` (HF's own
whole-word lookup, Llama-3 style), an unreachable token whose bytes end in two tokens --
HF emits it for a whole word while tiktoken would also merge its halves inside longer words.
Unreachable tokens ending in three or more tokens keep their place for the whole-word lookup,
ranked after every reachable token: their halves are never adjacent.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pile.tokenize.convert import bytes_to_unicode, token_to_bytes

# Bytes valid UTF-8 can hold (not 0xC0, 0xC1, 0xF5..0xFF): every one must be a token.
UTF8_BYTES = tuple(b for b in range(256) if b not in (0xC0, 0xC1) and b < 0xF5)


class Inexpressible(ValueError):
    """A ``tokenizer.json`` the tiktoken engine cannot reproduce exactly; the message says why."""


@dataclass(frozen=True)
class MergeRanks:
    """What tiktoken needs to run a file's BPE.

    Attributes:
        ranks: token bytes -> tiktoken rank (`tiktoken.Encoding`'s ``mergeable_ranks``).
        ids: rank -> the file's token id, or None when the ranks are the ids.
        unreachable: model tokens HF's BPE never produces, left out of `ranks`.
        kept: unreachable tokens kept for ``ignore_merges`` whole-word lookups.
    """

    ranks: dict[bytes, int]
    ids: np.ndarray | None
    unreachable: int
    kept: int


def merge_list(model: dict[str, Any]) -> list[tuple[str, str]]:
    """The ``merges`` of a BPE model, in either of the two JSON spellings."""
    out = []
    for m in model.get("merges") or []:
        a, b = m.split(" ", 1) if isinstance(m, str) else m
        out.append((a, b))
    return out


def merge_ranks(model: dict[str, Any]) -> MergeRanks:
    """tiktoken ranks equivalent to the BPE `model` (the ``model`` object of a tokenizer.json).

    Raises:
        Inexpressible: not a plain byte-level BPE, or a merge structure where tiktoken's rule
            and HF's can differ (see the module docstring).
    """
    _check_model(model)
    vocab: dict[str, int] = model.get("vocab") or {}
    merges = merge_list(model)
    alphabet = set(bytes_to_unicode().values())
    table = bytes_to_unicode()
    missing = [b for b in UTF8_BYTES if table[b] not in vocab]
    if missing:
        raise Inexpressible(f"{len(missing)} byte(s) valid in UTF-8 are not tokens "
                            f"(first: 0x{missing[0]:02X}); tiktoken has no unknown token")
    if len(set(vocab.values())) != len(vocab):
        raise Inexpressible("two tokens share an id")
    blocks = _merge_blocks(merges, vocab)
    reach = _hf_parts(vocab, merges, [t for t in vocab if len(t) > 1 and set(t) <= alphabet])
    reachable = {t: blocks[t] for t, n in reach.items() if n == 1}
    unreachable = [t for t, n in reach.items() if n != 1]
    kept: list[str] = []
    if model.get("ignore_merges"):
        two = [t for t in unreachable if reach[t] == 2]
        if two:
            raise Inexpressible(f"with ignore_merges, {len(two)} token(s) that merges never build "
                                f"end in two tokens (first: {two[0]!r}): HF emits them for whole "
                                f"words only, tiktoken would also merge their halves")
        kept = sorted(unreachable, key=lambda t: vocab[t])
    # tiktoken compares the ranks of multi-byte tokens only, so any distinct values serve
    # for the single bytes; multi-byte tokens go by merge index, then the kept ones.
    multi = sorted(reachable, key=reachable.__getitem__) + kept
    singles = [table[b] for b in range(256) if table[b] in vocab]
    multi_ids = [vocab[t] for t in multi]
    if all(a < b for a, b in zip(multi_ids, multi_ids[1:])):
        ranks = {token_to_bytes(t): vocab[t] for t in singles + multi}
        ids = None
    else:
        order = singles + multi
        ranks = {token_to_bytes(t): r for r, t in enumerate(order)}
        ids = np.array([vocab[t] for t in order], dtype=np.int64)
    return MergeRanks(ranks, ids, len(unreachable) - len(kept), len(kept))


def _check_model(model: dict[str, Any]) -> None:
    reasons = []
    if model.get("type", "BPE") != "BPE":
        reasons.append(f"model is {model.get('type')}, not BPE")
    if model.get("dropout"):
        reasons.append("BPE dropout is random")
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        reasons.append("subword prefix/suffix")
    if model.get("byte_fallback"):
        reasons.append("byte_fallback")
    if reasons:
        raise Inexpressible("; ".join(reasons))


def _merge_blocks(merges: list[tuple[str, str]], vocab: dict[str, int]) -> dict[str, int]:
    """Each merged token -> the first list index of its merges, which must form one unbroken
    block of the list (a pair listed twice counts at its last index, as in HF)."""
    index: dict[tuple[str, str], int] = {}
    for i, pair in enumerate(merges):
        index[pair] = i  # the last listing wins, as HF builds its merge map
    first: dict[str, int] = {}
    previous = None
    for (a, b), i in sorted(index.items(), key=lambda kv: kv[1]):
        token = a + b
        if token not in vocab:
            raise Inexpressible(f"merge {a!r} {b!r} makes {token!r}, which is not in the vocabulary")
        if token != previous and token in first:
            raise Inexpressible(f"token {token!r} is made by merges far apart in the list "
                                f"(indices {first[token]} and {i})")
        first.setdefault(token, i)
        previous = token
    return first


def _hf_parts(vocab: dict[str, int], merges: list[tuple[str, str]], tokens: list[str]
              ) -> dict[str, int]:
    """Each token -> how many tokens HF's BPE (no whole-word lookup) makes of its bytes;
    1 means the token itself. Runs HF's own BPE, so the rule tested is HF's."""
    from tokenizers import Tokenizer, models

    bpe = Tokenizer(models.BPE(vocab=dict(vocab), merges=merges, ignore_merges=False))
    out = {}
    encs = bpe.encode_batch_fast([[t] for t in tokens], is_pretokenized=True,
                                 add_special_tokens=False)
    for t, enc in zip(tokens, encs):
        ids = enc.ids
        out[t] = 1 if len(ids) == 1 and ids[0] == vocab[t] else max(len(ids), 2)
    return out
