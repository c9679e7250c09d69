"""Highlights: lines tied to a passage's characters at ingest, the best matching lines picked
for an answer's sentence or a query."""

from __future__ import annotations

from rag import payload as keys
from rag.highlights import best_boxes, line_spans, sentences_citing

TOP = (0.1, 0.1, 0.9, 0.15)
MIDDLE = (0.1, 0.2, 0.9, 0.25)
BOTTOM = (0.1, 0.3, 0.9, 0.35)
LINES = [
    ("Spare impellers are kept", TOP),
    ("in the blue cabinet of room 14,", MIDDLE),
    ("east wing. Ask the caretaker.", BOTTOM),
]


def test_each_line_gets_the_characters_of_the_passage_it_holds() -> None:
    passage = " ".join(text for text, _ in LINES)
    spans = line_spans(passage, LINES)
    assert [passage[int(s[4]) : int(s[5])] for s in spans] == [text for text, _ in LINES]
    assert [tuple(s[:4]) for s in spans] == [TOP, MIDDLE, BOTTOM]


def test_a_passage_that_starts_inside_a_line_keeps_that_lines_part() -> None:
    passage = "blue cabinet of room 14, east wing."
    spans = line_spans(passage, LINES)
    held = [passage[int(s[4]) : int(s[5])] for s in spans]
    assert held == ["blue cabinet of room 14,", "east wing."]


def test_words_the_lines_do_not_hold_are_skipped_and_unknown_text_has_no_lines() -> None:
    passage = "Spare impel-lers are kept in the blue cabinet"
    spans = line_spans(passage, LINES)
    assert [tuple(s[:4]) for s in spans] == [TOP, MIDDLE]
    assert line_spans("nothing of this is on the page", LINES) == []
    assert line_spans("", LINES) == [] and line_spans("words", []) == []


def _payload(passage: str) -> dict:
    return {keys.TEXT: passage, keys.LINES: line_spans(passage, LINES)}


def test_the_line_that_shares_the_most_words_with_the_sentence_is_highlighted() -> None:
    passage = " ".join(text for text, _ in LINES)
    answer = "The impellers are in room 14 [1]. Ask at the desk [2]."
    assert sentences_citing(answer, 1) == "The impellers are in room 14 [1]."
    boxes = best_boxes(_payload(passage), sentences_citing(answer, 1))
    assert boxes == [list(TOP), list(MIDDLE)]  # "impellers" and "room 14": one each
    assert best_boxes(_payload(passage), "the caretaker knows") == [list(BOTTOM)]
    assert best_boxes(_payload(passage), "nothing shared") == []
    assert best_boxes({keys.TEXT: passage}, "impellers") == []  # no lines stored


def test_a_marker_after_the_full_stop_still_closes_its_sentence() -> None:
    answer = "Pumps need 230 volts. [2] They draw 12 amperes [1, 2]."
    assert sentences_citing(answer, 2) == "Pumps need 230 volts. [2] They draw 12 amperes [1, 2]."
    assert sentences_citing(answer, 1) == "They draw 12 amperes [1, 2]."
    assert sentences_citing(answer, 3) == ""


def test_a_picture_read_by_ocr_highlights_its_own_lines() -> None:
    payload = {
        keys.TEXT: "",
        keys.OCR_TEXT: "Error ZX-4471\ndisk quota exceeded",
        keys.OCR_BOXES: [list(TOP), list(MIDDLE)],
    }
    assert best_boxes(payload, "what does ZX-4471 mean") == [list(TOP)]
    payload[keys.OCR_BOXES] = [list(TOP)]  # boxes that do not match the lines: none
    assert best_boxes(payload, "ZX-4471") == []
