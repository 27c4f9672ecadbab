"""OpenWebText2: the two real PushShift dumps (RS_v2_2005-06.xz, RS_v2_2005-07.xz), also
recompressed at test time as a long-window .zst and as .bz2; the real Rust documentation
pages of samples/html/ served from loopback under some of the dumps' URLs through the
downloader's mirror rules, every other host pointed at a closed loopback port (so the rest
fails as unreachable, and nothing leaves the machine)."""

from __future__ import annotations

import bz2
import collections
import hashlib
import io
import json
import lzma
import pickle
import socket
from pathlib import Path
from urllib.parse import urlsplit

import lxml.html
import pytest
import zstandard

from pile.config import SourceConfig
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader, load_failures
from pile.sources.openwebtext2 import (OpenWebText2Source, page_name, strip_adverts,
                                       url_drop_reason)

DUMPS = ["samples/openwebtext2/RS_v2_2005-06.xz", "samples/openwebtext2/RS_v2_2005-07.xz"]
PAGES = ["book_ch01-02-hello-world.html", "book_ch05-01-defining-structs.html",
         "book_ch09-02-recoverable-errors-with-result.html", "book_ch16-01-threads.html",
         "cargo_getting-started_first-steps.html", "reference_introduction.html"]


def source(tmp_path: Path, paths: list[Path], **kwargs) -> OpenWebText2Source:
    kwargs.setdefault("accept_terms", True)
    return make_source(SourceConfig(name="owt2", kind="openwebtext2",
                                    paths=tuple(str(p) for p in paths), **kwargs),
                       tmp_path / "raw")


def submissions(shared_data: Path) -> list[dict]:
    return [json.loads(line) for dump in DUMPS for line in lzma.open(shared_data / dump)]


def recipe(posts: list[dict]) -> tuple[dict[str, list[dict]], collections.Counter]:
    """The OWT2 recipe written out plainly: the kept URLs with their posts, and the drops."""
    drops: collections.Counter = collections.Counter()
    by_url: dict[str, list[dict]] = collections.defaultdict(list)
    for post in posts:
        if post.get("is_self"):
            drops["self_post"] += 1
        elif not post.get("url"):
            drops["no_url"] += 1
        elif url_drop_reason(post["url"]):
            drops[url_drop_reason(post["url"])] += 1
        else:
            by_url[post["url"]].append(post)
    kept = {u: ps for u, ps in by_url.items() if sum(p["score"] for p in ps) >= 3}
    drops["low_score"] = len(by_url) - len(kept)
    return kept, drops


def read_all(src: OpenWebText2Source) -> list:
    return [item for path in src.inputs() for item in src.read(path)]


def test_the_recipe_on_the_real_dumps(shared_data: Path, tmp_path: Path) -> None:
    dumps = [shared_data / d for d in DUMPS]
    src = source(tmp_path, dumps)
    out = read_all(src)
    kept, drops = recipe(submissions(shared_data))  # each dump is one month: no URL spans two
    reasons = collections.Counter(o.reason for o in out if hasattr(o, "reason"))
    assert reasons == {**{k: v for k, v in drops.items() if v}, "not_fetched": len(kept)}
    assert {"blocked_domain", "blocked_extension", "low_score"} <= set(reasons)
    listed = [f for f in src.list_files()]
    assert sorted(f.url for f in listed) == sorted(kept)
    assert all(f.robots and f.name == page_name(f.url) for f in listed)
    # a URL's meta lists its submissions in dump order
    waiting = {o.doc.meta["url"]: o.doc.meta for o in out if getattr(o, "reason", "") == "not_fetched"}
    url, posts = max(kept.items(), key=lambda kv: len(kv[1]))
    assert waiting[url]["reddit_ids"] == [p["id"] for p in posts]
    assert waiting[url]["scores"] == [p["score"] for p in posts]
    assert waiting[url]["subreddits"] == [p["subreddit"] for p in posts]
    assert waiting[url]["title"] == posts[0]["title"]


