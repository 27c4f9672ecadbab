"""Decompression bombs cost time, never memory (issue 11, defect 3).

Two bombs from the issue, each built at test time next to a real sample: a EuroParl
``.tgz`` whose ``txt/en`` member is 1 GiB of zeros (a few MB compressed), and a
``.jsonl.gz`` holding a 1 GB line. A whole ``pile build`` (local executor) runs on each
in a subprocess; the test reads the subprocess's peak resident memory with
``resource.getrusage(RUSAGE_CHILDREN)`` and requires at most 2 GB, the bomb dropped as
``too_large`` and the good document kept.
"""

from __future__ import annotations

import gzip
import io
import json
import resource
import subprocess
import sys
import tarfile
from pathlib import Path

import yaml

GIB = 1 << 30
PEAK_LIMIT_KB = 2 * 1024 * 1024  # 2 GB, as ru_maxrss counts (KiB on Linux)
ROOT = Path(__file__).resolve().parents[1]


class _Repeat(io.RawIOBase):
    """`n` bytes of `byte`, produced on demand (the bomb is never in this process's memory)."""

    def __init__(self, n: int, byte: bytes = b"\0") -> None:
        self.left = n
        self.byte = byte

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        k = min(len(buffer), self.left)
        buffer[:k] = self.byte * k
        self.left -= k
        return k


def _tgz(path: Path, members: list[tuple[str, int, io.RawIOBase | bytes]]) -> Path:
    with tarfile.open(path, "w:gz", compresslevel=1) as tf:
        for name, size, data in members:
            info = tarfile.TarInfo(name)
            info.size = size
            tf.addfile(info, io.BytesIO(data) if isinstance(data, bytes) else io.BufferedReader(data, 1 << 20))
    return path


def _build(tmp_path: Path, source: dict) -> dict:
    cfg = {"out": str(tmp_path / "out"), "sources": [source],
           "clean": {"enabled": False}, "dedup": {"enabled": False}, "pii": {"enabled": False},
           "run": {"executor": "local", "progress": False}}
    path = tmp_path / "pile.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = subprocess.run([sys.executable, "-m", "pile", "build", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    assert peak_kb <= PEAK_LIMIT_KB, f"peak resident memory {peak_kb / 1024:.0f} MiB"
    return json.loads((tmp_path / "out" / "stats.json").read_text())["sources"][source["name"]]


def test_europarl_member_of_one_gib_of_zeros(tmp_path: Path, shared_data: Path) -> None:
    session = (shared_data / "samples/europarl/en/ep-00-01-17.txt").read_bytes()
    good = _tgz(tmp_path / "good.tgz", [("txt/en/ep-00-01-17.txt", len(session), session)])
    bomb = _tgz(tmp_path / "bomb.tgz", [("txt/en/ep-00-09-99.txt", GIB, _Repeat(GIB))])
    assert bomb.stat().st_size < 8 << 20
    stats = _build(tmp_path, {"name": "europarl", "kind": "europarl", "paths": [str(good), str(bomb)]})
    clean = stats["phases"]["clean"]
    assert clean["files_failed"] == []
    assert clean["stages"]["read"]["dropped"] == {"too_large": 1}
    assert clean["documents_in"] == 2 and clean["documents_out"] == 1


def test_one_gb_line_inside_jsonl_gz(tmp_path: Path, shared_data: Path) -> None:
    text = (shared_data / "text/botchan.txt").read_text("utf-8")[:5000]
    good = json.dumps({"text": text}).encode() + b"\n"
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=1) as fh:
        fh.write(good)
        fh.write(b'{"text": "')
        src = _Repeat(10**9, b"a")
        while chunk := src.read(1 << 20):
            fh.write(chunk)
        fh.write(b'"}\n')
        fh.write(good.replace(b'"text"', b'"meta": {"n": 2}, "text"'))
    stats = _build(tmp_path, {"name": "mine", "kind": "files", "paths": [str(bomb)]})
    clean = stats["phases"]["clean"]
    assert clean["files_failed"] == []
    assert clean["stages"]["read"]["dropped"] == {"too_large": 1}
    assert clean["documents_in"] == 3 and clean["documents_out"] == 2
