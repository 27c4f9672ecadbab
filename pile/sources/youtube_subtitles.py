"""YouTube Subtitles (the Pile's "YouTube Subtitles" component), from caption files the user has.

Nothing is downloaded from YouTube: its terms forbid scraping and it blocks the IPs that
try, so a downloader would be a liability. The kind reads caption files already on disk
(``paths:``), in the formats the usual tools write:

- WebVTT (``.vtt``, as youtube-dl / yt-dlp write it, inline ``<c>`` and ``<00:00:01.000>``
  timing tags included);
- YouTube timedtext srv3 (``.srv3``, ``.srv3.xml``: ``<timedtext format="3">``, ``<p>``);
- YouTube json3 (``.json3``, ``.json3.json``: ``events[].segs[].utf8``);
- ``youtube_transcript_api`` JSON (``.json``): one video's list of
  ``{text, start, duration}``, or a collection ``{"manual": {<video id>: [...]},
  "autogen": {...}, "video_titles": {...}}`` of many videos.

A file's video id and language come from its name, ``<video id>.<lang>.<ext>`` (as
youtube-dl names them; ``<video id>.<ext>`` has no language, or the one a WebVTT
``Language:`` header names). The files of one video, in one folder, make one document.

Text: every cue becomes its lines, tags and timing gone (entities decoded, zero-width
spaces removed, whitespace collapsed). Auto-captions roll: each cue repeats the lines of
the one before, and styled captions draw a line twice; a line equal to one of the
previous cue's lines, or to the line before it in the same cue, is left out, so the
spoken text appears once (``rolling_v1``). Per language one track is used: a manual one
before an auto-generated one, then json3, srv3, transcript JSON, WebVTT; the other
tracks are counted in ``meta.tracks_skipped``. The Pile kept manual tracks only
(``generated: false`` does the same here: a language with only an auto track is then
left out).

Layout (``layout`` option): ``sections_v1`` (default): with several languages, each
language is one section that starts with a ``<Language>:`` heading line, in a
deterministic order (the ``languages`` option's order, then by language code), sections
separated by a blank line; one language: no heading. ``pile_v1``: the Pile's own layout,
minute by minute, each language's lines of a minute in turn under its heading; the Pile
shuffled the languages of every minute unseeded, here they keep the same fixed order.

A caption file that cannot be parsed is dropped with its reason (``unreadable_track``)
and the video is built from its other files; a video left with no text is dropped
(``no_text``). A file that is the only one of its video and cannot be parsed fails with
`SourceError`. Ids are ``<source>/<video id>``.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from defusedxml import ElementTree as SafeET

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import Source
from pile.stage import Dropped

# extension -> format, longest first so ``.srv3.xml`` wins over ``.xml``
EXTENSIONS: tuple[tuple[str, str], ...] = (
    (".json3.json", "json3"), (".srv3.xml", "srv3"), (".json3", "json3"), (".srv3", "srv3"),
    (".vtt", "vtt"), (".json", "transcript"))
# which track of a language wins (lower is better)
FORMAT_RANK = {"json3": 0, "srv3": 1, "transcript": 2, "vtt": 3}
LAYOUTS = ("sections_v1", "pile_v1")

LANGUAGE_NAMES = {
    "ar": "Arabic", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "th": "Thai", "tr": "Turkish",
    "uk": "Ukrainian", "vi": "Vietnamese", "zh": "Chinese",
}

_TAG_RE = re.compile(r"<[^>]*>")
_WS_RE = re.compile(r"\s+")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*$")
_VTT_LANG_RE = re.compile(r"^Language:\s*(\S+)", re.MULTILINE)


# A cue: when it ends (seconds) and its raw lines.
Cue = tuple[float, tuple[str, ...]]


@dataclass(frozen=True)
class Track:
    """One caption track: its cues (each a list of raw lines) and where it came from."""

    video_id: str
    language: str
    fmt: str
    generated: bool
    cues: tuple[Cue, ...]
    label: str


def caption_name(path: Path) -> tuple[str, str, str] | None:
    """(video id, language or "", format) from a caption file's name, or None."""
    name = path.name
    for ext, fmt in EXTENSIONS:
        if name.lower().endswith(ext):
            stem = name[: -len(ext)]
            head, dot, lang = stem.rpartition(".")
            if dot and head and _LANG_RE.match(lang):
                return head, lang, fmt
            return stem, "", fmt
    return None


