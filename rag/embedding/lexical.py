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
   With the language ``japanese``, Japanese (Han, Hiragana, Katakana) is cut into words by the
   janome morphological analyser instead (:class:`JapaneseWords`: dictionary forms, particles and
   auxiliaries dropped), with ``chinese`` Han by jieba (:class:`ChineseWords`); bigrams stay the
   fallback when the analyser is not installed.
3. Other text splits into words of letters and digits. Words joined by ``-`` ``_`` ``.`` ``/``
   stay whole as one term (``e-1042``, ``x200-b``, ``wood-fired``) and also give some parts:
   a code (a joined word with a digit) gives only its code-like parts, those of two or more
   characters with a digit (``x200-b``: ``x200``; ``e-1042``: ``1042``), so that no letter or
   common word is born from splitting a code (``GO-4471`` does not match "going"); a compound of
   plain words gives its words of two or more characters (``wood-fired``: ``wood``, ``fire``).
4. The Snowball stop words of the configured language (``the``, ``which``, ``is``; the lists
   in ``rag/embedding/stopwords``, BSD-licensed) are dropped, from documents and queries alike,
   so that a hit can never match on stop words alone (its lexical score is 0).
5. Words without digits are stemmed by the Snowball stemmer of the configured language
   (PyStemmer); codes and numbers are kept as written.

Term ids are the first four bytes of the term's BLAKE2b digest (stable across processes and
versions, unlike Python's ``hash``).
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import threading
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import regex

from rag.config import LexicalSettings
from rag.embedding.base import SparseTerms
from rag.errors import ConfigError

TOKENIZER_VERSION = "v2"
"""Part of every stored point's ``lexical_model``: a change re-embeds on the next ingest."""
_NO_SPACE = r"\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\u30fc"
_WORD_CHAR = rf"[[\p{{L}}\p{{N}}\p{{M}}]--[{_NO_SPACE}]]"
_TOKEN = regex.compile(
    rf"(?P<ngram>[{_NO_SPACE}]+)|(?P<word>{_WORD_CHAR}+(?:[-_./]{_WORD_CHAR}+)*)",
    regex.V1,
)
_JOINERS = regex.compile(r"[-_./]")
_JAPANESE = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\u30fc]+", regex.V1)
_log = logging.getLogger(__name__)
Segmenter = Callable[[str], list[str]]
"""Terms of one run of a script written without spaces."""


def tokenize(
    text: str,
    stem: Callable[[str], str] = str,
    stop: frozenset[str] = frozenset(),
    segment: Segmenter | None = None,
) -> list[str]:
    """The terms of ``text`` in order (see the module docstring); ``stem`` maps plain words,
    ``stop`` holds the (case-folded) words to drop, ``segment`` cuts runs of scripts written
    without spaces (default: character bigrams)."""
    terms: list[str] = []
    for match in _TOKEN.finditer(_normal(text)):
        if match.group("ngram"):
            terms += (segment or _bigrams)(match.group("ngram"))
        else:
            terms += _word_terms(match.group("word"), stem, stop)
    return terms


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


class WordSegmenter:
    """A :data:`Segmenter` that cuts the runs of its script (``SCRIPT``) into words with an
    analyser from PyPI (``MODULE``); other space-less scripts in a run stay character bigrams."""

    name = ""
    MODULE = ""
    SCRIPT: regex.Pattern[str]

    def __call__(self, run: str) -> list[str]:
        terms: list[str] = []
        start = 0
        for match in self.SCRIPT.finditer(run):
            terms += _bigrams(run[start : match.start()]) if match.start() > start else []
            terms += self.words(match.group())
            start = match.end()
        return terms + (_bigrams(run[start:]) if start < len(run) else [])

    def words(self, text: str) -> list[str]:
        raise NotImplementedError


class JapaneseWords(WordSegmenter):
    """``language=japanese``: Japanese runs become the words of janome's morphological analysis,
    each in its dictionary form (``眠っ`` of ``眠っている`` is ``眠る``), without particles,
    auxiliaries, symbols and dependent words (``が``, ``です``, ``いる``).

    Example::

        JapaneseWords()("猫が窓のそばで眠っている")  # ['猫', '窓', 'そば', '眠る']
    """

    name = "janome"
    MODULE = "janome.tokenizer"
    SCRIPT = _JAPANESE
    SKIPPED = ("助詞", "助動詞", "記号", "フィラー")
    """Parts of speech (janome's first level) that carry no searchable meaning."""

    def __init__(self) -> None:
        from janome.tokenizer import Tokenizer

        self._tokenizer: Any = Tokenizer()
        self._lock = threading.Lock()  # janome's tokenizer keeps state while it runs

    def words(self, text: str) -> list[str]:
        with self._lock:
            tokens = list(self._tokenizer.tokenize(text))
        words = []
        for token in tokens:
            kind = token.part_of_speech.split(",")
            if kind[0] in self.SKIPPED or kind[1] == "非自立":
                continue
            base = token.base_form if token.base_form not in ("", "*") else token.surface
            words.append(base)
        return words


