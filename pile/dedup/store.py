"""Per-source signature stores under ``OUT/dedup/signatures/<source>/``.

Each source's documents keep, in corpus order (row ``i`` is the source's ``i``-th
document), everything the later steps need, as flat little-endian files read back with
``numpy.memmap`` so no step has to hold a whole source in memory:

- ``ids.bin`` + ``ids.off``: the UTF-8 ids and their int64 offsets (``n + 1``);
- ``nbytes.i64``: text size in bytes; ``nshingles.u32``: shingle count;
- ``exact.u8``: the 16-byte exact key of the normalised text (``n x 16``);
- ``sig.u32``: the MinHash signatures (``n x num_perm``);
- ``bands.u64``: the LSH band keys (``n x bands``);
- ``meta.json``: the count, the settings fingerprint and the source's input fingerprint.

A store is written under a temporary name and renamed when complete, so a crash never
leaves a half store that looks finished. A later run reuses a store when both
fingerprints match; otherwise it recomputes that source only.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

STORE_VERSION = 1
# The store's row files and the bytes of one row in each (ids.bin is variable-width).
ROW_FILES = ("nbytes.i64", "nshingles.u32", "exact.u8", "sig.u32", "bands.u64")


class StoreWriter:
    """Appends signature rows of one source, then publishes the store atomically.

    Args:
        root: ``OUT/dedup/signatures``.
        source: the source name (the folder name).
        num_perm / bands: widths of the signature and band-key rows.
    """

    def __init__(self, root: Path, source: str, num_perm: int, bands: int) -> None:
        self.final = Path(root) / source
        self.tmp = Path(root) / f".{source}.tmp"
        if self.tmp.exists():
            shutil.rmtree(self.tmp)
        self.tmp.mkdir(parents=True)
        self.num_perm = num_perm
        self.bands = bands
        self.count = 0
        self._id_bytes = 0
        self._files = {name: open(self.tmp / name, "wb") for name in
                       ("ids.bin", "ids.off", "nbytes.i64", "nshingles.u32", "exact.u8",
                        "sig.u32", "bands.u64")}
        self._files["ids.off"].write(np.zeros(1, "<i8").tobytes())

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append rows produced by `SignatureComputer.rows_for`, in corpus order."""
        if not rows:
            return
        ids = [r["id"].encode("utf-8", "surrogatepass") for r in rows]
        lengths = np.fromiter((len(i) for i in ids), dtype=np.int64, count=len(ids))
        offsets = self._id_bytes + np.cumsum(lengths)
        self._id_bytes = int(offsets[-1])
        f = self._files
        f["ids.bin"].write(b"".join(ids))
        f["ids.off"].write(offsets.astype("<i8").tobytes())
        f["nbytes.i64"].write(np.array([r["nbytes"] for r in rows], "<i8").tobytes())
        f["nshingles.u32"].write(np.array([r["nshingles"] for r in rows], "<u4").tobytes())
        f["exact.u8"].write(b"".join(r["exact"] for r in rows))
        sig = b"".join(r["sig"] for r in rows)
        keys = b"".join(r["bands"] for r in rows)
        if len(sig) != 4 * self.num_perm * len(rows) or len(keys) != 8 * self.bands * len(rows):
            raise ValueError(f"signature rows of {self.final.name!r} do not match "
                             f"num_perm={self.num_perm}, bands={self.bands}")
        f["sig.u32"].write(sig)
        f["bands.u64"].write(keys)
        self.count += len(rows)

    def publish(self, meta: dict[str, Any]) -> None:
        """Close the files, write ``meta.json`` and move the store into place."""
        for fh in self._files.values():
            fh.close()
        meta = dict(meta, version=STORE_VERSION, count=self.count, num_perm=self.num_perm,
                    bands=self.bands)
        (self.tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
        if self.final.exists():
            shutil.rmtree(self.final)
        os.replace(self.tmp, self.final)

    def abort(self) -> None:
        """Drop the partial store."""
        for fh in self._files.values():
            fh.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class StoreSink:
    """Writes signature stores where the rows are computed (`PassContext.map_to_parts`).

    A worker writes the rows of its unit as a part store (`write`); another worker then
    concatenates a source's parts, in unit order, into the source's store (`merge`):
    sequential copies, the id offsets rebased. The signatures never pass through the
    driver.

    Args:
        num_perm / bands: widths of the signature and band-key rows.
        meta: per source, what `publish` records (settings and input fingerprints).
    """

    def __init__(self, num_perm: int, bands: int, meta: dict[str, dict[str, Any]]) -> None:
        self.num_perm = num_perm
        self.bands = bands
        self.meta = meta

    def write(self, folder: Path, batches: Any) -> int:
        """One part store at `folder` from an iterable of row lists; returns its rows."""
        writer = StoreWriter(folder.parent, folder.name, self.num_perm, self.bands)
        try:
            for rows in batches:
                writer.append(rows)
            writer.publish({})
        except BaseException:
            writer.abort()
            raise
        return writer.count

    def merge(self, parts: list[Path], dest: Path, source: str) -> int:
        """The store of `source` at `dest` from its part stores, in order; returns its rows."""
        tmp = dest.with_name(f".{dest.name}.merge")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        count = 0
        id_bytes = 0
        with open(tmp / "ids.off", "wb") as offs, open(tmp / "ids.bin", "wb") as ids:
            offs.write(np.zeros(1, "<i8").tobytes())
            handles = {name: open(tmp / name, "wb") for name in ROW_FILES}
            try:
                for part in parts:
                    n = int(json.loads((part / "meta.json").read_text())["count"])
                    off = np.fromfile(part / "ids.off", dtype="<i8")
                    offs.write((off[1:] + id_bytes).astype("<i8").tobytes())
                    id_bytes += int(off[-1])
                    with open(part / "ids.bin", "rb") as fh:
                        shutil.copyfileobj(fh, ids, 1 << 22)
                    for name, out in handles.items():
                        with open(part / name, "rb") as fh:
                            shutil.copyfileobj(fh, out, 1 << 22)
                    count += n
            finally:
                for fh in handles.values():
                    fh.close()
        meta = dict(self.meta.get(source, {}), version=STORE_VERSION, count=count,
                    num_perm=self.num_perm, bands=self.bands)
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True, indent=1))
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
        return count


