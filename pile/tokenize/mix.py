"""The Pile's mix: per-source epochs, a seeded shuffled training set, and GPT-NeoX data lines.

The Pile (Gao et al. 2020, Table 1) gives every component a number of epochs: Wikipedia is
seen 3 times, PubMed Central 2 times, Pile-CC 1 time, and so on. This module turns those
weights into training data in the two ways trainers consume it:

1. **A mixed, shuffled set of shards** per tokenizer, ``tokens/<tok>/mix/train[_NNNNN]``:
   every source appears ``floor(epochs)`` times in full plus a seeded subset of
   ``round(frac(epochs) * N)`` of its ``N`` documents (round half up), and the whole list
   is shuffled with the seed (`plan_mix`). The per-source documents and tokens it contains
   are exact (`MixResult`), recorded next to the shards in ``mix/train.json``.
2. **GPT-NeoX data lines** for the unmixed per-source shards (`neox_data_config`): the
   ``train_data_paths`` / ``train_data_weights`` a user pastes into a NeoX config, where a
   source's weight is its share of ``tokens x epochs`` (what NeoX's weighted blending
   samples by), split over its shards by their token counts.

Epochs come from ``sources[].epochs``; ``mix.token_budget`` replaces a source's epochs by
``budget / tokens`` (`effective_epochs`), counted with the first configured tokenizer and
applied to every tokenizer, so all vocabularies see the same documents the same number of
times.

Determinism: randomness comes only from numpy's PCG64 bit generator, seeded through
``SeedSequence(seed, spawn_key=...)``: one stream per source (keyed by a digest of its
name, so a source's subset does not depend on the other sources) and one for the shuffle.
Permutations are ``argsort`` (stable) of raw 64-bit PCG64 outputs rather than
``Generator.permutation``, whose algorithm numpy does not promise to keep across
versions; PCG64's raw stream is fixed. The plan therefore depends on the seed, the
sources' order and document counts and the epochs, and nothing else (not on workers,
machine or numpy version).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import yaml

from pile.docs_io import atomic_write_text
from pile.errors import ConfigError, PileError
from pile.tokenize.reader import ShardReader
from pile.tokenize.shards import ShardWriter, find_shards

log = logging.getLogger(__name__)

MIX_VERSION = "mix_v1"  # the plan rule and the shard layout; a change gets a new name
MIX_DIR = "mix"
TRAIN = "train"
_CHUNK = 1 << 20  # plan entries decoded per step while writing (bounded memory)


# -- epochs ---------------------------------------------------------------------------

def effective_epochs(source_epochs: Mapping[str, float], tokens: Mapping[str, int],
                     budget: Mapping[str, int]) -> dict[str, float]:
    """Each source's epochs, with token budgets turned into epochs.

    A source without a budget keeps its configured epochs. A source with a budget gets
    ``budget / tokens``: its shards hold `tokens` tokens (counted with the first
    tokenizer, end-of-document tokens included), so that many passes put about `budget`
    tokens of it in the mix (fractional passes take a document subset, so the exact count
    is in `MixResult`).

    Args:
        source_epochs: ``sources[].epochs`` by source name, in configured order.
        tokens: tokens per source for the budget's tokenizer (only budgeted sources are
            looked up).
        budget: ``mix.token_budget``.

    Returns:
        Epochs per source, in the order of `source_epochs`.

    Raises:
        ConfigError: a budget names a source not in `source_epochs`.
        PileError: a budgeted source has no tokens count or 0 tokens.
    """
    for name in budget:
        if name not in source_epochs:
            raise ConfigError(f"mix.token_budget.{name}: no source named {name!r}; built: "
                              f"{', '.join(source_epochs)}")
    out: dict[str, float] = {}
    for name, epochs in source_epochs.items():
        if name not in budget:
            out[name] = float(epochs)
            continue
        have = tokens.get(name)
        if have is None:
            raise PileError(f"mix.token_budget.{name}: no token count for source {name!r}")
        if have <= 0:
            raise PileError(f"mix.token_budget.{name}: source {name!r} has 0 tokens, so no "
                            f"number of epochs reaches {budget[name]} tokens")
        out[name] = budget[name] / have
    return out


# -- the plan -------------------------------------------------------------------------

def _name_key(name: str) -> int:
    """A stable 64-bit key for a source name (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "little")


