"""One passage split by each vocabulary, with its token boundaries (the report's view).

A boundary is where the decoded prefix of the ids is again a prefix of the passage, so
the pieces are exactly what the vocabulary's own decoder gives back, for every engine
(HF, tiktoken, SentencePiece). A byte-level token that ends inside a character (half an
emoji) joins the next one in a piece of several tokens. When a decoder does not give the
passage back (SentencePiece's normalisation), each token is shown decoded on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Split:
    """A passage as one vocabulary cut it: pieces of text and the tokens in each."""

    tokenizer: str
    pieces: list[tuple[str, int]]
    tokens: int
    bytes: int
    exact: bool  # the pieces join to the passage

    @property
    def bytes_per_token(self) -> float:
        return self.bytes / self.tokens if self.tokens else 0.0


def split_passage(vocab: Any, text: str) -> Split:
    """`text` cut at `vocab`'s token boundaries (`pile.tokenize.vocab.Vocabulary`)."""
    from pile.tokenize.vocab import decode

    encoder = vocab.encoder()
    ids = encoder.encode_ids([text])[0]
    pieces: list[tuple[str, int]] = []
    done, first = 0, 0
    exact = True
    for k in range(1, len(ids) + 1):
        prefix = decode(vocab, ids[:k])
        if prefix.endswith("\ufffd") and not text[:len(prefix)].endswith("\ufffd") and k < len(ids):
            continue  # a character split across tokens: one piece with the next token
        if not text.startswith(prefix) or len(prefix) < done:
            exact = False
            break
        pieces.append((text[done:len(prefix)], k - first))
        done, first = len(prefix), k
    if not exact or done != len(text):
        exact = False
        pieces = [(decode(vocab, [i]), 1) for i in ids]
    return Split(vocab.name, pieces, len(ids), len(text.encode("utf-8")), exact)


def passage(text: str, limit: int) -> str:
    """The first `limit` characters of `text`, ended at a space when there is one."""
    if len(text) <= limit:
        return text.strip()
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).strip()


__all__ = ["Split", "passage", "split_passage"]
