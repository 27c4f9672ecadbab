"""Encoders: turn a batch of document texts into token ids with the end-of-document id.

One `Encoder` per vocabulary and worker. It is cheap to build and to pickle (Ray ships
it to workers); `setup()` loads the heavy state (the merge table) once per worker.
Three engines, each exact for the vocabularies it is chosen for (`pile.tokenize.vocab`
decides, and `tests/test_tokenize_engines.py` proves identical ids on the test corpora):

- `HFEncoder`: Hugging Face ``tokenizers`` ``encode_batch_fast`` on a ``tokenizer.json``;
  the reference engine for every HF vocabulary.
- `TiktokenEncoder`: OpenAI's ``tiktoken`` BPE on an OpenAI ``.tiktoken`` ranks file
  (GPT-2 r50k, p50k, cl100k).
- `TiktokenPlanEncoder`: tiktoken behind a plan that reproduces another library exactly:
  the ranks of a byte-level BPE ``tokenizer.json``'s merges behind that file's own
  normalizer, added tokens and pre-tokenizer regex (`pile.tokenize.pipeline`: GPT-2,
  GPT-NeoX/Pythia, Llama-3/Qwen-style files; 3-6x HF), or a SentencePiece BPE model's
  pieces (`pile.tokenize.sp_ranks`: LLaMA/Mistral; about 1.8x sentencepiece).
- `SentencePieceEncoder`: Google's ``sentencepiece`` on a ``.model`` (LLaMA/Mistral).

Document text is always encoded as *ordinary* text: a literal ``<|endoftext|>`` written
inside a document is encoded as its characters, never as the special id. Only the
end-of-document id this module appends marks a document boundary, so a document cannot
forge one (GPT-NeoX's preprocessing lets HF match specials inside the text; we do not).

Threads: each encoder uses one core. HF ``tokenizers`` batches use a rayon pool sized
by ``RAYON_NUM_THREADS`` (set it to 1 in multi-process runs to avoid oversubscription).
"""

from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)


