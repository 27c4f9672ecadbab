"""Ubuntu IRC channel logs (the Pile's "Ubuntu IRC" component).

Follows the Pile (Gao et al. 2020, appendix: Ubuntu IRC): the public logs of
irclogs.ubuntu.com from 2004-07-05 to 2020-09-01. System messages (joins, parts, quits,
nick and mode changes: the lines starting with ``=== ``) are dropped, actions (``* nick
waves``) and bot notices are kept, and timestamps are removed. The Pile concatenated one
channel's logs of a week into one document, each day's log preceded by its date; here
the period is the ``period`` option: ``day`` (default: one document per daily log file)
or ``week`` (the Pile's choice: ISO weeks, each day headed by its date).

Daily logs are found by their path, in irclogs.ubuntu.com's layout
``YYYY/MM/DD/#channel.txt`` (``#`` optional) or as ``YYYY-MM-DD_channel.txt``. Ids are
``<source>/<channel>/<YYYY-MM-DD>`` (day) or ``<source>/<channel>/<YYYY>-W<ww>`` (week).

A line that is not valid UTF-8 is dropped and counted in ``meta.invalid_lines``; a log
where more than a tenth of the lines are invalid is dropped with reason ``invalid_utf8``.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.stage import Dropped

IRCLOGS = "https://irclogs.ubuntu.com/{y:04d}/{m:02d}/{d:02d}/%23{channel}.txt"
DAY_INDEX = "https://irclogs.ubuntu.com/{y:04d}/{m:02d}/{d:02d}/"
LISTING_DIR = "_listing"
_INDEX_LOG_RE = re.compile(r'href="(?:%23|#)([A-Za-z0-9][A-Za-z0-9_.+-]*)\.txt"')
_STAMP_RE = re.compile(r"^\[\d\d:\d\d(?::\d\d)?\] ?")
_FLAT_NAME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[_-]#?(.+)\.txt$")
_CHANNEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def parse_log_path(path: Path) -> tuple[str, dt.date]:
    """The channel and day of a daily log file, from its path.

    Raises:
        SourceError: the path follows neither naming scheme.
    """
    parts = path.parts
    try:
        if len(parts) >= 4 and all(p.isdigit() for p in parts[-4:-1]) and path.suffix == ".txt":
            y, m, d = (int(p) for p in parts[-4:-1])
            return path.stem.lstrip("#"), dt.date(y, m, d)
        match = _FLAT_NAME_RE.match(path.name)
        if match:
            y, m, d = (int(g) for g in match.groups()[:3])
            return match.group(4), dt.date(y, m, d)
    except ValueError:
        pass
    raise SourceError(f"{path}: expected a daily log named YYYY/MM/DD/#channel.txt or "
                      f"YYYY-MM-DD_channel.txt, got {path.name!r}")


def _sibling(path: Path, day: dt.date) -> Path:
    """The log of the same channel on `day`, in the same layout as `path`."""
    if _FLAT_NAME_RE.match(path.name):
        rest = _FLAT_NAME_RE.match(path.name).group(0)[10:]  # "_channel.txt"
        return path.with_name(f"{day.isoformat()}{rest}")
    root = path.parents[3]
    return root / f"{day.year:04d}" / f"{day.month:02d}" / f"{day.day:02d}" / path.name


def clean_log(data: bytes) -> tuple[list[str], int, int, int]:
    """Clean one daily log.

    Returns:
        ``(lines, system_lines, invalid_lines, total_lines)``: the kept message lines
        without timestamps, and what was dropped.
    """
    kept: list[str] = []
    system = invalid = total = 0
    for raw in data.split(b"\n"):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        total += 1
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            invalid += 1
            continue
        if line.startswith("=== "):
            system += 1
            continue
        line = _STAMP_RE.sub("", line, count=1)
        if line.strip():
            kept.append(line)
    return kept, system, invalid, total


class UbuntuIrcSource(Source):
    """irclogs.ubuntu.com daily channel logs, one document per channel and period."""

    kind = "ubuntu_irc"
    pile_set_name = "Ubuntu IRC"
    license = "Ubuntu IRC logs are published openly by Canonical (irclogs.ubuntu.com)"
    upstream = "https://irclogs.ubuntu.com/YYYY/MM/DD/%23channel.txt"
    options_schema: dict[str, Any] = {
        "channels": ["ubuntu"],   # channels to list (without '#'); ["*"]: every channel
        "start": "2004-07-05",    # first day listed (the Pile's range)
        "end": "2020-09-01",      # last day listed
        "period": "day",          # day | week (the Pile: week)
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        if self.options["period"] not in ("day", "week"):
            raise ConfigError(f"{field}.period: expected day or week, got {self.options['period']!r}")
        channels = self.options["channels"]
        if not isinstance(channels, (list, tuple)) or not channels or (
                list(channels) != ["*"]
                and not all(isinstance(c, str) and _CHANNEL_RE.match(c) for c in channels)):
            raise ConfigError(f"{field}.channels: expected channel names without '#' (or [\"*\"] "
                              f"for all), got {channels!r}")
        for key in ("start", "end"):
            try:
                dt.date.fromisoformat(str(self.options[key]))
            except ValueError:
                raise ConfigError(f"{field}.{key}: expected a date YYYY-MM-DD, "
                                  f"got {self.options[key]!r}") from None
        if self._day("start") > self._day("end"):
            raise ConfigError(f"{field}.start: must not be after end ({self.options['end']})")

    def _day(self, key: str) -> dt.date:
        return dt.date.fromisoformat(str(self.options[key]))

    def list_files(self) -> list[RemoteFile]:
        """One URL per channel and day from ``start`` to ``end`` (days a channel was not
        logged answer 404 upstream; the downloader records them as missing).

        With ``channels: ["*"]`` (every channel, as the Pile) the listing has two steps:
        first each day's index page (stored under ``raw/<source>/_listing/``), then, once
        a day's page is downloaded, the channel logs it links to; the downloader repeats
        ``list_files`` until the list stops growing.
        """
        if self.cfg.urls:
            return super().list_files()
        files = []
        day, end = self._day("start"), self._day("end")
        every = list(self.options["channels"]) == ["*"]
        while day <= end:
            channels = self.options["channels"]
            if every:
                index = RemoteFile(url=DAY_INDEX.format(y=day.year, m=day.month, d=day.day),
                                   name=f"{LISTING_DIR}/{day.isoformat()}.html")
                files.append(index)
                local = self.raw_dir / index.name
                html = local.read_text("utf-8", errors="replace") if local.is_file() else ""
                channels = sorted(set(_INDEX_LOG_RE.findall(html)))
            for channel in channels:
                files.append(RemoteFile(
                    url=IRCLOGS.format(y=day.year, m=day.month, d=day.day, channel=channel),
                    name=f"{day.year:04d}/{day.month:02d}/{day.day:02d}/{channel}.txt"))
            day += dt.timedelta(days=1)
        return files

    def inputs(self) -> list[Path]:
        """The daily logs; with ``period: week`` only the first day of each week (its
        `read` gathers the rest of the week)."""
        paths = [p for p in super().inputs() if LISTING_DIR not in p.parts]
        if self.options["period"] == "day":
            return paths
        first: dict[tuple[str, str, int, int], Path] = {}
        for path in paths:
            try:
                channel, day = parse_log_path(path)
            except SourceError:
                first.setdefault((str(path), "", 0, 0), path)  # read() reports it
                continue
            year, week, _ = day.isocalendar()
            group = (str(_sibling(path, day - dt.timedelta(days=day.weekday()))), channel, year, week)
            if group not in first or path < first[group]:
                first[group] = path
        return sorted(first.values())

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """A daily log (or, with ``period: week``, the week it starts) -> one document.

        Raises:
            SourceError: the file cannot be read or is not named like a daily log.
        """
        path = Path(path)
        channel, day = parse_log_path(path)
        if self.options["period"] == "day":
            days = [(day, path)]
            key = f"{channel}/{day.isoformat()}"
        else:
            monday = day - dt.timedelta(days=day.weekday())
            days = [(d, _sibling(path, d)) for d in (monday + dt.timedelta(days=i) for i in range(7))]
            days = [(d, p) for d, p in days if p == path or p.is_file()]
            if days[0][1] != path:
                return  # not the first logged day of its week: that day's read covers it
            year, week, _ = day.isocalendar()
            key = f"{channel}/{year:04d}-W{week:02d}"
        blocks: list[str] = []
        system = invalid = total = 0
        for d, p in days:
            data = self.read_file(p, key)
            if isinstance(data, Dropped):
                yield data
                return
            lines, n_sys, n_bad, n_all = clean_log(data)
            system, invalid, total = system + n_sys, invalid + n_bad, total + n_all
            if lines:
                header = [d.isoformat()] if self.options["period"] == "week" else []
                blocks.append("\n".join(header + lines))
        meta = {"channel": channel, "date": days[0][0].isoformat(),
                "system_lines_dropped": system}
        if total and invalid * 10 > total:
            yield self.dropped(key, "invalid_utf8", **meta)
            return
        if invalid:
            meta["invalid_lines"] = invalid
        if not blocks:
            yield self.dropped(key, "no_messages", **meta)
            return
        yield self.document(key, "\n\n".join(blocks) + "\n", **meta)
