"""A SentencePiece BPE ``.model`` (LLaMA, Mistral) run by tiktoken, with SentencePiece's ids.

SentencePiece's BPE (``bpe_model.cc``): the text is normalized (``" "`` -> ``"▁"``, a ``"▁"``
in front), split into characters (user-defined pieces first, as frozen symbols), then the
adjacent pair whose concatenation is a piece with the highest score is merged, leftmost on
ties, until none is left; a character that is no piece becomes its UTF-8 bytes
(``<0xE6>``...). That is tiktoken's rule -- any pair whose concatenation is a token, best
rank first -- on characters instead of bytes, so tiktoken runs it when:

- ranks follow the scores, and the pieces a character is made of come first: every prefix
  of a multi-byte character is a token of its own, ranked before every piece, so the bytes
  of a character always join before any real merge; a prefix left alone (the character is
  no piece) stands for its bytes' ``<0xXX>`` ids;
- a space is the byte ``" "`` (tiktoken's ranks spell ``"▁"`` as a space), and the text is
  cut before every space (regex `` ?[^ ]+| ``): no piece holds a ``"▁"`` after anything
  but ``"▁"`` (checked), so no merge crosses that cut;
- whitespace pieces (``"▁▁"``, ``"▁▁▁▁"``...) score below every other piece (checked): they
  merge last, after everything else is settled, so each run of lone ``"▁"`` left by tiktoken
  is re-merged afterwards with SentencePiece's own rule (`sentencepiece_bpe`), per run length.

A piece SentencePiece's BPE never builds from its own characters is left out of the ranks
(the argument of `pile.tokenize.merges`: its halves are never adjacent). `plan_sentencepiece`
checks each condition and raises `pile.tokenize.merges.Inexpressible` naming the first that
fails; the vocabulary then keeps the ``sentencepiece`` engine.
"""

from __future__ import annotations

import heapq
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pile.tokenize.merges import Inexpressible
from pile.tokenize.pipeline import (AddedToken, Matcher, guarded_encoding, open_plan, ordinary,
                                    pack_ranks, unpack_ranks)

SPACE = "\u2581"
_NORMAL, _UNKNOWN, _CONTROL, _USER, _UNUSED, _BYTE = 1, 2, 3, 4, 5, 6
_WIDTH = 3  # the longest proper prefix of a UTF-8 character: 3 bytes


def sentencepiece_bpe(symbols: list[str], scores: dict[str, float]) -> list[str]:
    """SentencePiece's BPE on `symbols`: merge the adjacent pair whose concatenation has the
    highest score in `scores`, leftmost on ties, until no pair is in `scores`."""
    syms = list(symbols)
    nxt = list(range(1, len(syms))) + [-1]
    prv = list(range(-1, len(syms) - 1))
    heap: list[tuple[float, int, int]] = []

    def push(left: int) -> None:
        right = nxt[left] if left >= 0 else -1
        if left >= 0 and right >= 0:
            score = scores.get(syms[left] + syms[right])
            if score is not None:
                heapq.heappush(heap, (-score, left, len(syms[left]) + len(syms[right])))

    for i in range(len(syms) - 1):
        push(i)
    while heap:
        _neg, left, size = heapq.heappop(heap)
        right = nxt[left]
        if not syms[left] or right < 0 or len(syms[left]) + len(syms[right]) != size:
            continue  # stale
        syms[left] += syms[right]
        syms[right] = ""
        nxt[left] = nxt[right]
        if nxt[right] >= 0:
            prv[nxt[right]] = left
        push(prv[left])
        push(left)
    return [s for s in syms if s]


@dataclass(frozen=True)
class SentencePiecePlan:
    """What tiktoken needs to encode like one SentencePiece model (picklable).

    Attributes:
        ranks: token bytes (spaces for ``"▁"``) -> tiktoken rank.
        table: rank -> the ids it stands for (row padded with -1): a piece's id, or the
            ``<0xXX>`` ids of a partial character.
        widths: rank -> how many ids of `table`'s row are used.
        partial: ranks below this are partial characters.
        space_id: the id of ``"▁"``.
        runs: whitespace piece -> (id, score), for re-merging runs of ``"▁"``.
        user: user-defined pieces (content with spaces, id), matched before BPE.
        dummy_prefix: the normalizer puts a ``"▁"`` in front of the text.
    """

    ranks: dict[bytes, int]
    table: np.ndarray
    widths: np.ndarray
    partial: int
    space_id: int
    runs: dict[str, tuple[int, float]]
    user: tuple[tuple[str, int], ...] = ()
    dummy_prefix: bool = True
    notes: tuple[str, ...] = field(default=())

    def compile(self) -> CompiledSentencePiece:
        return CompiledSentencePiece(self)


SP_PLAN_FORMAT = "sentencepiece_plan_v1"


