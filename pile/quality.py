"""Gopher quality rules: simple heuristics that drop text unlike natural prose.

Follows the quality filter of MassiveText in Rae et al. 2021, *Scaling Language Models:
Methods, Analysis & Insights from Training Gopher*, appendix A.1.1: keep a document
only if it has 50 to 100,000 words, a mean word length of 3 to 10 characters, at most
one hash or ellipsis per ten words, at most 90% of lines starting with a bullet, at
most 30% of lines ending with an ellipsis, at least 80% of words with a letter, and at
least two English stop words (the, be, to, of, and, that, have, with). Every threshold
is a `QualityConfig` field, and None turns that rule off.

Definitions (the paper leaves them open; these are fixed here so counts are stable):

- a *token* is a maximal run of non-whitespace characters;
- a *word* is a token with the punctuation and symbols at its ends removed, when
  something is left (so ``"(hello),"`` is the word ``hello`` and ``"--"`` is no word);
  word counts and the mean word length use words;
- the alphabetic ratio is the share of tokens holding at least one letter;
- the hash and ellipsis ratios are the number of ``#`` and of ``...``/``…`` divided
  by the number of words;
- line ratios are over non-blank lines; a bullet line starts (after indentation) with
  one of `BULLETS`; an ellipsis line ends with ``...`` or ``…``;
- stop words are counted as whole words, case-insensitively, repeats included.
"""

from __future__ import annotations

import re

from pile.config import QualityConfig
from pile.document import Document
from pile.stage import Filter

STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "◦", "‣", "⁃", "➢", "►", "-", "*", "–", "—", "·")
ELLIPSES = ("...", "…")

_WORD_RE = re.compile(r"[^\W_](?:\S*[^\W_])?")
# A whole token without letters (possessive: no backtracking inside the token).
_NO_LETTER_TOKEN_RE = re.compile(r"(?<!\S)(?:[^\w\s]|[\d_])++(?!\S)")
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
    words = _WORD_RE.findall(text)
    n_words = len(words)
    if cfg.min_words is not None and n_words < cfg.min_words:
        return "gopher_min_words"
    if cfg.max_words is not None and n_words > cfg.max_words:
        return "gopher_max_words"
    if n_words:
        mean = sum(map(len, words)) / n_words
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
        lines = [line.strip() for line in text.split("\n")]
        lines = [line for line in lines if line]
        if lines:
            if cfg.max_bullet_lines_ratio is not None:
                bullets = sum(1 for line in lines if line.startswith(BULLETS))
                if bullets / len(lines) > cfg.max_bullet_lines_ratio:
                    return "gopher_bullet_lines"
            if cfg.max_ellipsis_lines_ratio is not None:
                trailing = sum(1 for line in lines if line.endswith(ELLIPSES))
                if trailing / len(lines) > cfg.max_ellipsis_lines_ratio:
                    return "gopher_ellipsis_lines"
    if cfg.min_alpha_words_ratio is not None:
        tokens = len(text.split())
        if tokens and 1 - len(_NO_LETTER_TOKEN_RE.findall(text)) / tokens < cfg.min_alpha_words_ratio:
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
