"""The pipeline a ``tokenizer.json`` puts in front of its BPE, reproduced around tiktoken.

Hugging Face ``tokenizers`` encodes a text in four steps (``Tokenizer.encode`` with
``add_special_tokens=False``, and special tokens kept as text, as the build encodes):

1. added tokens whose ``normalized`` flag is off are cut out of the original text;
2. each remaining piece is normalized (NFC for GPT-NeoX), then the added tokens whose
   flag is on are cut out of it, matched in their normalized spelling;
3. each remaining piece goes through the pre-tokenizer: ByteLevel's GPT-2 regex (with a
   space prepended to the piece when ``add_prefix_space``), or a ``Split`` regex followed by
   a ByteLevel without regex (Llama-3 / Qwen style);
4. every regex match is a word for the BPE model (`pile.tokenize.merges`).

`plan_tokenizer_json` reads those steps from the file into a `TiktokenPlan` (or raises
`Inexpressible`), and `CompiledPlan` runs them: steps 1-2 in Python (the cuts follow HF's
rules: leftmost-longest match, special tokens skipped but still consuming their span, and
the ``single_word``, ``lstrip`` and ``rstrip`` flags), steps 3-4 in one tiktoken call per piece.
A text with no added token in it, which is most of them, is a single tiktoken call; so is
every text of a GPT-NeoX-like file (GPT-2 regex, plain added tokens), whose added-token
matches become private-use sentinels that a variant of the regex cuts at (`_sentinel_pattern`).

NFC: a text that is ASCII, or that Python's ``unicodedata`` finds NFC already, is left as
is; any other goes through HF's own NFC. That is exact because HF's Unicode tables are not
newer than Python's (checked once: `hf_nfc_not_newer`): a character HF knows has the same
data in Python (Unicode's stability policy), and one it does not know only blocks more.
Any other normalizer is HF's own object, applied to every piece.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any, Callable

import numpy as np

from pile.tokenize.convert import R50K_PAT as BYTELEVEL_PAT
from pile.tokenize.merges import Inexpressible, MergeRanks, merge_ranks

# Unicode White_Space (what ``\s`` means to HF's Rust regex, for lstrip/rstrip); the set
# has not changed since Unicode 6.3. Python's str.isspace() also takes U+001C..U+001F.
WHITE_SPACE = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
                        "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")

# Onig (HF's regex engine, Ruby syntax) constructs whose meaning differs in tiktoken's
# fancy-regex or that it lacks: a pattern holding one keeps the HF engine.
_ONIG_ONLY = ("\\h", "\\H", "\\R", "\\X", "\\K", "\\G", "\\Z", "\\O", "\\y", "\\Y", "\\k<",
              "\\g<", "(?m", "(?s", "(?x", "(?~", "(?<", "(?'")


@dataclass(frozen=True)
class AddedToken:
    """One ``added_tokens`` entry, as matched (``content`` normalized when ``normalized``)."""

    content: str
    id: int
    special: bool = False
    single_word: bool = False
    lstrip: bool = False
    rstrip: bool = False


@dataclass(frozen=True)
class TiktokenPlan:
    """Everything the tiktoken engine needs to encode like one ``tokenizer.json`` (picklable).

    Attributes:
        pattern: the pre-tokenizer regex, in tiktoken's syntax.
        ranks: the BPE as tiktoken ranks (`pile.tokenize.merges.MergeRanks`).
        prefix_space: ByteLevel ``add_prefix_space``.
        normalizer: None, ``"NFC"`` (the fast NFC, when `hf_nfc_not_newer`), or the
            JSON of an HF normalizer (run by HF's own object).
        raw_tokens / norm_tokens: added tokens matched before / after normalization.
    """

    pattern: str
    ranks: MergeRanks
    prefix_space: bool = False
    normalizer: str | None = None
    raw_tokens: tuple[AddedToken, ...] = ()
    norm_tokens: tuple[AddedToken, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def compile(self) -> CompiledPlan:
        return CompiledPlan(self)


PLAN_FORMAT = "tiktoken_plan_v1"


def pack_ranks(ranks: dict[bytes, int]) -> dict[str, np.ndarray]:
    """tiktoken ranks as three arrays for an ``.npz`` (no pickles): the tokens' bytes end to
    end, their offsets, their ranks (`unpack_ranks` reverses it)."""
    tokens = list(ranks.items())
    lengths = np.fromiter((len(t) for t, _ in tokens), np.int64, len(tokens))
    offsets = np.zeros(len(tokens) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return {"blob": np.frombuffer(b"".join(t for t, _ in tokens), np.uint8), "offsets": offsets,
            "ranks": np.fromiter((r for _, r in tokens), np.int64, len(tokens))}


def unpack_ranks(z: Any) -> dict[bytes, int]:
    blob, offsets = z["blob"].tobytes(), z["offsets"].tolist()
    return dict(zip((blob[a:b] for a, b in zip(offsets, offsets[1:])), z["ranks"].tolist()))


def open_plan(path: Any, plan_format: str, source_sha256: str,
              decode: Callable[[dict[str, Any], Any], Any]) -> Any:
    """``decode(meta, arrays)`` of a plan file of `plan_format` saved for the vocabulary
    file of `source_sha256`; None when it is missing, damaged, of another format or file,
    or lacks what `decode` reads (then the plan is derived again)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            if meta.get("format") != plan_format or meta.get("source_sha256") != source_sha256:
                return None
            return decode(meta, z)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_plan(plan: TiktokenPlan, out: Any, source_sha256: str) -> None:
    """Write `plan` to the binary file `out` (``.npz``, no pickles): the vocabulary's
    tiktoken plan, derived once where the vocabulary is loaded, so each worker reads it
    (~0.05 s) instead of deriving it again from the merges (~0.7 s a vocabulary).
    `source_sha256` is the vocabulary file's: `load_plan` refuses a plan of another file."""
    meta = {"format": PLAN_FORMAT, "source_sha256": source_sha256, "pattern": plan.pattern,
            "prefix_space": plan.prefix_space, "normalizer": plan.normalizer,
            "raw_tokens": [vars(t) for t in plan.raw_tokens],
            "norm_tokens": [vars(t) for t in plan.norm_tokens], "notes": list(plan.notes),
            "unreachable": plan.ranks.unreachable, "kept": plan.ranks.kept,
            "has_ids": plan.ranks.ids is not None}
    np.savez(out, meta=np.array(json.dumps(meta, ensure_ascii=False)), **pack_ranks(plan.ranks.ranks),
             ids=(np.asarray(plan.ranks.ids, np.int64) if plan.ranks.ids is not None
                  else np.zeros(0, np.int64)))


def load_plan(path: Any, source_sha256: str) -> TiktokenPlan | None:
    """The plan `save_plan` wrote for the vocabulary file of `source_sha256`, or None when
    the file is missing, of another format or of another vocabulary file (derive it)."""
    def decode(meta: dict[str, Any], z: Any) -> TiktokenPlan:
        ids = z["ids"] if meta["has_ids"] else None
        return TiktokenPlan(meta["pattern"], MergeRanks(unpack_ranks(z), ids, meta["unreachable"], meta["kept"]),
                            meta["prefix_space"], meta["normalizer"],
                            tuple(AddedToken(**t) for t in meta["raw_tokens"]),
                            tuple(AddedToken(**t) for t in meta["norm_tokens"]), tuple(meta["notes"]))

    return open_plan(path, PLAN_FORMAT, source_sha256, decode)


def plan_tokenizer_json(data: dict[str, Any], hf: Any = None) -> TiktokenPlan:
    """The `TiktokenPlan` of a parsed ``tokenizer.json``.

    Args:
        data: the parsed file.
        hf: the same file loaded by ``tokenizers`` (loaded here when None): the added
            tokens' ids and flags are taken from it, since HF gives an added token the id
            of the same content in the model's vocabulary, whatever id the file lists.

    Raises:
        Inexpressible: a step tiktoken cannot reproduce exactly (the message names it).
    """
    pattern, prefix_space = _pre_tokenizer(data.get("pre_tokenizer"))
    normalizer = _normalizer(data.get("normalizer"))
    ranks = merge_ranks(data.get("model") or {})
    if hf is None:
        from tokenizers import Tokenizer

        hf = Tokenizer.from_str(json.dumps(data))
    norm_fn = _normalize_fn(normalizer)
    raw, norm = [], []
    for idx, t in sorted(hf.get_added_tokens_decoder().items()):
        if not t.content:
            continue
        content = norm_fn(t.content) if t.normalized else t.content
        tok = AddedToken(content, int(idx), bool(t.special), bool(t.single_word),
                         bool(t.lstrip), bool(t.rstrip))
        (norm if t.normalized else raw).append(tok)
    notes = [f"{ranks.unreachable} token(s) merges never build left out"] if ranks.unreachable else []
    if ranks.ids is not None:
        notes.append("ranks mapped to the file's ids")
    return TiktokenPlan(pattern, ranks, prefix_space, normalizer, _effective(raw),
                        _effective(norm), tuple(notes))


def _effective(tokens: list[AddedToken]) -> tuple[AddedToken, ...]:
    # Special tokens are never cut out (documents are plain text), but a special token's
    # match still hides any added token overlapping it; with no other token, none matters.
    return tuple(tokens) if any(not t.special for t in tokens) else ()


def _pre_tokenizer(pre: dict[str, Any] | None) -> tuple[str, bool]:
    """(tiktoken pattern, add_prefix_space) of a supported pre-tokenizer."""
    if pre is None:
        raise Inexpressible("no pre-tokenizer (the whole text would be one BPE word)")
    steps = pre.get("pretokenizers") if pre.get("type") == "Sequence" else [pre]
    if len(steps) == 1 and steps[0].get("type") == "ByteLevel":
        if not steps[0].get("use_regex", True):
            raise Inexpressible("ByteLevel pre-tokenizer without its regex")
        return BYTELEVEL_PAT, bool(steps[0].get("add_prefix_space"))
    if (len(steps) == 2 and steps[0].get("type") == "Split" and steps[1].get("type") == "ByteLevel"
            and not steps[1].get("use_regex", True) and not steps[1].get("add_prefix_space")):
        split = steps[0]
        regex = (split.get("pattern") or {}).get("Regex")
        if regex is None or split.get("behavior") != "Isolated" or split.get("invert"):
            raise Inexpressible("Split pre-tokenizer other than an isolated, non-inverted regex")
        return translate_onig(regex), False
    kinds = "+".join(str(s.get("type")) for s in steps)
    raise Inexpressible(f"pre-tokenizer {kinds} is not ByteLevel or Split+ByteLevel")


def translate_onig(pattern: str) -> str:
    """An HF ``Split`` regex (Onig, Ruby syntax) in tiktoken's syntax (fancy-regex), with
    the same matches.

    ``^``/``$`` are line anchors in Ruby and text anchors in fancy-regex, so they become
    ``(?m:^)``/``(?m:$)``. tiktoken drops text the regex does not match where HF keeps it as a
    piece of its own, so the pattern gets a last alternative matching exactly such a gap.

    Raises:
        Inexpressible: a construct the two engines read differently (``X{1,3}+`` is
            possessive in fancy-regex and a repetition in Ruby; ``\\h``, ``(?m)``...).
    """
    for bad in _ONIG_ONLY:
        if bad in pattern:
            raise Inexpressible(f"Split regex uses {bad!r} (Onig-only or read differently)")
    out = []
    i, in_class = 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            nxt = pattern[i + 1:i + 2]
            if nxt.isdigit() and nxt != "0":
                raise Inexpressible("Split regex uses a back-reference")
            end = i + 2
            if nxt in "pPx" and pattern[end:end + 1] == "{":  # \p{L}, \x{263A}: one atom
                end = pattern.index("}", end) + 1
            out.append(pattern[i:end])
            i = end
            continue
        if in_class:
            if c == "[":
                in_class += 1
            elif c == "]":
                in_class -= 1
            out.append(c)
        elif c == "[":
            in_class = 1
            out.append(c)
            # a ']' right after '[' or '[^' is a literal, not the end of the class
            for lead in ("^]", "]"):
                if pattern.startswith(lead, i + 1):
                    out.append(lead)
                    i += len(lead)
                    break
        elif c in "^$":
            out.append(f"(?m:{c})")
        elif c == "}" and pattern[i + 1:i + 2] == "+":
            raise Inexpressible("Split regex has an interval followed by '+' (X{m,n}+)")
        else:
            out.append(c)
        i += 1
    body = "".join(out)
    return f"(?:{body})|(?:(?!(?:{body}))[\\s\\S])+"


def _normalizer(norm: dict[str, Any] | None) -> str | None:
    if norm is None:
        return None
    if norm.get("type") == "NFC" and hf_nfc_not_newer():
        return "NFC"  # the fast path; decided here, in the driver, once per process
    if "ByteLevel" in json.dumps(norm):
        raise Inexpressible("ByteLevel normalizer")
    return json.dumps(norm, sort_keys=True)


def _normalize_fn(normalizer: str | None) -> Callable[[str], str]:
    """text -> normalized text, exactly as the file's normalizer."""
    if normalizer is None:
        return lambda text: text
    hf = _hf_normalizer(normalizer)
    if normalizer != "NFC":
        return hf.normalize_str
    is_nfc = unicodedata.is_normalized

    def nfc(text: str) -> str:
        if text.isascii() or is_nfc("NFC", text):
            return text
        return hf.normalize_str(text)

    return nfc


def _hf_normalizer(normalizer: str):
    from tokenizers import Tokenizer

    if normalizer == "NFC":
        from tokenizers import normalizers

        return normalizers.NFC()
    # a normalizer object from its JSON: load a minimal tokenizer that holds it
    shell = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [],
             "normalizer": json.loads(normalizer), "pre_tokenizer": None,
             "post_processor": None, "decoder": None,
             "model": {"type": "BPE", "vocab": {}, "merges": []}}
    return Tokenizer.from_str(json.dumps(shell)).normalizer