def _bits(seed: int, *key: int):
    return np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key))


def _permutation(bit_generator, n: int) -> np.ndarray:
    """A uniform permutation of ``range(n)`` from PCG64's raw stream (numpy-version-proof).

    Sorting ``n`` independent uniform 64-bit keys gives a uniform permutation; a stable
    sort makes the (astronomically rare) ties deterministic too.
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    keys = bit_generator.random_raw(n)
    return np.argsort(keys, kind="stable").astype(np.int64, copy=False)


def split_epochs(epochs: float, n: int) -> tuple[int, int]:
    """(full passes, documents of the fractional pass) for `epochs` over `n` documents.

    The fractional pass takes ``round(frac * n)`` documents, rounding half up. Values within
    1e-9 of an integer count as that integer, so an epochs value derived from a budget
    (``3 * t / t``) does not lose or gain a whole pass to float error.
    """
    if not (epochs >= 0 and math.isfinite(epochs)):
        raise ValueError(f"epochs must be a finite number >= 0, got {epochs}")
    nearest = round(epochs)
    if abs(epochs - nearest) < 1e-9:
        return int(nearest), 0
    full = math.floor(epochs)
    extra = math.floor((epochs - full) * n + 0.5)
    return int(full), int(min(extra, n))


@dataclass
class MixPlan:
    """The mixed training set as (source, document index) pairs in training order.

    Stored compactly: `order` holds global document numbers (``offsets[s] + k`` for
    document ``k`` of source ``s``), 8 bytes per mixed document.

    Attributes:
        sources: source names in the given order.
        offsets: start of each source's documents in the global numbering (len + 1).
        full: full passes per source.
        subsets: per source, the sorted document indices of its fractional pass.
        order: global document numbers in training order.
    """

    sources: list[str]
    offsets: np.ndarray
    full: list[int]
    subsets: list[np.ndarray]
    order: np.ndarray

    def __len__(self) -> int:
        return len(self.order)

    def decode(self, start: int = 0, stop: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(source number, document index) arrays for plan entries ``[start, stop)``."""
        g = self.order[start:stop]
        src = np.searchsorted(self.offsets, g, side="right") - 1
        return src, g - self.offsets[src]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for start in range(0, len(self.order), _CHUNK):
            src, doc = self.decode(start, start + _CHUNK)
            for s, k in zip(src.tolist(), doc.tolist()):
                yield self.sources[s], k

    def pairs(self) -> list[tuple[str, int]]:
        """The whole plan as a list (small plans; tests and inspection)."""
        return list(self)

    def documents(self, source: str) -> int:
        """How many times documents of `source` appear in the mix."""
        s = self.sources.index(source)
        n = int(self.offsets[s + 1] - self.offsets[s])
        return self.full[s] * n + len(self.subsets[s])


