"""BM25 term weights for Qdrant sparse vectors with the IDF modifier.

The engine computes the inverse document frequency of each query term over the collection
(``Modifier.IDF``); this module supplies the rest of BM25. A document's term weight is the
saturated term frequency ``tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))``; a query's
terms weigh 1 each, so a point's score is ``sum(idf(t) * weight(t))`` over the shared terms.

Tokenization (:func:`tokenize`), in order:

1. Unicode NFKC (full-width ``ＥＲＲ`` becomes ``ERR``), then case folding.
2. Scripts written without spaces (Han, Hiragana, Katakana, Hangul, Thai, Lao, Khmer, Myanmar)
   become overlapping character bigrams, the scheme of Lucene's ``CJKBigramFilter``:
   ``検索エンジン`` gives ``検索 索エ エン ンジ ジン``; a lone character stays a unigram.
3. Other text splits into words of letters and digits. Words joined by ``-`` ``_`` ``.`` ``/``
   stay whole as one term (``e-1042``, ``x200-b``, ``v2.1``) and also give their parts
   (``e``, ``1042``), so an exact code matches best and a part still matches.
4. Words without digits are stemmed by the Snowball stemmer of the configured language
   (PyStemmer); codes and numbers are kept as written.

Term ids are the first four bytes of the term's BLAKE2b digest (stable across processes and
versions, unlike Python's ``hash``).
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache

import regex

from rag.config import LexicalSettings
from rag.embedding.base import SparseTerms
from rag.errors import ConfigError

TOKENIZER_VERSION = "v1"
_NO_SPACE = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\u30fc"
_WORD_CHAR = rf"[[\p{{L}}\p{{N}}\p{{M}}]--[{_NO_SPACE}]]"
_TOKEN = regex.compile(
    rf"(?P<ngram>[{_NO_SPACE}]+)|(?P<word>{_WORD_CHAR}+(?:[-_./]{_WORD_CHAR}+)*)",
    regex.V1,
)
_JOINERS = regex.compile(r"[-_./]")


def tokenize(text: str, stem: Callable[[str], str] = str) -> list[str]:
    """The terms of ``text`` in order (see the module docstring); ``stem`` maps plain words."""
    terms: list[str] = []
    for match in _TOKEN.finditer(unicodedata.normalize("NFKC", text).casefold()):
        if match.group("ngram"):
            terms += _bigrams(match.group("ngram"))
        else:
            terms += _word_terms(match.group("word"), stem)
    return terms


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _word_terms(word: str, stem: Callable[[str], str]) -> list[str]:
    parts = _JOINERS.split(word)
    if len(parts) == 1:
        return [_stem_word(word, stem)]
    return [word, *(_stem_word(part, stem) for part in parts)]


def _stem_word(word: str, stem: Callable[[str], str]) -> str:
    return word if any(ch.isdigit() for ch in word) else stem(word)


def term_id(term: str) -> int:
    """A stable unsigned 32-bit id of ``term``."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def stemmer_for(language: str) -> Callable[[str], str]:
    """The Snowball stemmer of ``language`` (``english``, ``german``, ...), or identity for
    ``none``."""
    if language == "none":
        return str
    import Stemmer

    try:
        stemmer = Stemmer.Stemmer(language)
    except KeyError:
        choices = ", ".join(["none", *sorted(Stemmer.algorithms())])
        raise ConfigError(
            f"MMRAG_LEXICAL__LANGUAGE={language!r} has no Snowball stemmer; use one of {choices}"
        ) from None
    return lru_cache(maxsize=65536)(stemmer.stemWord)


class BM25Encoder:
    """BM25 document weights and unit query weights over :func:`tokenize`'s terms.

    Example::

        encoder = BM25Encoder(LexicalSettings())
        encoder.encode_documents(["error E-1042 on start"])[0].indices  # sorted term ids
    """

    def __init__(self, settings: LexicalSettings) -> None:
        self.settings = settings
        self._stem = stemmer_for(settings.language)

    @property
    def model_id(self) -> str:
        s = self.settings
        return f"bm25-{TOKENIZER_VERSION}/{s.language}/k1={s.k1:g},b={s.b:g},avg_len={s.avg_len:g}"

    def terms(self, text: str) -> list[str]:
        """The terms that this encoder weighs for ``text``."""
        return tokenize(text, self._stem)

    def encode_documents(self, texts: Sequence[str]) -> list[SparseTerms]:
        return [self._document(text) for text in texts]

    def encode_queries(self, texts: Sequence[str]) -> list[SparseTerms]:
        return [_sparse({term_id(t): 1.0 for t in self.terms(text)}) for text in texts]

    def _document(self, text: str) -> SparseTerms:
        terms = self.terms(text)
        s = self.settings
        norm = s.k1 * (1.0 - s.b + s.b * len(terms) / s.avg_len)
        weights: dict[int, float] = {}
        for term, tf in Counter(terms).items():
            key = term_id(term)  # two terms sharing an id (about 1 in 4e9) add up
            weights[key] = weights.get(key, 0.0) + tf * (s.k1 + 1.0) / (tf + norm)
        return _sparse(weights)


def _sparse(weights: dict[int, float]) -> SparseTerms:
    indices = tuple(sorted(weights))
    return SparseTerms(indices, tuple(weights[i] for i in indices))