def test_zst_with_a_long_window_and_bz2_read_alike(shared_data: Path, tmp_path: Path) -> None:
    data = lzma.open(shared_data / DUMPS[1]).read()
    (tmp_path / "zst").mkdir()
    (tmp_path / "bz2").mkdir()
    zst = tmp_path / "zst" / "RS_v2_2005-07.zst"  # the same month's name: the same ids
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=28)  # 256 MiB
    with open(zst, "wb") as fh, zstandard.ZstdCompressor(compression_params=params) \
            .stream_writer(fh) as writer:
        writer.write(data)
    with pytest.raises(zstandard.ZstdError, match="too much memory"):
        zstandard.ZstdDecompressor().stream_reader(io.BytesIO(zst.read_bytes())).read()
    bz = tmp_path / "bz2" / "RS_v2_2005-07.bz2"
    bz.write_bytes(bz2.compress(data))
    texts = []
    for path in (shared_data / DUMPS[1], zst, bz):
        texts.append([(getattr(o, "reason", None), o.doc.id if hasattr(o, "reason") else o.id)
                      for o in source(tmp_path, [path]).read(path)])
    assert texts[0] == texts[1] == texts[2] and len(texts[0]) > 500


def test_damaged_dumps(shared_data: Path, tmp_path: Path) -> None:
    lines = lzma.open(shared_data / DUMPS[0]).read().split(b"\n")
    broken = tmp_path / "RS_broken.xz"
    broken.write_bytes(lzma.compress(b"\n".join(lines[:10] + [b'{"id": "x", "url'] + lines[10:])))
    out = list(source(tmp_path, [broken]).read(broken))
    assert [o.reason for o in out if getattr(o, "reason", "") == "malformed_json"] == ["malformed_json"]
    good = list(source(tmp_path, [shared_data / DUMPS[0]]).read(shared_data / DUMPS[0]))
    assert len(out) == len(good) + 1  # every good submission still read
    cut = tmp_path / "RS_cut.xz"
    whole = (shared_data / DUMPS[1]).read_bytes()
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(SourceError, match="RS_cut.xz"):
        list(source(tmp_path, [cut]).read(cut))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture()
def crawled(shared_data: Path, tmp_path: Path, http_folder):
    """The pages fetched: six URLs (on six hosts) mirrored to the real pages, the rest
    pointed at a closed port."""
    dumps = [shared_data / d for d in DUMPS]
    kept, _ = recipe(submissions(shared_data))
    hosts: dict[str, str] = {}
    for url in sorted(kept):
        hosts.setdefault(urlsplit(url).netloc, url)
    chosen = sorted(hosts.values())[: len(PAGES)]
    served = tmp_path / "served"
    (served / "pages").mkdir(parents=True)
    (served / "robots").mkdir()
    rules = {}
    server = http_folder(served)
    for n, (url, page) in enumerate(zip(chosen, PAGES)):
        html = (shared_data / "samples/html" / page).read_bytes()
        if n == 1:  # an advert line inside the article, as news sites have them
            cut = html.index(b"</p>", html.index(b"<main")) + 4
            html = html[:cut] + b"<p>Advertisement</p>" + html[cut:]
        if url.endswith("/"):  # a folder rule maps to a folder: serve its index.html
            (served / "pages" / page.removesuffix(".html")).mkdir()
            (served / "pages" / page.removesuffix(".html") / "index.html").write_bytes(html)
            rules[url] = f"{server.url}/pages/{page.removesuffix('.html')}/"
        else:
            (served / "pages" / page).write_bytes(html)
            rules[url] = f"{server.url}/pages/{page}"
        host = urlsplit(url).netloc
        rules[f"http://{host}/robots.txt"] = f"{server.url}/robots/{host}.txt"
    # robots.txt: the first host forbids its page, the second has none (404: all allowed),
    # the others allow everything but a path no page uses
    for n, url in enumerate(chosen):
        host = urlsplit(url).netloc
        if n == 0:
            path = urlsplit(url).path or "/"
            (served / "robots" / f"{host}.txt").write_text(f"User-agent: *\nDisallow: {path}\n")
        elif n > 1:
            (served / "robots" / f"{host}.txt").write_text("User-agent: *\nDisallow: /cgi-bin/\n")
    dead = f"http://127.0.0.1:{_closed_port()}/"
    for url in kept:
        parts = urlsplit(url)
        rules.setdefault(f"{parts.scheme}://{parts.netloc}/", dead)
    src = source(tmp_path, dumps)
    dl = Downloader(rewrites=rules, progress=False, retries=0, delays={}, timeout=5,
                    workers=4, per_host=2)
    results = dl.fetch(src)
    return src, kept, chosen, server, results


