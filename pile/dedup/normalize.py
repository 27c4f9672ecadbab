"""Text normalisation before deduplication: the one definition both hash modes share.

The reference definition, applied in this order (each step switchable in `DedupConfig`):

1. ``lowercase``: ``str.lower()``;
2. ``strip_punctuation``: every character that is neither a word character (``re``'s
   ``\\w``) nor whitespace, and ``_``, becomes a space (so ``"end.Start"`` gives two
   words, not ``"endstart"``);
3. ``normalize_digits``: every decimal digit (``\\d``, any script) becomes ``0``;
4. words are the whitespace-separated tokens of the result (``str.split()``), so
   whitespace never changes a shingle; ``normalize_whitespace`` only decides whether
   exact deduplication sees whitespace differences (on: the key is a hash of the word
   sequence; off: a BLAKE2b digest of the text of steps 1-3 with its whitespace).

Most corpus text is ASCII or nearly so, and running a Python regex over every character
costs more than all the MinHash arithmetic (~75 ms per MB here). So the ASCII part of
the rule is a 256-byte translation table built *from* the reference functions (so the
two cannot disagree), and the regexes only visit the non-ASCII characters. A test
checks the fast path against `reference_words` on text with every tricky class of
character (non-ASCII punctuation and spaces, other scripts' digits, ``İ``, control
characters).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

_PUNCT_RE = re.compile(r"[^\w\s]|_")
_DIGIT_RE = re.compile(r"\d")
# Non-ASCII characters only: a cheap first test ([^\x00-\x7f]) before the class check.
_NONASCII_NONWORD_RE = re.compile(r"[^\x00-\x7f](?<=[^\w])")  # punctuation and spaces
_NONASCII_SPACE_RE = re.compile(r"[^\x00-\x7f](?<=\s)")
_NONASCII_PUNCT_RE = re.compile(r"[^\x00-\x7f](?<=[^\w\s])")
_NONASCII_DIGIT_RE = re.compile(r"[^\x00-\x7f](?<=\d)")

SPACE = 0x20


@dataclass(frozen=True)
class Normalizer:
    """The normalisation flags of `DedupConfig`, with fast byte-level application.

    Attributes:
        lowercase: fold case with ``str.lower()``.
        strip_punctuation: punctuation (non-word, non-space characters, and ``_``) -> space.
        normalize_digits: every decimal digit -> ``0``.
        normalize_whitespace: exact dedup hashes the words joined by single spaces.
    """

    lowercase: bool = True
    strip_punctuation: bool = True
    normalize_digits: bool = False
    normalize_whitespace: bool = True

    def reference(self, text: str) -> str:
        """Steps 1-3 of the module's definition, plainly (slow; the specification)."""
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = _PUNCT_RE.sub(" ", text)
        if self.normalize_digits:
            text = _DIGIT_RE.sub("0", text)
        return text

    def reference_words(self, text: str) -> list[str]:
        """The words of `text` by the reference definition."""
        return self.reference(text).split()

    def table(self, map_space: bool) -> bytes:
        """The ASCII translation table equal to `reference` on each ASCII character.

        Args:
            map_space: also map every ASCII whitespace character (``str.isspace``,
                which includes ``\\x1c``-``\\x1f``) to a plain space, for word splitting.

        Returns:
            A 256-byte table for `bytes.translate`; bytes >= 0x80 map to themselves
            (they are parts of UTF-8 sequences, handled before encoding).
        """
        out = bytearray(range(256))
        for code in range(128):
            ch = chr(code)
            mapped = self.reference(ch)
            if map_space and mapped.isspace():
                mapped = " "
            # `reference` maps one ASCII character to exactly one ASCII character.
            out[code] = ord(mapped)
        return bytes(out)

    def prepare(self, text: str, map_space: bool = True) -> str:
        """Apply the non-ASCII part of the rule to a str (no-op for ASCII text).

        After this, `bytes.translate(table(map_space))` of the UTF-8 encoding equals
        the reference normalisation (with non-ASCII whitespace mapped to spaces when
        `map_space`).
        """
        if text.isascii():
            return text
        if self.lowercase:
            text = text.lower()
        if self.strip_punctuation:
            text = (_NONASCII_NONWORD_RE if map_space else _NONASCII_PUNCT_RE).sub(" ", text)
        elif map_space:
            text = _NONASCII_SPACE_RE.sub(" ", text)
        if self.normalize_digits:
            text = _NONASCII_DIGIT_RE.sub("0", text)
        return text


class FastNormalizer:
    """Applies a `Normalizer` to many texts quickly (tables built once).

    Attributes:
        spec: the flags.
    """

    def __init__(self, spec: Normalizer) -> None:
        self.spec = spec
        self._split_table = spec.table(map_space=True)
        self._keep_table = spec.table(map_space=False)

    def word_bytes(self, text: str) -> bytes:
        """The normalised UTF-8 text with every whitespace character a plain space.

        Words are the maximal runs of non-space bytes; equal to
        ``" ".join(reference_words(text))`` up to the number of spaces between words.
        """
        return self.spec.prepare(text, True).encode("utf-8", "surrogatepass").translate(self._split_table)

    def exact_key(self, text: str) -> bytes:
        """The 16-byte BLAKE2b digest of the normalised text, for ``normalize_whitespace=False``.

        With ``normalize_whitespace`` (the default) the pass instead uses the cheaper
        word-sequence key of `pile.dedup.shingles.ShingleHasher.hash_batch_and_keys`,
        which is equal exactly when the words are; this digest keeps the whitespace.
        """
        canonical = self.spec.prepare(text, False).encode("utf-8", "surrogatepass").translate(self._keep_table)
        return hashlib.blake2b(canonical, digest_size=16).digest()
