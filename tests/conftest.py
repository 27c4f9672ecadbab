"""Shared fixtures: the real third-party data in ../shared/data, and the one Ray instance."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The evaluation-set generators live with the benchmarks that report on them
# (benchmarks/dedup_evalset.py, pii_evalset.py); the accuracy tests use the same sets.
if str(REPO / "benchmarks") not in sys.path:
    sys.path.append(str(REPO / "benchmarks"))


def _shared_data_dir() -> Path:
    env = os.environ.get("PILE_SHARED_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data"


SHARED_DATA_MARKER = "shared_data"


def pytest_collection_modifyitems(config, items):
    """Mark every test that uses the shared data (directly or through another fixture), so
    ``-m "not shared_data"`` deselects them on purpose instead of skipping them silently."""
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(SHARED_DATA_MARKER)


def pytest_report_header(config):
    path = _shared_data_dir()
    found = "found" if (path / "MANIFEST.md").is_file() else "NOT FOUND"
    return f"shared test data: {path} ({found}; PILE_SHARED_DATA overrides)"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``shared/data``: real vocabularies, the lid.176 model and Pile source samples.

    Missing data fails the test (never skips it), so a checkout without its data cannot
    pass green by testing nothing; ``-m "not shared_data"`` leaves those tests out openly.
    """
    path = _shared_data_dir()
    if not (path / "MANIFEST.md").is_file():
        pytest.fail(f"shared test data not found: no {path / 'MANIFEST.md'}; set "
                    f"PILE_SHARED_DATA=/path/to/shared/data, or deselect these tests with "
                    f"-m \"not {SHARED_DATA_MARKER}\"", pytrace=False)
    return path


def _artifact_hashes(root: Path) -> dict[str, str]:
    """sha256 of every finished artifact of a build (hidden staging files and the PNG plots
    left out), of its sampled documents, dataset card and manifest: what byte-identical
    builds must share."""
    import hashlib

    out = {}
    for folder in ("docs", "dedup", "pii", "tokens", "val", "test", "samples"):
        base = root / folder
        for p in sorted(base.rglob("*")) if base.is_dir() else []:
            rel = p.relative_to(root)
            if p.is_file() and not any(part.startswith(".") for part in rel.parts) and p.suffix != ".png":
                out[rel.as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    for name in ("manifest.json", "README.md"):
        out[name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="session")
def artifact_hashes():
    """The build-output hashing helper (tests/ is not a package, so it comes as a fixture)."""
    return _artifact_hashes


@pytest.fixture(scope="session")
def ray_executor():
    """The one local Ray instance of the test session (2 CPUs), as a pile executor."""
    from pile.runner import RayExecutor

    executor = RayExecutor(workers=2)
    executor.start()  # Ray starts lazily; the session's instance has these 2 CPUs
    yield executor
    executor.close()


@pytest.fixture
def build_config(tmp_path):
    """Make a validated Config for a build into tmp_path/out from plain data."""
    from pile.config import parse_config

    def make(sources, **sections):
        data = {"out": str(tmp_path / "out"), "sources": sources,
                "run": {"progress": False, "batch_size": 64}}
        data.update(sections)
        return parse_config(data)

    return make


class _FolderServer:
    """A loopback HTTP server over a folder, recording each request path and the most
    requests it had in flight at once (for bounded-concurrency checks)."""

    def __init__(self, root: Path) -> None:
        import threading
        from functools import partial
        from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

        self.root = Path(root)
        self.hits: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        lock = threading.Lock()
        outer = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with lock:
                    outer.hits.append(self.path)
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                try:
                    super().do_GET()
                finally:
                    with lock:
                        outer.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_folder():
    """Serve a folder over loopback HTTP: ``server = http_folder(path)``; ``server.url``,
    ``server.hits``, ``server.max_in_flight``. Closed after the test."""
    servers: list[_FolderServer] = []

    def serve(root: Path) -> _FolderServer:
        servers.append(_FolderServer(root))
        return servers[-1]

    yield serve
    for server in servers:
        server.close()


# Planted in the sampled build (generated for the tests: a Visa-range number with a valid
# Luhn digit, and an address at the reserved example.com domain).
PLANTED_CARD = "4929 8731 6640 2255"
PLANTED_EMAIL = "jane.doe@example.com"


@pytest.fixture(scope="session")
def sampled_build(tmp_path_factory, shared_data, ray_executor):
    """One build, on the session's Ray, that gives every part of the report something to
    show: two sources of real text (wikitext articles, Shakespeare), drops of several
    reasons (too short, German, Gopher), exact and cross-source near duplicates, planted
    PII, long documents, held-out splits and two vocabularies of different engines.

    Returns (config, build result, the planted values). Tests only read it.
    """
    import json
    import re

    from pile.build import Build
    from pile.config import parse_config

    root = tmp_path_factory.mktemp("sampled")
    wiki = [p.strip() for p in re.split(r"\n = (?!=)", (shared_data / "text" / "wikitext-2" / "test.txt").read_text())
            if len(p) > 2000][:18]
    plays, cur = [], []
    for para in (shared_data / "text" / "tinyshakespeare.txt").read_text().split("\n\n"):
        cur.append(para)
        if sum(len(p.split()) for p in cur) >= 150:
            plays.append("\n\n".join(cur))
            cur = []
    plays = plays[:60]
    wiki[3] = (wiki[3][:1500] + f" Write to {PLANTED_EMAIL} or pay with card {PLANTED_CARD} today. "
               + wiki[3][1500:])
    wiki += [" ".join(t.split()[:-2]) for t in plays[:3]]          # near copies of plays documents
    wiki.append(wiki[3])                                            # an exact copy, with the PII
    wiki.append("\n\n".join(wiki[6:10]))                            # a long document
    wiki.append("Ein kurzer deutscher Text, der nicht auf Englisch geschrieben ist. " * 8)
    wiki.append("too short to keep")
    wiki.append(" ".join(["#"] * 60 + ["tag"] * 5 + ["and", "the"] * 3) + " end of line " * 10)
    for name, docs in (("wiki", wiki), ("plays", plays)):
        (root / name).mkdir()
        (root / name / f"{name}.jsonl").write_text(
            "".join(json.dumps({"text": d, "meta": {"part": i} if name == "wiki" else {"act": i % 5}}) + "\n"
                    for i, d in enumerate(docs)))
    cfg = parse_config({
        "out": str(root / "out"), "run": {"progress": False, "batch_size": 16},
        "sources": [{"name": "wiki", "kind": "files", "paths": [str(root / "wiki")]},
                    {"name": "plays", "kind": "files", "paths": [str(root / "plays")], "epochs": 2}],
        "clean": {"languages": ["en"], "min_chars": 200, "quality": {"min_alpha_words_ratio": 0.7}},
        "dedup": {"priority": ["plays"]},
        "splits": {"val_fraction": 0.1, "test_fraction": 0.1},
        "tokenizers": [{"name": "gpt2", "path": str(shared_data / "tokenizers" / "gpt2" / "tokenizer.json")},
                       {"name": "mistral", "sentencepiece": str(shared_data / "tokenizers" / "mistral"
                                                                / "tokenizer.model.v1")}],
        "report": {"samples": 8, "sample_chars": 20000, "max_html_bytes": 300_000, "duplicate_pairs": 6}})
    result = Build(cfg, ray_executor).run()
    return cfg, result, {"card": PLANTED_CARD, "email": PLANTED_EMAIL}