def read_meta(root: Path, source: str) -> dict[str, Any] | None:
    """The published store's ``meta.json``, or None when there is none."""
    path = Path(root) / source / "meta.json"
    if not path.is_file():
        return None
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return meta if meta.get("version") == STORE_VERSION else None


class SourceStore:
    """Read access to one published store (memory-mapped; nothing loaded eagerly).

    Args:
        root: ``OUT/dedup/signatures``.
        source: the source name.
    """

    def __init__(self, root: Path, source: str) -> None:
        self.path = Path(root) / source
        meta = read_meta(root, source)
        if meta is None:
            raise FileNotFoundError(f"no signature store for source {source!r} at {self.path}")
        self.meta = meta
        self.source = source
        self.count = int(meta["count"])
        self.num_perm = int(meta["num_perm"])
        self.bands = int(meta["bands"])

    def _map(self, name: str, dtype: str, width: int | None = None) -> np.ndarray:
        path = self.path / name
        if self.count == 0 or path.stat().st_size == 0:
            shape: tuple[int, ...] = (0,) if width is None else (0, width)
            return np.empty(shape, dtype=dtype)
        shape = (self.count,) if width is None else (self.count, width)
        # A plain ndarray over the mapping (pages load on access): indexing a np.memmap
        # object goes through Python-level __getitem__, ~10x slower per call.
        return np.asarray(np.memmap(path, dtype=dtype, mode="r", shape=shape))

    @property
    def signatures(self) -> np.ndarray:
        return self._map("sig.u32", "<u4", self.num_perm)

    @property
    def band_keys(self) -> np.ndarray:
        return self._map("bands.u64", "<u8", self.bands)

    @property
    def exact_keys(self) -> np.ndarray:
        return self._map("exact.u8", "u1", 16)

    @property
    def nbytes(self) -> np.ndarray:
        return self._map("nbytes.i64", "<i8")

    @property
    def nshingles(self) -> np.ndarray:
        return self._map("nshingles.u32", "<u4")

    def ids(self, rows: np.ndarray) -> list[str]:
        """The ids of the given rows (random access through the offsets file)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return []
        offsets = np.asarray(np.memmap(self.path / "ids.off", dtype="<i8", mode="r",
                                       shape=(self.count + 1,)))
        if not offsets[-1]:
            return [""] * rows.size
        blob = np.asarray(np.memmap(self.path / "ids.bin", dtype="u1", mode="r"))
        starts = offsets[rows].tolist()
        ends = offsets[rows + 1].tolist()
        return [blob[s:e].tobytes().decode("utf-8", "surrogatepass") for s, e in zip(starts, ends)]
