"""Connected components of the near-duplicate graph with union-find.

Near-duplicate edges are the verified candidate pairs; a cluster is a connected
component (so A~B and B~C put A, B, C together, as in every MinHash dedup recipe:
datatrove's stage 3, text-dedup, the GPT-3 / Lee et al. pipelines). Union-find with
union by size and path halving (Tarjan 1975) is near-linear in the number of edges. It
is the one step whose memory grows with the corpus: one entry per document that is in
any edge, not one per document.

Also here: choosing the survivor of a cluster, which must never depend on worker or
arrival order: by source priority (the configured order; unlisted sources after),
then by document id.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


class UnionFind:
    """Disjoint sets over ``0..n-1``.

    Args:
        n: number of elements.
    """

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.size = [1] * n

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]


def connected_components(pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Components of the graph given by its edges.

    Args:
        pairs: ``(m, 2)`` uint64 node pairs.

    Returns:
        ``(nodes, labels)``: the sorted distinct nodes in any edge and, for each, the
        smallest node of its component (a canonical label, independent of edge order).
    """
    if pairs.size == 0:
        return np.empty(0, np.uint64), np.empty(0, np.uint64)
    nodes, inverse = np.unique(pairs.ravel(), return_inverse=True)
    inverse = inverse.reshape(-1, 2)
    uf = UnionFind(len(nodes))
    for a, b in inverse.tolist():
        uf.union(a, b)
    roots = np.fromiter((uf.find(i) for i in range(len(nodes))), dtype=np.int64, count=len(nodes))
    # The smallest member of each component is its first occurrence in sorted `nodes`.
    smallest = np.full(len(nodes), len(nodes), dtype=np.int64)
    np.minimum.at(smallest, roots, np.arange(len(nodes)))
    return nodes, nodes[smallest[roots]]


def survivor_order(sources: Sequence[str], priority: Sequence[str]) -> dict[str, int]:
    """Rank of each source for survivor choice: listed sources first, in list order."""
    listed = {name: i for i, name in enumerate(priority)}
    return {name: listed.get(name, len(listed)) for name in sources}


def pick_survivor(members: Sequence[tuple[int, str]]) -> int:
    """Index of the survivor among ``(source rank, document id)`` members (the minimum)."""
    return min(range(len(members)), key=lambda i: members[i])
