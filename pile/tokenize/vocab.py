"""Vocabularies: obtain each configured tokenizer, save it next to its shards, pick its engine.

A ``tokenizers:`` entry obtains its vocabulary one way (`pile.config.TokenizerConfig`):

- ``path``: a Hugging Face ``tokenizer.json``;
- ``hub``: a Hugging Face hub name, fetched with ``tokenizers.Tokenizer.from_pretrained``
  (online only; cached by ``huggingface_hub``);
- ``tiktoken``: an OpenAI ``.tiktoken`` ranks file, with ``encoding`` naming its regex and
  special tokens (``r50k_base``/``gpt2``, ``p50k_base``, ``cl100k_base``; inferred from the
  file's sha256 when it is one of OpenAI's files);
- ``sentencepiece``: a SentencePiece ``.model`` (LLaMA, Mistral), encoded by sentencepiece;
- ``train``: a byte-level BPE trained with HF ``tokenizers`` on the cleaned corpus, as
  GPT-NeoX-20B's tokenizer was trained on the Pile (Black et al. 2022, section 3.2), so an
  offline machine can still compare vocabularies. Training is deterministic: the same texts
  give the same ``tokenizer.json`` bytes.

The exact file used is copied to ``tokens/<name>/`` (``tokenizer.json``, ``<file>.tiktoken``
or ``tokenizer.model``) and its sha256 goes to the manifest. The end-of-document token is
``eod`` or the vocabulary's own (``<|endoftext|>``, ``</s>``...).

Engine: the fastest exact one. tiktoken for tiktoken files; for a ``tokenizer.json``,
tiktoken on the ranks of its merges behind its own normalizer, added tokens and
pre-tokenizer (`pile.tokenize.pipeline`, `pile.tokenize.merges`) when the file's pipeline
can be expressed that way *and* the engine gives HF's ids on the fixed probe
(`pile.tokenize.probe`), checked when the vocabulary is loaded; otherwise HF
``encode_batch_fast``, with a log line saying why. For a SentencePiece ``.model``, tiktoken
on its pieces (`pile.tokenize.sp_ranks`) under the same two conditions against
sentencepiece, which is kept otherwise. ``tests/test_tokenize_parity.py`` proves the ids
identical on 100+ MB of real text.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from pile.docs_io import atomic_file, atomic_write_bytes
from pile.manifest import sha256_file
from pile.config import TokenizerConfig, TrainConfig, to_dict
from pile.errors import ConfigError
from pile.tokenize import convert
from pile.tokenize.engines import (Encoder, HFEncoder, SentencePieceEncoder, TiktokenEncoder,
                                   TiktokenPlanEncoder)

logger = logging.getLogger(__name__)

# Megatron's rule: ids fit uint16 below 65,500 (the margin leaves room for added tokens).
UINT16_LIMIT = 65_500

# What a vocabulary's own end-of-text token is called, most common first.
EOD_CANDIDATES = ("<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "<|eos|>", "[SEP]")

TRAINED_BPE_NAME = "bpe_bytelevel_v1"  # a versioned name: the training recipe's identity


def dtype_for(vocab_size: int) -> np.dtype:
    """uint16 when every id fits below 65,500, else int32 (Megatron / GPT-NeoX rule)."""
    return np.dtype(np.uint16) if vocab_size < UINT16_LIMIT else np.dtype(np.int32)


@dataclass(frozen=True)
class Vocabulary:
    """One resolved vocabulary, saved next to its shards.

    Attributes:
        name: the configured name (``tokens/<name>/``).
        kind: how it was obtained: ``tokenizer_json``, ``hub``, ``tiktoken``,
            ``sentencepiece`` or ``train``.
        file: the saved exact vocabulary file in the destination directory.
        vocab_size: number of ids (highest id + 1, added and special tokens included).
        eod_id / eod_token: the end-of-document token appended to every document.
        engine: ``tiktoken``, ``hf`` or ``sentencepiece``.
        sha256: of `file`.
        encoding: the OpenAI encoding whose ranks the vocabulary holds (``r50k_base`` for
            GPT-2's ``tokenizer.json``), when there is one.
        special_tokens: the vocabulary's special tokens (content -> id).
        plan: for a ``tokenizer.json`` or ``.model`` on tiktoken, what the engine runs
            (not in the manifest; rebuilt from the file when a manifest is read back).
    """

    name: str
    kind: str
    file: Path
    vocab_size: int
    eod_id: int
    eod_token: str
    engine: str
    sha256: str
    encoding: str | None = None
    special_tokens: dict[str, int] = field(default_factory=dict)
    plan: Any = field(default=None, compare=False, repr=False)

    @property
    def dtype(self) -> np.dtype:
        return dtype_for(self.vocab_size)

    def encoder(self) -> Encoder:
        """A picklable encoder; call ``setup()`` in the worker, then ``encode_batch``."""
        if self.engine == "tiktoken" and self.file.suffix in (".json", ".model"):
            return TiktokenPlanEncoder(self.plan or SavedPlan(str(self.file), self.sha256),
                                       self.eod_id, self.dtype)
        if self.engine == "tiktoken":
            pat, _specials = convert.TIKTOKEN_ENCODINGS[self.encoding or ""]
            return TiktokenEncoder(self.file, self.encoding or "", pat, self.special_tokens,
                                   self.eod_id, self.dtype)
        if self.engine == "sentencepiece":
            return SentencePieceEncoder(self.file, self.eod_id, self.dtype)
        return HFEncoder(self.file, self.eod_id, self.dtype)

    def reference_encoder(self) -> Encoder:
        """The reference engine: HF for a ``tokenizer.json``, sentencepiece for a ``.model``
        (tests, benchmarks)."""
        if self.file.suffix == ".model":
            return SentencePieceEncoder(self.file, self.eod_id, self.dtype)
        if self.file.suffix != ".json":
            raise ValueError(f"{self.name}: {self.file.name} is not a tokenizer.json")
        return HFEncoder(self.file, self.eod_id, self.dtype)

    def to_dict(self) -> dict[str, Any]:
        """The manifest entry."""
        return {"name": self.name, "kind": self.kind, "file": self.file.name,
                "vocab_size": self.vocab_size, "eod_id": self.eod_id,
                "eod_token": self.eod_token, "engine": self.engine, "sha256": self.sha256,
                "encoding": self.encoding, "dtype": self.dtype.name,
                "special_tokens": dict(sorted(self.special_tokens.items(), key=lambda kv: kv[1]))}

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: Path) -> Vocabulary:
        """Inverse of `to_dict` for a vocabulary saved in `folder` (``tokens/<name>/``)."""
        return cls(name=data["name"], kind=data["kind"], file=Path(folder) / data["file"],
                   vocab_size=int(data["vocab_size"]), eod_id=int(data["eod_id"]),
                   eod_token=data["eod_token"], engine=data["engine"], sha256=data["sha256"],
                   encoding=data.get("encoding"),
                   special_tokens=dict(data.get("special_tokens") or {}))


def load_vocabulary(cfg: TokenizerConfig, dest_dir: Path,
                    train_texts: Callable[[], Iterable[str]] | None = None) -> Vocabulary:
    """Obtain the vocabulary of `cfg`, save it in `dest_dir` and choose its engine.

    Args:
        cfg: one validated ``tokenizers:`` entry.
        dest_dir: ``tokens/<name>/``; created if missing.
        train_texts: for ``train:`` entries, returns the cleaned documents' texts in a
            deterministic order (called once).

    Returns:
        The `Vocabulary`, whose `file` is the saved copy.

    Raises:
        ConfigError: the file does not load, the hub is unreachable, ``eod`` is not in the
            vocabulary, a ``train:`` entry got no texts.
    """
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    where = f"tokenizers.{cfg.name}"
    if cfg.path is not None:
        return _from_tokenizer_json(cfg, Path(cfg.path).expanduser(), dest_dir, "tokenizer_json",
                                    f"{where}.path")
    if cfg.hub is not None:
        return _from_hub(cfg, dest_dir, where)
    if cfg.tiktoken is not None:
        return _from_tiktoken(cfg, Path(cfg.tiktoken).expanduser(), dest_dir, where)
    if cfg.sentencepiece is not None:
        return _from_sentencepiece(cfg, Path(cfg.sentencepiece).expanduser(), dest_dir, where)
    if cfg.train is not None:
        if train_texts is None:
            raise ConfigError(f"{where}.train: training needs the corpus texts; none were given")
        tok = train_bpe(train_texts(), cfg.train)
        out = dest_dir / "tokenizer.json"
        atomic_write_bytes(out, tok.to_str(pretty=False).encode("utf-8"))
        return _from_tokenizer_json(cfg, out, dest_dir, "train", f"{where}.train")
    raise ConfigError(f"{where}: needs one of path, hub, tiktoken, sentencepiece, train")


def check_vocabulary(cfg: TokenizerConfig) -> None:
    """Every check `load_vocabulary` makes before the corpus exists, without keeping
    anything: a file that does not load, an unknown encoding, an ``eod`` that is not in
    the vocabulary, a hub name while offline. ``train:`` entries need the corpus, and hub
    names the network, so only the offline check runs for those.

    Raises:
        ConfigError: as `load_vocabulary` would, with the same message.
    """
    import tempfile

    if cfg.train is not None:
        return
    if cfg.hub is not None:
        _hub_offline_check(cfg, f"tokenizers.{cfg.name}")
        return
    if cfg.path is not None:
        # What can fail in a tokenizer.json is checked here, cheaply: it loads and holds
        # ``eod``. The engine choice (a tiktoken plan proven on the probe, ~1 s a
        # vocabulary) is made where the vocabulary is loaded, on a worker.
        _load_hf(Path(cfg.path).expanduser(), f"tokenizers.{cfg.name}.path", cfg)
        return
    with tempfile.TemporaryDirectory(prefix="pile-vocab-check-") as tmp:
        load_vocabulary(cfg, Path(tmp))


def load_trained(cfg: TokenizerConfig, dest_dir: Path) -> Vocabulary:
    """The ``tokenizer.json`` a ``train:`` entry saved earlier in `dest_dir`, without
    training again (the build reuses it when the corpus and the entry are unchanged)."""
    return _from_tokenizer_json(cfg, Path(dest_dir) / "tokenizer.json", Path(dest_dir), "train",
                                f"tokenizers.{cfg.name}.train")


def train_bpe(texts: Iterable[str], train: TrainConfig):
    """Train a byte-level BPE (GPT-2 pre-tokenization, ``<|endoftext|>`` as id 0).

    Args:
        texts: documents in a fixed order; reading stops after ``train.max_bytes``.
        train: vocabulary size, minimum pair frequency, byte cap.

    Returns:
        A ``tokenizers.Tokenizer``; the same texts give the same serialisation.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=train.vocab_size, min_frequency=train.min_frequency,
                                  special_tokens=[convert.ENDOFTEXT],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)

    def capped() -> Iterable[str]:
        seen = 0
        for text in texts:
            if train.max_bytes is not None and seen >= train.max_bytes:
                return
            seen += len(text.encode("utf-8", "replace"))
            yield text

    tok.train_from_iterator(capped(), trainer)
    return tok