@lru_cache(maxsize=1)
def hf_nfc_not_newer() -> bool:
    """True when HF's NFC leaves alone every code point Python's ``unicodedata`` has not
    assigned in the planes Unicode fills (after a letter, before a combining mark): HF's tables are then no newer than
    Python's, and Python's NFC check may stand in for HF's NFC."""
    from tokenizers import normalizers

    from pile.tokenize.probe import assigned_planes

    unassigned = [chr(cp) for cp in assigned_planes() if unicodedata.category(chr(cp)) == "Cn"]
    probe = "".join("a" + c + "\u0334" for c in unassigned)
    return normalizers.NFC().normalize_str(probe) == probe


SENTINEL = 0xE000  # private-use characters standing for added tokens inside a text

# One special token in every tiktoken Encoding built here, never allowed, so never emitted:
# a disallowed special inside a text is encoded as the text it is (tiktoken's `encode`
# skips it), so `ordinary` below equals `encode_ordinary`. It is there because
# `encode_to_numpy` hands back tiktoken's own buffer: no Python int per token (a 4 MB
# document is a million of them, about 40 MB), and about 15% faster; but with no special
# token at all tiktoken's special-token search matches the empty string at every
# character, which makes it slower than the list.
GUARD_TOKEN = "<|pile:guard|>"


