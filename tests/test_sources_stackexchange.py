"""Stack Exchange: a site dump (.7z derived from the real Posts.xml) over loopback HTTP."""

from __future__ import annotations

import pickle
import re
import threading
import xml.etree.ElementTree as ET
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import lxml.html
import py7zr
import pytest

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.stackexchange import (StackExchangeSource, html_to_text, parse_listing,
                                        site_name)
from pile.stage import Dropped

SITE = "cstheory.meta.stackexchange.com"


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def posts_xml(shared_data: Path) -> Path:
    return shared_data / "samples" / "stackexchange" / SITE / "Posts.xml"


@pytest.fixture(scope="module")
def dump_folder(posts_xml: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site .7z as archive.org ships it, built from the sample's files."""
    folder = tmp_path_factory.mktemp("upstream")
    fast = [{"id": py7zr.FILTER_LZMA2, "preset": 1}]  # the real dumps use LZMA2 too
    with py7zr.SevenZipFile(folder / f"{SITE}.7z", "w", filters=fast) as sz:
        sz.write(posts_xml.parent / "PostLinks.xml", "PostLinks.xml")
        sz.write(posts_xml, "Posts.xml")
    return folder


@pytest.fixture(scope="module")
def served(dump_folder: Path) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(dump_folder)))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _split(items) -> tuple[list[Document], list[Dropped]]:
    docs = [i for i in items if isinstance(i, Document)]
    return docs, [i for i in items if isinstance(i, Dropped)]


@pytest.fixture(scope="module")
def from_7z(served: str, tmp_path_factory: pytest.TempPathFactory):
    raw = tmp_path_factory.mktemp("raw")
    source = make_source(SourceConfig(name="stackexchange", kind="stackexchange",
                                      urls=(f"{served}/{SITE}.7z",)), raw)
    [result] = Downloader(progress=False, delays={}).fetch(source)
    assert result.status == "downloaded", result.error
    [path] = source.inputs()
    assert path.name == f"{SITE}.7z"
    return _split(list(source.read(path)))


def _rows(posts_xml: Path) -> list[dict[str, str]]:
    return [dict(r.attrib) for r in ET.parse(posts_xml).getroot()]


def test_questions_with_their_answers(from_7z, posts_xml: Path) -> None:
    docs, drops = from_7z
    rows = _rows(posts_xml)
    questions = {int(r["Id"]): r for r in rows if r["PostTypeId"] == "1"}
    assert len(docs) + len(drops) == len(questions)  # every question accounted for
    assert len(docs) == 393
    for doc in docs:
        assert doc.text.startswith("Q:\n\n") and "\n\nA:\n\n" in doc.text
        assert doc.meta["pile_set_name"] == "StackExchange"
        assert 1 <= doc.meta["answers"] <= 3
        assert doc.text.count("\n\nA:\n\n") == doc.meta["answers"]
        assert "<p>" not in doc.text and "&lt;" not in doc.text and "&quot;" not in doc.text
        qid = int(doc.id.rsplit("/", 1)[1])
        assert doc.id == f"stackexchange/{SITE}/{qid}"
        assert questions[qid]["Title"] in doc.text
    assert {d.reason for d in drops} == {"no_answers", "no_answer_above_min_score",
                                         "answers_without_text"}


def _first_words(html: str) -> str:
    text = " ".join(lxml.html.fragment_fromstring(html, create_parent="div").text_content().split())
    return text[:40]


def test_answers_are_ordered_by_score(from_7z, posts_xml: Path) -> None:
    docs, _ = from_7z
    rows = _rows(posts_xml)
    answers: dict[int, list[dict[str, str]]] = {}
    for r in rows:
        if r["PostTypeId"] == "2":
            answers.setdefault(int(r["ParentId"]), []).append(r)
    checked = 0
    for doc in docs:
        qid = doc.meta["question_id"]
        good = sorted((a for a in answers[qid] if int(a["Score"]) >= 3),
                      key=lambda a: (-int(a["Score"]), int(a["Id"])))
        good = [a for a in good if _first_words(a["Body"])][:3]  # answers with text
        assert doc.meta["answers"] == len(good)
        segments = [" ".join(s.split()) for s in doc.text.split("\n\nA:\n\n")[1:]]
        for answer, segment in zip(good, segments):
            assert segment.startswith(_first_words(answer["Body"])), (doc.id, answer["Id"])
        checked += len(good) > 1
    assert checked >= 50


def test_known_question(from_7z) -> None:
    docs, _ = from_7z
    doc = {d.meta["question_id"]: d for d in docs}[19]
    assert doc.text.startswith("Q:\n\nsubdomain: cs, cstheory, or compsci ?\n\n")
    assert "compsci is the strongest of these three" in doc.text
    assert doc.text.endswith("since compsci seems overly broad for the scope of this SE site.")


def test_plain_folder_gives_the_same_documents(from_7z, posts_xml: Path, tmp_path: Path) -> None:
    source = StackExchangeSource(SourceConfig(name="stackexchange", kind="stackexchange",
                                              paths=(str(posts_xml.parent.parent),)), tmp_path)
    inputs = source.inputs()
    assert [p.name for p in inputs] == ["Posts.xml"]  # PostLinks/Comments are not inputs
    docs, _ = _split(list(source.read(inputs[0])))
    assert [(d.id, d.text) for d in docs] == [(d.id, d.text) for d in from_7z[0]]


