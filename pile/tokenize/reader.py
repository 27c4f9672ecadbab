"""Reading shards for training: documents, packed fixed-length samples, blends of sources.

`ShardReader` memory-maps one source's ``MMapIndexedDataset`` shards (all of
``<prefix>.bin/.idx`` or ``<prefix>_NNNNN.bin/.idx``) and serves document ``k`` as a numpy
view without copying.

`PackedSamples` cuts training samples the way GPT-NeoX's ``GPT2Dataset`` (and Megatron's
``GPTDataset``) do: documents are shuffled with a seeded generator per epoch and concatenated
(each already ends in its end-of-document token), the stream is cut into windows of
``seq_len + 1`` tokens that overlap by one token (inputs and shifted labels), and the windows
are served in a seeded shuffled order. The same seed gives the same samples on every run.

`BlendedSamples` mixes several sources by weight with Megatron's deterministic rule: sample
``i`` comes from the source whose share so far is furthest below its weight.

`torch_dataset` wraps any of these in a PyTorch ``Dataset`` (torch is optional: imported
only there).
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pile.tokenize.shards import DTYPE_CODES, HEADER, find_shards, read_header


class _Shard:
    """One memory-mapped ``.bin/.idx`` pair."""

    def __init__(self, idx_path: Path) -> None:
        self.idx_path = idx_path
        self.bin_path = idx_path.with_suffix(".bin")
        if idx_path.stat().st_size < HEADER.size:
            raise ValueError(f"{idx_path}: {idx_path.stat().st_size} bytes, shorter than the "
                             f"{HEADER.size}-byte index header")
        with open(idx_path, "rb") as f:
            self._idx_map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        header = read_header(self._idx_map)
        if header.dtype_code not in DTYPE_CODES:
            raise ValueError(f"{idx_path}: unknown dtype code {header.dtype_code}")
        self.dtype = DTYPE_CODES[header.dtype_code]
        n = header.sequences
        off = HEADER.size
        self.sizes = np.frombuffer(self._idx_map, dtype="<i4", count=n, offset=off)
        self.pointers = np.frombuffer(self._idx_map, dtype="<i8", count=n, offset=off + 4 * n)
        if self.bin_path.stat().st_size:
            self.tokens = np.memmap(self.bin_path, dtype=self.dtype, mode="r")
        else:  # np.memmap refuses empty files
            self.tokens = np.zeros(0, dtype=self.dtype)

    def __len__(self) -> int:
        return len(self.sizes)

    def document(self, k: int) -> np.ndarray:
        start = int(self.pointers[k]) // self.dtype.itemsize
        return self.tokens[start:start + int(self.sizes[k])]


class ShardReader:
    """All shards of one source, as one sequence of documents.

    Args:
        prefix: ``tokens/<tokenizer>/<source>`` (the shard files without ``.bin``/``.idx``
            or ``_NNNNN``), or one ``.idx``/``.bin`` path.

    Raises:
        FileNotFoundError: no shard for `prefix`.
        ValueError: a shard's header is damaged or shards disagree on the dtype.
    """

    def __init__(self, prefix: str | Path) -> None:
        self.prefix = Path(prefix)
        paths = find_shards(self.prefix)
        if not paths:
            raise FileNotFoundError(f"no shards at {self.prefix} (expected {self.prefix.name}.idx "
                                    f"or {self.prefix.name}_00000.idx)")
        self.shards = [_Shard(p) for p in paths]
        dtypes = {s.dtype for s in self.shards}
        if len(dtypes) != 1:
            raise ValueError(f"{self.prefix}: shards disagree on dtype: {sorted(map(str, dtypes))}")
        self.dtype = self.shards[0].dtype
        counts = np.array([len(s) for s in self.shards], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(counts)])
        self.sizes = (np.concatenate([s.sizes for s in self.shards]).astype(np.int64)
                      if counts.sum() else np.zeros(0, dtype=np.int64))

    def __getstate__(self) -> dict[str, Any]:
        # Memory maps do not pickle; a copy reopens the files (DataLoader workers, Ray).
        return {"prefix": str(self.prefix)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["prefix"])

    def __len__(self) -> int:
        """Number of documents (sequences)."""
        return int(self._starts[-1])

    @property
    def num_tokens(self) -> int:
        """Total tokens, end-of-document tokens included."""
        return int(self.sizes.sum())

    def __getitem__(self, k: int) -> np.ndarray:
        return self.document(k)

    def document(self, k: int) -> np.ndarray:
        """Document `k` (in source order) as a read-only view of the memory map."""
        n = len(self)
        if k < 0:
            k += n
        if not 0 <= k < n:
            raise IndexError(f"document {k} out of range [0, {n})")
        s = int(np.searchsorted(self._starts, k, side="right")) - 1
        return self.shards[s].document(k - int(self._starts[s]))

    def samples(self, seq_len: int, seed: int = 1234, epochs: int = 1,
                shuffle: bool = True) -> PackedSamples:
        """Fixed-length training samples; see `PackedSamples`."""
        return PackedSamples(self, seq_len, seed=seed, epochs=epochs, shuffle=shuffle)


class PackedSamples:
    """``seq_len + 1``-token windows packed across document boundaries, seeded order.

    Args:
        reader: the source.
        seq_len: tokens per training example; each sample has ``seq_len + 1`` tokens
            (the last token of sample ``j`` is the first of the next window).
        seed: the documents' per-epoch order and the samples' order come from
            ``numpy.random.RandomState(seed)``, as in GPT-NeoX.
        epochs: passes over the documents (each epoch reshuffled).
        shuffle: False keeps documents and samples in source order.
    """

    def __init__(self, reader: ShardReader, seq_len: int, seed: int = 1234, epochs: int = 1,
                 shuffle: bool = True) -> None:
        if seq_len < 1:
            raise ValueError(f"seq_len must be >= 1, got {seq_len}")
        if epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {epochs}")
        self.reader = reader
        self.seq_len = int(seq_len)
        rng = np.random.RandomState(seed)
        n = len(reader)
        orders = [rng.permutation(n) if shuffle else np.arange(n) for _ in range(epochs)]
        self.doc_order = np.concatenate(orders).astype(np.int64) if n else np.zeros(0, np.int64)
        self._ends = np.cumsum(reader.sizes[self.doc_order]) if n else np.zeros(0, np.int64)
        total = int(self._ends[-1]) if n else 0
        self.num_samples = max(0, (total - 1) // self.seq_len)
        self.order = (rng.permutation(self.num_samples) if shuffle
                      else np.arange(self.num_samples)).astype(np.int64)

    def __len__(self) -> int:
        return self.num_samples

    def window(self, j: int) -> np.ndarray:
        """Window `j` in stream order (tokens ``[j*seq_len, (j+1)*seq_len + 1)``)."""
        start = j * self.seq_len
        stop = start + self.seq_len + 1
        out = np.empty(self.seq_len + 1, dtype=np.int64)
        pos = int(np.searchsorted(self._ends, start, side="right"))
        filled = 0
        while filled < len(out):
            doc = self.reader.document(int(self.doc_order[pos]))
            doc_start = int(self._ends[pos]) - len(doc)
            lo = start + filled - doc_start
            take = min(len(doc) - lo, stop - (start + filled))
            out[filled:filled + take] = doc[lo:lo + take]
            filled += take
            pos += 1
        return out

    def __getitem__(self, i: int) -> np.ndarray:
        """Sample `i` of the shuffled order: ``seq_len + 1`` int64 token ids."""
        if not 0 <= i < self.num_samples:
            raise IndexError(f"sample {i} out of range [0, {self.num_samples})")
        return self.window(int(self.order[i]))


class BlendedSamples:
    """Several sample sets mixed by weight (Megatron's ``BlendedDataset`` rule).

    Args:
        datasets: `PackedSamples` (or anything with ``len`` and ``[]``), one per source.
        weights: relative weights (normalised here), e.g. the Pile's epochs x tokens.
        size: number of samples; default: as many as the weights allow without repeating
            any source's samples.

    Sample ``i`` comes from the source with the largest ``weight * (i + 1) - taken``; a
    source asked for more samples than it has wraps around (its samples repeat).
    """

    def __init__(self, datasets: Sequence[Any], weights: Sequence[float],
                 size: int | None = None) -> None:
        if len(datasets) != len(weights) or not datasets:
            raise ValueError(f"need one weight per dataset, got {len(datasets)} datasets and "
                             f"{len(weights)} weights")
        w = np.asarray(weights, dtype=np.float64)
        if (w < 0).any() or w.sum() <= 0:
            raise ValueError(f"weights must be >= 0 and not all 0, got {list(weights)}")
        w = w / w.sum()
        self.datasets = list(datasets)
        self.weights = w
        if size is None:
            lens = np.array([len(d) for d in datasets], dtype=np.float64)
            size = int(min(lens[k] / w[k] for k in range(len(w)) if w[k] > 0))
        self.size = int(size)
        self.source = np.zeros(self.size, dtype=np.int32)
        self.index = np.zeros(self.size, dtype=np.int64)
        taken = np.zeros(len(w), dtype=np.int64)
        for i in range(self.size):
            k = int(np.argmax(w * (i + 1) - taken))
            self.source[i] = k
            self.index[i] = taken[k]
            taken[k] += 1

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> np.ndarray:
        if not 0 <= i < self.size:
            raise IndexError(f"sample {i} out of range [0, {self.size})")
        ds = self.datasets[int(self.source[i])]
        return ds[int(self.index[i]) % len(ds)]


def torch_dataset(samples: Any):
    """A ``torch.utils.data.Dataset`` over `samples` yielding ``{"input_ids": LongTensor}``.

    Raises:
        ImportError: torch is not installed (``pip install torch``).
    """
    try:
        from pile.tokenize.torch_dataset import TorchSamples
    except ImportError as exc:
        raise ImportError(f"torch_dataset needs PyTorch: pip install torch ({exc})") from None
    return TorchSamples(samples)
