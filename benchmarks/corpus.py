"""Real text the benchmarks share: the running Python's standard library, file by file.

Imported by the benchmark scripts (run as ``python benchmarks/bench_x.py``, so this folder
is on ``sys.path``); not part of the `pile` package.
"""

from __future__ import annotations

import sysconfig
from pathlib import Path
from typing import Iterator

STDLIB = Path(sysconfig.get_paths()["stdlib"])


def stdlib_files() -> list[Path]:
    """The standard library's ``.py`` files in sorted order (installed packages left out)."""
    return [p for p in sorted(STDLIB.rglob("*.py"))
            if "site-packages" not in p.parts and "dist-packages" not in p.parts]


def stdlib_texts() -> Iterator[tuple[str, str]]:
    """(path relative to the stdlib, text) of every UTF-8 ``.py`` file, in sorted order."""
    for path in stdlib_files():
        try:
            yield path.relative_to(STDLIB).as_posix(), path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
