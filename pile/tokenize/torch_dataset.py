"""The optional PyTorch adapter: sample sets of `pile.tokenize.reader` as a torch ``Dataset``.

Imports torch at module level, so only `pile.tokenize.reader.torch_dataset` imports this
module, and only when asked (torch is an optional extra, not a dependency of ``pile``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset


class TorchSamples(Dataset):
    """``samples[i]`` as ``{"input_ids": LongTensor[seq_len + 1]}``.

    Args:
        samples: a `PackedSamples`, `BlendedSamples` or any sized, indexable collection of
            integer numpy arrays. It pickles for DataLoader worker processes: a
            `ShardReader` pickles as its prefix and reopens its memory maps.
    """

    def __init__(self, samples: Any) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.from_numpy(self.samples[i].astype("int64", copy=False))}
