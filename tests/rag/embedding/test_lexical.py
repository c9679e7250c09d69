"""BM25 terms: tokenization (codes, Japanese, full width), stable ids and the BM25 weights."""

from __future__ import annotations

import pytest

from rag.config import LexicalSettings
from rag.embedding.base import LexicalEncoder, SparseTerms
from rag.embedding.lexical import BM25Encoder, stop_words, term_id, tokenize
from rag.errors import ConfigError


@pytest.fixture(scope="module")
def encoder() -> BM25Encoder:
    return BM25Encoder(LexicalSettings())


def test_encoder_meets_the_protocol(encoder: BM25Encoder) -> None:
    assert isinstance(encoder, LexicalEncoder)


@pytest.mark.parametrize("code", ["E-1042", "X200-B", "v2.1", "AB_12/7"])
def test_codes_survive_whole_and_as_parts(encoder: BM25Encoder, code: str) -> None:
    terms = encoder.terms(f"see {code}, then restart.")
    assert code.lower() in terms
    assert terms[0] == "see" and terms[-1] == "restart"


@pytest.mark.parametrize(
    ("code", "parts"),
    [
        ("E-1042", ["1042"]),
        ("X200-B", ["x200"]),
        ("v2.1", ["v2"]),
        ("AB_12/7", ["12"]),
        ("GO-4471", ["4471"]),
        ("RAIN-TO-77", ["77"]),
    ],
)
def test_a_code_gives_only_its_code_like_parts(
    encoder: BM25Encoder, code: str, parts: list[str]
) -> None:
    # no single letter and no common word is born from splitting a code
    assert encoder.terms(code) == [code.lower(), *parts]


def test_a_compound_of_words_gives_its_words(encoder: BM25Encoder) -> None:
    assert encoder.terms("wood-fired") == ["wood-fired", "wood", "fire"]
    assert encoder.terms("state-of-the-art") == ["state-of-the-art", "state", "art"]
    assert encoder.terms("e-mail os.path") == ["e-mail", "mail", "os.path", "os", "path"]


def test_snowball_stop_words_are_dropped(encoder: BM25Encoder) -> None:
    assert encoder.terms("Which animals live in the Arctic?") == ["anim", "live", "arctic"]
    assert encoder.terms("Is it going to rain tomorrow?") == ["go", "rain", "tomorrow"]
    assert encoder.terms("To be or not to be, that is the question") == ["question"]
    assert encoder.terms("It's what they don't know") == ["know"]  # contractions' parts too


def test_a_text_of_stop_words_alone_gives_empty_vectors(encoder: BM25Encoder) -> None:
    assert encoder.encode_queries(["to be or not to be"])[0] == SparseTerms((), ())
    assert encoder.encode_documents(["It is what it is."])[0] == SparseTerms((), ())


@pytest.mark.parametrize(
    ("language", "text", "terms"),
    [
        ("german", "Der Hund und die Katze", ["hund", "katz"]),
        ("french", "Le chat et le chien", ["chat", "chien"]),
        ("porter", "the running dog", ["run", "dog"]),
        ("none", "the running dog", ["the", "running", "dog"]),
        ("arabic", "the dog", ["the", "dog"]),  # no Snowball list for Arabic: nothing dropped
    ],
)
def test_stop_words_follow_the_language(language: str, text: str, terms: list[str]) -> None:
    assert BM25Encoder(LexicalSettings(language=language)).terms(text) == terms


def test_every_shipped_stop_list_reads(encoder: BM25Encoder) -> None:
    for language in (
        "danish",
        "dutch",
        "english",
        "finnish",
        "french",
        "german",
        "hungarian",
        "indonesian",
        "irish",
        "italian",
        "norwegian",
        "portuguese",
        "russian",
        "sesotho",
        "spanish",
        "swedish",
    ):
        words = stop_words(language)
        assert len(words) >= 10 and all(w == w.casefold() and "|" not in w for w in words)
    assert {"the", "which", "is", "don", "t"} <= stop_words("english")
    assert "go" not in stop_words("english") and stop_words("none") == frozenset()


def test_words_are_stemmed_by_snowball_and_numbers_are_not(encoder: BM25Encoder) -> None:
    assert encoder.terms("Running runs 2024 pumps") == ["run", "run", "2024", "pump"]


def test_japanese_becomes_character_bigrams(encoder: BM25Encoder) -> None:
    assert encoder.terms("検索エンジン") == ["検索", "索エ", "エン", "ンジ", "ジン"]
    assert encoder.terms("猫") == ["猫"]


def test_mixed_japanese_and_codes_split_by_script(encoder: BM25Encoder) -> None:
    assert encoder.terms("東京E-1042エラー") == ["東京", "e-1042", "1042", "エラ", "ラー"]


def test_full_width_forms_match_ascii(encoder: BM25Encoder) -> None:
    assert encoder.terms("ＥＲＲ-７") == encoder.terms("err-7")


def test_text_without_terms_gives_an_empty_vector(encoder: BM25Encoder) -> None:
    assert encoder.encode_documents(["  ... !!"])[0] == SparseTerms((), ())
    assert tokenize("") == []


def test_term_ids_are_a_fixed_hash_of_the_term() -> None:
    # golden values: a change of the hash would orphan every stored lexical vector
    assert term_id("e-1042") == 0x79BD0303
    assert term_id("検索") == 0xA8344195


def test_query_terms_weigh_one_each(encoder: BM25Encoder) -> None:
    query = encoder.encode_queries(["pump pump E-1042"])[0]
    assert list(query.indices) == sorted(query.indices)
    assert set(query.values) == {1.0}
    assert len(query.indices) == 3  # pump, e-1042, 1042


def test_document_weights_follow_bm25_saturation() -> None:
    encoder = BM25Encoder(LexicalSettings(k1=1.2, b=0.75, avg_len=4))
    doc = encoder.encode_documents(["pump pump valve seal"])[0]
    weights = dict(zip(doc.indices, doc.values, strict=True))
    norm = 1.2 * (1 - 0.75 + 0.75 * 4 / 4)
    assert weights[term_id("pump")] == pytest.approx(2 * 2.2 / (2 + norm))
    assert weights[term_id("valv")] == pytest.approx(1 * 2.2 / (1 + norm))


def test_longer_documents_weigh_a_term_less() -> None:
    encoder = BM25Encoder(LexicalSettings(avg_len=4))
    short, long = encoder.encode_documents(["pump", "pump " + "filler " * 20])
    assert (
        short.values[short.indices.index(term_id("pump"))]
        > long.values[long.indices.index(term_id("pump"))]
    )


def test_no_stemming_when_language_is_none() -> None:
    assert BM25Encoder(LexicalSettings(language="none")).terms("running") == ["running"]


def test_unknown_language_names_the_setting_and_choices() -> None:
    with pytest.raises(ConfigError, match=r"MMRAG_LEXICAL__LANGUAGE='klingon'.*english"):
        BM25Encoder(LexicalSettings(language="klingon"))


def test_model_id_names_the_parameters(encoder: BM25Encoder) -> None:
    assert encoder.model_id == "bm25-v2/english/k1=1.2,b=0.75,avg_len=256"