def plan_mix(doc_counts: Mapping[str, int], epochs: Mapping[str, float], seed: int) -> MixPlan:
    """The sequence of (source, document index) of the mixed training set.

    Each source contributes ``floor(epochs)`` full passes over its documents plus the
    fractional pass (`split_epochs`): a subset chosen from the source's own seeded stream
    (first documents of a seeded permutation, kept in document order). Everything is then
    shuffled once with the shuffle stream. See the module docstring for why this is the
    same on every run and machine.

    Args:
        doc_counts: documents per source; the order of this mapping is the source order
            (it numbers the sources, so keep it the configured order).
        epochs: epochs per source (every source of `doc_counts` must have one).
        seed: the mix seed (``mix.seed``), >= 0.

    Returns:
        The `MixPlan`.

    Raises:
        ValueError: a negative seed or count, or a source without epochs.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    sources = list(doc_counts)
    missing = [s for s in sources if s not in epochs]
    if missing:
        raise ValueError(f"no epochs for source(s) {', '.join(missing)}")
    counts = [int(doc_counts[s]) for s in sources]
    if any(n < 0 for n in counts):
        raise ValueError(f"document counts must be >= 0, got {dict(zip(sources, counts))}")
    offsets = np.zeros(len(sources) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    full: list[int] = []
    subsets: list[np.ndarray] = []
    for name, n in zip(sources, counts):
        passes, extra = split_epochs(float(epochs[name]), n)
        full.append(passes)
        pick = _permutation(_bits(seed, 1, _name_key(name)), n)[:extra] if extra else \
            np.zeros(0, dtype=np.int64)
        subsets.append(np.sort(pick))
    total = sum(f * n + len(sub) for f, n, sub in zip(full, counts, subsets))
    order = np.empty(total, dtype=np.int64)
    pos = 0
    for s, (n, passes, sub) in enumerate(zip(counts, full, subsets)):
        base = np.arange(offsets[s], offsets[s] + n, dtype=np.int64)
        for _ in range(passes):
            order[pos:pos + n] = base
            pos += n
        order[pos:pos + len(sub)] = offsets[s] + sub
        pos += len(sub)
    order = order[_permutation(_bits(seed, 0), total)]
    return MixPlan(sources, offsets, full, subsets, order)


# -- writing the mix ------------------------------------------------------------------

@dataclass
class MixSourceCount:
    """One source's part of a written mix.

    Attributes:
        epochs: the epochs applied.
        documents: mixed documents from this source (repeats counted).
        tokens: its tokens in the mix as stored (end-of-document tokens included).
        text_tokens: ``tokens - documents`` (the unit of ``tokens/counts.csv``).
    """

    epochs: float
    documents: int
    tokens: int

    @property
    def text_tokens(self) -> int:
        return self.tokens - self.documents


@dataclass
class MixResult:
    """What `write_mix` wrote (also saved as ``mix/train.json``).

    Attributes:
        tokenizer: the vocabulary's name.
        seed: the mix seed.
        dtype: the shards' dtype (``uint16`` or ``int32``).
        sources: per source, in source order.
        documents / tokens: totals over the mix (tokens as stored, EOD included).
        shards: the ``.bin`` paths in order.
        shard_bytes: the size of each ``.bin`` (a finished mix is recognised by them).
        inputs: the caller's fingerprint of what the mix was made from (`run_mix` compares
            it to reuse an up-to-date mix); None when not given.
        reused: True when `run_mix` found this mix up to date (not saved).
    """

    tokenizer: str
    seed: int
    dtype: str
    sources: dict[str, MixSourceCount]
    documents: int
    tokens: int
    shards: list[Path]
    shard_bytes: list[int] = field(default_factory=list)
    version: str = MIX_VERSION
    inputs: str | None = None
    reused: bool = False

    def share(self, source: str) -> float:
        """`source`'s share of the mix's tokens, in [0, 1]."""
        return self.sources[source].tokens / self.tokens if self.tokens else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "tokenizer": self.tokenizer, "seed": self.seed,
                "dtype": self.dtype, "documents": self.documents, "tokens": self.tokens,
                "sources": {name: {"epochs": c.epochs, "documents": c.documents,
                                   "tokens": c.tokens, "text_tokens": c.text_tokens,
                                   "share": round(self.share(name), 6)}
                            for name, c in self.sources.items()},
                "shards": [p.name for p in self.shards], "shard_bytes": list(self.shard_bytes),
                "inputs": self.inputs}

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder: Path) -> MixResult:
        return cls(tokenizer=data["tokenizer"], seed=data["seed"], dtype=data["dtype"],
                   sources={name: MixSourceCount(c["epochs"], c["documents"], c["tokens"])
                            for name, c in data["sources"].items()},
                   documents=data["documents"], tokens=data["tokens"],
                   shards=[folder / name for name in data["shards"]],
                   shard_bytes=list(data["shard_bytes"]), version=data["version"],
                   inputs=data.get("inputs"))


def mix_prefix(tokens_dir: Path, tokenizer: str) -> Path:
    """``tokens/<tokenizer>/mix/train``: the mixed shards' prefix."""
    return Path(tokens_dir) / tokenizer / MIX_DIR / TRAIN