def _copy(src: Path, dest: Path) -> None:
    if src.resolve() == dest.resolve():
        return
    with open(src, "rb") as fh, atomic_file(dest) as out:
        shutil.copyfileobj(fh, out, 1 << 20)


def _resolve_eod(cfg: TokenizerConfig, lookup: Callable[[str], int | None],
                 default: str | None, field_path: str) -> tuple[str, int]:
    if cfg.eod is not None:
        idx = lookup(cfg.eod)
        if idx is None:
            raise ConfigError(f"{field_path.rsplit('.', 1)[0]}.eod: token {cfg.eod!r} is not "
                              f"in the vocabulary")
        return cfg.eod, idx
    candidates = ([default] if default else []) + list(EOD_CANDIDATES)
    for token in candidates:
        idx = lookup(token)
        if idx is not None:
            return token, idx
    raise ConfigError(f"{field_path.rsplit('.', 1)[0]}.eod: the vocabulary has none of "
                      f"{', '.join(EOD_CANDIDATES)}; set eod to its end-of-document token")


# What a tokenizer.json's analysis found, by (file sha256, entry): `Build.check` loads
# every vocabulary before any work and the tokenize phase loads it again; the second
# load (same process, same bytes) skips parsing the file, deriving the tiktoken ranks and
# the probe, about a second of driver time per vocabulary.
_ANALYSES: dict[tuple[str, str], tuple[int, str, int, str, str | None, dict[str, int], Any]] = {}