def save_sp_plan(plan: SentencePiecePlan, out: Any, source_sha256: str) -> None:
    """`plan` as an ``.npz`` (no pickles), like `pile.tokenize.pipeline.save_plan`: the
    worker that loads a ``.model`` keeps it, the others read it (~0.02 s) instead of
    deriving it (~0.2 s for Mistral's 32,000 pieces)."""
    meta = {"format": SP_PLAN_FORMAT, "source_sha256": source_sha256, "partial": plan.partial,
            "space_id": plan.space_id, "runs": {k: list(v) for k, v in plan.runs.items()},
            "user": [list(u) for u in plan.user], "dummy_prefix": plan.dummy_prefix,
            "notes": list(plan.notes)}
    np.savez(out, meta=np.array(json.dumps(meta, ensure_ascii=False)), **pack_ranks(plan.ranks),
             table=np.asarray(plan.table, np.int64), widths=np.asarray(plan.widths, np.int64))


def load_sp_plan(path: Any, source_sha256: str) -> SentencePiecePlan | None:
    """The plan `save_sp_plan` wrote for the ``.model`` of `source_sha256`, or None."""
    def decode(meta: dict[str, Any], z: Any) -> SentencePiecePlan:
        return SentencePiecePlan(unpack_ranks(z), z["table"], z["widths"], int(meta["partial"]),
                                 int(meta["space_id"]),
                                 {k: (int(v[0]), float(v[1])) for k, v in meta["runs"].items()},
                                 tuple((str(c), int(i)) for c, i in meta["user"]),
                                 bool(meta["dummy_prefix"]), tuple(meta["notes"]))

    return open_plan(path, SP_PLAN_FORMAT, source_sha256, decode)