def _summary_path(tokens_dir: Path, tokenizer: str) -> Path:
    prefix = mix_prefix(tokens_dir, tokenizer)
    return prefix.with_name(prefix.name + ".json")


def load_mix_result(tokens_dir: Path, tokenizer: str) -> MixResult | None:
    """The finished mix of `tokenizer`, or None when there is none or it is incomplete.

    A mix counts as finished only when ``mix/train.json`` exists and every shard it lists
    is on disk with its recorded ``.bin`` size and its ``.idx``: `write_mix` removes the
    summary before touching any shard and writes it last, so a build killed midway leaves
    no summary and the mix is rebuilt.
    """
    path = _summary_path(tokens_dir, tokenizer)
    if not path.is_file():
        return None
    try:
        result = MixResult.from_dict(json.loads(path.read_text(encoding="utf-8")), path.parent)
    except (ValueError, KeyError, TypeError):
        return None
    if result.version != MIX_VERSION:
        return None
    if len(result.shards) != len(result.shard_bytes):
        return None
    for bin_path, size in zip(result.shards, result.shard_bytes):
        if not (bin_path.is_file() and bin_path.stat().st_size == size
                and bin_path.with_suffix(".idx").is_file()):
            return None
    if [p.with_suffix(".idx") for p in result.shards] != find_shards(mix_prefix(tokens_dir,
                                                                                tokenizer)):
        return None
    return result



_Located = tuple[list[np.ndarray], tuple[np.ndarray, np.ndarray], np.ndarray]


def _locate(readers: Sequence[ShardReader]) -> _Located:
    """Where every document of `readers` lies, in the plan's global numbering.

    Returns the shards' token arrays (plain views of the memory maps), and per global
    document its shard buffer number and first token, and its length: 16 bytes per
    document, so the write loop slices a buffer instead of searching shards per document
    (about three times as fast as `ShardReader.document`).

    Raises:
        PileError: a ``.bin`` does not hold the tokens its ``.idx`` describes.
    """
    buffers: list[np.ndarray] = []
    shard_of, first, lengths = [], [], []
    for reader in readers:
        for shard in reader.shards:
            n = len(shard)
            want = int(np.asarray(shard.sizes, dtype=np.int64).sum())
            if len(shard.tokens) != want:
                raise PileError(f"{shard.bin_path}: holds {len(shard.tokens)} tokens, its index "
                                f"says {want}; rebuild the source's shards")
            shard_of.append(np.full(n, len(buffers), dtype=np.int32))
            first.append(np.asarray(shard.pointers, dtype=np.int64) // shard.dtype.itemsize)
            lengths.append(np.asarray(shard.sizes, dtype=np.int32))
            buffers.append(np.asarray(shard.tokens))

    def cat(parts: list[np.ndarray], dtype) -> np.ndarray:
        return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)

    return (buffers, (cat(shard_of, np.int32), cat(first, np.int64)), cat(lengths, np.int32))


