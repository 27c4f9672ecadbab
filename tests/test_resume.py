"""A `pile build` killed with SIGKILL at several points and started again finishes with the
same bytes as an uninterrupted build, and never leaves a half-written file under a final name."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture
def config(tmp_path, shared_data):
    src = tmp_path / "in"
    src.mkdir()
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text()
    scenes = text.split("\n\n")
    for i in range(40):
        lines = [json.dumps({"text": s + f" (copy {i})"}) for s in scenes[i * 150:(i + 1) * 150]]
        (src / f"part{i:02d}.jsonl").write_text("\n".join(lines) + "\n")

    def make(out: Path) -> Path:
        path = tmp_path / f"{out.name}.yaml"
        path.write_text(json.dumps({
            "out": str(out), "sources": [{"name": "plays", "kind": "files", "paths": [str(src)]}],
            "clean": {"enabled": False}, "dedup": {"enabled": False}, "pii": {"enabled": False},
            "output": {"docs_per_file": 300}, "run": {"unit_bytes": 20_000, "batch_size": 16}}))
        return path

    return make


def pile_build(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pile", "build", "--config", str(cfg), "--executor",
                             "local", "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_when(proc: subprocess.Popen, condition, timeout: float = 60) -> bool:
    """SIGKILL `proc` as soon as `condition()` holds; False if it finished first."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        if condition():
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.005)
    proc.kill()
    raise AssertionError("the build neither finished nor reached the kill point")


@pytest.mark.parametrize("point", ["during_clean", "after_clean", "during_write", "before_report"])
def test_killed_build_resumes_to_the_same_bytes(tmp_path, config, point, artifact_hashes):
    reference = tmp_path / "reference"
    done = subprocess.run([sys.executable, "-m", "pile", "build", "--config", str(config(reference)),
                           "--executor", "local", "--no-progress"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "killed"
    conditions = {
        # a worker has written a checkpoint part, and the phase is not committed yet
        "during_clean": lambda: any((out / ".work" / "stage" / "clean" / "plays").glob("*.parquet")),
        "after_clean": lambda: (out / ".work" / "clean" / "plays.done.json").exists(),
        "during_write": lambda: any((out / ".work" / "stage" / "final" / "plays").rglob("*.zst")),
        "before_report": lambda: (out / ".work" / "final" / "plays.done.json").exists(),
    }
    cfg = config(out)
    killed = kill_when(pile_build(cfg), conditions[point])
    assert killed, f"the build finished before {point}; the input is too small to kill it there"
    # Nothing half-written under a final name: finished names appear only by rename, so
    # every visible document file decodes completely.
    from pile.docs_io import iter_jsonl_zst

    for p in (out / "docs").rglob("*.zst") if (out / "docs").exists() else []:
        if not any(part.startswith(".") for part in p.relative_to(out).parts):
            assert sum(1 for _ in iter_jsonl_zst(p)) > 0
    again = subprocess.run([sys.executable, "-m", "pile", "build", "--config", str(cfg), "--executor",
                            "local", "--no-progress"], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert artifact_hashes(out) == artifact_hashes(reference)
    stats = json.loads((out / "stats.json").read_text())
    if point in ("after_clean", "during_write", "before_report"):
        assert "clean:plays" in stats["reused"]
    if point == "before_report":
        assert stats["rebuilt"] == []


def test_a_second_build_on_the_same_folder_is_refused_and_a_stale_lock_is_taken_over(tmp_path, config):
    import subprocess as sp

    from pile.build import BuildLock
    from pile.errors import PileError

    lock = tmp_path / "out" / ".work" / "lock"
    holder = sp.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock.parent.mkdir(parents=True)
        lock.write_text(str(holder.pid))  # a live build holds the folder
        with pytest.raises(PileError, match="another pile build"):
            with BuildLock(lock):
                pass
    finally:
        holder.kill()
        holder.wait()
    with BuildLock(lock):  # its process is gone: the lock is stale and taken over
        assert lock.read_text() == str(os.getpid())
    assert not lock.exists()
