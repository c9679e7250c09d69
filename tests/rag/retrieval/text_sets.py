"""Labelled text collections for the text-signal evaluation tests.

``CODES``: near-identical sentences told apart only by an exact part code, so the lexical signal
must win. ``PARAPHRASES``: questions that share no word (after stemming) with any passage, so
only the passage model can answer them. Each entry: (external id, passage, query).
"""

from __future__ import annotations

_PARTS = ["X200-B", "X200-C", "X210-B", "E-1042", "E-1043", "E-1402", "K7-113", "K7-131"]
_PARTS += ["AB-77", "AB-78", "ZX-9000", "ZX-9001"]

CODES: list[tuple[str, str, str]] = [
    (
        f"code-{i}",
        f"Replacement part {code} fits the standard housing; order {code} from the service desk.",
        f"{code}",
    )
    for i, code in enumerate(_PARTS)
]

PARAPHRASES: list[tuple[str, str, str]] = [
    (
        "para-pump",
        "The pump requires 230 volts.",
        "what electricity supply does this machine need",
    ),
    (
        "para-cat",
        "A kitten naps on the sofa all afternoon.",
        "young feline sleeping upon couches",
    ),
    (
        "para-rain",
        "Heavy rainfall flooded the streets downtown.",
        "storms caused water to cover city roads",
    ),
    (
        "para-doctor",
        "The physician prescribed antibiotics for the infection.",
        "medic gave drugs against bacteria",
    ),
    (
        "para-car",
        "Our automobile broke down on the highway.",
        "vehicle stopped working during motorway trips",
    ),
    (
        "para-bake",
        "She baked bread in a wood-fired oven.",
        "loaves cooked inside stoves heated with logs",
    ),
    (
        "para-stock",
        "Share prices fell sharply after the earnings report.",
        "equity values dropped following profit results",
    ),
    (
        "para-learn",
        "Children study mathematics at primary school.",
        "kids learning arithmetic during elementary education",
    ),
    (
        "para-guitar",
        "He plays the guitar in a rock band.",
        "musician strumming strings with his music group",
    ),
    (
        "para-flight",
        "The plane landed late at the airport.",
        "aircraft arrived behind schedule",
    ),
]
