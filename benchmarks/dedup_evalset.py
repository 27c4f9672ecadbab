"""An evaluation set for near-duplicate removal, and its exact ground truth.

Originals are chunks of real text from ``shared/data`` (WikiText-2, Shakespeare,
Botchan, a Project Gutenberg book, Europarl); planted near-duplicates are derived from
them with the edits that make real duplicates: word edits, deleted and inserted
sentences, reordered paragraphs, shared boilerplate, whitespace and case changes, each
at a random strength so the similarities spread over both sides of the threshold. The
set also has unrelated documents that share boilerplate (they must survive).

The truth is not the planting recipe but the exact Jaccard similarity of the very
shingle sets the pass uses (`ShingleHasher`, 64-bit hashes), computed for *all* pairs
with the prefix filter of the All-Pairs algorithm (Bayardo, Ma, Srikant, WWW 2007;
Chaudhuri et al., ICDE 2006): two sets with Jaccard >= t share a token among the first
``|x| - ceil(t * |x|) + 1`` of each, in one global order of the tokens (rarest first),
so only pairs sharing such a token are compared, and none is missed. The documents to
remove are then the non-survivors of the connected components of that graph, under the
pass's own survivor rule. `score` compares a pass's removed set with it.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pile.dedup.components import connected_components, survivor_order
from pile.dedup.normalize import Normalizer
from pile.dedup.shingles import ShingleHasher
from pile.document import Document

_SENTENCE_RE = re.compile(r"(?<=[.!?;:])\s+")
_WIKI_HEADING_RE = re.compile(r"^ = [^=].* = $")

# (path under shared/data, how paragraphs are separated)
TEXT_FILES = (
    ("text/wikitext-2/test.txt", "wikitext"),
    ("text/tinyshakespeare.txt", "blank"),
    ("text/botchan.txt", "blank"),
    ("samples/gutenberg/3261.txt", "blank"),
    ("samples/europarl/en/ep-00-01-17.txt", "line"),
    ("samples/europarl/en/ep-00-02-03.txt", "line"),
)

BOILERPLATE = (
    "This article is licensed under the Creative Commons Attribution-ShareAlike License. "
    "Additional terms may apply. By using this site, you agree to the Terms of Use and "
    "Privacy Policy. Contact us if you find an error, and see the editorial guidelines "
    "for how corrections are made and how articles are reviewed before publication."
)


def _paragraphs(text: str, style: str) -> list[str]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if style == "wikitext":
        lines = [ln for ln in text.split("\n") if ln.strip() and not _WIKI_HEADING_RE.match(ln)]
        return [ln.strip() for ln in lines]
    if style == "line":
        return [ln.strip() for ln in text.split("\n") if len(ln.split()) >= 3]
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def base_documents(shared_data: Path, min_words: int = 80, max_words: int = 300) -> list[str]:
    """Real-text originals: consecutive paragraphs grouped into documents.

    Args:
        shared_data: the ``shared/data`` folder.
        min_words / max_words: document length bounds in words (longer paragraphs are
            cut at `max_words`).

    Returns:
        Documents (paragraphs separated by blank lines), file by file in `TEXT_FILES`
        order; deterministic.
    """
    docs: list[str] = []
    for rel, style in TEXT_FILES:
        path = Path(shared_data) / rel
        text = path.read_text(encoding="utf-8", errors="replace")
        current: list[str] = []
        count = 0
        for para in _paragraphs(text, style):
            words = para.split()
            if len(words) > max_words:
                para = " ".join(words[:max_words])
                words = words[:max_words]
            if count + len(words) > max_words and count >= min_words:
                docs.append("\n\n".join(current))
                current, count = [], 0
            elif count + len(words) > max_words:
                current, count = [], 0
            current.append(para)
            count += len(words)
        if count >= min_words:
            docs.append("\n\n".join(current))
    return docs


# -- the edits ------------------------------------------------------------------------------


def word_edits(text: str, rng: np.random.RandomState, rate: float, vocab: list[str]) -> str:
    """Replace, delete or insert a word at a fraction `rate` of positions (paragraphs kept)."""
    out = []
    for para in text.split("\n\n"):
        new: list[str] = []
        for w in para.split():
            if rng.rand() >= rate:
                new.append(w)
                continue
            op = rng.randint(3)
            if op == 0:  # replace
                new.append(vocab[rng.randint(len(vocab))])
            elif op == 2:  # insert after
                new.extend([w, vocab[rng.randint(len(vocab))]])
            # op == 1: delete
        out.append(" ".join(new))
    return "\n\n".join(out)


def _sentences(text: str) -> list[list[str]]:
    return [_SENTENCE_RE.split(p) for p in text.split("\n\n")]


def delete_sentences(text: str, rng: np.random.RandomState, rate: float) -> str:
    """Delete a fraction `rate` of the sentences (at least one sentence is kept)."""
    paras = _sentences(text)
    kept = [[s for s in p if rng.rand() >= rate] for p in paras]
    if not any(kept):
        kept = [paras[0][:1]]
    return "\n\n".join(" ".join(p) for p in kept if p)


def insert_sentences(text: str, donor: str, rng: np.random.RandomState, rate: float) -> str:
    """Insert sentences of `donor` after a fraction `rate` of the sentences of `text`."""
    pool = [s for p in _sentences(donor) for s in p]
    out = []
    for p in _sentences(text):
        new = []
        for s in p:
            new.append(s)
            if rng.rand() < rate:
                new.append(pool[rng.randint(len(pool))])
        out.append(" ".join(new))
    return "\n\n".join(out)


def reorder_paragraphs(text: str, rng: np.random.RandomState) -> str:
    """Shuffle the paragraphs (only the shingles across paragraph borders change)."""
    paras = text.split("\n\n")
    order = rng.permutation(len(paras))
    return "\n\n".join(paras[i] for i in order)


def add_boilerplate(text: str, rng: np.random.RandomState, boilerplate: str = BOILERPLATE) -> str:
    """Prepend or append a shared boilerplate block."""
    return f"{boilerplate}\n\n{text}" if rng.rand() < 0.5 else f"{text}\n\n{boilerplate}"


def change_whitespace_and_case(text: str, rng: np.random.RandomState) -> str:
    """Different spacing, line breaks and capitals: an exact duplicate once normalised."""
    words = text.split()
    seps = [" ", "  ", "\n", "\t", " \n "]
    out = [words[0]]
    for w in words[1:]:
        out.append(seps[rng.randint(len(seps))])
        out.append(w.upper() if rng.rand() < 0.05 else w)
    return "".join(out)


EDITS = ("word_edits", "delete_sentences", "insert_sentences", "reorder_paragraphs",
         "boilerplate", "whitespace_case", "mixed")


def plant(base: str, donor: str, kind: str, rng: np.random.RandomState, vocab: list[str]) -> str:
    """One planted near-duplicate of `base` made by the edit `kind` at a random strength.

    Strengths are drawn so the Jaccard of the result to `base` spreads over roughly
    0.5-1.0 (5-word shingles: one word edit changes up to five shingles).
    """
    if kind == "word_edits":
        return word_edits(base, rng, rng.uniform(0.002, 0.03), vocab)
    if kind == "delete_sentences":
        return delete_sentences(base, rng, rng.uniform(0.02, 0.3))
    if kind == "insert_sentences":
        return insert_sentences(base, donor, rng, rng.uniform(0.02, 0.3))
    if kind == "reorder_paragraphs":
        return word_edits(reorder_paragraphs(base, rng), rng, rng.uniform(0.0, 0.02), vocab)
    if kind == "boilerplate":
        return word_edits(add_boilerplate(base, rng), rng, rng.uniform(0.0, 0.01), vocab)
    if kind == "whitespace_case":
        return change_whitespace_and_case(base, rng)
    if kind == "mixed":
        text = delete_sentences(base, rng, rng.uniform(0.0, 0.1))
        text = insert_sentences(text, donor, rng, rng.uniform(0.0, 0.1))
        return word_edits(text, rng, rng.uniform(0.0, 0.01), vocab)
    raise ValueError(f"unknown edit {kind!r}; known: {', '.join(EDITS)}")


@dataclass(frozen=True)
class EvalSet:
    """Documents by source, and what was planted (doc id -> (edit, original id))."""

    docs: dict[str, list[Document]]
    planted: dict[str, tuple[str, str]]

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.docs.values())


def build_evalset(shared_data: Path, originals: int, variants: int, seed: int = 0,
                  sources: tuple[str, ...] = ("curated", "web"), unrelated_boilerplate: int = 0
                  ) -> EvalSet:
    """Originals, planted near-duplicates and unrelated documents, spread over sources.

    Args:
        shared_data: the ``shared/data`` folder.
        originals: how many real-text originals (sampled without replacement from
            `base_documents`; also the pool of unrelated documents).
        variants: how many planted near-duplicates (an original may get several, so
            clusters of more than two occur).
        seed: the random seed (the set is a pure function of its arguments).
        sources: source names; each document goes to one at random, so duplicates
            cross sources.
        unrelated_boilerplate: extra originals that only share `BOILERPLATE` with others.

    Returns:
        The `EvalSet`; document ids are ``<source>/<kind>-<n>``.
    """
    rng = np.random.RandomState(seed)
    pool = base_documents(shared_data)
    if originals + unrelated_boilerplate > len(pool):
        raise ValueError(f"only {len(pool)} originals available, asked for "
                         f"{originals + unrelated_boilerplate}")
    pick = rng.choice(len(pool), originals + unrelated_boilerplate, replace=False)
    bases = [pool[i] for i in pick[:originals]]
    extra = [pool[i] for i in pick[originals:]]
    vocab = sorted({w for text in bases[:200] for w in text.split()})
    docs: dict[str, list[Document]] = {s: [] for s in sources}
    planted: dict[str, tuple[str, str]] = {}

    def add(kind: str, n: int, text: str) -> str:
        source = sources[rng.randint(len(sources))]
        doc_id = f"{source}/{kind}-{n:06d}"
        docs[source].append(Document(doc_id, source, text))
        return doc_id

    base_ids = [add("orig", i, text) for i, text in enumerate(bases)]
    for i, text in enumerate(extra):
        add("boiler", i, add_boilerplate(text, rng))
    for n in range(variants):
        k = rng.randint(originals)
        donor = bases[(k + 1 + rng.randint(originals - 1)) % originals]
        kind = EDITS[rng.randint(len(EDITS))]
        doc_id = add("dup", n, plant(bases[k], donor, kind, rng, vocab))
        planted[doc_id] = (kind, base_ids[k])
    return EvalSet(docs=docs, planted=planted)


# -- exact ground truth ---------------------------------------------------------------------


def shingle_sets(texts: list[str], normalizer: Normalizer, ngram: int) -> list[np.ndarray]:
    """The sorted distinct 64-bit shingle hashes of each text (the pass's own shingles)."""
    hasher = ShingleHasher(normalizer, ngram)
    out: list[np.ndarray] = []
    for lo in range(0, len(texts), 512):
        hashes, offsets = hasher.hash_batch(hasher.word_bytes(texts[lo:lo + 512]))
        # np.unique per document: independent of the batched path the pass uses.
        out.extend(np.unique(hashes[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1))
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted distinct arrays."""
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def similar_pairs(sets: list[np.ndarray], threshold: float) -> dict[tuple[int, int], float]:
    """Every pair ``(i, j)``, ``i < j``, whose exact Jaccard is >= `threshold`.

    All-Pairs with the prefix filter and the size filter (see the module docstring);
    exact, with no sampling. Empty sets are never similar to anything.
    """
    if not sets:
        return {}
    tokens, counts = np.unique(np.concatenate(sets), return_counts=True)
    # Global order: rarest token first (short posting lists), ties by value.
    order = np.lexsort((tokens, counts))
    rank_of = np.empty(len(tokens), np.int64)
    rank_of[order] = np.arange(len(tokens))
    postings: dict[int, list[int]] = defaultdict(list)
    for i, s in enumerate(sets):
        if s.size == 0:
            continue
        ranks = np.sort(rank_of[np.searchsorted(tokens, s)])
        prefix = s.size - math.ceil(threshold * s.size - 1e-9) + 1
        for r in ranks[:prefix].tolist():
            postings[r].append(i)
    candidates: set[tuple[int, int]] = set()
    for members in postings.values():
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                candidates.add((members[x], members[y]))
    out: dict[tuple[int, int], float] = {}
    for i, j in sorted(candidates):
        a, b = sets[i], sets[j]
        if min(a.size, b.size) < threshold * max(a.size, b.size) - 1e-9:
            continue
        sim = jaccard(a, b)
        if sim >= threshold:
            out[(i, j)] = sim
    return out


def true_removals(docs: dict[str, list[Document]], threshold: float, normalizer: Normalizer,
                  ngram: int, priority: tuple[str, ...] = ()) -> set[str]:
    """The ids a perfect pass removes: non-survivors of the exact-Jaccard components.

    Args:
        docs: documents by source (source order matters only for unlisted priority).
        threshold: the Jaccard threshold.
        normalizer / ngram: the pass's shingling.
        priority: the pass's source priority (the survivor rule).
    """
    flat = [d for source in docs for d in docs[source]]
    sets = shingle_sets([d.text for d in flat], normalizer, ngram)
    pairs = similar_pairs(sets, threshold)
    if not pairs:
        return set()
    edges = np.array(sorted(pairs), dtype=np.uint64)
    nodes, labels = connected_components(edges)
    rank = survivor_order(list(docs), priority)
    groups: dict[int, list[int]] = defaultdict(list)
    for node, label in zip(nodes.tolist(), labels.tolist()):
        groups[label].append(node)
    removed: set[str] = set()
    for members in groups.values():
        keep = min(members, key=lambda i: (rank[flat[i].source], flat[i].id))
        removed.update(flat[i].id for i in members if i != keep)
    return removed


def score(predicted: set[str], truth: set[str]) -> dict[str, float]:
    """Precision and recall of a removed set against the true one (1.0 when both empty)."""
    tp = len(predicted & truth)
    precision = tp / len(predicted) if predicted else 1.0
    recall = tp / len(truth) if truth else 1.0
    return {"precision": precision, "recall": recall, "true_positives": tp,
            "false_positives": len(predicted - truth), "false_negatives": len(truth - predicted),
            "removed": len(predicted), "should_remove": len(truth)}