def _from_tokenizer_json(cfg: TokenizerConfig, src: Path, dest_dir: Path, kind: str,
                         field_path: str) -> Vocabulary:
    key = (sha256_file(src) if src.is_file() else "", repr(sorted(to_dict(cfg).items())))
    found = _ANALYSES.get(key) if key[0] else None
    out = dest_dir / "tokenizer.json"
    if found is None:
        found = _analyse_tokenizer_json(cfg, src, field_path)
        _ANALYSES[key] = found
    _copy(src, out)
    vocab_size, eod_token, eod_id, engine, encoding, specials, plan = found
    return Vocabulary(name=cfg.name, kind=kind, file=out, vocab_size=vocab_size,
                      eod_id=eod_id, eod_token=eod_token, engine=engine,
                      sha256=sha256_file(out), encoding=encoding, special_tokens=dict(specials),
                      plan=plan)


def _load_hf(src: Path, field_path: str, cfg: TokenizerConfig) -> tuple[Any, str, int]:
    """The HF tokenizer of a ``tokenizer.json`` and its ``eod`` (token, id).

    Raises:
        ConfigError: the file does not load, or ``eod`` is not in it.
    """
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_file(str(src))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # plain Exception subclasses, and Rust panics (BaseException)
        raise ConfigError(f"{field_path}: {src} is not a loadable tokenizer.json "
                          f"({str(exc).splitlines()[0][:200]})") from None
    eod_token, eod_id = _resolve_eod(cfg, tok.token_to_id, None, field_path)
    return tok, eod_token, eod_id


