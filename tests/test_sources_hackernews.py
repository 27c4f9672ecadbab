"""HackerNews: the real story items and topstories.json, with comment items built from the
comment, ask, job and poll-option examples of the official API description
(samples/hackernews/API-README.md, "Items"), served from loopback and walked through the
real downloader (comment chains fetched level by level, cached under raw/)."""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest

from pile.config import SourceConfig
from pile.errors import ConfigError, SourceError
from pile.sources import make_source
from pile.sources.download import Downloader
from pile.sources.hackernews import HackerNewsSource, story_drop_reason

SAMPLES = "samples/hackernews"
STORY_IDS = [33138570, 33138050, 33134113, 33138302, 33136554, 33124631, 33136351]
DEEP = 33138570      # its first comment gets a reply tree three levels deep
DAMAGED = 33138050   # its 2nd/3rd/4th comments are deleted, dead and never served


def source(tmp_path: Path, **kwargs) -> HackerNewsSource:
    options = kwargs.pop("options", {"list": "topstories", "limit": len(STORY_IDS)})
    kwargs.setdefault("accept_terms", True)
    return make_source(SourceConfig(name="hackernews", kind="hackernews", options=options,
                                    **kwargs), tmp_path / "raw")


def readme_examples(shared_data: Path) -> dict[str, dict]:
    """The example items of the API description, by type (``story`` is the last story)."""
    text = (shared_data / SAMPLES / "API-README.md").read_text("utf-8")
    items = [json.loads(block) for block in re.findall(r"```javascript\n(\{.*?\})\n```", text, re.S)]
    return {item["type"]: item for item in items if "type" in item}


def plain(html: str) -> str:
    """What the comment examples without inline markup become: ``<p>`` starts a paragraph."""
    return html.replace("<p>", "\n\n")


def build_upstream(shared_data: Path, root: Path) -> dict[int, dict]:
    """``v0/`` as the API serves it: the real stories and topstories.json, and comments."""
    v0 = root / "v0"
    (v0 / "item").mkdir(parents=True)
    shutil.copyfile(shared_data / SAMPLES / "topstories.json", v0 / "topstories.json")
    ex = readme_examples(shared_data)
    texts = [(ex["comment"]["by"], ex["comment"]["text"]), (ex["pollopt"]["by"], ex["pollopt"]["text"]),
             (ex["story"]["by"], ex["story"]["text"]), (ex["job"]["by"], ex["job"]["text"])]
    comments: dict[int, dict] = {}

    def comment(item_id: int, parent: int, n: int, kids: list[int] | None = None) -> dict:
        by, text = texts[n % len(texts)]
        item = {**ex["comment"], "id": item_id, "parent": parent, "by": by, "text": text,
                "kids": kids or []}
        comments[item_id] = item
        return item

    for story_id in STORY_IDS:
        src = shared_data / SAMPLES / f"item_{story_id}.json"
        shutil.copyfile(src, v0 / "item" / f"{story_id}.json")
        for n, kid in enumerate(json.loads(src.read_text())["kids"]):
            comment(kid, story_id, n)
    # The real comment example's kids as a reply tree under DEEP's first comment: the
    # chain must follow 2922429 (two replies) and then 2922709 (one reply).
    first = json.loads((shared_data / SAMPLES / f"item_{DEEP}.json").read_text())["kids"][0]
    comment(first, DEEP, 0, [2922097, 2922429, 2924562])
    comment(2922097, first, 1)
    comment(2922429, first, 0, [2922709, 2922573])
    comment(2924562, first, 1, [2922140])
    comment(2922709, 2922429, 1, [2922141])
    comment(2922573, 2922429, 0)
    comment(2922140, 2924562, 0)
    comment(2922141, 2922709, 0)
    damaged = json.loads((shared_data / SAMPLES / f"item_{DAMAGED}.json").read_text())["kids"]
    comments[damaged[1]] = {"deleted": True, "id": damaged[1], "parent": DAMAGED,
                            "time": ex["comment"]["time"], "type": "comment"}
    comments[damaged[2]]["dead"] = True
    del comments[damaged[3]]  # never served: a 404
    for item_id, item in comments.items():
        (v0 / "item" / f"{item_id}.json").write_text(json.dumps(item))
    return comments


@pytest.fixture()
def fetched(shared_data: Path, tmp_path: Path, http_folder):
    comments = build_upstream(shared_data, tmp_path / "served")
    server = http_folder(tmp_path / "served")
    src = source(tmp_path)
    dl = Downloader(rewrites={"https://hacker-news.firebaseio.com/": server.url + "/"},
                    progress=False, retries=0, delays={}, workers=4, per_host=2)
    results = dl.fetch(src)
    return src, dl, server, comments, results


def test_download_walks_the_comment_chains(fetched, shared_data: Path) -> None:
    src, _, server, comments, results = fetched
    failed = [r.name for r in results if not r.ok]
    damaged = json.loads((shared_data / SAMPLES / f"item_{DAMAGED}.json").read_text())["kids"]
    assert failed == [f"item/{damaged[3]}.json"]
    names = {r.name for r in results}
    assert "topstories.json" in names and {f"item/{i}.json" for i in STORY_IDS} <= names
    # the whole reply tree under DEEP's first comment was needed (replies of chain nodes)
    assert {f"item/{i}.json" for i in (2922097, 2922429, 2924562, 2922709, 2922573, 2922141)} <= names
    assert "item/2922140.json" not in names  # a reply of a branch the chain does not take
    assert 1 <= server.max_in_flight <= 2  # per_host bounds the requests in flight
    assert len(server.hits) == len(results)  # every item requested once


