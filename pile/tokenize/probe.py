"""The fixed probe a fast engine must pass before a build uses it (identical ids to HF).

`probe_texts` is real prose in many scripts, code with its indentation, whitespace runs of
every length up to 40 of every kind of space, decomposed and compatibility characters (what
NFC changes), emoji sequences, numbers in several digit systems, special-token lookalikes,
pieces long enough for tiktoken's large-piece path, and a few characters of every Unicode
general category. `first_difference` runs two encoders over it.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Any, Iterator

_PROSE = [
    "The Pile is a large, diverse corpus for language modelling. It combines 22 smaller "
    "datasets: academic papers, books, code, e-mail, forums and subtitles. Isn't that a lot? "
    "We'd say it's about 825 GiB; they'll say \"more\", you're told 'less', and I'm unsure.",
    "Der Bär läuft über die Straße. Größe, Maß und Fuß schreibt man mit ß; ÄÖÜ äöü.",
    "L'été dernier, à Noël, ils ont mangé une crème brûlée ; « Ça va ? » demanda-t-elle. Œuvre, cœur.",
    "¿Dónde está el niño? ¡Mañana iremos a la montaña con Peñalosa!",
    "Zażółć gęślą jaźń. Příliš žluťoučký kůň úpěl ďábelské ódy. İstanbul'da ılık bir gün; ığdır.",
    "Η γλώσσα είναι ζωντανή· ὁ λόγος, ἡ ἀρχή. Ελληνικά με τόνους και διαλυτικά: ϊ ΐ ϋ ΰ.",
    "Съешь же ещё этих мягких французских булок, да выпей чаю. Їжак і ґудзик по-українськи.",
    "Հայերեն գրեր, ქართული ანბანი, and Ge'ez: ሰላም ለዓለም።",
    "שלום עולם! זהו טקסט בעברית עם ניקוד: בְּרֵאשִׁית בָּרָא.",
    "مرحبا بالعالم. هذا نص عربي مع تشكيل: السَّلَامُ عَلَيْكُمْ. ١٢٣ ٤٥٦. فارسی: سلام دنیا ۱۲۳.",
    "नमस्ते दुनिया। यह हिन्दी का वाक्य है, क्षत्रिय और ज्ञान। বাংলা ভাষা। தமிழ் மொழி. తెలుగు.",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ ພາສາລາວ ភាសាខ្មែរ မြန်မာဘာသာ བོད་ཡིག",
    "中文没有空格。北京是中国的首都，人口众多。繁體中文：臺灣、香港。",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。カタカナ、ｶﾀｶﾅ、ひらがな。",
    "한국어 문장입니다. 안녕하세요, 세계! 조합형: \u1100\u1161\u11a8 \u1112\u1161\u11ab.",
    "Tiếng Việt có nhiều dấu: Người ơi, đừng quên những điều ấy. Ỡ ỡ Ậ ậ.",
    "ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ, ᠮᠣᠩᠭᠣᠯ ᠪᠢᠴᠢᠭ, ᚠᚢᚦᚨᚱᚲ, 𐌰𐌱𐌲, 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 𝑥² + 𝑦² = 𝑧².",
]

_CODE = (
    "import os\n\n\nclass Thing(object):\n    \"\"\"A thing.\"\"\"\n\n    def __init__(self, x):\n"
    "        self.x = x  # two spaces before the comment\n        if x:\n            return\n"
    "\t\tmixed\ttabs\t\n    \n\r\n\r\nwindows\r\nline\r\n"
    "def f(a, b=1, *args, **kw) -> dict[str, int]:\n    return {'a': a, \"b\": b}\n"
    "for (int i = 0; i < n; ++i) { x[i] += y[i] * 2; }  /* C */ // comment\n"
    "<html><body class=\"main\"><p>Hello&nbsp;world &amp; &#x263A;</p></body></html>\n"
    "{\"key\": [1, 2.5e-3, true, null], \"nested\": {\"ü\": \"\\u00fc\"}}\n"
    "\\begin{equation} E = mc^2 \\quad \\int_0^\\infty e^{-x^2}\\,dx \\end{equation}\n"
    "| col | col |\n|-----|-----|\n| `a` | **b** |\n> quote\n- item\n  - nested\n"
    "https://example.com/path?query=1&b=%20x#frag user@example.org 192.168.0.1 ::1\n"
)

_SPECIAL = ("<|endoftext|> <|padding|> <s> </s> <unk> [CLS] [SEP] [MASK] <|im_start|> "
            "<|begin_of_text|> <mask> <pad> <|fim_prefix|><|endoftext|>x")

_NUMBERS = ("0 1 12 123 1234 12345 123456789012345678901234567890 3.14159 -2,718 1e10 0x1F "
            "١٢٣٤ ۱۲۳ १२३ ১২৩ １２３ ² ³ ¼ ½ Ⅻ ⅻ ① ⑩ 𝟙𝟚𝟛 2024-01-31 12:30:45")

_APOSTROPHES = ("it's IT'S we'll WE'LL they've THEY'VE you're I'm I'd don't "
                "it’s it‘s 'ſ 'K 's'S'LL 'x'' ''s")

_EMOJI = ("😀 😀😀 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵🇺🇸 1️⃣ #️⃣ ❤️ ✌︎ 🫠 🧑🏿‍🚀 "
          "a😀b 😀. (😀) 😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀😀")

_CONTROLS = ("nul\x00soh\x01del\x7f fs\x1cgs\x1drs\x1eus\x1f zwsp\u200bzwnj\u200czwj\u200d"
             "bom\ufeff ls\u2028ps\u2029nel\x85 vt\x0bff\x0c rlm\u200f lrm\u200e bidi\u202e")

# What NFC changes: decomposed accents, marks out of canonical order, singletons,
# compatibility ideographs, Hangul jamo, and their composed forms next to them.
_NFC = ("e\u0301 é A\u030a Å \u212b \u2126 Ω a\u0316\u0301 a\u0301\u0316 o\u0308\u0304 "
        "\uf900 \uf9ff \U0002f800 \u1100\u1161 \u1100\u1161\u11a8 가 각 "
        "n\u0303 ñ \u0958 \u0915\u093c \u00c5\u0301 \u1e9b\u0323 q\u0307\u0323 "
        "\u0344 \u0340 \u0374 ; \u037e \u1f71 \u2000 \u2001")


def _whitespace() -> list[str]:
    out = []
    for space in (" ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "\u2003", " \t", "\n "):
        out.append("".join(f"w{i}{space * i}" for i in range(1, 41)))
        out.append(f"{space * 7}lead and trail{space * 9}")
        out.append(space * 3)
    out.append("a  b   c    d     e" + " " * 25 + "f" + " " * 49 + "g" + " " * 24 + "\n" + " " * 2)
    out.append("x" + " " * 100 + "\n" * 5 + " \n \n " + "\t" * 30 + "y")
    return out


def _long_pieces() -> list[str]:
    # words of 100+ bytes take tiktoken's heap-based merge path
    return ["a" * 300, "ab" * 150, "="* 200 + "-" * 120, "9" * 250,
            "Pneumonoultramicroscopicsilicovolcanoconiosis" * 4,
            "aGVsbG8gd29ybGQgdGhpcyBpcyBiYXNlNjQ" * 6, "東京" * 80, "😀" * 60,
            "https://example.com/" + "segment/" * 30, " " * 300 + "end"]


def assigned_planes() -> Iterator[int]:
    """Code points where Unicode assigns characters, but the ideograph extensions: planes
    0-1 (not the surrogates), the start of planes 2-3 and plane 14. Planes 4-13 are empty,
    15-16 private use, and the rest of 2-3 ideographs with no normalization or category of
    their own; scanning it all would cost a second of every build's start."""
    for cp in range(0x20000):
        if not 0xD800 <= cp < 0xE000:
            yield cp
    for plane in (0x20000, 0x2F800, 0x30000, 0xE0000):
        yield from range(plane, plane + 0x1000)


