"""README.md's examples run as written on a (small) default build.

The build is the embedded default config through the CLI, with smaller caps so it takes
seconds: the same sources, tokenizers and output names the README's examples use.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, flags=re.S | re.M)


def _pile(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PILE_DEBUG"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pile", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A folder holding ``build/pile``: the default build, capped to about 1 MB of text."""
    root = tmp_path_factory.mktemp("readme")
    proc = _pile(root, "build", "--executor", "local", "--no-progress",
                 "--set", "sources.python_stdlib.max_bytes=300000",
                 "--set", "sources.system_docs.max_bytes=150000")
    assert proc.returncode == 0, proc.stderr
    return root


def test_the_readme_has_python_examples():
    assert PYTHON_BLOCKS and any("ShardReader" in block for block in PYTHON_BLOCKS)


@pytest.mark.parametrize("index", range(len(PYTHON_BLOCKS)))
def test_every_python_block_runs_on_the_default_build(project, index, monkeypatch):
    monkeypatch.chdir(project)  # the examples name build/pile, relative like the README's commands
    monkeypatch.syspath_prepend(str(REPO))
    namespace: dict = {}
    exec(compile(PYTHON_BLOCKS[index], f"README.md python block {index}", "exec"), namespace)
    if "blend" in namespace:  # the trainer example: what its comments promise
        assert len(namespace["blend"][0]) == 2049 and namespace["code"][0][-1] == 0  # EOD id 0


def test_the_quickstart_commands_after_the_build(project):
    for command in re.findall(r"^\.venv/bin/pile (tokens|validate)\b", README, flags=re.M):
        proc = _pile(project, command)
        assert proc.returncode == 0, (command, proc.stderr)
        assert proc.stdout.strip()


def test_the_default_builds_documents_load_in_hf_datasets_as_one_table(project, tmp_path):
    """Both default sources' documents, with and without PII found, in one HF table."""
    import datasets

    from pile.docs_io import iter_jsonl_zst

    files = sorted(str(p) for p in (project / "build" / "pile" / "docs").glob("*/*.jsonl.zst"))
    records = [rec for f in files for _n, rec in iter_jsonl_zst(Path(f))]
    assert {r["meta"]["pile_set_name"] for r in records} == {"Python stdlib", "System documentation"}
    assert len({tuple(r["meta"]) for r in records}) == 1
    assert 0 < sum(bool(r["meta"]["pii"]) for r in records) < len(records)
    datasets.disable_progress_bars()
    ds = datasets.load_dataset("json", data_files=files, split="train", cache_dir=str(tmp_path))
    assert ds["text"] == [r["text"] for r in records]
