"""`pile build --ray-address` on a real two-node Ray cluster started on this machine.

Both nodes are started with `ray start` on loopback, each with its own CPU and a
custom resource naming it; the build must spread work over both and write the same
bytes as an in-process build. The nodes started here are stopped here (never
`ray stop`, which would also stop the test session's own Ray instance).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pile.build import Build
from pile.config import parse_config
from pile.executor import LocalExecutor

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_tree(proc: subprocess.Popen, marker: str) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    # Whatever the node left behind (raylet, workers) carries its temp dir in argv.
    subprocess.run(["pkill", "-9", "-f", marker], check=False)


@pytest.fixture
def two_node_cluster(tmp_path):
    temp = Path(f"/tmp/pile-ray-{os.getpid()}-{free_port()}")  # short: Ray's socket paths are limited
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    port = free_port()
    common = ["--block", "--num-cpus", "1", "--disable-usage-stats"]
    head = subprocess.Popen([str(RAY), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
                             "--include-dashboard=false", f"--temp-dir={temp}", "--resources",
                             '{"node_a": 1}', *common], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    procs = [head]
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the head node did not start")
        worker = subprocess.Popen([str(RAY), "start", f"--address={address}", "--node-ip-address=127.0.0.1",
                                   "--resources", '{"node_b": 1}', *common], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(worker)
        yield address, env
    finally:
        for proc in reversed(procs):
            kill_tree(proc, str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def test_build_on_a_two_node_cluster_uses_both_and_gives_the_same_bytes(tmp_path, shared_data, two_node_cluster):
    address, env = two_node_cluster
    src = tmp_path / "in"
    src.mkdir()
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text()
    for i in range(6):
        (src / f"part{i}.txt").write_text(text[i * 50_000:(i + 1) * 50_000])
    data = {"sources": [{"name": "plays", "kind": "files", "paths": [str(src)]}],
            "clean": {"enabled": False}, "dedup": {"enabled": False}, "pii": {"enabled": False},
            "run": {"unit_bytes": 60_000, "progress": False}}
    cfg_path = tmp_path / "pile.yaml"
    cfg_path.write_text(json.dumps({**data, "out": str(tmp_path / "cluster")}))
    # Wait for the second node to register before building.
    probe = ("import ray,sys; ray.init(address=sys.argv[1], logging_level='ERROR'); "
             "print(len([n for n in ray.nodes() if n['Alive']]))")
    for _ in range(60):
        out = subprocess.run([sys.executable, "-c", probe, address], env=env, capture_output=True, text=True)
        if out.stdout.strip() == "2":
            break
        time.sleep(1)
    else:
        pytest.fail(f"the second node did not join: {out.stdout} {out.stderr[-300:]}")
    proc = subprocess.run([sys.executable, "-m", "pile", "build", "--config", str(cfg_path),
                           "--ray-address", address, "--workers", "2"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    stats = json.loads((tmp_path / "cluster" / "stats.json").read_text())
    assert len(stats["nodes"]) == 2, stats["nodes"]
    # Workers write their own outputs: both nodes wrote parts, not only computed.
    assert len(stats["parts_by_node"]) == 2 and all(n > 0 for n in stats["parts_by_node"].values())

    local = parse_config({**data, "out": str(tmp_path / "local")})
    Build(local, LocalExecutor()).run()
    for rel in ["manifest.json", *[p.relative_to(tmp_path / "local").as_posix()
                                   for p in sorted((tmp_path / "local" / "docs").rglob("*.zst"))]]:
        assert (tmp_path / "cluster" / rel).read_bytes() == (tmp_path / "local" / rel).read_bytes(), rel