def _analyse_tokenizer_json(cfg: TokenizerConfig, src: Path, field_path: str
                            ) -> tuple[int, str, int, str, str | None, dict[str, int], Any]:
    """(vocab size, eod token, eod id, engine, OpenAI encoding, specials, tiktoken plan)."""
    tok, eod_token, eod_id = _load_hf(src, field_path, cfg)
    vocab_size = max(tok.get_vocab(with_added_tokens=True).values()) + 1
    data = json.loads(src.read_text(encoding="utf-8"))
    specials = {t["content"]: int(t["id"]) for t in data.get("added_tokens") or []
                if t.get("special")}
    dtype = dtype_for(vocab_size)

    def plan():
        from pile.tokenize.pipeline import plan_tokenizer_json

        return plan_tokenizer_json(data, tok)

    proven = _proven_plan(cfg.name, plan, HFEncoder(src, eod_id, dtype).adopt(tok), "HF",
                          eod_id, dtype)
    if proven is None:
        return vocab_size, eod_token, eod_id, "hf", None, specials, None
    encoding = None
    if proven.ranks.ids is None:
        encoding = convert.KNOWN_TIKTOKEN_SHA256.get(convert.tiktoken_file_sha256(proven.ranks.ranks))
    return vocab_size, eod_token, eod_id, "tiktoken", encoding, specials, proven


def _proven_plan(name: str, make_plan: Callable[[], Any], reference: Encoder, library: str,
                 eod_id: int, dtype: np.dtype) -> Any:
    """A tiktoken plan (`make_plan`) when it expresses the vocabulary and gives the
    `reference` engine's ids on the probe; None otherwise (the `library` engine stays),
    with a log line saying why."""
    from pile.tokenize.merges import Inexpressible
    from pile.tokenize.probe import first_difference

    try:
        plan = make_plan()
        fast = TiktokenPlanEncoder(plan, eod_id, dtype)
        fast.setup()
    except Inexpressible as exc:
        logger.info("tokenizer %s: %s engine (tiktoken cannot express it: %s)", name, library, exc)
        return None
    differs = first_difference(fast, reference)
    if differs is not None:
        logger.warning("tokenizer %s: %s engine (the tiktoken engine failed the probe on %s)",
                       name, library, differs)
        return None
    logger.info("tokenizer %s: tiktoken engine%s; identical ids to %s on the probe", name,
                "".join(f"; {n}" for n in plan.notes), library)
    return plan


@dataclass(frozen=True)
class SavedPlan:
    """The tiktoken plan of a saved vocabulary, built where it is compiled: a vocabulary
    loaded on a worker (or read back from a marker) reaches the driver without its plan,
    and rebuilding it there would cost the driver about a second a vocabulary."""

    path: str
    sha256: str

    def compile(self) -> Any:
        return _plan_of(self.path, self.sha256).compile()