def write_mix(tokens_dir: Path, tokenizer: str, sources: Sequence[str],
              epochs: Mapping[str, float], seed: int, shard_tokens: int,
              inputs: str | None = None) -> MixResult:
    """Write the mixed, shuffled training shards of one tokenizer.

    Reads ``tokens/<tokenizer>/<source>`` (memory-mapped, one document at a time), and
    writes the documents in `plan_mix` order to ``tokens/<tokenizer>/mix/train``
    (`ShardWriter`: ``train.bin/.idx`` or ``train_NNNNN.bin/.idx``), then
    ``mix/train.json`` (the `MixResult`). Memory is bounded by document counts, never by
    tokens: about 32 bytes per mixed document while the plan is shuffled (8 after), 16
    bytes per source document to locate it, and one chunk of ``2**20`` plan entries;
    tokens are streamed from the memory maps one document at a time.

    Crash safety: the summary is removed first and written last (atomically), and
    `ShardWriter` renames finished files into place; `load_mix_result` accepts a mix only
    when its summary matches the files, so a killed build never leaves a mix that looks
    finished.

    Args:
        tokens_dir: ``OUT/tokens``.
        tokenizer: the vocabulary's folder name.
        sources: source names in configured order (this order numbers the sources in the
            plan, so it must be the same on every run).
        epochs: epochs per source (`effective_epochs`).
        seed: ``mix.seed``.
        shard_tokens: ``output.shard_tokens``.
        inputs: an opaque fingerprint of the inputs, saved in the summary (`run_mix`).

    Returns:
        The `MixResult` (exact per-source documents and tokens, shard paths).

    Raises:
        FileNotFoundError: a source has no shards for `tokenizer`.
        PileError: the sources' shards disagree on the dtype, a source ``.bin`` does not
            match its index (checked before the old mix is touched), or the written totals
            differ from the plan's.
    """
    tokens_dir = Path(tokens_dir)
    sources = list(sources)
    readers = {name: ShardReader(Path(tokens_dir) / tokenizer / name) for name in sources}
    dtypes = {name: r.dtype for name, r in readers.items()}
    if len(set(dtypes.values())) > 1:
        detail = ", ".join(f"{n}={d}" for n, d in dtypes.items())
        raise PileError(f"mix of {tokenizer}: source shards disagree on dtype ({detail}); "
                        f"expected one dtype for one vocabulary")
    dtype = next(iter(dtypes.values())) if dtypes else np.dtype(np.uint16)
    plan = plan_mix({name: len(readers[name]) for name in sources}, epochs, seed)

    counts: dict[str, MixSourceCount] = {}
    for s, name in enumerate(sources):
        sizes = readers[name].sizes
        tokens = plan.full[s] * int(sizes.sum()) + int(sizes[plan.subsets[s]].sum())
        counts[name] = MixSourceCount(float(epochs[name]), plan.documents(name), tokens)

    # Checked before the old mix is touched: a damaged source leaves it as it was.
    buffers, where, lengths = _locate([readers[name] for name in sources])
    summary = _summary_path(tokens_dir, tokenizer)
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.unlink(missing_ok=True)
    for stale in summary.parent.glob(f"{TRAIN}.*.tmp"):  # left by a killed run
        stale.unlink()
    writer = ShardWriter(mix_prefix(tokens_dir, tokenizer), dtype, shard_tokens)
    try:
        for start in range(0, len(plan), _CHUNK):
            g = plan.order[start:start + _CHUNK]
            for b, lo, n in zip(where[0][g].tolist(), where[1][g].tolist(), lengths[g].tolist()):
                writer.add(buffers[b][lo:lo + n])
    except BaseException:
        writer.abort()
        raise
    shards = writer.close()
    total_docs = sum(c.documents for c in counts.values())
    total_tokens = sum(c.tokens for c in counts.values())
    if writer.documents != total_docs or writer.tokens != total_tokens:
        raise PileError(f"mix of {tokenizer}: wrote {writer.documents} documents and "
                        f"{writer.tokens} tokens, the plan has {total_docs} and {total_tokens}")
    result = MixResult(tokenizer=tokenizer, seed=seed, dtype=str(dtype), sources=counts,
                       documents=total_docs, tokens=total_tokens, shards=shards,
                       shard_bytes=[p.stat().st_size for p in shards], inputs=inputs)
    atomic_write_text(summary, json.dumps(result.to_dict(), indent=2) + "\n")
    log.info("mix %s: %d documents, %d tokens in %d shard(s)", tokenizer, total_docs,
             total_tokens, len(shards))
    return result


# -- GPT-NeoX data lines --------------------------------------------------------------

def _shown(path: Path, root: Path | None, prefix: str | None = None) -> str:
    """`path` absolute, or relative to `root` when given (joined onto `prefix` if set)."""
    path = path.resolve()
    if root is None:
        return str(path)
    rel = path.relative_to(root.resolve()).as_posix()
    return posixpath.join(prefix, rel) if prefix else rel