def guarded_encoding(name: str, pattern: str, ranks: dict[bytes, int]) -> Any:
    """A tiktoken Encoding of `ranks` with `GUARD_TOKEN` as its only special token."""
    import tiktoken

    return tiktoken.Encoding(name=name, pat_str=pattern, mergeable_ranks=ranks,
                             special_tokens={GUARD_TOKEN: max(ranks.values(), default=-1) + 1})


def ordinary(encoding: Any, text: str) -> np.ndarray:
    """`encoding.encode_ordinary(text)` as a uint32 array, for an Encoding with at least one
    special token (`guarded_encoding` adds one; OpenAI's encodings have theirs): no special
    is allowed, so one written in `text` is encoded as text."""
    return encoding.encode_to_numpy(text, disallowed_special=())


def _run_pattern(plain: list[AddedToken], tokens: tuple[AddedToken, ...]) -> str | None:
    """``c{a,b}`` when the plain added tokens are exactly the runs of one character `c` of
    every length from a to b, and no other token holds `c`; else None.

    Then the greedy quantifier cuts the text where the leftmost-longest alternation of the
    tokens does (at a run's start the longest token is min(run, b) characters; a remainder
    shorter than a stays text), and the other tokens, which hold no `c`, never meet a run.
    GPT-NeoX's 23 space runs (2 to 24): the cut becomes about 3x faster than the
    alternation (0.10 s against 0.16-0.48 s on 15 MB of code and prose)."""
    chars = {t.content[0] for t in plain}
    if len(chars) != 1:
        return None
    c = chars.pop()
    lengths = sorted(len(t.content) for t in plain)
    if any(t.content != c * len(t.content) for t in plain) or \
            lengths != list(range(lengths[0], lengths[0] + len(lengths))):
        return None
    if any(c in t.content for t in tokens if t not in plain):
        return None
    import regex

    return f"{regex.escape(c)}{{{lengths[0]},{lengths[-1]}}}"