def _sanitize(text: str) -> str:
    """Replace lone surrogates (not encodable as UTF-8) by U+FFFD, as tiktoken does."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class Encoder(abc.ABC):
    """Base class: ``encode_batch(texts) -> [ids + [eod]]`` as numpy arrays.

    Attributes:
        eod_id: appended to every document.
        dtype: numpy dtype of the returned arrays (the shard dtype).
        engine: ``"hf"``, ``"tiktoken"`` or ``"sentencepiece"``.
    """

    engine = "base"

    def __init__(self, eod_id: int, dtype: np.dtype | str) -> None:
        self.eod_id = int(eod_id)
        self.dtype = np.dtype(dtype)
        self._impl: Any = None

    def setup(self) -> None:
        """Load the vocabulary (called once per worker; `encode_batch` calls it if needed)."""
        if self._impl is None:
            self._impl = self._load()

    @property
    def impl(self) -> Any:
        """The engine's own tokenizer object (loaded on first use)."""
        self.setup()
        return self._impl

    @abc.abstractmethod
    def _load(self) -> Any:
        """The engine's tokenizer object."""

    @abc.abstractmethod
    def _encode(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text, without the end-of-document token."""

    def _encode_safe(self, texts: list[str]) -> list[list[int]]:
        self.setup()
        try:
            return self._encode(texts)
        except (UnicodeEncodeError, TypeError, ValueError):
            # Lone surrogates cannot cross into Rust/C++; retry once with them replaced.
            logger.debug("re-encoding a batch with lone surrogates replaced")
            return self._encode([_sanitize(t) for t in texts])

    def _array(self, ids: Any) -> np.ndarray:
        """What `_encode` returned for one text (a list or an array) -> its ids with
        `eod_id`, in `dtype`."""
        out = np.empty(len(ids) + 1, dtype=self.dtype)
        out[:-1] = ids
        out[-1] = self.eod_id
        return out

    def encode_ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, without the end-of-document id."""
        return [self._array(ids)[:-1].tolist() for ids in self._encode_safe(texts)]

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        """Token ids of each text with `eod_id` appended, as arrays of `dtype`."""
        array = self._array
        return [array(ids) for ids in self._encode_safe(texts)]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_impl"] = None  # heavy and not always picklable: rebuilt by setup()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class HFEncoder(Encoder):
    """Hugging Face ``tokenizers`` on a ``tokenizer.json`` file.

    Args:
        path: the ``tokenizer.json``.
        eod_id / dtype: see `Encoder`.
    """

    engine = "hf"

    def __init__(self, path: str | Path, eod_id: int, dtype: np.dtype | str) -> None:
        super().__init__(eod_id, dtype)
        self.path = str(path)

    def adopt(self, tok: Any) -> HFEncoder:
        """Use `tok`, already loaded from `path`, instead of loading the file again."""
        self._impl = self._configured(tok)
        return self

    def _load(self) -> Any:
        from tokenizers import Tokenizer

        return self._configured(Tokenizer.from_file(self.path))

    @staticmethod
    def _configured(tok: Any) -> Any:
        tok.encode_special_tokens = True  # specials inside documents are plain text
        tok.no_truncation()
        tok.no_padding()
        return tok

    def _encode(self, texts: list[str]) -> list[list[int]]:
        encs = self._impl.encode_batch_fast(texts, add_special_tokens=False)
        return [e.ids for e in encs]


class TiktokenEncoder(Encoder):
    """OpenAI ``tiktoken`` on a ``.tiktoken`` ranks file.

    Args:
        path: the ``.tiktoken`` file (base64 token, rank per line).
        name: encoding name (``r50k_base``, ``cl100k_base``...), for tiktoken's repr.
        pat_str: the pre-tokenization regex of the encoding.
        special_tokens: special token -> id (``<|endoftext|>``...).
        eod_id / dtype: see `Encoder`.
    """

    engine = "tiktoken"

    def __init__(self, path: str | Path, name: str, pat_str: str,
                 special_tokens: dict[str, int], eod_id: int, dtype: np.dtype | str) -> None:
        super().__init__(eod_id, dtype)
        self.path = str(path)
        self.name = name
        self.pat_str = pat_str
        self.special_tokens = dict(special_tokens)

    def _load(self) -> Any:
        import tiktoken
        from tiktoken.load import load_tiktoken_bpe

        return tiktoken.Encoding(name=self.name, pat_str=self.pat_str,
                                 mergeable_ranks=load_tiktoken_bpe(self.path),
                                 special_tokens=self.special_tokens)

    def _encode(self, texts: list[str]) -> list[np.ndarray]:
        enc = self._impl
        from pile.tokenize.pipeline import ordinary  # not at import: the driver needs none of it

        # A plain loop: encode_ordinary_batch would go through a thread pool per call.
        return [ordinary(enc, t) for t in texts]


class TiktokenPlanEncoder(Encoder):
    """tiktoken behind a plan, with the ids of the library the plan reproduces.

    Args:
        plan: a `pile.tokenize.pipeline.TiktokenPlan` (a ``tokenizer.json``, as HF encodes
            it) or a `pile.tokenize.sp_ranks.SentencePiecePlan` (a ``.model``, as
            sentencepiece encodes it); ``plan.compile()`` gives ``encode(text)`` and
            ``to_ids(encoded, eod, dtype)``.
        eod_id / dtype: see `Encoder`.
    """

    engine = "tiktoken"

    def __init__(self, plan: Any, eod_id: int, dtype: np.dtype | str) -> None:
        super().__init__(eod_id, dtype)
        self.plan = plan

    def _load(self) -> Any:
        return self.plan.compile()

    def _encode(self, texts: list[str]) -> list[list[int]]:
        encode = self._impl.encode
        return [encode(t) for t in texts]

    def _array(self, ids: list[int]) -> np.ndarray:
        return self._impl.to_ids(ids, self.eod_id, self.dtype)


class SentencePieceEncoder(Encoder):
    """Google ``sentencepiece`` on a ``.model`` file (no BOS/EOS added by the model).

    Args:
        path: the SentencePiece ``.model``.
        eod_id / dtype: see `Encoder`.
    """

    engine = "sentencepiece"

    def __init__(self, path: str | Path, eod_id: int, dtype: np.dtype | str) -> None:
        super().__init__(eod_id, dtype)
        self.path = str(path)

    def _load(self) -> Any:
        import sentencepiece as spm

        return spm.SentencePieceProcessor(model_file=self.path)

    def _encode(self, texts: list[str]) -> list[list[int]]:
        return self._impl.encode(texts, num_threads=1)
