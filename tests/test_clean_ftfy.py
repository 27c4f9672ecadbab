"""The ftfy fast path returns exactly ``ftfy.fix_text`` on every document we can find.

Documents: every file under shared_data ``text/`` and ``samples/`` (compressed ones
decompressed, cut into documents at line boundaries, decoded as UTF-8 and, for the
mojibake they make, as Latin-1 and Windows-1252), a few MB of the Python standard
library, and adversarial variants derived here: mojibake, CRLF and lone CR, HTML
entities with and without "<", curly quotes, control characters and terminal escapes,
BOMs, ligatures and fullwidth forms, surrogates, C1 controls, line separators, NFD.
"""

from __future__ import annotations

import bz2
import gzip
import html
import random
import sysconfig
import unicodedata
from collections import Counter
from pathlib import Path

import ftfy
import pytest

from pile import clean

DOC_CHARS = 64_000          # documents are cut at a line boundary after this many characters
FILE_BYTES = 300_000        # at most this much of each (decompressed) shared file
MOJIBAKE_BYTES = 100_000    # and this much of a non-ASCII file decoded the wrong way
STDLIB_CHARS = 1_500_000    # how much of the standard library
VARIANT_CHARS = 3_000       # adversarial variants are built from prefixes this long


def _split_documents(text: str, size: int = DOC_CHARS) -> list[str]:
    docs, start = [], 0
    while start < len(text):
        end = text.find("\n", start + size)
        end = len(text) if end < 0 else end + 1
        docs.append(text[start:end])
        start = end
    return docs


def _shared_documents(shared: Path) -> dict[str, str]:
    docs: dict[str, str] = {}
    files = sorted(p for sub in ("text", "samples") for p in (shared / sub).rglob("*") if p.is_file())
    assert files, "no shared text or samples found"
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".bz2":
            data = bz2.BZ2Decompressor().decompress(data, max_length=FILE_BYTES)
        elif path.suffix == ".gz":
            data = gzip.decompress(data)
        data = data[:FILE_BYTES]
        rel = path.relative_to(shared)
        decodings = {"utf8": data.decode("utf-8", "surrogateescape")}
        if not data.isascii():  # the wrong decodings make real mojibake
            decodings["latin1"] = data[:MOJIBAKE_BYTES].decode("latin-1")
            decodings["cp1252"] = data[:MOJIBAKE_BYTES].decode("windows-1252", "replace")
        for how, text in decodings.items():
            for i, doc in enumerate(_split_documents(text)):
                docs[f"{rel}:{how}:{i}"] = doc
    return docs


def _stdlib_documents() -> dict[str, str]:
    root = Path(sysconfig.get_paths()["stdlib"])
    docs: dict[str, str] = {}
    total = 0
    for path in sorted(root.rglob("*.py")):
        if "site-packages" in path.parts or total >= STDLIB_CHARS:
            continue
        text = path.read_bytes().decode("utf-8", "surrogateescape")
        docs[f"stdlib:{path.relative_to(root)}"] = text
        total += len(text)
    assert total >= 1_000_000
    return docs