def _sentinel_pattern(n: int) -> str | None:
    """The GPT-2 regex with `n` sentinels isolated and counted as the end of a piece (at its
    end-of-text anchor and its no-non-space lookahead); None if tiktoken's GPT-2 regex is not
    the one expected."""
    cls = f"{chr(SENTINEL)}-{chr(SENTINEL + n - 1)}"
    edits = [(r"[^\s\p{L}\p{N}]", rf"[^\s\p{{L}}\p{{N}}{cls}]"),
             (r"\s++$", rf"\s++(?:$|(?=[{cls}]))"), (r"(?!\S)", rf"(?![^\s{cls}])")]
    pattern = BYTELEVEL_PAT
    for old, new in edits:
        if pattern.count(old) != 1:
            return None
        pattern = pattern.replace(old, new)
    return f"[{cls}]|{pattern}"


class CompiledPlan:
    """A `TiktokenPlan` ready to encode (built once per worker)."""

    def __init__(self, plan: TiktokenPlan) -> None:
        self.plan = plan
        self._encoding: Any = None
        self.ids = plan.ranks.ids
        raw, norm = plan.raw_tokens, plan.norm_tokens
        if self.ids is not None and (raw or norm):
            # Added tokens go into the same list as tiktoken's ranks: give each a rank of
            # its own past tiktoken's, mapped to its id like the others.
            added = sorted({t.id for t in raw + norm})
            code = {idx: len(self.ids) + k for k, idx in enumerate(added)}
            self.ids = np.concatenate([self.ids, np.array(added, dtype=np.int64)])
            raw = tuple(replace(t, id=code[t.id]) for t in raw)
            norm = tuple(replace(t, id=code[t.id]) for t in norm)
        self.normalize = _normalize_fn(plan.normalizer)
        self.raw = Matcher(raw) if raw else None
        self.norm = Matcher(norm) if norm else None
        self.identity = plan.normalizer is None and self.raw is None and self.norm is None \
            and not plan.prefix_space
        self.sentinel: dict[str, str] | None = None
        self._sentinels(plan, norm)
        if self.sentinel is None:
            self._plain()  # now: a pattern tiktoken rejects fails while the plan is proven

    @property
    def encoding(self) -> Any:
        """tiktoken on the file's own regex and ranks (built on first use: texts holding a
        private-use sentinel character are the only ones that need it in sentinel mode)."""
        return self._plain()

    def _plain(self) -> Any:
        if self._encoding is None:
            try:
                self._encoding = guarded_encoding("tokenizer_json", self.plan.pattern, self.plan.ranks.ranks)
            except ValueError as exc:
                raise Inexpressible(f"tiktoken rejects the pattern or ranks: {exc}") from None
        return self._encoding

    def _sentinels(self, plan: TiktokenPlan, norm: tuple[AddedToken, ...]) -> None:
        """One tiktoken call per text for GPT-NeoX-like files (ByteLevel regex, plain added
        tokens matched after normalization): each added token's match becomes a private-use
        character that the regex `_sentinel_pattern` isolates and treats as the end of a
        piece, and that is a token of its own. So the regex cuts the text exactly where HF's
        pieces end, instead of one call per piece (GPT-NeoX cuts code at every indent)."""
        import re

        plain = [t for t in norm if not t.special]
        if (plan.pattern != BYTELEVEL_PAT or self.raw is not None or not plain
                or plan.prefix_space or len(plain) > 256
                or any(t.single_word or t.lstrip or t.rstrip for t in norm)):
            return
        pattern = _sentinel_pattern(len(plain))
        if pattern is None:
            return
        taken = set(plan.ranks.ranks.values())
        if any(t.id in taken for t in plain):
            return
        chars = {t.content: chr(SENTINEL + k) for k, t in enumerate(plain)}
        ranks = dict(plan.ranks.ranks)
        ranks.update({chars[t.content].encode(): t.id for t in plain})
        self.sentinel_encoding = guarded_encoding("tokenizer_json_sentinels", pattern, ranks)
        # a special token's match is skipped, not cut: it stays text (as HF does)
        self.sentinel = {**{t.content: t.content for t in norm if t.special}, **chars}
        self.has_sentinel = re.compile(f"[{chr(SENTINEL)}-{chr(SENTINEL + len(plain) - 1)}]").search
        # The added tokens' regex with one group: `split` hands the matches back as every
        # other item, mapped in one C-level pass, where `sub` with a function makes a
        # Python call per match (GPT-NeoX's whitespace tokens: ~20,000 per MB of code).
        import regex

        assert self.norm is not None
        run = _run_pattern(plain, norm)
        self.cut = regex.compile(f"({run or self.norm.regex.pattern})",
                                 flags=0 if run else self.norm.regex.flags).split

    def encode(self, text: str) -> np.ndarray | list[int]:
        """Token ranks of `text` (the file's ids when `ids` is None; else map with `ids`):
        tiktoken's array when one call encodes the text, else a list."""
        if self.identity:
            return ordinary(self.encoding, text)
        if self.sentinel is not None:
            piece = self.normalize(text)
            if piece.isascii() or not self.has_sentinel(piece):  # else: the piece by piece way
                norm = self.norm
                if norm.heads is not None and not any(h in piece for h in norm.heads):
                    return ordinary(self.encoding, piece)
                parts = self.cut(piece)
                parts[1::2] = map(self.sentinel.__getitem__, parts[1::2])
                return ordinary(self.sentinel_encoding, "".join(parts))
        out: list[int] = []
        if self.raw is None:
            self._normalized(text, out)
            return out
        for start, stop, tok in self.raw.splits(text):
            if tok is not None:
                out.append(tok)
            elif stop > start:
                self._normalized(text[start:stop], out)
        return out

    def _normalized(self, piece: str, out: list[int]) -> None:
        piece = self.normalize(piece)
        if self.norm is None:
            self._words(piece, out)
            return
        for start, stop, tok in self.norm.splits(piece):
            if tok is not None:
                out.append(tok)
            elif stop > start:
                self._words(piece[start:stop], out)

    def _words(self, piece: str, out: list[int]) -> None:
        if not piece:
            return
        if self.plan.prefix_space and not piece.startswith(" "):
            piece = " " + piece
        out += self.encoding.encode_ordinary(piece)

    def to_ids(self, ranks: np.ndarray | list[int], eod: int, dtype: np.dtype) -> np.ndarray:
        """`encode`'s result with `eod` appended, as the file's ids in `dtype`."""
        out = np.empty(len(ranks) + 1, dtype=dtype)
        if isinstance(ranks, list):
            # fromiter: a third faster than numpy converting the list itself
            ranks = np.fromiter(ranks, np.intp, len(ranks))
        out[:-1] = ranks if self.ids is None else self.ids[ranks]
        out[-1] = eod
        return out