def test_pages_fetched_politely_and_failures_counted(crawled, shared_data: Path) -> None:
    src, kept, chosen, server, results = crawled
    assert len(results) == len(kept)
    ok = sorted(r.name for r in results if r.ok)
    assert ok == sorted(page_name(u) for u in chosen[1:])  # the first is robots-disallowed
    failures = load_failures(src.raw_dir)
    reasons = collections.Counter(f["reason"] for f in failures.values())
    assert reasons == {"robots_disallowed": 1, "unreachable": len(kept) - len(chosen)}
    robots_hits = [h for h in server.hits if h.startswith("/robots/")]
    assert len(robots_hits) == len(set(robots_hits)) == len(chosen)  # once per host
    assert 1 <= server.max_in_flight <= 2  # per_host: every page host rewrites to loopback

    out = read_all(src)
    docs = [o for o in out if not hasattr(o, "reason")]
    assert sorted(d.meta["url"] for d in docs) == sorted(chosen[1:])
    dropped = collections.Counter(o.reason for o in out if hasattr(o, "reason"))
    assert dropped["robots_disallowed"] == 1
    assert dropped["unreachable"] == len(kept) - len(chosen)
    assert "not_fetched" not in dropped
    for doc in docs:
        page = PAGES[chosen.index(doc.meta["url"])]
        root = lxml.html.parse(str(shared_data / "samples/html" / page)).getroot()
        main = root.xpath("//main")[0]
        title = main.xpath(".//h1|.//h2")[0].text_content().strip()
        first_para = " ".join(main.xpath(".//p")[0].text_content().split())
        flat = " ".join(doc.text.split())
        assert doc.text.startswith(title) and first_para in flat  # the article ...
        assert "Keyboard shortcuts" not in doc.text  # ... without the site's chrome
        assert "Advertisement" not in doc.text.split("\n")  # (planted in the second page)
        assert doc.meta["reddit_ids"] == [p["id"] for p in kept[doc.meta["url"]]]
        month = "RS_v2_2005-06" if any(p["created_utc"] < 1120176000 for p in kept[doc.meta["url"]]) \
            else "RS_v2_2005-07"
        assert doc.id == f"owt2/{month}/{hashlib.sha1(doc.meta['url'].encode()).hexdigest()}"

    # a rerun downloads nothing again: pages are cached, failures are retried
    before = len([h for h in server.hits if h.startswith("/pages/")])
    assert {r.status for r in Downloader(rewrites={}, progress=False, retries=0, delays={},
                                         timeout=5).fetch_files(
        [f for f in src.list_files() if f.url in chosen[1:]], src.raw_dir)} == {"cached"}
    assert len([h for h in server.hits if h.startswith("/pages/")]) == before


def test_adverts_options_terms_and_pickle(shared_data: Path, tmp_path: Path) -> None:
    assert strip_adverts("Intro\nAdvertisement\n  advertisement \nBody") == "Intro\nBody"
    assert url_drop_reason("http://i.imgur.com/x.png") == "blocked_domain"
    assert url_drop_reason("http://example.org/paper.PDF") == "blocked_extension"
    assert url_drop_reason("ftp://example.org/") == "invalid_url"
    assert url_drop_reason("http://en.wikipedia.org/wiki/X") == "blocked_domain"
    assert url_drop_reason("http://www.paulgraham.com/nerds.html") is None
    with pytest.raises(ConfigError, match="torrent"):
        make_source(SourceConfig(name="o", kind="openwebtext2"), tmp_path)
    src = source(tmp_path, [shared_data / DUMPS[0]], accept_terms=False)
    (refused,) = Downloader(progress=False).fetch(src)
    assert not refused.ok and "accept_terms" in refused.error
    src = source(tmp_path, [shared_data / DUMPS[0]])
    again = pickle.loads(pickle.dumps(src))
    assert again.list_files() == src.list_files() and again.list_files()