@lru_cache(maxsize=1)
def _category_samples() -> str:
    """A few characters of every Unicode general category (Python's tables), each between
    letters and after a space, so each gets its regex class and its BPE bytes."""
    seen: dict[str, list[str]] = {}
    for cp in assigned_planes():
        cat = unicodedata.category(chr(cp))
        found = seen.setdefault(cat, [])
        if len(found) < 6 or (cp % 4099 == 0 and len(found) < 30):
            found.append(chr(cp))
    return "\n".join(f"{cat}: " + " ".join(f"a{c}b {c}" for c in chars)
                     for cat, chars in sorted(seen.items()))


@lru_cache(maxsize=1)
def probe_texts() -> tuple[str, ...]:
    """The probe, in a fixed order; also the same texts joined (cross-text interactions)."""
    texts = (_PROSE + [_CODE, _SPECIAL, _NUMBERS, _APOSTROPHES, _EMOJI, _CONTROLS, _NFC]
             + _whitespace() + _long_pieces() + [_category_samples(), "", " ", "a"])
    return tuple(texts) + ("\n\n".join(texts[:len(_PROSE) + 7]),)


def first_difference(fast: Any, reference: Any) -> str | None:
    """The first probe text on which two `pile.tokenize.engines.Encoder` s disagree
    (shortened, for a log line), or None when every id is identical."""
    texts = list(probe_texts())
    try:
        got = fast.encode_ids(texts)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a Rust panic is a BaseException: it fails the probe too
        return f"the engine failed: {type(exc).__name__}: {str(exc)[:120]}"
    want = reference.encode_ids(texts)
    for text, a, b in zip(texts, got, want):
        if list(a) != list(b):
            return repr(text[:60])
    return None