def plan_file(vocabulary_file: str | Path) -> Path:
    """Where a ``tokenizer.json``'s or ``.model``'s derived tiktoken plan is kept: beside
    it, hidden (a cache, not an artifact: the manifest lists no hidden file)."""
    path = Path(vocabulary_file)
    return path.with_name(f".{path.name}.plan.npz")


def keep_plan(vocabulary: Vocabulary) -> None:
    """Save the tiktoken plan of a ``tokenizer.json`` or ``.model`` vocabulary just loaded
    (and proven), so the workers that compile it read it instead of deriving it again."""
    from pile.tokenize.pipeline import TiktokenPlan, save_plan
    from pile.tokenize.sp_ranks import SentencePiecePlan, save_sp_plan

    save = (save_plan if isinstance(vocabulary.plan, TiktokenPlan) else
            save_sp_plan if isinstance(vocabulary.plan, SentencePiecePlan) else None)
    if save is not None:
        with atomic_file(plan_file(vocabulary.file)) as fh:
            save(vocabulary.plan, fh, vocabulary.sha256)


@lru_cache(maxsize=4)
def _plan_of(path: str, sha256: str):
    """The tiktoken plan of a saved vocabulary recorded on the tiktoken engine (read back
    from a manifest), proven when that build loaded it: read from `plan_file` when the
    loading worker kept it there, else derived from the file."""
    if path.endswith(".model"):
        from pile.tokenize.sp_ranks import load_sp_plan, plan_sentencepiece

        return load_sp_plan(plan_file(path), sha256) or plan_sentencepiece(path)
    from pile.tokenize.pipeline import load_plan, plan_tokenizer_json

    kept = load_plan(plan_file(path), sha256)
    if kept is not None:
        return kept
    return plan_tokenizer_json(json.loads(Path(path).read_text(encoding="utf-8")))


def _hub_offline_check(cfg: TokenizerConfig, where: str) -> None:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        raise ConfigError(f"{where}.hub: HF_HUB_OFFLINE is set; cannot fetch {cfg.hub!r} "
                          f"(use path: with a downloaded tokenizer.json)")


def _from_hub(cfg: TokenizerConfig, dest_dir: Path, where: str) -> Vocabulary:
    _hub_offline_check(cfg, where)
    from tokenizers import Tokenizer

    try:
        tok = Tokenizer.from_pretrained(cfg.hub)
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}.hub: cannot fetch {cfg.hub!r} from the Hugging Face hub "
                          f"(offline or unknown name?): {first}") from None
    out = dest_dir / "tokenizer.json"
    atomic_write_bytes(out, tok.to_str(pretty=False).encode("utf-8"))
    return _from_tokenizer_json(cfg, out, dest_dir, "hub", f"{where}.hub")


def _from_tiktoken(cfg: TokenizerConfig, src: Path, dest_dir: Path, where: str) -> Vocabulary:
    from tiktoken.load import load_tiktoken_bpe

    digest = sha256_file(src)
    encoding = cfg.encoding or convert.KNOWN_TIKTOKEN_SHA256.get(digest)
    if encoding is None:
        raise ConfigError(f"{where}.encoding: {src.name} is not one of OpenAI's files; name "
                          f"its encoding ({', '.join(convert.TIKTOKEN_ENCODINGS)})")
    if encoding not in convert.TIKTOKEN_ENCODINGS:
        raise ConfigError(f"{where}.encoding: unknown encoding {encoding!r}; expected one of "
                          f"{', '.join(convert.TIKTOKEN_ENCODINGS)}")
    try:
        ranks = load_tiktoken_bpe(str(src))
    except ValueError as exc:
        raise ConfigError(f"{where}.tiktoken: {src} is not a .tiktoken file ({exc})") from None
    _pat, specials = convert.TIKTOKEN_ENCODINGS[encoding]
    rank_ids = set(ranks.values())
    if len(rank_ids) != len(ranks) or rank_ids & set(specials.values()):
        raise ConfigError(f"{where}.encoding: {src.name} does not fit encoding {encoding!r} "
                          f"(ranks collide with its special tokens)")
    out = dest_dir / src.name
    _copy(src, out)
    lookup = {**specials}
    eod_token, eod_id = _resolve_eod(cfg, lookup.get, convert.ENDOFTEXT, f"{where}.tiktoken")
    vocab_size = max(max(ranks.values()), max(specials.values())) + 1
    return Vocabulary(name=cfg.name, kind="tiktoken", file=out, vocab_size=vocab_size,
                      eod_id=eod_id, eod_token=eod_token, engine="tiktoken", sha256=digest,
                      encoding=encoding, special_tokens=dict(specials))