def _variants(name: str, text: str, rng: random.Random) -> dict[str, str]:
    """Adversarial versions of one text, each touching a different ftfy fix."""
    t = text[:VARIANT_CHARS]
    enc = t.encode("utf-8", "surrogatepass")
    nasty = ["\x00", "\x1b[31m", "\x1b[0m", "\x7f", "\x0b", "\x0c", "\ufeff", "\u200b",
             "\ud83d\ude00", "\udc80", "\x85", "\x96", "\u2028", "\u2029", "\r", "\r\n",
             "&amp;", "&lt;", "&#39;", "&#x263a;", "&AMP;", "&EACUTE;", "&nosuch;", "<",
             "\u2018", "\u2019", "\u201c", "\u201d", "\u02bc", "\ufb01", "\u0132", "\u3000",
             "\uff21", "\uff8a\uff9e", "e\u0301", "\u1100\u1161", "\ufffd", "Ã ", "Ã©", "â€™",
             "Â\xa0", "Ã\xa0", "Ð²Ñ", "×²", "\u0149", "…", "\t \n", "\n\n\n"]
    out = {
        "latin1": enc.decode("latin-1"),
        "sloppy1252": enc.decode("sloppy-windows-1252"),
        "double": enc.decode("latin-1").encode("utf-8", "surrogatepass").decode("sloppy-windows-1252"),
        "macroman": enc.decode("mac_roman"),
        "crlf": t.replace("\n", "\r\n"),
        "cr": t.replace("\n", "\r"),
        "escaped": html.escape(t),
        "escaped_then_lt": html.escape(t[: len(t) // 2]) + "<" + html.escape(t[len(t) // 2:]),
        "lt_then_escaped": "<b>\n" + html.escape(t),
        "curly": t.replace("'", "\u2019").replace('"', "\u201c"),
        "bom": "\ufeff" + t,
        "nfd": unicodedata.normalize("NFD", t),
        "nfkd": unicodedata.normalize("NFKD", t),
        "ligatures": t.replace("fi", "\ufb01").replace("fl", "\ufb02"),
        "fullwidth": "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" and i % 3 == 0 else c
                             for i, c in enumerate(t)),
        "separators": t.replace("\n", "\u2028", 3).replace(". ", ".\u2029", 3),
    }
    chars = list(t)
    for _ in range(max(3, len(chars) // 200)):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(nasty))
    out["sprinkled"] = "".join(chars)
    lines = t.split("\n")
    for i in range(0, len(lines), 4):
        lines[i] = rng.choice(nasty) + lines[i]
    out["line_starts"] = "\n".join(lines)
    return {f"{name}~{k}": v for k, v in out.items()}


HANDMADE = [
    "", "\n", "\r\n", "\r", "a\r", "\r\nb", "<", "&amp;", "&amp;\n<", "<\n&amp;", "&amp;<",
    "Ã ", "\nÃ foo", "x\nÃ ", "Ã©tÃ©\r\n", "caf\u0065\u0301\r\n", "\u3000\u3000吾輩は猫である。\r\n",
    "\x1b[1mbold\x1b[0m\n", "\ud800", "\ud83d\ude00\n", "\x80\x81\n", "ĳ\u0149\n",
    "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "\ufeff\ufeff\n\ufeff",
    "line one  \nline two\t\n\n\n\nend", "Ã\n Â\n", "œ\r\nœ\n", "a" * 1_000_050,
    "x" * 500_000 + "\n" + "é" * 600_000 + "&amp;\n",
]


@pytest.fixture(scope="module")
def corpus(shared_data: Path) -> dict[str, str]:
    docs = _shared_documents(shared_data)
    docs.update(_stdlib_documents())
    rng = random.Random(20211208)
    names = sorted(docs)
    for name in names[:: max(1, len(names) // 60)]:
        docs.update(_variants(name, docs[name], rng))
    for i, text in enumerate(HANDMADE):
        docs[f"handmade:{i}"] = text
    return docs


def test_fast_path_is_available() -> None:
    assert clean.FAST_PATH_AVAILABLE, "the installed ftfy changed; the fast path is off"


def test_fast_path_equals_fix_text_on_every_document(corpus: dict[str, str]) -> None:
    resolutions: Counter[str] = Counter()
    mismatches = []
    for name, text in corpus.items():
        expected = ftfy.fix_text(text)
        got, resolution, _segments = clean._fix(text)
        resolutions[resolution] += 1
        if got != expected:
            at = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b),
                      min(len(got), len(expected)))
            mismatches.append(f"{name} ({resolution}) at {at}: "
                              f"{got[at - 20:at + 20]!r} != {expected[at - 20:at + 20]!r}")
    assert not mismatches, f"{len(mismatches)} of {len(corpus)} differ:\n" + "\n".join(mismatches[:10])
    # The equality must come from the fast path, not from handing everything to ftfy.
    assert len(corpus) > 1000, resolutions
    assert resolutions[clean.RESOLVED_UNCHANGED] >= 250, resolutions
    assert resolutions[clean.RESOLVED_TRANSLATED] >= 100, resolutions
    assert resolutions[clean.RESOLVED_SEGMENTS] >= 200, resolutions
    assert resolutions[clean.RESOLVED_FULL] >= 2, resolutions


@pytest.mark.parametrize("text, resolution", [
    ("def f(x):\n    return x & 1\n", clean.RESOLVED_UNCHANGED),
    ("吾輩は猫である。名前はまだ無い。\n", clean.RESOLVED_UNCHANGED),
    ("It\u2019s \u201cquoted\u201d\r\n", clean.RESOLVED_TRANSLATED),
    ("\u3000吾輩は猫である。\r\n", clean.RESOLVED_TRANSLATED),
    ("e\u0301\n", clean.RESOLVED_TRANSLATED),
    ("fine\nfish &amp; chips\nfine\n", clean.RESOLVED_SEGMENTS),
    ("fine\nThe caf\u00c3\u00a9 is open\nfine\n", clean.RESOLVED_SEGMENTS),
    ("ok\n" * 10 + "\x1b[31mred\x1b[0m\n", clean.RESOLVED_SEGMENTS),
    ("&amp;\n" * 5, clean.RESOLVED_FULL),
])
def test_fast_path_resolution(text: str, resolution: str) -> None:
    got, how, _ = clean._fix(text)
    assert how == resolution
    assert got == ftfy.fix_text(text)


def test_segments_are_fixed_with_fix_texts_html_state() -> None:
    # The first "<" turns entity unescaping off for the rest of the text only.
    text = "a &amp; b\n" + "plain\n" * 5 + "x < y\n" + "c &amp; d\n"
    assert clean.fix_text(text) == ftfy.fix_text(text) == (
        "a & b\n" + "plain\n" * 5 + "x < y\nc &amp; d\n")


def test_fast_path_equals_fix_text_on_random_short_texts() -> None:
    # Short texts from an alphabet dense in everything ftfy reacts to, so that many
    # fixes meet in one segment and at segment boundaries.
    alphabet = (list("ab Z.,;'\"<>&#;0") + ["\n", "\n", "\r", "\r\n", "\t", " \n", "&amp;", "&lt;",
                "&#x41;", "\x00", "\x1b[1m", "\x7f", "\x85", "\x9c", "\ufeff", "\u2028", "\u2019",
                "\u201c", "\ufb01", "\u3000", "\uff41", "\uff76\uff9e", "e\u0301", "\u00e9",
                "\ud83d", "\ude00", "\u00c3", "\u00c2", "\u00a0", "\u00a9", "\u20ac", "\u2122",
                "\u00e2\u20ac\u2122", "\u00c3\u00a9", "\u00d0\u00b2", "\u0153", "\u00d7", "\u00b2",
                "\u221a", "\u00e0", "\u00c3 ", "\u0432\u0402", "\u201a\u00c4",
                "x" * 13, "\n" + " " * 14])  # long plain runs separate mojibake search windows
    rng = random.Random(176)
    mismatches = []
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        if clean.fix_text(text) != ftfy.fix_text(text):
            mismatches.append(text)
    assert not mismatches, [repr(t) for t in mismatches[:5]]
