"""The GZ2 decision tree and the coarse morphology classes derived from ``gz2_class``.

Evaluation only: nothing here may feed training or clustering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

TREE_FILE = Path(__file__).with_name("gz2_decision_tree.yaml")


@dataclass(frozen=True)
class Answer:
    task: str
    question: str
    id: str
    name: str
    label: str
    next: str | None

    @property
    def stem(self) -> str:
        """Column stem in the GZ2 catalogues, e.g. ``t01_smooth_or_features_a01_smooth``."""
        return f"{self.task}_{self.question}_{self.id}_{self.name}"

    def column(self, kind: str = "weighted_fraction") -> str:
        return f"{self.stem}_{kind}"


@dataclass(frozen=True)
class Question:
    task: str
    name: str
    text: str
    answers: tuple[Answer, ...]


@cache
def decision_tree() -> dict[str, Question]:
    """The 11 GZ2 questions and 37 answers, keyed by task (``t01`` .. ``t11``)."""
    raw = yaml.safe_load(TREE_FILE.read_text())
    tree = {}
    for task, spec in raw.items():
        answers = tuple(Answer(task, spec["question"], a["id"], a["name"], a["label"], a["next"]) for a in spec["answers"])
        tree[task] = Question(task, spec["question"], spec["text"], answers)
    return tree


def answers() -> list[Answer]:
    return [a for q in decision_tree().values() for a in q.answers]


def answer(task: str, answer_id: str) -> Answer:
    return next(a for a in decision_tree()[task].answers if a.id == answer_id)


# The answers the evaluation reports, by short name (docs/design.md: t01 smooth, t02 edge-on, t03 bar,
# t04 spiral, t06 odd, t08 merger).
KEY_ANSWERS = {
    "smooth": ("t01", "a01"),
    "edge_on": ("t02", "a04"),
    "bar": ("t03", "a06"),
    "spiral": ("t04", "a08"),
    "odd": ("t06", "a14"),
    "merger": ("t08", "a24"),
    "star_artifact": ("t01", "a03"),  # so clusters of stars and artefacts show what they are
}


def key_answer_columns(kind: str = "weighted_fraction") -> dict[str, str]:
    return {short: answer(*ids).column(kind) for short, ids in KEY_ANSWERS.items()}


_MODIFIERS = {"m": "merger", "d": "disturbed", "i": "irregular", "r": "ring", "l": "lens_or_arc", "u": "dust_lane", "o": "other"}


def coarse_class(gz2_class: str) -> str | None:
    """Coarse morphology from a ``gz2_class`` string (Willett+13 Table 4), or None if unreadable."""
    text = str(gz2_class).strip()
    if text.startswith("E"):
        return "smooth"
    if text.startswith("Se"):
        return "edge_on"
    if text.startswith("SB"):
        return "barred_disc"
    if text.startswith("S"):
        return "unbarred_disc"
    if text.startswith("A"):
        return "artifact"
    return None


def modifiers(gz2_class: str) -> list[str]:
    """Odd-feature modifiers in parentheses, e.g. ``Sc(m)`` -> ``["merger"]``."""
    return [_MODIFIERS[m] for m in re.findall(r"\((\w)\)", str(gz2_class)) if m in _MODIFIERS]