def clean_line(line: str) -> str:
    """A caption line without tags, entities, zero-width spaces or extra whitespace."""
    text = html.unescape(_TAG_RE.sub("", line)).replace("\u200b", "").replace("\ufeff", "")
    return _WS_RE.sub(" ", text).strip()


def collapse(cues: Iterator[Cue] | tuple[Cue, ...]) -> list[tuple[float, str]]:
    """The spoken lines once, each with its cue's end (``rolling_v1``): a line repeating
    one of the previous cue's lines (a rolling caption) or the line before it in its cue
    (a styled double) goes."""
    out: list[tuple[float, str]] = []
    previous: set[str] = set()
    for end, cue in cues:
        lines = [clean_line(line) for raw in cue for line in raw.split("\n")]
        lines = [line for line in lines if line]
        if not lines:
            continue  # a gap between captions: the rolling window goes on across it
        last = None
        for line in lines:
            if line not in previous and line != last:
                out.append((end, line))
            last = line
        previous = set(lines)
    return out


def _vtt_seconds(stamp: str) -> float:
    """``00:04:46.070`` / ``04:46.070`` -> seconds."""
    seconds = 0.0
    for part in stamp.strip().replace(",", ".").split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def parse_vtt(text: str) -> tuple[str, list[Cue]]:
    """(``Language:`` header or "", cues) of a WebVTT file. A line with ``-->`` starts a
    cue even without the blank line before it (youtube-dl writes such files)."""
    found = _VTT_LANG_RE.search(text.split("-->", 1)[0])
    cues: list[Cue] = []
    current: list[str] | None = None
    end = 0.0
    if not text.lstrip("\ufeff").startswith("WEBVTT"):
        raise ValueError("no WEBVTT signature")
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if "-->" in line:
            if current is not None:
                cues.append((end, tuple(current)))
            current = []
            end = _vtt_seconds(line.split("-->", 1)[1].split()[0])
        elif current is not None:
            if line.strip() == "":
                cues.append((end, tuple(current)))
                current = None
            else:
                current.append(line)
    if current is not None:
        cues.append((end, tuple(current)))
    return (found.group(1) if found else ""), cues


def parse_srv3(data: bytes) -> list[Cue]:
    """The cues of a srv3 timedtext file (each ``<p>``'s whole text; ``t``/``d`` in ms)."""
    root = SafeET.fromstring(data, forbid_dtd=True)
    if root.tag != "timedtext":
        raise ValueError(f"root element is <{root.tag}>, not <timedtext>")
    return [((int(p.get("t") or 0) + int(p.get("d") or 0)) / 1000, ("".join(p.itertext()),))
            for p in root.iter("p")]


def parse_json3(value: Any) -> list[Cue]:
    """The cues of a json3 file (each event's segments joined)."""
    events = value.get("events") if isinstance(value, dict) else None
    if not isinstance(events, list):
        raise ValueError("no events list")
    cues = []
    for event in events:
        segs = event.get("segs") if isinstance(event, dict) else None
        if isinstance(segs, list):
            end = (int(event.get("tStartMs") or 0) + int(event.get("dDurationMs") or 0)) / 1000
            cues.append((end, ("".join(str(s.get("utf8", "")) for s in segs
                                       if isinstance(s, dict)),)))
    return cues


def parse_transcript(value: Any) -> list[Cue]:
    """The cues of one ``youtube_transcript_api`` transcript (a list of ``{text, ...}``)."""
    if not isinstance(value, list) or not all(isinstance(i, dict) and isinstance(i.get("text"), str)
                                              for i in value):
        raise ValueError("not a list of {text, start, duration} items")
    return [(float(item.get("start") or 0) + float(item.get("duration") or 0), (item["text"],))
            for item in value]


