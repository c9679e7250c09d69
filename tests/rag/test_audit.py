"""The bias audit's figures against hand-computed cases, and its inputs' checks."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from rag.audit import monitor
from rag.audit.groups import audit_signal, ndcg_at_k
from rag.audit.labelled import load_labelled_set, read_picture
from rag.audit.monitor import alerts, latest_records
from rag.audit.weat import WordSets, parse_word_sets, weat
from rag.config import AuditSettings
from rag.errors import InvalidInputError

EXAMPLE_SET = Path(__file__).resolve().parents[2] / "examples" / "bias" / "set.jsonl"


def _angle(degrees: float) -> np.ndarray:
    radians = math.radians(degrees)
    return np.array([math.cos(radians), math.sin(radians)])


# Targets at 0 and 30 degrees (x) and 90 and 60 degrees (y); attributes along the axes.
WORDS = {"x1": 0, "x2": 30, "y1": 90, "y2": 60, "a1": 0, "a2": 0, "b1": 90, "b2": 90}
SETS = WordSets("toy", ("x1", "x2"), ("y1", "y2"), ("a1", "a2"), ("b1", "b2"))


def _encode(words: list[str]) -> np.ndarray:
    return np.stack([_angle(WORDS[w]) for w in words])


def test_weat_matches_the_hand_computed_case() -> None:
    # s(w) = cos(w, a) - cos(w, b): 1, cos30 - sin30 = (sqrt3 - 1) / 2, -1, -(sqrt3 - 1) / 2.
    # S = sum_x s - sum_y s = 1 + sqrt3; d = mean difference / sample std of all four s.
    root3 = math.sqrt(3)
    result = weat(_encode, SETS)
    assert result.statistic == pytest.approx(1 + root3, abs=1e-9)
    expected_d = ((1 + root3) / 2) / math.sqrt((4 - root3) / 3)
    assert result.effect_size == pytest.approx(expected_d, abs=1e-9)
    # Of the 6 ways to split the four words 2 + 2, none has a larger S than the observed one.
    assert result.p_value == 0.0
    swapped = weat(_encode, WordSets("swapped", SETS.y, SETS.x, SETS.a, SETS.b))
    assert swapped.statistic == pytest.approx(-(1 + root3))
    assert swapped.effect_size == pytest.approx(-expected_d)
    assert swapped.p_value == pytest.approx(5 / 6)  # every split but the observed one is larger


def test_group_figures_match_the_hand_computed_case() -> None:
    # Two labels (queries) x four items: items 0, 1 in group A, 2, 3 in group B.
    scores = np.array([[0.9, 0.1, 0.8, 0.85], [0.2, 0.3, 0.5, 0.6]])
    audit = audit_signal(
        "image", np.eye(2), scores.T, ["p", "q", "p", "q"], ["A", "A", "B", "B"], ["p", "q"], k=2
    )
    a, b = audit.groups
    # Zero-shot: item 3 scores p (0.85) over its own q (0.6); the rest are right.
    assert (a.accuracy, b.accuracy, audit.accuracy) == (1.0, 0.5, 0.75)
    # Top-2 slots: p -> items 0 (A), 3 (B); q -> items 3 (B), 2 (B): A has 1 of 4, B 3 of 4.
    assert (a.top_k_share, b.top_k_share) == (0.25, 0.75)
    assert (a.exposure_ratio, b.exposure_ratio) == (0.5, 1.5)
    # nDCG@2 within group B: query p ranks item 3 above its relevant item 2.
    assert a.ndcg == 1.0
    assert b.ndcg == pytest.approx((1 / math.log2(3) + 1) / 2)
    # Over all items each query finds one of its two relevant items at rank 1.
    assert audit.ndcg == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert audit.gaps == pytest.approx({"accuracy": 0.5, "ndcg": 1 - b.ndcg, "exposure_ratio": 1.0})


def test_ndcg_of_no_relevant_item_is_none() -> None:
    assert ndcg_at_k([False, False], 0, 2) is None
    assert ndcg_at_k([False, True], 1, 2) == pytest.approx(1 / math.log2(3))


def test_example_set_loads_with_two_groups_and_three_labels() -> None:
    items = load_labelled_set(EXAMPLE_SET)
    assert len(items) == 24
    assert {i.group for i in items} == {"light", "dark"}
    assert {i.label for i in items} == {"circle", "square", "triangle"}
    assert all(i.image is not None and (EXAMPLE_SET.parent / i.image).is_file() for i in items)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"image": "../x.png", "label": "a", "group": "g"}, "must be a path inside"),
        ({"image": "/etc/passwd", "label": "a", "group": "g"}, "must be a path inside"),
        ({"text": "t", "group": "g"}, "label is missing"),
        ({"text": "t", "label": "a"}, "group is missing"),
        ({"label": "a", "group": "g"}, "give an image, a text or both"),
    ],
)
def test_bad_items_are_refused_with_what_to_fix(tmp_path: Path, line: dict, message: str) -> None:
    path = tmp_path / "set.jsonl"
    good = {"text": "t", "label": "b", "group": "g"}
    path.write_text(json.dumps(good) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(InvalidInputError, match=message):
        load_labelled_set(path)


def test_a_picture_reached_through_a_symlink_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes((EXAMPLE_SET.parent / "pictures" / "circle-red-dark.png").read_bytes())
    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "link.png").symlink_to(outside)
    (folder / "set.jsonl").write_text(
        json.dumps({"image": "link.png", "label": "a", "group": "g"})
        + "\n"
        + json.dumps({"text": "t", "label": "b", "group": "g"})
        + "\n"
    )
    items = load_labelled_set(folder / "set.jsonl")
    with pytest.raises(InvalidInputError, match="symlink"):
        read_picture(folder, items[0])


def test_csv_sets_other_group_columns_and_label_bounds(tmp_path: Path) -> None:
    path = tmp_path / "set.csv"
    path.write_text("text,label,region\na cat,cat,north\na dog,dog,south\n")
    items = load_labelled_set(path, group_field="region")
    assert [(i.label, i.group, i.text) for i in items] == [
        ("cat", "north", "a cat"),
        ("dog", "south", "a dog"),
    ]
    path.write_text("text,label,region\na cat,cat,north\n")
    with pytest.raises(InvalidInputError, match=r"1 distinct label.*needs 2 to 200"):
        load_labelled_set(path, group_field="region")
    path.write_text("text,label,region\n" + "".join(f"t,label{n},g\n" for n in range(201)))
    with pytest.raises(InvalidInputError, match=r"201 distinct label.*needs 2 to 200"):
        load_labelled_set(path, group_field="region")


def test_word_sets_are_bounded() -> None:
    parsed = parse_word_sets(
        [{"name": "t", "x": ["a", "b"], "y": ["c", "d"], "a": ["e", "f"], "b": ["g", "h"]}]
    )
    assert parsed[0].x == ("a", "b")
    with pytest.raises(InvalidInputError, match=r"\[0\]\.y must be a list of 2 to 64 words"):
        parse_word_sets([{"x": ["a", "b"], "y": ["c"], "a": ["e", "f"], "b": ["g", "h"]}])
    with pytest.raises(InvalidInputError, match="1 to 16 tests"):
        parse_word_sets([])


def test_alerts_name_gaps_and_drift_past_their_thresholds() -> None:
    settings = AuditSettings(gap_threshold=0.2, drift_threshold=0.1)
    found = alerts(
        {"image.accuracy": 0.3, "image.ndcg": 0.1},
        {"modality_gap": 0.55, "pair_margin": 0.2, "paired_cosine": None},
        {"modality_gap": 0.4, "pair_margin": 0.15, "paired_cosine": 0.3},
        settings,
    )
    assert [(a["kind"], a["figure"]) for a in found] == [
        ("gap", "image.accuracy"),
        ("drift", "modality_gap"),
    ]
    assert alerts({"image.accuracy": 0.3}, {}, None, AuditSettings(gap_threshold=0.5)) == []


def test_a_full_history_keeps_its_baseline_and_newest_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitor, "MAX_HISTORY_BYTES", 400)
    path = tmp_path / "monitor.jsonl"
    lines = [json.dumps({"n": n, "pad": "x" * 20}) + "\n" for n in range(40)]
    path.write_text("".join(lines))
    monitor._trim(path)
    kept = [json.loads(line)["n"] for line in path.read_text().splitlines()]
    assert kept[0] == 0 and kept[-1] == 39 and kept == [0, *range(kept[1], 40)]
    assert path.stat().st_size <= 200 + len(lines[0])


def test_latest_records_skip_a_line_cut_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "monitor.jsonl"
    assert latest_records(path) == []
    path.write_text('{"n": 1}\n{"n": 2}\n{"n": 3')
    assert latest_records(path, 5) == [{"n": 1}, {"n": 2}]