class Matcher:
    """HF's added-token cut: leftmost-longest matches of the tokens' contents; special
    tokens consume their match but stay text; ``single_word``, ``lstrip``, ``rstrip`` as HF
    applies them (Rust ``\\w`` and ``\\s``, on the piece being cut)."""

    def __init__(self, tokens: tuple[AddedToken, ...]) -> None:
        import regex

        by_len = sorted(tokens, key=lambda t: (-len(t.content), t.content))
        self.tokens = {t.content: t for t in tokens}
        # longest first: at the leftmost position the first alternative that matches is
        # the longest token there (Aho-Corasick leftmost-longest, as HF's trie)
        self.regex = regex.compile("|".join(regex.escape(t.content) for t in by_len))
        self.word = regex.compile(r"[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]")
        # a text holding none of the tokens' first two characters has no match (a C scan,
        # where the regex module costs a call per text); GPT-NeoX's tokens all begin "  "
        heads = {t.content[:2] for t in tokens}
        self.heads = tuple(sorted(heads)) if len(heads) <= 8 else None

    def splits(self, text: str) -> list[tuple[int, int, int | None]]:
        """(start, stop, token id or None for text) covering `text`, as HF cuts it."""
        if self.heads is not None and not any(h in text for h in self.heads):
            return [(0, len(text), None)]
        out: list[tuple[int, int, int | None]] = []
        offset = 0
        word = self.word
        for m in self.regex.finditer(text):
            start, stop = m.span()
            tok = self.tokens[m.group()]
            if tok.special:
                continue
            if tok.single_word:
                if (start > 0 and word.match(text, start - 1)) or \
                        (stop < len(text) and word.match(text, stop)):
                    continue
            if tok.lstrip:
                new = start
                while new > 0 and text[new - 1] in WHITE_SPACE:
                    new -= 1
                start = max(new, offset)
            if tok.rstrip:
                while stop < len(text) and text[stop] in WHITE_SPACE:
                    stop += 1
            if offset < start:
                out.append((offset, start, None))
            out.append((start, stop, tok.id))
            offset = stop
        if offset != len(text):
            out.append((offset, len(text), None))
        return out
