"""The shared downloader against a real loopback HTTP server (no network, no mocks).

The server supports Range/If-Range, ETags, and can drop a connection halfway, answer
404/503 or change a file's content, which is what upstreams do to a corpus builder.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from pile.config import SourceConfig
from pile.errors import ConfigError
from pile.sources.base import RemoteFile, Source
from pile.sources.download import (STATE_FILE, Downloader, download_records, mirror_url,
                                   parse_rewrites, rewrite_url)

WIKI = "samples/wikipedia/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"


class Loopback:
    """A loopback HTTP server over an in-memory file table, with failure switches."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.etags: dict[str, str] = {}
        self.drop_once: set[str] = set()      # send half the body, then cut the connection
        self.fail_times: dict[str, int] = {}  # answer 503 (Retry-After: 0) this many times
        self.requests: list[tuple[str, str, dict[str, str], float]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_HEAD(self) -> None:
                self._serve(head=True)

            def do_GET(self) -> None:
                self._serve(head=False)

            def _serve(self, head: bool) -> None:
                path = self.path.split("?", 1)[0]
                with outer.lock:
                    outer.requests.append((self.command, path, dict(self.headers), time.monotonic()))
                    body = outer.files.get(path)
                    etag = outer.etags.get(path, '"v1"')
                    fails = outer.fail_times.get(path, 0)
                    if fails:
                        outer.fail_times[path] = fails - 1
                    drop = not head and path in outer.drop_once
                    if drop:
                        outer.drop_once.discard(path)
                if fails:
                    self.send_response(503)
                    self.send_header("Retry-After", "0")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start = 0
                rng = self.headers.get("Range")
                if_range = self.headers.get("If-Range")
                if rng and rng.startswith("bytes=") and (if_range is None or if_range == etag):
                    start = int(rng[len("bytes="):].split("-", 1)[0])
                if start >= len(body) and start:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                chunk = body[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(chunk)))
                self.send_header("ETag", etag)
                self.send_header("Last-Modified", "Tue, 01 Oct 2024 00:00:00 GMT")
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if head:
                    return
                if drop:
                    self.wfile.write(chunk[: len(chunk) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(chunk)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return self.base + path

    def gets(self, path: str) -> list[dict[str, str]]:
        return [h for (m, p, h, _) in self.requests if m == "GET" and p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture()
def server() -> Iterator[Loopback]:
    srv = Loopback()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def payload(shared_data: Path) -> bytes:
    return (shared_data / WIKI).read_bytes()


class PlainSource(Source):
    """The smallest real Source: downloads its ``urls`` and reads nothing."""

    kind = "plain"

    def read(self, path: Path):  # pragma: no cover - extraction is not under test here
        return iter(())


def _downloader(**kw: object) -> Downloader:
    kw.setdefault("backoff", 0.0)
    kw.setdefault("progress", False)
    kw.setdefault("timeout", 10.0)
    kw.setdefault("delays", {})
    return Downloader(**kw)  # type: ignore[arg-type]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_dropped_connection_is_resumed_with_range(server: Loopback, payload: bytes,
                                                  tmp_path: Path) -> None:
    server.files["/dumps/wiki.bz2"] = payload
    server.drop_once.add("/dumps/wiki.bz2")
    remote = RemoteFile(server.url("/dumps/wiki.bz2"), "wiki.bz2", checksum="sha256:" + _sha(payload))
    [result] = _downloader().fetch_files([remote], tmp_path)
    assert result.status == "downloaded", result.error
    assert result.sha256 == _sha(payload) and result.size == len(payload)
    assert (tmp_path / "wiki.bz2").read_bytes() == payload
    gets = server.gets("/dumps/wiki.bz2")
    assert len(gets) == 2 and "Range" not in gets[0]
    resumed_at = int(gets[1]["Range"].removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed_at < len(payload)
    assert gets[1]["If-Range"] == '"v1"'
    assert not list(tmp_path.glob("*.part*"))
    [record] = download_records(tmp_path)
    assert record == {"name": "wiki.bz2", "url": remote.url, "size": len(payload),
                      "sha256": _sha(payload), "etag": '"v1"',
                      "last_modified": "Tue, 01 Oct 2024 00:00:00 GMT"}


def test_interrupted_run_is_resumed_by_the_next_run(server: Loopback, payload: bytes,
                                                    tmp_path: Path) -> None:
    server.files["/f.bz2"] = payload
    server.drop_once.add("/f.bz2")
    remote = RemoteFile(server.url("/f.bz2"), "f.bz2")
    [first] = _downloader(retries=0).fetch_files([remote], tmp_path)
    assert first.status == "failed" and "f.bz2" in (first.error or "")
    assert not (tmp_path / "f.bz2").exists()
    part = tmp_path / "f.bz2.part"
    kept = part.stat().st_size
    assert 0 < kept < len(payload)
    [second] = _downloader(retries=0).fetch_files([remote], tmp_path)
    assert second.status == "downloaded" and second.sha256 == _sha(payload)
    assert server.gets("/f.bz2")[-1]["Range"] == f"bytes={kept}-"


def test_changed_upstream_restarts_instead_of_splicing(server: Loopback, payload: bytes,
                                                       tmp_path: Path) -> None:
    server.files["/f.bz2"] = payload
    server.drop_once.add("/f.bz2")
    remote = RemoteFile(server.url("/f.bz2"), "f.bz2")
    _downloader(retries=0).fetch_files([remote], tmp_path)
    new = payload[::-1]
    server.files["/f.bz2"], server.etags["/f.bz2"] = new, '"v2"'
    [result] = _downloader(retries=0).fetch_files([remote], tmp_path)
    assert result.status == "downloaded" and result.sha256 == _sha(new)
    assert (tmp_path / "f.bz2").read_bytes() == new


@pytest.mark.parametrize("field, value, expected", [
    ("checksum", "sha256:" + "0" * 64, "sha256 mismatch"),
    ("checksum", "md5:" + "0" * 32, "md5 mismatch"),
    ("checksum", "sha1:" + "0" * 40, "sha1 mismatch"),
    ("size", 12345, "size mismatch: expected 12345 bytes"),
])
def test_verification_mismatch_fails_that_file_cleanly(server: Loopback, payload: bytes,
                                                       tmp_path: Path, field: str,
                                                       value: object, expected: str) -> None:
    server.files["/bad.bz2"] = payload
    server.files["/good.txt"] = b"fine\n"
    bad = RemoteFile(server.url("/bad.bz2"), "bad.bz2", **{field: value})
    good = RemoteFile(server.url("/good.txt"), "good.txt", checksum="sha256:" + _sha(b"fine\n"), size=5)
    results = _downloader().fetch_files([bad, good], tmp_path)
    assert [r.status for r in results] == ["failed", "downloaded"]
    assert "bad.bz2" in results[0].error and expected in results[0].error
    assert sorted(p.name for p in tmp_path.iterdir()) == [STATE_FILE, "good.txt"]
    assert [r["name"] for r in download_records(tmp_path)] == ["good.txt"]


def test_404_on_first_url_falls_back_to_the_mirror(server: Loopback, tmp_path: Path) -> None:
    server.files["/mirror/dumps/a.txt"] = b"from the mirror\n"
    cfg = SourceConfig(name="plain", kind="plain", urls=(server.url("/dumps/a.txt"),),
                       mirrors=(server.base + "/gone", server.base + "/mirror"))
    source = PlainSource(cfg, tmp_path)
    [result] = _downloader().fetch(source)
    assert result.status == "downloaded", result.error
    assert result.url == server.url("/mirror/dumps/a.txt")
    assert (tmp_path / "plain" / "dumps" / "a.txt").read_bytes() == b"from the mirror\n"  # its URL path
    tried = [p for (m, p, _, _) in server.requests if m == "GET"]
    assert tried == ["/dumps/a.txt", "/gone/dumps/a.txt", "/mirror/dumps/a.txt"]


def test_5xx_is_retried_then_served(server: Loopback, tmp_path: Path) -> None:
    server.files["/busy.txt"] = b"eventually\n"
    server.fail_times["/busy.txt"] = 2
    [result] = _downloader(retries=3).fetch_files(
        [RemoteFile(server.url("/busy.txt"), "busy.txt")], tmp_path)
    assert result.status == "downloaded" and len(server.gets("/busy.txt")) == 3


def test_5xx_beyond_retries_falls_back_to_mirror(server: Loopback, tmp_path: Path) -> None:
    server.files["/busy.txt"] = b"primary\n"
    server.files["/m/busy.txt"] = b"mirror\n"
    server.fail_times["/busy.txt"] = 10
    [result] = _downloader(retries=1).fetch_files(
        [RemoteFile(server.url("/busy.txt"), "busy.txt")], tmp_path, mirrors=[server.base + "/m"])
    assert result.status == "downloaded" and (tmp_path / "busy.txt").read_bytes() == b"mirror\n"


def test_every_url_failing_is_one_failed_result(server: Loopback, tmp_path: Path) -> None:
    [result] = _downloader().fetch_files([RemoteFile(server.url("/none.txt"), "none.txt")],
                                         tmp_path, mirrors=[server.base + "/m"])
    assert result.status == "failed"
    assert "none.txt" in result.error and "HTTP 404" in result.error
    assert not (tmp_path / "none.txt").exists()


def test_changed_upstream_is_detected_and_refreshed(server: Loopback, tmp_path: Path) -> None:
    server.files["/dumps/a.txt"] = b"version one\n"
    cfg = SourceConfig(name="plain", kind="plain", urls=(server.url("/dumps/a.txt"),))
    source = PlainSource(cfg, tmp_path)
    dl = _downloader()
    [before] = dl.check_updates(source)
    assert before.status == "not_downloaded"
    [first] = dl.fetch(source)
    [same] = dl.check_updates(source)
    assert (same.status, same.changes) == ("unchanged", ())
    server.files["/dumps/a.txt"] = b"version two, longer\n"
    server.etags["/dumps/a.txt"] = '"v2"'
    [changed] = dl.check_updates(source)
    assert changed.status == "changed" and set(changed.changes) == {"etag", "size"}
    [cached] = dl.fetch(source)
    assert cached.status == "cached" and cached.sha256 == first.sha256
    [refreshed] = dl.fetch(source, refresh=True)
    assert refreshed.status == "downloaded"
    assert refreshed.sha256 == _sha(b"version two, longer\n")
    assert download_records(source.raw_dir)[0]["etag"] == '"v2"'


def test_cached_file_is_not_fetched_again(server: Loopback, tmp_path: Path) -> None:
    server.files["/a.txt"] = b"abc\n"
    remote = RemoteFile(server.url("/a.txt"), "sub/a.txt", checksum="sha256:" + _sha(b"abc\n"))
    _downloader().fetch_files([remote], tmp_path)
    [again] = _downloader().fetch_files([remote], tmp_path)
    assert again.status == "cached" and again.sha256 == _sha(b"abc\n")
    assert len(server.gets("/a.txt")) == 1
    # A file corrupted on disk is detected by its size and fetched again.
    (tmp_path / "sub" / "a.txt").write_bytes(b"abcdef\n")
    [fixed] = _downloader().fetch_files([remote], tmp_path)
    assert fixed.status == "downloaded" and (tmp_path / "sub" / "a.txt").read_bytes() == b"abc\n"


@pytest.mark.parametrize("style", ["folder", "file_url"])
def test_rewrite_onto_a_local_folder(tmp_path: Path, payload: bytes, style: str) -> None:
    local = tmp_path / "local mirror" / "enwiki"
    local.mkdir(parents=True)
    (local / "dump.bz2").write_bytes(payload)
    to = str(local.parent) if style == "folder" else local.parent.as_uri()
    dl = _downloader(rewrites=[f"https://dumps.wikimedia.org/={to}"])
    cfg = SourceConfig(name="wiki", kind="plain",
                       urls=("https://dumps.wikimedia.org/enwiki/dump.bz2",))
    source = PlainSource(cfg, tmp_path / "raw")
    [result] = dl.fetch(source)
    assert result.status == "downloaded", result.error
    assert result.sha256 == _sha(payload)
    assert (tmp_path / "raw" / "wiki" / "enwiki" / "dump.bz2").read_bytes() == payload  # its URL path
    [status] = dl.check_updates(source)
    assert status.status == "unchanged"


def test_rewrite_onto_missing_local_file_fails(tmp_path: Path) -> None:
    dl = _downloader(rewrites={"https://x.invalid/": str(tmp_path / "empty")})
    [result] = dl.fetch_files([RemoteFile("https://x.invalid/a.txt", "a.txt")], tmp_path)
    assert result.status == "failed" and "no such local file" in result.error


def test_source_with_local_paths_downloads_nothing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    source = PlainSource(SourceConfig(name="p", kind="plain", paths=(str(tmp_path / "a.txt"),)),
                         tmp_path / "raw")
    assert _downloader().fetch(source) == [] and _downloader().check_updates(source) == []


def test_politeness_delay_spaces_requests_to_one_host(server: Loopback, tmp_path: Path) -> None:
    for i in range(3):
        server.files[f"/{i}.txt"] = b"x"
    dl = _downloader(delays={"127.0.0.1": 0.15}, workers=3)
    files = [RemoteFile(server.url(f"/{i}.txt"), f"{i}.txt") for i in range(3)]
    assert all(r.ok for r in dl.fetch_files(files, tmp_path))
    times = sorted(t for (_, _, _, t) in server.requests)
    assert all(b - a >= 0.14 for a, b in zip(times, times[1:]))


def test_progress_bar_runs_without_a_terminal(server: Loopback, tmp_path: Path,
                                              payload: bytes) -> None:
    server.files["/w.bz2"] = payload
    [result] = _downloader(progress=True).fetch_files([RemoteFile(server.url("/w.bz2"), "w.bz2")],
                                                      tmp_path)
    assert result.sha256 == _sha(payload)


def test_unsafe_file_name_is_refused(server: Loopback, tmp_path: Path) -> None:
    [result] = _downloader().fetch_files([RemoteFile(server.url("/a"), "../escape")], tmp_path)
    assert result.status == "failed" and "relative path" in result.error


@pytest.mark.parametrize("url, rules, expected", [
    ("https://a.org/x/y.bz2", [("https://a.org/", "https://b.net/m/")], "https://b.net/m/x/y.bz2"),
    ("https://a.org/x/y.bz2", [("https://a.org/", "https://b/"), ("https://a.org/x/", "file:///l/")],
     "file:///l/y.bz2"),
    ("https://c.org/y", [("https://a.org/", "https://b/")], "https://c.org/y"),
    ("https://a.org/x/y%20z", [("https://a.org/", "/srv/m")], "/srv/m/x/y z"),
])
def test_rewrite_url_table(url: str, rules: list[tuple[str, str]], expected: str) -> None:
    assert rewrite_url(url, rules) == expected


@pytest.mark.parametrize("url, mirror, expected", [
    ("https://dumps.wikimedia.org/enwiki/x.bz2", "https://m.example/wikimedia/",
     "https://m.example/wikimedia/enwiki/x.bz2"),
    ("https://a.org/p?q=1", "http://b", "http://b/p?q=1"),
    ("https://a.org/d/f.7z", "/srv/mirror", "/srv/mirror/d/f.7z"),
])
def test_mirror_url_table(url: str, mirror: str, expected: str) -> None:
    assert mirror_url(url, mirror) == expected


@pytest.mark.parametrize("items, message", [
    (["no-equals-sign"], "expected FROM=TO"),
    (["=https://b/"], "FROM must not be empty"),
])
def test_bad_rewrite_rules_are_config_errors(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_rewrites(items)
    with pytest.raises(ConfigError, match=message):
        Downloader(rewrites=items)


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, "workers"), ({"per_host": 0}, "per_host"), ({"retries": -1}, "retries"),
])
def test_bad_downloader_settings(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Downloader(**kwargs)


def test_state_file_is_json_with_every_file(server: Loopback, tmp_path: Path) -> None:
    server.files["/a"], server.files["/b"] = b"1", b"22"
    _downloader().fetch_files([RemoteFile(server.url("/a"), "a"), RemoteFile(server.url("/b"), "b")],
                              tmp_path)
    state = json.loads((tmp_path / STATE_FILE).read_text())
    assert state["version"] == 1 and sorted(state["files"]) == ["a", "b"]
    assert state["files"]["b"]["size"] == 2


def test_source_pickles_for_workers(tmp_path: Path) -> None:
    source = PlainSource(SourceConfig(name="p", kind="plain", urls=("https://a/b",)), tmp_path)
    assert pickle.loads(pickle.dumps(source)).list_files() == source.list_files()


def test_cli_entry_points(server: Loopback, tmp_path: Path) -> None:
    from pile.sources.download import check_updates, download_sources

    server.files["/up/a.txt"] = b"first\n"
    cfg = SourceConfig(name="plain", kind="plain", urls=("https://upstream.invalid/a.txt",))
    source = PlainSource(cfg, tmp_path)
    mirror = {"https://upstream.invalid/": server.url("/up/")}
    [result] = download_sources([source], mirror_map=mirror, progress=False)
    assert result.ok and str(result).startswith("downloaded a.txt  6 bytes  sha256=")
    assert check_updates(source, mirror_map=mirror) == []
    server.files["/up/a.txt"], server.etags["/up/a.txt"] = b"second\n", '"v2"'
    [changed] = check_updates(source, mirror_map=mirror)
    assert changed.name == "a.txt" and "etag" in changed.changes
    [again] = download_sources([source], mirror_map=mirror, progress=False, refresh=True)
    assert again.status == "downloaded" and again.size == 7
    server.files.pop("/up/a.txt")
    (tmp_path / "plain" / "a.txt").unlink()
    [failed] = download_sources([source], mirror_map=mirror, progress=False)
    assert not failed.ok and str(failed).startswith("FAILED a.txt: ")


def test_corrupt_mirror_is_skipped_for_a_good_one(server: Loopback, tmp_path: Path) -> None:
    good = b"the published bytes\n"
    server.files["/dl/f.txt"] = b"corrupted bytes....\n"
    server.files["/good/dl/f.txt"] = good
    remote = RemoteFile(server.url("/dl/f.txt"), "f.txt", checksum="sha256:" + _sha(good))
    [result] = _downloader().fetch_files([remote], tmp_path, mirrors=[server.base + "/good"])
    assert result.status == "downloaded" and result.url == server.url("/good/dl/f.txt")
    assert (tmp_path / "f.txt").read_bytes() == good


def test_cached_json_listing(server: Loopback, tmp_path: Path) -> None:
    from pile.errors import SourceError
    from pile.sources.download import cached_json

    server.files["/metadata/item"] = json.dumps({"files": [{"name": "a.7z"}]}).encode()
    cache = tmp_path / "src" / ".listing.json"
    assert cached_json(server.url("/metadata/item"), cache) == {"files": [{"name": "a.7z"}]}
    assert cached_json(server.url("/metadata/item"), cache)["files"][0]["name"] == "a.7z"
    assert len(server.gets("/metadata/item")) == 1  # the second listing came from the cache
    with pytest.raises(SourceError, match="cannot fetch the upstream listing"):
        cached_json(server.url("/missing.json"), tmp_path / "other.json")
    server.files["/bad.json"] = b"<html>not json</html>"
    with pytest.raises(SourceError, match="bad.json"):
        cached_json(server.url("/bad.json"), tmp_path / "bad.json")


def test_published_md5_and_sha1_are_verified_while_streaming_and_on_resume(
        server: Loopback, payload: bytes, tmp_path: Path) -> None:
    """Wikimedia publishes md5 and sha1, NCBI md5: the digest is computed in the same pass
    as the sha256, over the resumed prefix too (the partial bytes are rehashed from disk)."""
    import hashlib as h

    for algo in ("md5", "sha1"):
        path = f"/{algo}.bz2"
        server.files[path] = payload
        server.drop_once.add(path)  # the first response is cut halfway: resumed with Range
        remote = RemoteFile(server.url(path), f"{algo}.bz2",
                            checksum=f"{algo.upper()}:{h.new(algo, payload).hexdigest().upper()}")
        assert remote.checksum == f"{algo}:{h.new(algo, payload).hexdigest()}"  # normalised
        [result] = _downloader().fetch_files([remote], tmp_path)
        assert result.status == "downloaded", result.error
        gets = server.gets(path)
        assert len(gets) == 2 and gets[1]["Range"].startswith("bytes=")
        record = json.loads((tmp_path / STATE_FILE).read_text())["files"][f"{algo}.bz2"]
        assert record["checksum"] == remote.checksum and record["sha256"] == _sha(payload)
        # a second run trusts the verified record: nothing fetched, nothing rehashed
        [again] = _downloader().fetch_files([remote], tmp_path)
        assert again.status == "cached" and len(server.gets(path)) == 2


def test_md5_mismatch_fails_that_file_with_a_counted_reason_then_the_mirror_serves_it(
        server: Loopback, payload: bytes, tmp_path: Path) -> None:
    from pile.sources.download import load_failures

    good_md5 = hashlib.md5(payload).hexdigest()
    server.files["/dl/p.bz2"] = payload[:-1] + b"!"   # corrupt on the upstream
    remote = RemoteFile(server.url("/dl/p.bz2"), "p.bz2", checksum=f"md5:{good_md5}")
    [failed] = _downloader().fetch_files([remote], tmp_path)
    assert failed.status == "failed" and "md5 mismatch" in failed.error
    assert load_failures(tmp_path)["p.bz2"]["reason"] == "checksum_mismatch"
    assert not list(tmp_path.glob("p.bz2*"))  # neither the final name nor a .part to resume
    server.files["/good/dl/p.bz2"] = payload
    [result] = _downloader().fetch_files([remote], tmp_path, mirrors=[server.base + "/good"])
    assert result.status == "downloaded" and result.url == server.url("/good/dl/p.bz2")
    assert "p.bz2" not in load_failures(tmp_path)  # the success cleared the failure
    # a file changed on disk after its record no longer matches: fetched again
    (tmp_path / "p.bz2").write_bytes(b"tampered")
    [refetched] = _downloader().fetch_files([remote], tmp_path, mirrors=[server.base + "/good"])
    assert refetched.status == "downloaded" and (tmp_path / "p.bz2").read_bytes() == payload


@pytest.mark.parametrize("value", ["abc", "crc32:1234", "md5:" + "0" * 31, "sha1:" + "g" * 40])
def test_a_malformed_checksum_is_refused(value: str) -> None:
    from pile.errors import SourceError

    with pytest.raises(SourceError, match="checksum"):
        RemoteFile("http://x/a", "a", checksum=value)
