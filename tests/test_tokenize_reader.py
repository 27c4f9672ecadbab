"""ShardReader for trainers: packed seeded samples, blending, and the PyTorch adapter."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pile.tokenize import BlendedSamples, PackedSamples, ShardReader, ShardWriter, torch_dataset

REPO = Path(__file__).resolve().parents[1]
EOD = 0


def _write(prefix: Path, docs: list[np.ndarray], shard_tokens: int = 10**9) -> ShardReader:
    with ShardWriter(prefix, np.uint16, shard_tokens) as w:
        for d in docs:
            w.add(d)
    return ShardReader(prefix)


@pytest.fixture
def docs() -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    # distinct ids per document (100*k + i) so every token says where it came from
    return [np.append(100 * (k + 1) + np.arange(int(rng.integers(1, 30))), EOD)
            for k in range(40)]


def test_samples_cover_the_stream_in_windows(tmp_path, docs):
    reader = _write(tmp_path / "s", docs, shard_tokens=100)
    assert len(reader.shards) > 1
    seq = 16
    plain = reader.samples(seq, shuffle=False)
    stream = np.concatenate(docs)
    assert len(plain) == (len(stream) - 1) // seq
    for j in range(len(plain)):
        want = stream[j * seq:(j + 1) * seq + 1]
        assert np.array_equal(plain[j], want)  # seq_len + 1 tokens, overlapping by one


def test_shuffled_samples_are_deterministic(tmp_path, docs):
    reader = _write(tmp_path / "s", docs)
    a = reader.samples(8, seed=7, epochs=2)
    b = PackedSamples(ShardReader(tmp_path / "s"), 8, seed=7, epochs=2)
    c = reader.samples(8, seed=8, epochs=2)
    assert len(a) == len(b) > 0
    assert all(np.array_equal(a[i], b[i]) for i in range(len(a)))
    assert any(not np.array_equal(a[i], c[i]) for i in range(len(a)))
    assert all(len(a[i]) == 9 and a[i].dtype == np.int64 for i in range(len(a)))
    # two epochs see every document twice, each epoch in its own order
    assert len(a.doc_order) == 80 and sorted(a.doc_order[:40]) == list(range(40))
    assert not np.array_equal(a.doc_order[:40], a.doc_order[40:])
    # a fresh process computes the same first samples (no hidden global RNG state)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from pile.tokenize import ShardReader;"
              "s = ShardReader(sys.argv[2]).samples(8, seed=7, epochs=2);"
              "print(','.join(str(int(x)) for i in range(5) for x in s[i]))")
    out = subprocess.run([sys.executable, "-c", script, str(REPO), str(tmp_path / "s")],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == ",".join(str(int(x)) for i in range(5) for x in a[i])


@pytest.mark.parametrize("seq_len,epochs", [(0, 1), (4, 0)])
def test_sample_arguments_checked(tmp_path, docs, seq_len, epochs):
    reader = _write(tmp_path / "s", docs)
    with pytest.raises(ValueError):
        reader.samples(seq_len, epochs=epochs)
    with pytest.raises(IndexError):
        reader.samples(4)[10**6]
    with pytest.raises(IndexError):
        reader[40]


def test_blending_follows_weights(tmp_path, docs):
    a = _write(tmp_path / "a", docs).samples(4, seed=1)
    other = [np.append(np.full(9, 7, dtype=np.int64), EOD) for _ in range(100)]
    b = _write(tmp_path / "b", other).samples(4, seed=1)
    blend = BlendedSamples([a, b], [3, 1], size=400)
    share = np.bincount(blend.source, minlength=2) / 400
    assert share.tolist() == [0.75, 0.25]  # the greedy rule is exact at multiples
    # i=0: errors (.75, .25) -> a; i=1: (.5, .5) tie -> first; i=2: (.25, .75) -> b
    assert blend.source[:4].tolist() == [0, 0, 1, 0]
    assert np.array_equal(blend[2], b[0]) and np.array_equal(blend[3], a[2])
    again = BlendedSamples([a, b], [3, 1], size=400)
    assert np.array_equal(again.source, blend.source)
    default = BlendedSamples([a, b], [1, 1])
    assert len(default) == 2 * min(len(a), len(b))
    with pytest.raises(ValueError, match="one weight per dataset"):
        BlendedSamples([a, b], [1])
    with pytest.raises(ValueError, match="weights must be"):
        BlendedSamples([a, b], [0, 0])


def test_reader_pickles_as_its_prefix(tmp_path, docs):
    samples = _write(tmp_path / "p", docs).samples(8, seed=2)
    copy = pickle.loads(pickle.dumps(samples))
    assert len(pickle.dumps(samples.reader)) < 500
    assert all(np.array_equal(copy[i], samples[i]) for i in range(len(samples)))


def test_torch_dataset(tmp_path, docs):
    torch = pytest.importorskip("torch")
    samples = _write(tmp_path / "t", docs).samples(8, seed=2)
    ds = torch_dataset(samples)
    assert isinstance(ds, torch.utils.data.Dataset) and len(ds) == len(samples)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False)
    batch = next(iter(loader))["input_ids"]
    assert batch.dtype == torch.int64 and tuple(batch.shape) == (4, 9)
    assert np.array_equal(batch[1].numpy(), samples[1])
