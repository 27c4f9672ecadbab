"""YouTube Subtitles: the four real caption files (youtube-dl WebVTT, srv3 and json3 of one
video, a youtube_transcript_api collection), copied into tmp_path under youtube-dl's
``<video id>.<lang>.<ext>`` names where a test needs several languages of one video."""

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
from pile.sources.youtube_subtitles import YoutubeSubtitlesSource, clean_line

SAMPLES = "samples/youtube_subtitles"
VTT = "youtube_dl.vtt"
SRV3 = "sc3-z_2aNX0.srv3.xml"
JSON3 = "sc3-z_2aNX0.json3.json"
COLLECTION = "transcripts_Luis_Serrano.json"


def source(tmp_path: Path, paths: list[Path], **options) -> YoutubeSubtitlesSource:
    return make_source(SourceConfig(name="youtube", kind="youtube_subtitles",
                                    paths=tuple(str(p) for p in paths), options=options),
                       tmp_path / "raw")


def read_all(src: YoutubeSubtitlesSource) -> list:
    return [item for path in src.inputs() for item in src.read(path)]


def copy(shared_data: Path, name: str, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(shared_data / SAMPLES / name, dest)
    return dest


def test_rolling_auto_captions_collapse_to_the_spoken_text(shared_data: Path, tmp_path: Path) -> None:
    path = copy(shared_data, VTT, tmp_path / "in" / VTT)
    (doc,) = read_all(source(tmp_path, [path]))
    raw = path.read_text("utf-8")
    # every cue line without its tags, first occurrences only (no line is said twice here)
    body = raw[raw.index("\n00:"):]  # from the first cue's timing line on
    cue_lines = [clean_line(line) for line in body.split("\n") if "-->" not in line]
    expected = list(dict.fromkeys(line for line in cue_lines if line))
    assert doc.text.split("\n") == expected
    assert len(cue_lines) > len(expected)  # the repeats were there and went
    assert "<" not in doc.text and "00:05" not in doc.text
    assert doc.meta["languages"] == ["en"] and doc.meta["generated"] == [True]  # its header
    assert doc.id == "youtube/youtube_dl"


def test_srv3_and_json3_of_one_video_read_the_same(shared_data: Path, tmp_path: Path) -> None:
    texts = {}
    for name in (SRV3, JSON3):
        path = copy(shared_data, name, tmp_path / name / name)
        (doc,) = read_all(source(tmp_path, [path]))
        texts[name] = doc.text
        assert doc.id == "youtube/sc3-z_2aNX0"
    assert texts[SRV3] == texts[JSON3]
    lines = texts[SRV3].split("\n")
    assert all(a != b for a, b in zip(lines, lines[1:]))  # styled doubles drawn once
    assert "\u200b" not in texts[SRV3]
    events = json.loads((shared_data / SAMPLES / JSON3).read_text("utf-8"))["events"]
    spoken = {clean_line(line) for e in events
              for line in "".join(s["utf8"] for s in e.get("segs", [])).split("\n")} - {""}
    assert set(lines) == spoken  # nothing lost, nothing invented

    # both files side by side are one video: json3 wins, srv3 is a skipped track
    both = tmp_path / "both"
    for name in (SRV3, JSON3):
        copy(shared_data, name, both / name)
    src = source(tmp_path, [both])
    assert len(src.inputs()) == 1
    (doc,) = read_all(src)
    assert doc.text == texts[JSON3] and doc.meta["tracks"] == [JSON3]
    assert doc.meta["tracks_skipped"] == 1


def test_transcript_collection_one_document_per_video(shared_data: Path, tmp_path: Path) -> None:
    path = copy(shared_data, COLLECTION, tmp_path / "in" / COLLECTION)
    value = json.loads(path.read_text("utf-8"))
    docs = read_all(source(tmp_path, [path]))
    assert sorted(d.meta["video_id"] for d in docs) == sorted(value["video_titles"])
    for doc in docs:
        vid = doc.meta["video_id"]
        assert doc.meta["title"] == value["video_titles"][vid]
        assert doc.meta["tracks"] == [f"{COLLECTION}:manual"]  # manual beats autogen
        manual = [clean_line(x) for item in value["manual"][vid] for x in item["text"].split("\n")]
        assert set(doc.text.split("\n")) == set(manual) - {""}
    only_auto = read_all(source(tmp_path, [path], generated=False))
    assert [d.text for d in only_auto] == [d.text for d in docs]


def test_several_languages_get_headings_in_a_fixed_order(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "video"
    en = copy(shared_data, VTT, folder / "abc123XYZ_0.en.vtt")
    (folder / "abc123XYZ_0.de.vtt").write_text(en.read_text("utf-8").replace("Language: en",
                                                                              "Language: de"))
    value = json.loads((shared_data / SAMPLES / COLLECTION).read_text("utf-8"))
    (folder / "abc123XYZ_0.fr.json").write_text(json.dumps(value["manual"]["bYeteZQrUcE"][:3]))
    def headings(text: str) -> list[str]:
        return [line for line in text.split("\n") if re.fullmatch(r"[A-Z][a-z]+:", line)]

    (doc,) = read_all(source(tmp_path, [folder]))
    assert headings(doc.text) == ["German:", "English:", "French:"]  # by code
    assert doc.text.startswith("German:\n") and "\n\nEnglish:\n" in doc.text
    (chosen,) = read_all(source(tmp_path, [folder], languages=["fr", "en"]))
    assert headings(chosen.text) == ["French:", "English:"]  # the option's order, de left out
    assert chosen.meta["languages"] == ["fr", "en"]
    (again,) = read_all(source(tmp_path, [folder], languages=["fr", "en"]))
    assert again.text == chosen.text  # deterministic, unlike the Pile's unseeded shuffle
    # the Pile's layout: minute by minute (by cue end), each language's lines under its
    # heading, languages in the same fixed order
    (pile,) = read_all(source(tmp_path, [folder], layout="pile_v1"))
    vtt = en.read_text("utf-8")
    ends = [sum(float(x) * 60 ** i for i, x in enumerate(reversed(m.split(":"))))
            for m in re.findall(r"--> (\S+)", vtt)]
    fr = value["manual"]["bYeteZQrUcE"][:3]
    minutes = sorted({int(e // 60) for e in ends} | {int((i["start"] + i["duration"]) // 60) for i in fr})
    expected = []
    for minute in minutes:
        for code, name in (("de", "German:"), ("en", "English:"), ("fr", "French:")):
            times = ends if code != "fr" else [i["start"] + i["duration"] for i in fr]
            if any(int(t // 60) == minute for t in times):
                expected.append(name)
    assert headings(pile.text) == expected and len(expected) > 3
    def spoken(text: str) -> list[str]:
        return sorted(line for line in text.split("\n") if line and line not in headings(text))

    assert spoken(pile.text) == spoken(doc.text)  # the same lines, laid out by minute
    (en_only,) = read_all(source(tmp_path, [folder], languages=["en"]))
    assert "English:" not in en_only.text and en_only.meta["languages"] == ["en"]


def test_a_bad_caption_file_fails_alone(shared_data: Path, tmp_path: Path) -> None:
    folder = tmp_path / "video"
    copy(shared_data, VTT, folder / "vid.en.vtt")
    data = (shared_data / SAMPLES / SRV3).read_bytes()
    (folder / "vid.ja.srv3").write_bytes(data[: len(data) // 2])  # cut mid-element
    out = read_all(source(tmp_path, [folder]))
    dropped = [o for o in out if hasattr(o, "reason")]
    docs = [o for o in out if not hasattr(o, "reason")]
    assert [d.reason for d in dropped] == ["unreadable_track"]
    assert dropped[0].doc.meta["file"] == "vid.ja.srv3"
    assert len(docs) == 1 and docs[0].meta["languages"] == ["en"]

    alone = tmp_path / "alone" / "vid.en.json3"
    alone.parent.mkdir()
    alone.write_text('{"events": [')
    with pytest.raises(SourceError, match="vid.en.json3"):
        list(source(tmp_path, [alone]).read(alone))

    value = json.loads((shared_data / SAMPLES / COLLECTION).read_text("utf-8"))
    value["manual"]["bYeteZQrUcE"] = {"not": "a transcript"}
    broken = tmp_path / "coll" / "c.json"
    broken.parent.mkdir()
    broken.write_text(json.dumps(value))
    out = read_all(source(tmp_path, [broken]))
    assert [(o.doc.id, o.reason) for o in out if hasattr(o, "reason")] == \
        [("youtube/bYeteZQrUcE/manual", "unreadable_track")]
    intro = [o for o in out if not hasattr(o, "reason") and o.meta["video_id"] == "bYeteZQrUcE"]
    assert intro[0].meta["tracks"] == ["c.json:autogen"]  # the auto track stands in
    assert len([o for o in out if not hasattr(o, "reason")]) == len(value["video_titles"])


def test_nothing_is_ever_downloaded(shared_data: Path, tmp_path: Path, http_folder) -> None:
    server = http_folder(tmp_path)
    path = copy(shared_data, VTT, tmp_path / "in" / VTT)
    src = source(tmp_path, [path])
    assert src.list_files() == []
    assert Downloader(progress=False, rewrites={"https://www.youtube.com/": server.url + "/"}
                      ).fetch(src) == [] and server.hits == []
    with pytest.raises(ConfigError, match="urls"):
        make_source(SourceConfig(name="y", kind="youtube_subtitles",
                                 urls=("https://www.youtube.com/watch?v=x",)), tmp_path)
    with pytest.raises(ConfigError, match="options.languages"):
        source(tmp_path, [path], languages="en")
    again = pickle.loads(pickle.dumps(src))
    assert [d.text for d in read_all(again)] == [d.text for d in read_all(src)]