@pytest.mark.parametrize("options, check", [
    ({"max_answers": 1}, lambda d: d.text.count("\n\nA:\n\n") == 1 == d.meta["answers"]),
    ({"max_answers": 0, "min_answer_score": -1000},
     lambda d: d.meta["answers"] == d.text.count("\n\nA:\n\n")),
])
def test_answer_options(posts_xml: Path, tmp_path: Path, options: dict, check) -> None:
    source = StackExchangeSource(SourceConfig(name="se", kind="stackexchange", options=options),
                                 tmp_path)
    docs, drops = _split(list(source.read(posts_xml)))
    assert docs and all(check(d) for d in docs)
    if options.get("min_answer_score") == -1000:
        assert len(docs) + len(drops) == 589
        assert {d.reason for d in drops} == {"no_answers", "answers_without_text"}
        assert max(d.meta["answers"] for d in docs) > 3


def test_dump_without_posts_is_a_source_error(posts_xml: Path, tmp_path: Path) -> None:
    archive = tmp_path / "empty.stackexchange.com.7z"
    with py7zr.SevenZipFile(archive, "w") as sz:
        sz.write(posts_xml.parent / "PostLinks.xml", "PostLinks.xml")
    source = StackExchangeSource(SourceConfig(name="se", kind="stackexchange"), tmp_path)
    with pytest.raises(SourceError, match="expected a Posts.xml member"):
        list(source.read(archive))


def test_truncated_posts_fail_that_file(posts_xml: Path, tmp_path: Path) -> None:
    cut = tmp_path / "site.example.com" / "Posts.xml"
    cut.parent.mkdir()
    data = posts_xml.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    source = StackExchangeSource(SourceConfig(name="se", kind="stackexchange"), tmp_path)
    with pytest.raises(SourceError, match="malformed XML"):
        list(source.read(cut))


@pytest.mark.parametrize("html, expected", [
    ("<p>One</p>\n\n<p>Two &amp; <b>three</b></p>", "One\n\nTwo & three"),
    ("<p>Use <code>x &lt; y</code>:</p><pre><code>a = 1\n    b = 2\n</code></pre>",
     "Use x < y:\n\na = 1\n    b = 2"),
    ("<ul><li>first</li><li>second</li></ul>", "first\nsecond"),
    ('<p>see <a href="http://x">the docs</a></p>', "see the docs"),
    ("<blockquote><p>quoted</p></blockquote><p>reply</p>", "quoted\n\nreply"),
    ("line<br>next", "line\nnext"),
    ("", ""),
    ("plain title with &quot;quotes&quot;", 'plain title with "quotes"'),
])
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


@pytest.mark.parametrize("options, field", [
    ({"sites": []}, "options.sites"),
    ({"sites": ["Bad Site!"]}, "options.sites"),
    ({"max_answers": -1}, "options.max_answers"),
    ({"min_answer_score": "3"}, "options.min_answer_score"),
    ({"include_meta": "yes"}, "options.include_meta"),
    ({"site": ["x"]}, "options.site"),
])
def test_bad_options_are_config_errors(tmp_path: Path, options: dict, field: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"sources.se.{field}")):
        StackExchangeSource(SourceConfig(name="se", kind="stackexchange", options=options), tmp_path)


def test_sites_option_lists_archive_org_dumps(tmp_path: Path) -> None:
    source = StackExchangeSource(SourceConfig(
        name="se", kind="stackexchange",
        options={"sites": ["cstheory.stackexchange.com", "stackoverflow.com"]}), tmp_path)
    assert [f.url for f in source.list_files()] == [
        "https://archive.org/download/stackexchange/cstheory.stackexchange.com.7z",
        "https://archive.org/download/stackexchange/stackoverflow.com-Posts.7z"]


def test_listing_from_item_metadata(tmp_path: Path) -> None:
    metadata = {"files": [
        {"name": "math.stackexchange.com.7z", "size": "123", "md5": "a" * 32, "sha1": "b" * 40},
        {"name": "math.meta.stackexchange.com.7z", "size": "45", "md5": "c" * 32},
        {"name": "stackoverflow.com-Posts.7z", "size": "999"},
        {"name": "stackoverflow.com-Comments.7z", "size": "1"},
        {"name": "Sites.xml", "size": "9"},
    ]}
    files = parse_listing(metadata)
    assert [(f.name, f.size, f.checksum) for f in files] == [
        ("math.meta.stackexchange.com.7z", 45, "md5:" + "c" * 32),   # archive.org's checksums
        ("math.stackexchange.com.7z", 123, "sha1:" + "b" * 40),     # the stronger one
        ("stackoverflow.com-Posts.7z", 999, None)]
    assert [f.name for f in parse_listing(metadata, include_meta=False)] == [
        "math.stackexchange.com.7z", "stackoverflow.com-Posts.7z"]
    # `sites: all` reads the cached listing without the network.
    (tmp_path / "se").mkdir()
    import json

    (tmp_path / "se" / ".listing.json").write_text(json.dumps(metadata))
    source = StackExchangeSource(SourceConfig(name="se", kind="stackexchange"), tmp_path)
    assert [f.name for f in source.list_files()] == [f.name for f in files]


@pytest.mark.parametrize("name, site", [
    ("cstheory.stackexchange.com.7z", "cstheory.stackexchange.com"),
    ("stackoverflow.com-Posts.7z", "stackoverflow.com"),
    ("dump/math.stackexchange.com/Posts.xml", "math.stackexchange.com"),
])
def test_site_name(name: str, site: str) -> None:
    assert site_name(Path(name)) == site


def test_source_pickles(tmp_path: Path) -> None:
    source = StackExchangeSource(SourceConfig(name="se", kind="stackexchange",
                                              options={"sites": "math.stackexchange.com"}), tmp_path)
    assert pickle.loads(pickle.dumps(source)).list_files() == source.list_files()