def pile_layout(sections: list[tuple[str, list[tuple[float, str]]]]) -> str:
    """The Pile's layout (``pile_v1``): the transcript minute by minute (by each line's
    cue end), every language's lines of that minute in turn, each such block headed
    ``<Language>:`` when there are several languages. The Pile shuffled the languages of
    each minute unseeded; here they keep the section order."""
    minutes: dict[int, dict[str, list[str]]] = {}
    for code, lines in sections:
        for end, line in lines:
            minutes.setdefault(int(end // 60), {}).setdefault(code, []).append(line)
    blocks = []
    for minute in sorted(minutes):
        for code, _ in sections:
            lines = minutes[minute].get(code)
            if lines:
                head = f"{language_heading(code)}\n" if len(sections) > 1 else ""
                blocks.append(head + "\n".join(lines))
    return "\n".join(blocks)


def language_heading(code: str) -> str:
    base = code.split("-")[0].split("_")[0].lower()
    return f"{LANGUAGE_NAMES.get(base, code or 'Unknown language')}:"


class YoutubeSubtitlesSource(Source):
    """Caption files already on disk -> one document per video.

    Options:
        languages: the languages to keep, in the order of their sections ([]: all, by code).
        generated: keep auto-generated tracks (a manual track of a language still wins).
        layout: ``sections_v1`` (default: one section per language) or ``pile_v1`` (the
            Pile's minute-by-minute interleaving, in a fixed language order).
    """

    kind: ClassVar[str] = "youtube_subtitles"
    pile_set_name: ClassVar[str] = "YouTube Subtitles"
    license: ClassVar[str] = ("captions belong to the videos' rights holders; YouTube's terms "
                              "of service forbid automated access, so nothing is fetched")
    upstream: ClassVar[str] = ("local caption files only (WebVTT, srv3, json3, "
                               "youtube_transcript_api JSON); nothing is downloaded from YouTube")
    options_schema: ClassVar[dict[str, Any]] = {"languages": [], "generated": True,
                                                "layout": "sections_v1"}
    local_only: ClassVar[str] = ("this kind downloads nothing from YouTube (its terms forbid "
                                 "automated access)")

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        langs = self.options["languages"]
        if not isinstance(langs, list) or not all(isinstance(x, str) and x for x in langs):
            raise ConfigError(f"{field}.languages: expected a list of language codes, got {langs!r}")
        self.check_choice("layout", LAYOUTS)
        if not isinstance(self.options["generated"], bool):
            raise ConfigError(f"{field}.generated: expected true or false, got "
                              f"{self.options['generated']!r}")

    def inputs(self) -> list[Path]:
        """One file per video (the first of its caption files); collections stand alone."""
        seen: set[tuple[str, str]] = set()
        out = []
        for path in super().inputs():
            parsed = caption_name(path)
            if parsed is None:
                continue
            group = (str(path.parent), parsed[0])
            if group not in seen:
                seen.add(group)
                out.append(path)
        return out

    # -- extraction --------------------------------------------------------------------

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One video's caption files (found next to `path`), or one transcript collection.

        Raises:
            SourceError: `path` cannot be parsed and no other file of its video can.
        """
        path = Path(path)
        parsed = caption_name(path)
        if parsed is None:
            raise SourceError(f"{path}: not a caption file (expected .vtt, .srv3, .json3 "
                              "or .json)")
        video_id = parsed[0]
        siblings = sorted(p for p in path.parent.iterdir()
                          if p.is_file() and (caption_name(p) or ("",))[0] == video_id)
        if path not in siblings:
            siblings.append(path)
        tracks: list[Track] = []
        failures: list[tuple[Path, str]] = []
        for file in siblings:
            try:
                found = self._load(file)
            except SourceError as exc:
                failures.append((file, str(exc)))
                continue
            if isinstance(found, dict):  # a collection of many videos
                if file == path:
                    yield from self._collection(file, found)
                continue
            tracks.append(found)
        if not tracks and failures and len(siblings) == 1:
            raise SourceError(failures[0][1])
        for file, error in failures:
            yield self.dropped(f"{video_id}/{file.name}", "unreadable_track", file=file.name,
                               error=error)
        if tracks:
            yield self._video(video_id, tracks, {})

    def _load(self, path: Path) -> Track | dict[str, Any]:
        video_id, lang, fmt = caption_name(path) or (path.stem, "", "transcript")
        try:
            if path.stat().st_size > self.max_record_bytes:
                raise SourceError(f"{path}: larger than {self.max_record_bytes} bytes "
                                  "(max_record_bytes)")
            data = path.read_bytes()
            generated = False
            if fmt == "vtt":
                header_lang, cues = parse_vtt(data.decode("utf-8-sig"))
                lang = lang or header_lang
                # youtube-dl's auto-captions carry per-word timing tags; manual ones do not
                generated = re.search(rb"<\d\d:\d\d:\d\d\.\d{3}>", data) is not None
            elif fmt == "srv3":
                cues = parse_srv3(data)
            else:
                value = json.loads(data)
                if fmt == "json3":
                    cues = parse_json3(value)
                    generated = isinstance(value, dict) and any(
                        isinstance(e, dict) and e.get("aAppend") for e in value.get("events", []))
                elif isinstance(value, dict) and isinstance(value.get("manual", value.get("autogen")), dict):
                    return value
                else:
                    cues = parse_transcript(value)
        except (ValueError, UnicodeDecodeError, SafeET.ParseError) as exc:
            raise SourceError(f"{path}: not a readable {fmt} caption file "
                              f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") from None
        except OSError as exc:
            raise SourceError(f"{path}: cannot read ({exc.strerror or exc})") from None
        except Exception as exc:  # defusedxml's refusals (entities, DTDs) are not ValueErrors
            if type(exc).__module__.startswith("defusedxml"):
                raise SourceError(f"{path}: unsafe XML refused ({type(exc).__name__})") from None
            raise
        return Track(video_id, lang, fmt, generated, tuple(cues), path.name)

    def _collection(self, path: Path, value: dict[str, Any]) -> Iterator[Document | Dropped]:
        """A youtube_transcript_api collection: ``manual`` / ``autogen`` maps of videos."""
        titles = value.get("video_titles") if isinstance(value.get("video_titles"), dict) else {}
        playlists = value.get("playlist_ids") if isinstance(value.get("playlist_ids"), dict) else {}
        channels = value.get("channel_ids") if isinstance(value.get("channel_ids"), dict) else {}
        by_video: dict[str, list[Track]] = {}
        for section, generated in (("manual", False), ("autogen", True)):
            videos = value.get(section)
            if not isinstance(videos, dict):
                continue
            for video_id, transcript in videos.items():
                try:
                    cues = parse_transcript(transcript)
                except ValueError as exc:
                    yield self.dropped(f"{video_id}/{section}", "unreadable_track",
                                       file=path.name, error=str(exc))
                    continue
                by_video.setdefault(str(video_id), []).append(
                    Track(str(video_id), "", "transcript", generated, tuple(cues),
                          f"{path.name}:{section}"))
        for video_id in sorted(by_video):
            extra = {k: str(v[video_id]) for k, v in (("title", titles), ("playlist_id", playlists),
                                                      ("channel_id", channels)) if video_id in v}
            yield self._video(video_id, by_video[video_id], extra)

    def _video(self, video_id: str, tracks: list[Track], extra: dict[str, Any]) -> Document | Dropped:
        best: dict[str, Track] = {}
        for track in tracks:
            if track.generated and not self.options["generated"]:
                continue
            if self.options["languages"] and track.language not in self.options["languages"]:
                continue
            rank = (track.generated, FORMAT_RANK[track.fmt], track.label)
            held = best.get(track.language)
            if held is None or rank < (held.generated, FORMAT_RANK[held.fmt], held.label):
                best[track.language] = track
        wanted = self.options["languages"]
        order = sorted(best, key=lambda code: (wanted.index(code) if code in wanted else len(wanted),
                                               code))
        sections = []
        for code in order:
            lines = collapse(best[code].cues)
            if lines:
                sections.append((code, lines))
        meta = {"video_id": video_id, **extra, "languages": [c or "und" for c, _ in sections],
                "tracks": [f"{best[c].label}" for c, _ in sections],
                "generated": [best[c].generated for c, _ in sections],
                "tracks_skipped": len(tracks) - len(sections)}
        if not sections:
            return self.dropped(video_id, "no_text", **meta)
        if self.options["layout"] == "pile_v1":
            text = pile_layout(sections)
        elif len(sections) == 1:
            text = "\n".join(line for _, line in sections[0][1])
        else:
            text = "\n\n".join(language_heading(c) + "\n" + "\n".join(line for _, line in lines)
                               for c, lines in sections)
        return self.document(video_id, text, **meta)


__all__ = ["EXTENSIONS", "LAYOUTS", "YoutubeSubtitlesSource",
           "caption_name", "clean_line", "collapse", "parse_json3", "parse_srv3",
           "parse_transcript", "parse_vtt", "pile_layout"]
