"""Clitic-aware multi-pattern matching over normalised text.

One Aho-Corasick automaton holds every pattern (entity aliases, blocker phrases, cue words,
topic keywords, alert phrases). A raw hit only counts when it sits on word boundaries: on the
right nothing but a non-letter may follow (unless the pattern ends in ``*``); on the left an
Arabic pattern may be preceded inside its word only by a valid proclitic sequence
(و ف + ب ل ك, or those + the article ال / لل). That is what lets «لطالبان» and «وبموسكو» match
while «يطالبان» and «طالب» do not. No stemming: names stay whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ahocorasick

from rasad.enrich.normalize import (
    ARTICLE_PROCLITICS,
    MAX_PROCLITIC,
    PLAIN_PROCLITICS,
    OffsetMap,
    match_mapped,
    normalize_pattern,
)


def _is_arabic_letter(ch: str) -> bool:
    return "\u0621" <= ch <= "\u064a"


@dataclass(frozen=True, slots=True)
class Target:
    """What a pattern means: its kind, the payload, and how it may attach to clitics."""

    kind: str  # "entity", "blocker", "cue", "keyword", "exclude", "phrase"
    payload: Any
    has_article: bool = False  # the pattern had a leading ال that was stripped into the prefix check
    article_ok: bool = True
    star: bool = False  # any word ending allowed after the pattern


@dataclass(slots=True)
class Hit:
    """A boundary-checked match in match-form coordinates; ``start`` includes a leading article."""

    start: int
    end: int
    target: Target


def split_article(pattern: str) -> tuple[str, bool]:
    """Strip a leading Arabic article from a normalised pattern: («الكرملين» -> «كرملين», True)."""
    if pattern.startswith("ال") and len(pattern) > 4 and _is_arabic_letter(pattern[2]):
        return pattern[2:], True
    return pattern, False


class PatternScanner:
    """An Aho-Corasick automaton over normalised patterns with clitic-aware boundary checks."""

    def __init__(self) -> None:
        self._targets: dict[str, list[Target]] = {}
        self._automaton: Any = None

    def add(self, pattern: str, kind: str, payload: Any, article_ok: bool = True) -> None:
        """Register an already-normalised pattern (a trailing ``*`` allows any word ending)."""
        star = pattern.endswith("*")
        core = pattern.rstrip("*").strip()
        if not core:
            return
        key, has_article = split_article(core)
        self._targets.setdefault(key, []).append(
            Target(kind, payload, has_article=has_article, article_ok=article_ok, star=star)
        )
        self._automaton = None

    def build(self) -> None:
        """Compile the automaton (called lazily by :meth:`scan`)."""
        auto = ahocorasick.Automaton()
        for key, targets in self._targets.items():
            auto.add_word(key, (len(key), tuple(targets)))
        auto.make_automaton()
        self._automaton = auto

    @property
    def size(self) -> int:
        """Number of distinct patterns."""
        return len(self._targets)

    def scan(self, text: str) -> list[Hit]:
        """All boundary-valid hits in ``text`` (which must be in match form)."""
        if self._automaton is None:
            self.build()
        if not self._targets:
            return []
        hits: list[Hit] = []
        n = len(text)
        for end_idx, (plen, targets) in self._automaton.iter(text):
            e = end_idx + 1
            s = e - plen
            right_ok = e >= n or not text[e].isalnum()
            first = text[s]
            if _is_arabic_letter(first):
                j = s
                floor = s - MAX_PROCLITIC
                while j > 0 and j > floor and _is_arabic_letter(text[j - 1]):
                    j -= 1
                if j > 0 and text[j - 1].isalnum():
                    continue  # glued to a longer word
                prefix = text[j:s]
            else:
                if s > 0 and text[s - 1].isalnum():
                    continue
                prefix = ""
            for t in targets:
                if not right_ok and not t.star:
                    continue
                if prefix == "":
                    if t.has_article:
                        continue
                    hits.append(Hit(s, e, t))
                elif t.has_article or t.article_ok:
                    if prefix in ARTICLE_PROCLITICS:
                        hits.append(Hit(s - 2, e, t))  # the article: «ال», or «لل» where it fused with ل
                    elif not t.has_article and prefix in PLAIN_PROCLITICS:
                        hits.append(Hit(s, e, t))
                elif prefix in PLAIN_PROCLITICS:
                    hits.append(Hit(s, e, t))
        return hits


@dataclass
class ScannedText:
    """A text in match form with maps back to the original, and its hits."""

    original: str
    matchable: str
    to_normalized: OffsetMap  # match form -> normalised
    to_original: OffsetMap  # normalised -> original
    hits: list[Hit]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """Original-text span of a match-form span."""
        ns, ne = self.to_normalized.to_source_span(start, end)
        return self.to_original.to_source_span(ns, ne)


def scan_text(scanner: PatternScanner, text: str) -> ScannedText:
    """Normalise ``text``, bring it to match form and run ``scanner`` over it."""
    matchable, to_normalized, to_original = match_mapped(text)
    return ScannedText(text, matchable, to_normalized, to_original, scanner.scan(matchable))


class KeywordMatcher:
    """Find phrases in text, normalised and clitic-aware exactly like entity matching (for alerts)."""

    def __init__(self, phrases: Iterable[str]) -> None:
        self.phrases = list(phrases)
        self._scanner = PatternScanner()
        for phrase in self.phrases:
            star = phrase.rstrip().endswith("*")
            pattern = normalize_pattern(phrase.rstrip().rstrip("*"))
            if pattern:
                self._scanner.add(pattern + ("*" if star else ""), "phrase", phrase)
        self._scanner.build()

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """(start, end, phrase) for every match, offsets into the original ``text``, in text order."""
        scanned = scan_text(self._scanner, text)
        out: set[tuple[int, int, str]] = set()
        for hit in scanned.hits:
            s, e = scanned.source_span(hit.start, hit.end)
            out.add((s, e, hit.target.payload))
        return sorted(out)