def _shard_prefixes(prefix: Path, root: Path | None = None, shown: str | None = None
                    ) -> list[tuple[str, int]]:
    """(shard prefix without ``.bin``, its tokens) for every shard of `prefix`."""
    out = []
    for idx in find_shards(prefix):
        reader = ShardReader(idx)
        out.append((_shown(idx.with_suffix(""), root, shown), reader.num_tokens))
    if not out:
        raise FileNotFoundError(f"no shards at {prefix} (expected {prefix.name}.idx or "
                                f"{prefix.name}_00000.idx)")
    return out


def _natural(prefixes: Sequence[Path], root: Path | None, shown: str | None = None
             ) -> tuple[list[str], list[float]]:
    """Paths and weights proportional to tokens (held-out splits are read once each)."""
    shards = [item for p in prefixes for item in _shard_prefixes(Path(p), root, shown)]
    total = sum(t for _p, t in shards)
    if total <= 0:
        raise PileError(f"held-out shards {', '.join(map(str, prefixes))} hold no tokens")
    return [p for p, _t in shards], [t / total for _p, t in shards]


def heldout_prefixes(out: Path, split: str, tokenizer: str, sources: Sequence[str]) -> list[Path]:
    """The non-empty shards of a held-out split (``OUT/<split>/tokens/<tok>/<source>``)."""
    prefixes = []
    for name in sources:
        for idx in find_shards(out / split / "tokens" / tokenizer / name):
            prefix = idx.with_suffix("")
            if len(ShardReader(prefix)) > 0:
                prefixes.append(prefix)
    return prefixes


def neox_data_config(tokens_dir: Path, tokenizer: str, sources: Sequence[str],
                     epochs: Mapping[str, float], tokens: Mapping[str, int],
                     valid_prefixes: Sequence[Path] | None = None,
                     test_prefixes: Sequence[Path] | None = None,
                     root: Path | None = None, prefix: str | None = None) -> dict[str, Any]:
    """GPT-NeoX data lines for the unmixed per-source shards of one tokenizer.

    A source's weight is ``tokens x epochs`` over the sum of that for every source (the
    Pile's effective size share); a source split into several shards is listed once per
    shard, its weight divided by the shards' token counts. NeoX normalises the weights and
    draws each dataset's number of samples from them, so training sees each source about
    `epochs` times.

    Args:
        tokens_dir: ``OUT/tokens``.
        tokenizer: the vocabulary's folder name.
        sources: source names in configured order (the paths' order).
        epochs: epochs per source (`effective_epochs`).
        tokens: tokens per source for this tokenizer.
        valid_prefixes / test_prefixes: shard prefixes of held-out splits, for
            ``valid_data_paths``/``valid_data_weights`` (and ``test_...``) with weights
            proportional to their tokens. When empty, those keys repeat the training
            lines: GPT-NeoX needs all three (`NeoXArgs` asserts that train, valid and
            test paths come together, and `get_normalized_weights_and_num_samples` sums
            each weight list).
        root: write paths relative to this directory (the build's output directory, so
            the file is the same wherever the build lives); default: absolute paths.
        prefix: with `root`, join the relative paths onto this (where the trainer sees
            `root`: ``mix.neox_prefix``).

    Returns:
        ``{"train_data_paths": [...], "train_data_weights": [...], "valid_data_paths":
        ..., "test_data_weights": [...]}``: shard prefixes (no ``.bin``) and weights
        summing to 1, for each of the three.

    Raises:
        FileNotFoundError: a source or split has no shards.
        PileError: every source has 0 weighted tokens.
    """
    tokens_dir = Path(tokens_dir)
    mass = {name: float(tokens[name]) * float(epochs[name]) for name in sources}
    total = sum(mass.values())
    if total <= 0:
        raise PileError(f"neox config for {tokenizer}: every source has 0 tokens x epochs")
    paths: list[str] = []
    weights: list[float] = []
    for name in sources:
        shards = _shard_prefixes(tokens_dir / tokenizer / name, root, prefix)
        in_shards = sum(t for _p, t in shards)
        for path, t in shards:
            paths.append(path)
            share = t / in_shards if in_shards else 1.0 / len(shards)
            weights.append(mass[name] / total * share)
    cfg: dict[str, Any] = {"train_data_paths": paths, "train_data_weights": weights}
    for split, held in (("valid", valid_prefixes), ("test", test_prefixes)):
        cfg[f"{split}_data_paths"], cfg[f"{split}_data_weights"] = (
            _natural(held, root, prefix) if held else (list(paths), list(weights)))
    return cfg