def test_robots_txt_status_rules(tmp_path: Path, shared_data: Path) -> None:
    """RFC 9309 through the real downloader: a 5xx robots.txt forbids the host, a 4xx one
    allows everything; each host's robots.txt is asked for once."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from pile.sources.base import RemoteFile

    import time

    page = (shared_data / "samples/html" / PAGES[0]).read_bytes()
    hits: list[str] = []
    slow: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            hits.append(self.path)
            if self.path.startswith("/slow/a"):
                slow.append(time.monotonic())
            status = {"/busy/robots.txt": 503, "/none/robots.txt": 404}.get(self.path, 200)
            body = page if status == 200 else b""
            if self.path == "/slow/robots.txt":
                body = b"User-agent: *\nCrawl-delay: 1\nDisallow: /private/\n"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        rules = {f"http://{h}.example/": f"{base}/{h}/" for h in ("busy", "none")}
        # another name for the loopback server: the slow host's delay is its own
        rules["http://slow.example/"] = f"http://localhost:{httpd.server_address[1]}/slow/"
        files = [RemoteFile(url=f"http://{host}.example/a{i}.html", name=f"{host}/a{i}.html",
                            robots=True) for host in ("busy", "none", "slow") for i in range(3)]
        dl = Downloader(rewrites=rules, progress=False, retries=0, delays={}, timeout=5,
                        workers=4, per_host=4)
        results = {r.name: r for r in dl.fetch_files(files, tmp_path / "raw")}
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [n for n, r in results.items() if r.ok] == [f"{h}/a{i}.html" for h in ("none", "slow")
                                                       for i in range(3)]
    failures = load_failures(tmp_path / "raw")
    assert {n: f["reason"] for n, f in failures.items()} == {
        f"busy/a{i}.html": "robots_unavailable" for i in range(3)}
    assert hits.count("/busy/robots.txt") == hits.count("/none/robots.txt") == 1
    assert not any(h.startswith("/busy/a") for h in hits)  # a forbidden host is never asked
    # the slow host's Crawl-delay spaced its three pages, though per_host allowed 4 at once
    gaps = [b - a for a, b in zip(sorted(slow), sorted(slow)[1:])]
    assert len(gaps) == 2 and min(gaps) >= 0.9  # (robotparser reads whole seconds)


def test_dumps_given_as_urls_are_downloaded_then_their_pages(shared_data: Path, tmp_path: Path,
                                                              http_folder) -> None:
    """Round 1 fetches the dump from its (loopback) copy, round 2 lists its pages."""
    served = tmp_path / "served"
    served.mkdir()
    dump = served / "RS_v2_2005-06.xz"
    dump.write_bytes((shared_data / DUMPS[0]).read_bytes())
    server = http_folder(served)
    src = make_source(SourceConfig(name="owt2", kind="openwebtext2", accept_terms=True,
                                   urls=(f"{server.url}/RS_v2_2005-06.xz",)), tmp_path / "raw")
    dead = f"http://127.0.0.1:{_closed_port()}/"
    kept, _ = recipe([json.loads(line) for line in lzma.open(dump)])
    rules = {f"{urlsplit(u).scheme}://{urlsplit(u).netloc}/": dead for u in kept}
    results = Downloader(rewrites=rules, progress=False, retries=0, delays={}, timeout=5).fetch(src)
    assert results[0].ok and results[0].name == "RS_v2_2005-06.xz"
    assert sorted(r.name for r in results[1:]) == sorted(page_name(u) for u in kept)
    assert not any(r.ok for r in results[1:])  # every host is the closed port
    out = read_all(src)
    assert collections.Counter(o.reason for o in out if hasattr(o, "reason"))["unreachable"] == len(kept)