class ChineseWords(WordSegmenter):
    """``language=chinese``: Han runs become jieba's words in its search mode (a long word also
    gives its shorter dictionary words: ``中华人民共和国`` gives ``中华 华人 人民 共和 共和国
    中华人民共和国``), without the commonest function words (``的``, ``了``, ``是``).

    Example::

        ChineseWords()("我喜欢猫")  # ['我', '喜欢', '猫']
    """

    name = "jieba"
    MODULE = "jieba"
    SCRIPT = regex.compile(r"\p{Han}+", regex.V1)
    SKIPPED = frozenset("的了着是在和与及或之吗呢吧啊也都就而")
    """Function words that carry no searchable meaning."""

    def __init__(self) -> None:
        import jieba

        jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading at INFO
        self._tokenizer: Any = jieba.Tokenizer()
        self._tokenizer.initialize()

    def words(self, text: str) -> list[str]:
        return [
            w for w in self._tokenizer.cut_for_search(text) if w.strip() and w not in self.SKIPPED
        ]


ANALYSERS: dict[str, type[WordSegmenter]] = {"japanese": JapaneseWords, "chinese": ChineseWords}
"""Languages whose words an analyser from PyPI finds (bigrams without it)."""


@cache
def _analyser(language: str) -> WordSegmenter:
    return ANALYSERS[language]()


def segmenter_for(language: str) -> WordSegmenter | None:
    """The analyser of ``language``'s space-less text, or ``None`` for character bigrams (every
    language but those of :data:`ANALYSERS`, and those when their analyser is not installed)."""
    kind = ANALYSERS.get(language)
    if kind is None:
        return None
    try:
        importlib.import_module(kind.MODULE)
    except ImportError:
        _log.warning(
            "MMRAG_LEXICAL__LANGUAGE=%s: %s is not installed, so its text becomes character "
            "bigrams; `pip install %s` for words",
            language,
            kind.name,
            kind.name,
        )
        return None
    return _analyser(language)


def _word_terms(word: str, stem: Callable[[str], str], stop: frozenset[str]) -> list[str]:
    parts = _JOINERS.split(word)
    if len(parts) == 1:
        return [] if word in stop else [_stem_word(word, stem)]
    if any(_has_digit(part) for part in parts):  # a code: only its code-like parts
        return [word, *(part for part in parts if len(part) > 1 and _has_digit(part))]
    return [word, *(stem(part) for part in parts if len(part) > 1 and part not in stop)]


def _has_digit(word: str) -> bool:
    return any(ch.isdigit() for ch in word)


def _stem_word(word: str, stem: Callable[[str], str]) -> str:
    return word if _has_digit(word) else stem(word)


_STOP_LIST_OF = {"porter": "english", "dutch_porter": "dutch"}


@cache
def stop_words(language: str) -> frozenset[str]:
    """Snowball's stop words of ``language`` as :func:`tokenize` reads them (``don't`` gives
    ``don`` and ``t``); empty for ``none`` and for a language without a list."""
    name = _STOP_LIST_OF.get(language, language)
    folder = resources.files("rag.embedding").joinpath("stopwords")
    source = folder.joinpath(f"{name}.txt")
    if not name.isidentifier() or not source.is_file():
        return frozenset()
    words: set[str] = set()
    for line in source.read_text(encoding="utf-8").splitlines():
        for entry in line.split("|", 1)[0].split():
            words.update(tokenize(entry))
    return frozenset(words)


def term_id(term: str) -> int:
    """A stable unsigned 32-bit id of ``term``."""
    return int.from_bytes(hashlib.blake2b(term.encode("utf-8"), digest_size=4).digest(), "big")


def stemmer_for(language: str) -> Callable[[str], str]:
    """The Snowball stemmer of ``language`` (``english``, ``german``, ...), or identity for
    ``none`` and the languages of :data:`ANALYSERS` (whose analysers give the words' forms)."""
    if language == "none" or language in ANALYSERS:
        return str
    import Stemmer

    try:
        stemmer = Stemmer.Stemmer(language)
    except KeyError:
        choices = ", ".join(["none", *ANALYSERS, *sorted(Stemmer.algorithms())])
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
        self._stop = stop_words(settings.language)
        self._segment = segmenter_for(settings.language)

    @property
    def model_id(self) -> str:
        """Names the scheme; ``japanese`` and ``chinese`` add the analyser (``japanese+janome``,
        or ``japanese+bigrams`` without janome), so points of one are never mixed with the
        other."""
        s = self.settings
        language = s.language
        if language in ANALYSERS:
            language += "+" + (self._segment.name if self._segment else "bigrams")
        return f"bm25-{TOKENIZER_VERSION}/{language}/k1={s.k1:g},b={s.b:g},avg_len={s.avg_len:g}"

    def terms(self, text: str) -> list[str]:
        """The terms that this encoder weighs for ``text``."""
        return tokenize(text, self._stem, self._stop, self._segment)

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