def write_neox_config(path: Path, cfg: Mapping[str, Any], relative_to: str | None = None,
                      notes: Sequence[str] = ()) -> Path:
    """Write `cfg` (`neox_data_config`) as the YAML a user pastes into a NeoX config.

    NeoX config files are YAML; its keys accept underscores. Written atomically, and not
    rewritten when the file already holds the same text (rebuilds keep untouched files).

    Args:
        path: the ``.yml`` to write.
        cfg: the data lines.
        relative_to: says in the header what relative paths are relative to.
        notes: more header lines (without the ``# ``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = ("# GPT-NeoX data lines for the unmixed per-source shards (written by pile).\n"
              "# Paste into a NeoX config; weights are each source's share of tokens x epochs.\n")
    if relative_to:
        header += f"# Paths are relative to {relative_to}.\n"
    header += "".join(f"# {line}\n" for line in notes)
    body = yaml.safe_dump({k: list(v) for k, v in cfg.items()}, sort_keys=False,
                          default_flow_style=False, width=1000)
    text = header + body
    if not (path.is_file() and path.read_text(encoding="utf-8") == text):
        atomic_write_text(path, text)
    return path


# -- summaries for the report ---------------------------------------------------------

def mix_markdown(results: Sequence[MixResult]) -> str:
    """A ``report.md`` section: one table per tokenizer (epochs, documents, tokens, share)."""
    lines = ["## The mix", ""]
    for result in results:
        lines += [f"### {result.tokenizer} (seed {result.seed}, {len(result.shards)} shard(s))",
                  "", "| source | epochs | documents | tokens | share |",
                  "|---|---:|---:|---:|---:|"]
        for name, c in result.sources.items():
            lines.append(f"| {name} | {c.epochs:.4g} | {c.documents:,} | {c.tokens:,} | "
                         f"{100 * result.share(name):.2f}% |")
        lines.append(f"| TOTAL | | {result.documents:,} | {result.tokens:,} | 100.00% |")
        lines.append("")
    return "\n".join(lines)


# -- the whole step for a build -------------------------------------------------------

NEOX_FILE = "neox_data.yml"


def source_tokens(tokens_dir: Path, tokenizer: str, sources: Sequence[str]) -> dict[str, int]:
    """Tokens per source in ``tokens/<tokenizer>/<source>`` shards (EOD included), read from
    the indexes only."""
    return {name: ShardReader(Path(tokens_dir) / tokenizer / name).num_tokens
            for name in sources}


def build_epochs(cfg: Any, tokens_dir: Path, sources: Sequence[str]) -> dict[str, float]:
    """The epochs every tokenizer's mix uses: ``sources[].epochs``, with ``mix.token_budget``
    applied in the first configured tokenizer's tokens (`effective_epochs`).

    Args:
        cfg: the build's `pile.config.Config`.
        tokens_dir: ``OUT/tokens`` (the first tokenizer's shards must be written).
        sources: the built sources, in configured order. Budgets of sources that were not
            built are ignored (logged).
    """
    budget = {name: n for name, n in cfg.mix.token_budget.items() if name in sources}
    for name in cfg.mix.token_budget:
        if name not in budget:
            log.warning("mix.token_budget.%s: source %s was not built; budget ignored", name, name)
    tokens = (source_tokens(tokens_dir, cfg.tokenizers[0].name, list(budget))
              if budget else {})
    return effective_epochs({name: cfg.source(name).epochs for name in sources}, tokens, budget)


def mix_inputs(tokenizer: str, sources: Sequence[str], epochs: Mapping[str, float], seed: int,
               shard_tokens: int, source_fingerprints: Mapping[str, str]) -> str:
    """sha256 of everything a tokenizer's mix is made from (content-based, so it is the
    same for byte-identical builds): the rule's version, the sources in order with their
    epochs and the caller's fingerprint of their shards, the seed and the shard size."""
    blob = json.dumps([MIX_VERSION, tokenizer, seed, shard_tokens,
                       [[name, float(epochs[name]), source_fingerprints[name]]
                        for name in sources]], sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def run_mix(cfg: Any, tokens_dir: Path, sources: Sequence[str],
            source_fingerprints: Mapping[str, str] | None = None) -> dict[str, MixResult]:
    """Mix every tokenizer's shards and write its NeoX data lines (the build's mix step).

    For each configured tokenizer: `write_mix` into ``tokens/<tok>/mix/`` and
    `write_neox_config` into ``tokens/<tok>/neox_data.yml`` (unmixed per-source shards,
    weights from the same epochs, paths relative to the build's output directory
    ``tokens_dir.parent``). Nothing is written when ``mix.enabled`` is false or no
    tokenizer is configured.

    Args:
        cfg: the build's `pile.config.Config`.
        tokens_dir: ``OUT/tokens``, after the tokenize phase.
        sources: the built sources, in configured order.
        source_fingerprints: per source, a content fingerprint of its shards (the tokenize
            phase's fingerprint covers its documents and the vocabularies). When given, a
            tokenizer whose finished mix (`load_mix_result`) was made from the same inputs
            (`mix_inputs`) is reused untouched (``reused=True``); when None, every mix is
            rewritten.

    Returns:
        `MixResult` per tokenizer name (empty when disabled).
    """
    if not cfg.mix.enabled or not cfg.tokenizers or not sources:
        return {}
    tokens_dir = Path(tokens_dir)
    epochs = build_epochs(cfg, tokens_dir, sources)
    return {tok.name: mix_tokenizer(cfg, tokens_dir, tok.name, sources, epochs, source_fingerprints)
            for tok in cfg.tokenizers}


def mix_tokenizer(cfg: Any, tokens_dir: Path, tokenizer: str, sources: Sequence[str],
                  epochs: Mapping[str, float], source_fingerprints: Mapping[str, str] | None = None
                  ) -> MixResult:
    """One tokenizer's mix and NeoX data lines (see `run_mix`; `epochs` from `build_epochs`).

    Independent of the other tokenizers, so a build runs one per worker.
    """
    tokens_dir = Path(tokens_dir)
    inputs = (mix_inputs(tokenizer, sources, epochs, cfg.mix.seed, cfg.output.shard_tokens,
                         source_fingerprints) if source_fingerprints is not None else None)
    done = load_mix_result(tokens_dir, tokenizer) if inputs is not None else None
    if done is not None and done.inputs == inputs:
        done.reused = True
        log.info("mix %s: up to date, reused", tokenizer)
        result = done
    else:
        result = write_mix(tokens_dir, tokenizer, sources, epochs, cfg.mix.seed,
                           cfg.output.shard_tokens, inputs=inputs)
    held = {split: heldout_prefixes(tokens_dir.parent, split, tokenizer, sources)
            for split in ("val", "test")}
    neox = neox_data_config(tokens_dir, tokenizer, sources, epochs,
                            source_tokens(tokens_dir, tokenizer, sources),
                            valid_prefixes=held["val"], test_prefixes=held["test"],
                            root=tokens_dir.parent, prefix=cfg.mix.neox_prefix)
    write_neox_config(tokens_dir / tokenizer / NEOX_FILE, neox,
                      relative_to=None if cfg.mix.neox_prefix else
                      "the build's output directory: start the trainer there, or build "
                      "with --set mix.neox_prefix=/abs/path/of/out for absolute paths",
                      notes=[f"No {split} split in this build ({key} is 0): "
                             f"{name}_data_paths repeat the training shards."
                             for split, name, key in (("val", "valid", "splits.val_fraction"),
                                                      ("test", "test", "splits.test_fraction"))
                             if not held[split]])
    return result