def _from_sentencepiece(cfg: TokenizerConfig, src: Path, dest_dir: Path, where: str) -> Vocabulary:
    import sentencepiece as spm

    try:
        sp = spm.SentencePieceProcessor(model_file=str(src))
    except Exception as exc:
        raise ConfigError(f"{where}.sentencepiece: {src} is not a SentencePiece model "
                          f"({str(exc).splitlines()[0][:200]})") from None
    out = dest_dir / "tokenizer.model"
    _copy(src, out)

    def lookup(token: str) -> int | None:
        idx = sp.piece_to_id(token)
        return idx if idx != sp.unk_id() or token == sp.id_to_piece(sp.unk_id()) else None

    own = sp.id_to_piece(sp.eos_id()) if sp.eos_id() >= 0 else None
    eod_token, eod_id = _resolve_eod(cfg, lookup, own, f"{where}.sentencepiece")
    digest = sha256_file(out)
    vocab_size = sp.get_piece_size()
    if digest not in _SP_PLANS:
        from pile.tokenize.sp_ranks import plan_sentencepiece

        dtype = dtype_for(vocab_size)
        _SP_PLANS[digest] = _proven_plan(cfg.name, lambda: plan_sentencepiece(out),
                                         SentencePieceEncoder(out, eod_id, dtype),
                                         "sentencepiece", eod_id, dtype)
    plan = _SP_PLANS[digest]
    return Vocabulary(name=cfg.name, kind="sentencepiece", file=out, vocab_size=vocab_size,
                      eod_id=eod_id, eod_token=eod_token,
                      engine="sentencepiece" if plan is None else "tiktoken", sha256=digest,
                      plan=plan)


# The SentencePiece models' tiktoken plans (None: kept on sentencepiece), by file sha256.
_SP_PLANS: dict[str, Any] = {}


def _id_list(ids: Iterable[int]) -> list[int]:
    # ndarray.tolist() converts in C; int() per element of a memmap costs ~20x more
    # (3.1 s against 0.17 s for 6 M tokens), the largest cost of `pile validate`.
    return ids.tolist() if isinstance(ids, np.ndarray) else [int(i) for i in ids]


def decode(vocab: Vocabulary, ids: Iterable[int]) -> str:
    """Decode ids with the vocabulary's own library (tests and inspection tools)."""
    return _decoder(vocab.engine, str(vocab.file), vocab.encoding,
                    tuple(sorted(vocab.special_tokens.items())))[0](_id_list(ids))


def decode_batch(vocab: Vocabulary, batch: Iterable[Iterable[int]]) -> list[str]:
    """`decode` of each id sequence of `batch`; HF vocabularies decode the batch in
    parallel in Rust (``Tokenizer.decode_batch``)."""
    one, many = _decoder(vocab.engine, str(vocab.file), vocab.encoding,
                         tuple(sorted(vocab.special_tokens.items())))
    lists = [_id_list(ids) for ids in batch]
    return many(lists) if many is not None else [one(ids) for ids in lists]


@lru_cache(maxsize=8)
def _decoder(engine: str, file: str, encoding: str | None, specials: tuple[tuple[str, int], ...]
             ) -> tuple[Callable[[list[int]], str], Callable[[list[list[int]]], list[str]] | None]:
    """(decode one sequence, decode a batch or None) for one vocabulary file."""
    if engine == "tiktoken" and file.endswith(".model"):
        engine = "sentencepiece"  # a .model decodes with its own library, whatever encodes it
    if engine == "tiktoken" and not file.endswith(".json"):
        pat, _ = convert.TIKTOKEN_ENCODINGS[encoding or ""]
        enc = TiktokenEncoder(file, encoding or "", pat, dict(specials), 0, np.int32)
        return enc.impl.decode, None
    if engine == "sentencepiece":
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=file).decode, None
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(file)
    return (lambda ids: tok.decode(ids, skip_special_tokens=False),
            lambda batch: tok.decode_batch(batch, skip_special_tokens=False))


def describe(vocabs: Iterable[Vocabulary]) -> str:
    """One JSON line per vocabulary (logging)."""
    return "\n".join(json.dumps(v.to_dict()) for v in vocabs)
