"""The stage contracts: what every step of the pipeline implements.

Per-document stages are plain Python and know nothing of Ray:

- `Mapper.map(doc) -> doc` rewrites a document;
- `Filter.drop_reason(doc) -> str | None` keeps it (None) or names why it goes;
- `Stage.process_batch(docs)` is what the runner calls; override it only when a batch
  is cheaper than one document at a time (vectorised hashing, batched encoders).

Heavy state (models, tokenizers, recognizers) is built in `setup()`, which the runner
calls once per worker before the first batch; attributes named in `transient` are not
pickled, so a stage ships cheaply to workers and is set up again there.

Whole-corpus algorithms (deduplication) implement `GlobalPass.run(ctx)`: they see every
document through a `PassContext`, keep their intermediates under `ctx.workdir`, and
return the ids to drop with a reason each.
"""

from __future__ import annotations

import abc
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol, TypeVar

from pile.document import Document

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Dropped:
    """A decision to drop `doc`; `reason` is the stats key (``"too_short"``)."""

    doc: Document
    reason: str


class Stage:
    """Base of all per-document stages.

    Attributes:
        name: snake_case and versioned (``"quality_v1"``); the stats key. A change of
            behaviour gets a new name so old configs keep their meaning.
        transient: attribute names built by `setup()` and left out of pickles.
    """

    name: ClassVar[str] = "stage_v1"
    transient: ClassVar[tuple[str, ...]] = ()

    def __init__(self) -> None:
        self.counters: Counter[tuple[str, str]] = Counter()
        self._ready = False

    def setup(self) -> None:
        """Build heavy state; called once per worker before the first batch."""

    def ensure_setup(self) -> None:
        """Run `setup()` once (the runner and tests call this, never `setup` twice)."""
        if not self._ready:
            self.setup()
            self._ready = True

    def process_batch(self, docs: list[Document]) -> tuple[list[Document], list[Dropped]]:
        """Process a batch; return the kept documents (in order) and the drops."""
        raise NotImplementedError

    def count(self, source: str, key: str, n: int = 1) -> None:
        """Add `n` to a per-source counter reported in stats (``pii.CREDIT_CARD``)."""
        if n:
            self.counters[(source, key)] += n

    def drain_counters(self) -> dict[tuple[str, str], int]:
        """Return and reset the counters (the runner merges them across workers)."""
        out = dict(self.counters)
        self.counters.clear()
        return out

    def __getstate__(self) -> dict[str, Any]:
        state = {k: v for k, v in self.__dict__.items() if k not in self.transient}
        state["_ready"] = False
        state["counters"] = Counter()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        for attr in self.transient:
            self.__dict__.setdefault(attr, None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class Mapper(Stage):
    """A stage that rewrites each document."""

    def map(self, doc: Document) -> Document:
        raise NotImplementedError

    def process_batch(self, docs: list[Document]) -> tuple[list[Document], list[Dropped]]:
        self.ensure_setup()
        return [self.map(doc) for doc in docs], []


class Filter(Stage):
    """A stage that keeps or drops each document, with a reason for every drop."""

    def drop_reason(self, doc: Document) -> str | None:
        raise NotImplementedError

    def process_batch(self, docs: list[Document]) -> tuple[list[Document], list[Dropped]]:
        self.ensure_setup()
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for doc in docs:
            reason = self.drop_reason(doc)
            if reason is None:
                kept.append(doc)
            else:
                dropped.append(Dropped(doc, reason))
        return kept, dropped


class DropIds(Filter):
    """Drops the documents a global pass decided against.

    Args:
        decisions: id -> reason: a mapping, or anything with its ``get`` (dedup's
            `pile.dedup.droptable.DropTable`); one that also has ``reasons(ids)`` answers
            a whole batch at once.
        stage: the pass's name in the stats.
    """

    name = "drop_ids_v1"

    def __init__(self, decisions: Any, stage: str) -> None:
        super().__init__()
        self.decisions = decisions
        self.stage = stage

    def drop_reason(self, doc: Document) -> str | None:
        return self.decisions.get(doc.id)

    def process_batch(self, docs: list[Document]) -> tuple[list[Document], list[Dropped]]:
        batch = getattr(self.decisions, "reasons", None)
        if batch is None:
            return super().process_batch(docs)
        self.ensure_setup()
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for doc, reason in zip(docs, batch([d.id for d in docs])):
            if reason is None:
                kept.append(doc)
            else:
                dropped.append(Dropped(doc, reason))
        return kept, dropped


class BatchFunction(Protocol):
    """A per-batch computation a global pass runs on the workers.

    It is set up once per worker (``setup()``), then called on batches of documents in
    corpus order, returning one JSON/Arrow-serialisable row (a dict) per result.
    """

    def setup(self) -> None: ...

    def __call__(self, docs: list[Document]) -> list[dict[str, Any]]: ...


class PassContext(Protocol):
    """What a global pass sees of the build (implemented by the runner)."""

    workdir: Path
    """The pass's own folder (``OUT/dedup``); intermediates go here."""

    sources: list[str]
    """The sources in this build, in configured order."""

    workers: int

    def iter_documents(self, source: str) -> Iterator[Document]:
        """Stream one source's documents on the driver, in corpus order."""
        ...

    def map_to_parts(self, fn: BatchFunction, sink: PartSink, sources: Iterable[str],
                     dest: Callable[[str], Path]) -> dict[str, int]:
        """Run `fn` over each source's documents and let `sink` write its rows where they
        are computed: a part per unit, then the parts merged into ``dest(source)``.
        Returns the rows written per source; nothing but counts reaches the caller."""
        ...

    def call(self, fn: Callable[[], T]) -> T:
        """Run one step of a pass (`fn`, picklable) on a worker and return its small result:
        a global step whose inputs and outputs are files, kept off the driver."""
        ...

    def call_each(self, fns: list[Callable[[], T]]) -> list[T]:
        """Run independent steps (`fns`, picklable) on the workers in parallel; their
        results in the order given."""
        ...


class PartSink(Protocol):
    """Writes a global pass's per-document rows to disk on the workers (picklable)."""

    def write(self, folder: Path, batches: Iterable[list[dict[str, Any]]]) -> int: ...

    def merge(self, parts: list[Path], dest: Path, source: str) -> int: ...


@dataclass(frozen=True)
class DropFile:
    """A global pass's decisions for one source, written where they were made."""

    path: str
    """A drop table (`pile.dedup.droptable`): the removed ids' digests and reasons."""
    removed: int
    sha256: str


@dataclass
class PassResult:
    """What a global pass decided.

    Attributes:
        drop_files: source -> its decisions on disk; the decisions themselves never pass
            through the driver.
        counters: (source, key) -> number, merged into that source's stats.
        details: free-form JSON-serialisable facts for the report (largest clusters).
        decisions: the JSON Lines file with one ``{"id", "reason", ...}`` line per removed
            document (dedup's ``clusters.jsonl``); '' when nothing was decided.
    """

    drop_files: dict[str, DropFile] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    decisions: str = ""

    @property
    def drops(self) -> dict[str, str]:
        """Every decision, document id -> reason, read back from `decisions` (for tests and
        small corpora: the drop tables hold digests, not ids)."""
        out: dict[str, str] = {}
        if self.decisions and Path(self.decisions).is_file():
            with open(self.decisions, encoding="utf-8") as fh:
                for line in fh:
                    row = json.loads(line)
                    out[row["id"]] = row["reason"]
        return out


class GlobalPass(abc.ABC):
    """A whole-corpus algorithm run between per-document stages."""

    name: ClassVar[str] = "pass_v1"

    @abc.abstractmethod
    def run(self, ctx: PassContext) -> PassResult:
        """Decide over every document of `ctx`; keep intermediates under `ctx.workdir`."""


def run_chain(stages: list[Stage], docs: list[Document]) -> tuple[list[Document], list[tuple[str, Dropped]]]:
    """Run `docs` through `stages` in order (no Ray); return kept and (stage, drop) pairs."""
    dropped: list[tuple[str, Dropped]] = []
    for stage in stages:
        if not docs:
            break
        docs, drops = stage.process_batch(docs)
        dropped.extend((stage.name, d) for d in drops)
    return docs, dropped


class InMemoryPassContext:
    """A `PassContext` over documents held in memory, run in this process.

    For tests of global passes and for small corpora; the runner's context does the
    same over checkpoint files on the workers.
    """

    def __init__(self, workdir: Path, docs: dict[str, list[Document]], batch_size: int = 256) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sources = list(docs)
        self.workers = 1
        self._docs = docs
        self._batch_size = batch_size

    def iter_documents(self, source: str) -> Iterator[Document]:
        yield from self._docs[source]

    def map_to_parts(self, fn: BatchFunction, sink: PartSink, sources: Iterable[str],
                     dest: Callable[[str], Path]) -> dict[str, int]:
        fn.setup()
        out = {}
        for source in sources:
            docs = self._docs[source]
            part = self.workdir / ".parts" / source / "000000"
            part.parent.mkdir(parents=True, exist_ok=True)
            sink.write(part, (fn(docs[i:i + self._batch_size])
                              for i in range(0, len(docs), self._batch_size)))
            out[source] = sink.merge([part], dest(source), source)
        return out

    def call(self, fn: Callable[[], T]) -> T:
        return fn()

    def call_each(self, fns: list[Callable[[], T]]) -> list[T]:
        return [fn() for fn in fns]