def test_documents_in_the_hn_scraper_format(fetched, shared_data: Path) -> None:
    src, _, _, comments, _ = fetched
    items = [i for p in src.inputs() for i in src.read(p)]
    assert [i.id for i in items] == [f"hackernews/{i}" for i in STORY_IDS]
    by_id = {i.meta["hn_id"]: i for i in items}
    story = json.loads((shared_data / SAMPLES / f"item_{DEEP}.json").read_text())

    def chain(*ids: int) -> str:
        return "~~~\n".join(f"{comments[i]['by']}\n{plain(comments[i]['text'])}\n" for i in ids)

    first, second = story["kids"]
    expected = (f"{story['title']} - {story['by']}\n{story['url']}\n======\n"
                + chain(first, 2922429, 2922709, 2922141) + "------\n" + chain(second))
    assert by_id[DEEP].text == expected
    assert by_id[DEEP].meta["comments"] == 5 and by_id[DEEP].meta["comments_skipped"] == {}
    assert by_id[DEEP].meta["pile_set_name"] == "HackerNews"
    damaged = by_id[DAMAGED]
    assert damaged.meta["comments_skipped"] == {"dead": 1, "deleted": 1, "missing": 1}
    kids = json.loads((shared_data / SAMPLES / f"item_{DAMAGED}.json").read_text())["kids"]
    assert damaged.text.count("------\n") == len(kids) - 3 - 1  # one chain per live comment
    for doc in items:
        assert "<" not in doc.text.replace("<i>", "")  # HTML became text
        assert doc.text.split("\n", 1)[0].endswith(" - " + doc.meta["by"])
    assert "Justin.tv is the biggest live video site online." in by_id[33134113].text
    assert "http://www.justin.tv/problems/bml" in by_id[33134113].text  # a link keeps its words


def test_a_rerun_fetches_only_what_is_missing(fetched) -> None:
    src, dl, server, _, first = fetched
    before = len(server.hits)
    again = dl.fetch(src)
    assert sorted(r.name for r in again) == sorted(r.name for r in first)
    assert [r.status for r in again if r.status != "cached"] == ["failed"]
    assert len(server.hits) == before + 1  # only the item the upstream never served


def test_terms_must_be_accepted_before_downloading(tmp_path: Path, http_folder) -> None:
    server = http_folder(tmp_path)
    src = source(tmp_path, accept_terms=False)
    [result] = Downloader(rewrites={"https://hacker-news.firebaseio.com/": server.url + "/"},
                          progress=False).fetch(src)
    assert result.status == "failed" and "accept_terms: true" in result.error
    assert "Y Combinator" in result.error and server.hits == []
    assert "not accepted" in src.describe()["terms"]
    assert "[accepted]" in source(tmp_path).describe()["terms"]


def test_damaged_and_dropped_items(fetched, tmp_path: Path) -> None:
    src, *_ = fetched
    folder = tmp_path / "local" / "item"
    shutil.copytree(src.raw_dir / "item", folder)
    local = source(tmp_path, paths=(str(folder / f"{DEEP}.json"),))
    [path] = local.inputs()
    # a corrupt cached comment is skipped and counted; the chain takes the other reply
    (folder / "2922709.json").write_bytes(b'{"by": "norvig", "id": 29')
    [doc] = list(local.read(path))
    assert doc.meta["comments_skipped"] == {"unreadable": 1} and doc.meta["comments"] == 4
    # a corrupt story fails its file with the reason
    (folder / f"{DEEP}.json").write_bytes(b'{"by": "todsacerdoti", "id": 3313')
    with pytest.raises(SourceError, match=f"{DEEP}.json: not a Hacker News item"):
        list(local.read(path))
    # what is not a story is dropped with its reason
    reasons = {}
    for name, item in [("c.json", {"id": 5, "type": "comment", "text": "x"}),
                       ("d.json", {"id": 6, "deleted": True, "type": "story"}),
                       ("e.json", {"id": 7, "dead": True, "type": "story"}),
                       ("f.json", {"id": 8, "type": "story", "score": 0, "descendants": 4}),
                       ("g.json", {"id": 9, "type": "story", "score": 3, "descendants": 0}),
                       ("n.json", None)]:
        (folder / name).write_text(json.dumps(item))
        [dropped] = list(local.read(folder / name))
        reasons[name] = dropped.reason
    assert reasons == {"c.json": "not_story", "d.json": "deleted", "e.json": "dead",
                       "f.json": "low_score", "g.json": "few_comments", "n.json": "nonexistent"}
    assert story_drop_reason({"type": "story", "score": 1, "descendants": 1}, 1, 1) is None


def test_selection_by_ids_and_range(tmp_path: Path) -> None:
    src = source(tmp_path, options={"ids": [8863, 121003], "first": 10, "last": 12})
    assert [f.name for f in src.list_files()] == ["item/8863.json", "item/121003.json",
                                                  "item/10.json", "item/11.json", "item/12.json"]
    assert src.list_files()[0].url == "https://hacker-news.firebaseio.com/v0/item/8863.json"
    src = source(tmp_path, options={"first": 3, "last": "max"})
    assert [f.name for f in src.list_files()] == ["maxitem.json"]
    (src.raw_dir).mkdir(parents=True)
    (src.raw_dir / "maxitem.json").write_text("5")
    assert [f.name for f in src.list_files()] == ["maxitem.json", "item/3.json", "item/4.json",
                                                  "item/5.json"]
    for options, field in [({"list": "hot"}, "list"), ({"ids": [0]}, "ids"), ({}, "hackernews.options"),
                           ({"first": 5}, "first"), ({"first": 5, "last": 2}, "first"),
                           ({"list": "topstories", "limit": 0}, "limit")]:
        with pytest.raises(ConfigError, match=field):
            source(tmp_path, options=options)
    assert pickle.loads(pickle.dumps(src)).list_files()[-1].name == "item/5.json"
