"""manifest.json: what proves a build — config, versions, and the hash of every artifact.

The manifest holds no timestamps or timings, so the same inputs and config give a
byte-identical manifest; timings live in stats.json. `verify` re-hashes every listed
artifact and reports each difference (what `pile validate` starts with).
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import pile

# Folders of deterministic artifacts; stats.json and report.md carry timings and are
# described, not hashed.
ARTIFACT_DIRS = ("docs", "dedup", "pii", "tokens", "val", "test")
PACKAGES = ("ray", "pyarrow", "numpy", "ftfy", "fasttext-predict", "datasketch", "tokenizers", "tiktoken",
            "sentencepiece", "presidio-analyzer", "zstandard", "lm-dataformat", "mwparserfromhell")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_artifacts(out: Path) -> list[Path]:
    """Every artifact file under `out` (relative paths, sorted), hidden files excluded."""
    files = []
    for folder in ARTIFACT_DIRS:
        root = out / folder
        if not root.is_dir():
            continue
        for p in root.rglob("*"):
            rel = p.relative_to(out)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts):
                files.append(rel)
    return sorted(files, key=lambda r: r.as_posix())


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "pile": pile.__version__}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def build_manifest(out: Path, config: dict[str, Any], fingerprints: dict[str, dict[str, str]],
                   extra: dict[str, Any] | None = None,
                   known: dict[str, list[Any]] | None = None) -> dict[str, Any]:
    """The manifest of the build in `out`.

    Args:
        known: relative path -> [size, sha256] of artifacts the workers hashed as they
            wrote them; those are not read again here (the driver stays off the data path).
            Any other artifact is hashed now.
    """
    known = known or {}
    artifacts = {}
    for rel in list_artifacts(out):
        path = out / rel
        size = path.stat().st_size
        rec = known.get(rel.as_posix())
        sha = rec[1] if rec is not None and rec[0] == size and rec[1] else sha256_file(path)
        artifacts[rel.as_posix()] = {"sha256": sha, "bytes": size}
    manifest = {"format": "pile-manifest-v1", "config": config, "versions": package_versions(),
                "fingerprints": fingerprints, "artifacts": artifacts}
    if extra:
        manifest.update(extra)
    return manifest


def load_manifest(out: Path) -> dict[str, Any]:
    from pile.errors import ValidationError

    path = out / "manifest.json"
    if not path.is_file():
        raise ValidationError(f"{out}: no manifest.json (not a finished build)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{path}: not valid JSON (line {exc.lineno})") from None


def verify(out: Path, manifest: dict[str, Any],
           advance: Callable[[int], None] | None = None) -> list[str]:
    """Problems: artifacts missing, changed, or present but not in the manifest.

    `advance(1)` is called after each listed artifact (progress).
    """
    problems = []
    listed = manifest.get("artifacts", {})
    for rel, rec in sorted(listed.items()):
        if advance is not None:
            advance(1)
        path = out / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        size = path.stat().st_size
        if size != rec["bytes"]:
            problems.append(f"{rel}: size {size} != {rec['bytes']} in the manifest")
        elif sha256_file(path) != rec["sha256"]:
            problems.append(f"{rel}: sha256 differs from the manifest")
    for rel in list_artifacts(out):
        if rel.as_posix() not in listed:
            problems.append(f"{rel.as_posix()}: not in the manifest")
    return problems