def plan_sentencepiece(path: str | Path) -> SentencePiecePlan:
    """The tiktoken plan of a SentencePiece BPE model file.

    Raises:
        Inexpressible: the model is outside what the plan reproduces (the message says why).
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(Path(path).read_bytes())
    _check_spec(proto)
    pieces = list(proto.pieces)
    normal = [(i, p.piece, p.score) for i, p in enumerate(pieces) if p.type == _NORMAL]
    chars = {piece: i for i, piece, _ in normal if len(piece) == 1}
    runs = {piece: (i, score) for i, piece, score in normal
            if len(piece) > 1 and set(piece) == {SPACE}}
    words = [(i, piece, score) for i, piece, score in normal
             if len(piece) > 1 and set(piece) != {SPACE}]
    byte_ids = {p.piece: i for i, p in enumerate(pieces) if p.type == _BYTE}
    byte_id = [byte_ids.get(f"<0x{b:02X}>") for b in range(256)]
    if None in byte_id:
        raise Inexpressible("byte_fallback without all 256 byte pieces")
    if SPACE not in chars:
        raise Inexpressible(f"{SPACE!r} is not a piece")
    _check_pieces(words, runs, chars)
    user = tuple((p.piece.replace(SPACE, " "), i) for i, p in enumerate(pieces) if p.type == _USER)
    if any(" " in content or not content for content, _ in user):
        raise Inexpressible("a user-defined piece holds whitespace")
    words = _reachable(proto, words)

    # ranks: partial characters, whole multi-byte characters, pieces by score, single bytes
    order: list[tuple[bytes, list[int]]] = []
    partials = sorted({c.encode()[:k] for c in chars for k in range(2, len(c.encode()))})
    order += [(p, [byte_id[b] for b in p]) for p in partials]
    order += [(c.encode(), [i]) for c, i in chars.items() if len(c.encode()) > 1 and c != SPACE]
    order += [(w.replace(SPACE, " ").encode(), [i])
              for i, w, _s in sorted(words, key=lambda x: -x[2])]
    for b in range(256):
        one = bytes([b])
        char = " " if one == b" " else one.decode("latin-1") if b < 0x80 else None
        piece_id = chars.get(SPACE if char == " " else char) if char is not None else None
        order.append((one, [piece_id if piece_id is not None else byte_id[b]]))
    table = np.full((len(order), _WIDTH), -1, dtype=np.int64)
    widths = np.ones(len(order), dtype=np.int64)
    for r, (_tok, ids) in enumerate(order):
        table[r, :len(ids)] = ids
        widths[r] = len(ids)
    ranks = {tok: r for r, (tok, _ids) in enumerate(order)}
    if len(ranks) != len(order):
        raise Inexpressible("two pieces spell the same bytes")
    notes = (f"{len(partials)} partial characters", f"{len(runs)} whitespace pieces re-merged")
    return SentencePiecePlan(ranks, table, widths, len(partials), chars[SPACE], runs, user,
                             bool(proto.normalizer_spec.add_dummy_prefix), notes)


def _check_spec(proto: Any) -> None:
    spec, norm = proto.trainer_spec, proto.normalizer_spec
    reasons = []
    if spec.model_type != 2:
        reasons.append(f"model_type {spec.model_type} is not BPE")
    if not spec.byte_fallback:
        reasons.append("no byte_fallback")
    if norm.precompiled_charsmap or not norm.escape_whitespaces or norm.remove_extra_whitespaces:
        reasons.append(f"normalizer {norm.name!r} is not identity with escaped whitespace")
    if spec.treat_whitespace_as_suffix:
        reasons.append("whitespace as suffix")
    if any(p.type == _UNUSED for p in proto.pieces):
        reasons.append("unused pieces (SentencePiece re-segments them)")
    if any(" " in p.piece for p in proto.pieces if p.type in (_NORMAL, _USER)):
        reasons.append("a piece holds a plain space")
    if reasons:
        raise Inexpressible("; ".join(reasons))


def _check_pieces(words: list[tuple[int, str, float]], runs: dict[str, tuple[int, float]],
                  chars: dict[str, int]) -> None:
    for _i, w, _s in words:
        body = w.lstrip(SPACE)
        if SPACE in body or len(w) - len(body) > 1:
            raise Inexpressible(f"piece {w!r} has {SPACE!r} after another character or "
                                f"several before one: merges could cross a space")
        missing = [c for c in w if c not in chars]
        if missing:
            raise Inexpressible(f"piece {w!r} holds {missing[0]!r}, which is no piece")
    if runs and words and max(s for _i, s in runs.values()) >= min(s for _i, _w, s in words):
        raise Inexpressible("a whitespace piece does not score below every other piece")
    scores = [s for _i, _w, s in words]
    if len(set(scores)) != len(scores):
        raise Inexpressible("two pieces share a score (SentencePiece breaks ties by position)")


def _reachable(proto: Any, words: list[tuple[int, str, float]]) -> list[tuple[int, str, float]]:
    """The pieces SentencePiece's BPE builds from their own characters (SentencePiece itself,
    with no dummy prefix, decides)."""
    import sentencepiece as spm

    bare = type(proto)()
    bare.CopyFrom(proto)
    bare.normalizer_spec.add_dummy_prefix = False
    sp = spm.SentencePieceProcessor(model_proto=bare.SerializeToString())
    got = sp.encode([w.replace(SPACE, " ") for _i, w, _s in words], num_threads=1)
    return [w for w, ids in zip(words, got) if ids == [w[0]]]


class CompiledSentencePiece:
    """A `SentencePiecePlan` ready to encode (built once per worker)."""

    def __init__(self, plan: SentencePiecePlan) -> None:
        self.plan = plan
        self.encoding = guarded_encoding("sentencepiece", r" ?[^ ]+| ", plan.ranks)
        self.ids = np.ascontiguousarray(plan.table[:, 0])
        self.columns = np.arange(_WIDTH)
        self.scores = {piece: score for piece, (_i, score) in plan.runs.items()}
        self.run_ids: dict[int, np.ndarray] = {}
        self.prefix = " " if plan.dummy_prefix else ""
        self.user = None
        if plan.user:
            self.user = Matcher(tuple(AddedToken(c, i) for c, i in plan.user))

    def encode(self, text: str) -> np.ndarray:
        """SentencePiece's ids of `text` (no BOS/EOS)."""
        if not text:
            return np.empty(0, dtype=np.int64)
        if SPACE in text:
            text = text.replace(SPACE, " ")
        text = self.prefix + text
        if self.user is None:
            ids = self._ids(text)
        else:
            parts = []
            for start, stop, tok in self.user.splits(text):
                parts.append(np.array([tok]) if tok is not None else self._ids(text[start:stop]))
            ids = np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
        return self._runs(ids) if "  " in text else ids

    def to_ids(self, ids: np.ndarray, eod: int, dtype: np.dtype) -> np.ndarray:
        """`encode`'s result with `eod` appended, in `dtype`."""
        out = np.empty(len(ids) + 1, dtype=dtype)
        out[:-1] = ids
        out[-1] = eod
        return out

    def _ids(self, text: str) -> np.ndarray:
        ranks = ordinary(self.encoding, text)
        if len(ranks) and ranks.min() < self.plan.partial:
            # partial characters (no piece): the bytes' <0xXX> ids, in order
            return self.plan.table[ranks][self.columns < self.plan.widths[ranks][:, None]]
        return self.ids[ranks]

    def _runs(self, ids: np.ndarray) -> np.ndarray:
        """Runs of lone "▁" re-merged by SentencePiece's rule on whitespace pieces."""
        space = ids == self.plan.space_id
        edges = np.diff(space.astype(np.int8), prepend=0, append=0)
        starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
        long = ends - starts > 1
        if not long.any():
            return ids
        parts, prev = [], 0
        for s, e in zip(starts[long].tolist(), ends[long].tolist()):
            parts += [ids[prev:s], self._run(e - s)]
            prev = e
        parts.append(ids[prev:])
        return np.concatenate(parts)

    def _run(self, n: int) -> np.ndarray:
        found = self.run_ids.get(n)
        if found is None:
            merged = sentencepiece_bpe([SPACE] * n, self.scores)
            found = np.array([self.plan.runs[s][0] if len(s) > 1 else self.plan.space_id
                              for s in merged], dtype=np.int64)
            if len(self.run_ids) < 4096:
                self.run_ids[n] = found
        return found
