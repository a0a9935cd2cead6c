"""Courses that translate one another, for recommendations that respect the learner's language.

A learner who studies a course must never be offered its translation as "a course you have not
begun". A translation is detected from the catalogue: its id or its lesson ids. (A ``translation_of``
in ``course.toml`` pairs lessons for answers, :mod:`knowledge.live`; the catalogue does not keep it.)
"""

from __future__ import annotations

import re

from recommender.catalogue import Catalogue

LANGUAGE_CODES = frozenset(
    "ar bg cs da de el en es et fa fi fr he hi hu id it ja ko nl no pl pt ro ru sv th tr uk vi zh".split()
)
_SUFFIX = re.compile(r"^(?P<base>.+?)[-_.](?P<code>[a-z]{2})(?:[-_][a-z]{2,4})?$")


def _base_id(course_id: str, language: str) -> str:
    """The course id without a language suffix (``x-zh`` -> ``x``; ``x-en`` -> ``x``)."""
    match = _SUFFIX.match(course_id.lower())
    if match and (match["code"] == language or match["code"] in LANGUAGE_CODES):
        return match["base"]
    return course_id.lower()


def translations(catalogue: Catalogue) -> dict[str, set[str]]:
    """Each course's translations (both ways).

    Two courses in different languages are taken for translations when their ids differ only by a
    language suffix (``x`` / ``x-zh``, ``x-en`` / ``x-zh``), or when the smaller one's lesson ids (at
    least two) are all lessons of the other: a translated course keeps its lesson ids.
    """
    if catalogue.twins is not None:
        return catalogue.twins
    pairs: dict[str, set[str]] = {cid: set() for cid in catalogue.courses}

    def link(a: str, b: str) -> None:
        if a != b and a in pairs and b in pairs:
            pairs[a].add(b)
            pairs[b].add(a)

    rows = list(catalogue.courses.items())
    ids = {cid: {r.lesson_id for r in catalogue.lessons.get(cid, [])} for cid, _ in rows}
    for i, (a, row_a) in enumerate(rows):
        for b, row_b in rows[i + 1 :]:
            lang_a, lang_b = row_a.language, row_b.language
            if lang_a and lang_b and lang_a == lang_b:
                continue
            if _base_id(a, lang_a) == _base_id(b, lang_b):
                link(a, b)
                continue
            small, large = sorted((ids[a], ids[b]), key=len)
            if lang_a and lang_b and len(small) >= 2 and small <= large:
                link(a, b)
    catalogue.twins = pairs
    return pairs
