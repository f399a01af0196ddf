"""The tagging logic without spaCy: from hits to entity mentions and topic scores.

Order of decisions (each one is data from seeds/, not code):
1. candidates: every boundary-valid alias hit; acronyms declared case-sensitive must match case;
2. blockers: a ``not_in`` phrase removes the candidates of its entity that it overlaps
   («كابل الكهرباء» is no Kabul);
3. unconditional aliases: longest match wins, per layer («حركة طالبان باكستان» hides «طالبان»);
4. ambiguous aliases (``context: true``): count only next to a declared cue word, or when an
   anchor entity (or the entity itself, unambiguously) is in the article; when several entities
   share the alias, the nearest evidence decides; a mention inside a kept one is dropped;
5. topics: weighted keyword and entity evidence against a threshold, with required entities and
   exclusion phrases. Evidence counts by where it first appears (title, lead, then less and less
   the deeper into the body) and the threshold by the item's length (a headline needs less than
   an article); see :meth:`TagEngine.score_topics`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rasad.enrich.knowledge import Alias, Entity, Knowledge, Topic, TopicScoring
from rasad.enrich.tagger_match import Hit, PatternScanner, ScannedText, scan_text

_LATIN_ALNUM_RE = re.compile(r"[^A-Za-z0-9]")


@dataclass(slots=True)
class EntityMention:
    """A kept entity mention in match-form coordinates."""

    entity_id: str
    start: int
    end: int
    layer: str
    alias: Alias


@dataclass
class TopicResult:
    """A topic that passed its rule, with its score and evidence spans (match-form)."""

    topic_id: str
    score: float
    evidence: list[tuple[int, int]] = field(default_factory=list)


def _overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start < b_end and b_start < a_end


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    if _overlaps(a[0], a[1], b[0], b[1]):
        return 0
    return b[0] - a[1] if b[0] >= a[1] else a[0] - b[1]


def _longest_first(cands: list[EntityMention], taken: list[tuple[int, int]]) -> list[EntityMention]:
    kept: list[EntityMention] = []
    for c in sorted(cands, key=lambda m: (-(m.end - m.start), m.start)):
        if any(_overlaps(c.start, c.end, s, e) for s, e in taken):
            # the same span for two entities is decided before this step; here it is a conflict
            continue
        kept.append(c)
        taken.append((c.start, c.end))
    return kept


class TagEngine:
    """Compiled knowledge: one scanner for everything, plus the resolution rules."""

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.scanner = PatternScanner()
        ents = knowledge.entities
        for ent in ents.values():
            for alias in ent.aliases:
                self.scanner.add(alias.pattern, "entity", (ent.id, alias), article_ok=alias.article_ok)
            for phrase in ent.not_in:
                self.scanner.add(phrase, "blocker", ent.id)
            if ent.context:
                for word in ent.context.words:
                    self.scanner.add(word, "cue", ent.id)
        for topic in knowledge.topics.values():
            if topic.rule:
                for kw in topic.rule.keywords:
                    self.scanner.add(kw, "keyword", (topic.id, kw))
                for ex in topic.rule.exclude:
                    self.scanner.add(ex, "exclude", topic.id)
                for word in topic.rule.requires_words:
                    self.scanner.add(word, "scope", topic.id)
        self.scanner.build()
        self.leaf_topics: list[Topic] = [t for t in knowledge.topics.values() if t.rule]

    def scan(self, text: str) -> ScannedText:
        """Normalise and scan one text."""
        return scan_text(self.scanner, text)

    # -- entities -------------------------------------------------------------------------------

    def resolve_entities(self, scanned: ScannedText, barrier: int | None = None) -> list[EntityMention]:
        """Kept entity mentions (both layers) for a scanned text; ``barrier``: no mention may straddle it."""
        ents = self.knowledge.entities
        cands: list[EntityMention] = []
        blockers: dict[str, list[tuple[int, int]]] = defaultdict(list)
        cues: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for h in scanned.hits:
            kind = h.target.kind
            if barrier is not None and h.start < barrier < h.end:
                continue
            if kind == "entity":
                eid, alias = h.target.payload
                if alias.case_sensitive and not self._case_matches(scanned, h, alias):
                    continue
                cands.append(EntityMention(eid, h.start, h.end, ents[eid].layer, alias))
            elif kind == "blocker":
                blockers[h.target.payload].append((h.start, h.end))
            elif kind == "cue":
                cues[h.target.payload].append((h.start, h.end))
        if blockers:
            cands = [
                c for c in cands
                if not any(_overlaps(c.start, c.end, s, e) for s, e in blockers.get(c.entity_id, ()))
            ]
        kept: list[EntityMention] = []
        for layer in ("flat", "nested"):
            layer_c = [c for c in cands if c.layer == layer]
            taken: list[tuple[int, int]] = []
            sure = _longest_first([c for c in layer_c if not c.alias.needs_context], taken)
            kept.extend(sure)
            unsure = [c for c in layer_c if c.alias.needs_context and
                      not any(_overlaps(c.start, c.end, s, e) for s, e in taken)]
            if unsure:
                kept.extend(self._resolve_ambiguous(unsure, kept, cues, taken))
        kept.sort(key=lambda m: (m.start, -(m.end - m.start)))
        return kept

    @staticmethod
    def _case_matches(scanned: ScannedText, hit: Hit, alias: Alias) -> bool:
        s, e = scanned.source_span(hit.start, hit.end)
        return _LATIN_ALNUM_RE.sub("", scanned.original[s:e]) == _LATIN_ALNUM_RE.sub("", alias.text)

    def _resolve_ambiguous(
        self,
        unsure: list[EntityMention],
        kept: list[EntityMention],
        cues: dict[str, list[tuple[int, int]]],
        taken: list[tuple[int, int]],
    ) -> list[EntityMention]:
        ents = self.knowledge.entities
        by_span: dict[tuple[int, int], list[EntityMention]] = defaultdict(list)
        for c in unsure:
            by_span[(c.start, c.end)].append(c)
        accepted: list[EntityMention] = []
        pending = dict(by_span)
        # Two rounds: a mention confirmed by a cue can confirm its own entity elsewhere
        # in the article (one sense per discourse).
        for _ in range(2):
            confirmed: dict[str, list[tuple[int, int]]] = defaultdict(list)
            for m in kept + accepted:
                confirmed[m.entity_id].append((m.start, m.end))
            round_accepted: list[EntityMention] = []
            for span, options in list(pending.items()):
                best: tuple[int, EntityMention] | None = None
                for opt in options:
                    d = self._evidence_distance(span, ents[opt.entity_id], confirmed, cues)
                    if d is not None and (best is None or d < best[0]):
                        best = (d, opt)
                if best is not None:
                    round_accepted.append(best[1])
                    del pending[span]
            if not round_accepted:
                break
            accepted.extend(_longest_first(round_accepted, taken))
        return accepted

    @staticmethod
    def _evidence_distance(
        span: tuple[int, int],
        ent: Entity,
        confirmed: dict[str, list[tuple[int, int]]],
        cues: dict[str, list[tuple[int, int]]],
    ) -> int | None:
        best: int | None = None
        anchors = [ent.id] + (list(ent.context.entities) if ent.context else [])
        for anchor in anchors:
            for other in confirmed.get(anchor, ()):
                if other == span:
                    continue
                d = _gap(span, other)
                if best is None or d < best:
                    best = d
        if ent.context:
            for cue in cues.get(ent.id, ()):
                if _overlaps(span[0], span[1], cue[0], cue[1]):
                    continue
                d = _gap(span, cue)
                if d <= ent.context.window and (best is None or d < best):
                    best = d
        return best

    # -- topics ---------------------------------------------------------------------------------

    def score_topics(
        self, scanned: ScannedText, mentions: list[EntityMention], title_end: int | None = None
    ) -> list[TopicResult]:
        """Topics whose rules pass, best first; ``title_end``: hits before it are in the title.

        Each distinct keyword and evidence entity counts once, at its first occurrence, weighted
        by where that is (:class:`TopicScoring`); a keyword hit inside a longer one of the same
        topic is not separate evidence («مقتل» in «أسفر عن مقتل»). The total must reach the rule's
        threshold scaled by the item's length.
        """
        scoring = self.knowledge.scoring
        kw_spans: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        excluded: set[str] = set()
        scoped: dict[str, int] = {}
        for h in _drop_nested_keywords(scanned.hits):
            kind = h.target.kind
            if kind == "keyword":
                tid, kw = h.target.payload
                kw_spans[tid].append((h.start, h.end, kw))
            elif kind == "exclude":
                excluded.add(h.target.payload)
            elif kind == "scope":
                scoped.setdefault(h.target.payload, h.start)
        ent_first: dict[str, tuple[int, int]] = {}
        ent_spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for m in mentions:  # sorted by start
            ent_first.setdefault(m.entity_id, (m.start, m.end))
            ent_spans[m.entity_id].append((m.start, m.end))
        title_ents = {eid for eid, (s, _) in ent_first.items() if title_end is not None and s < title_end}
        weigh = _position_weigher(scoring, title_end)
        factor = _length_factor(scoring, len(scanned.matchable))
        results: list[TopicResult] = []
        for topic in self.leaf_topics:
            rule = topic.rule
            assert rule is not None  # noqa: S101 - narrows the type: every leaf topic has a rule (knowledge.py)
            if topic.id in excluded:
                continue
            if rule.requires and not (any(e in ent_first for e in rule.requires) or topic.id in scoped):
                continue
            kws = _first_keyword_hits(kw_spans.get(topic.id, ()))
            subject = any(e in title_ents for e in rule.subjects)
            if rule.requires_keyword and not kws and not subject:
                continue
            # a keyword that is the very mention of one of the topic's evidence entities («واشنطن»)
            # has matched, but its weight is the entity's
            own = {span for e, w in rule.entities.items() if w > 0 for span in ent_spans.get(e, ())}
            if own:
                kws = {k: se for k, se in kws.items() if se not in own}
            total = 0.0
            evidence: list[tuple[int, int]] = []
            for kw, (start, end) in kws.items():
                kw_weight = rule.keyword_weight * rule.keyword_weights.get(kw, 1.0) * _phrase_weight(scoring, kw)
                total += kw_weight * weigh(start)
                evidence.append((start, end))
            if rule.requires_words_weight and topic.id in scoped:
                total += rule.requires_words_weight * weigh(scoped[topic.id])
            for eid, weight in rule.entities.items():
                first = ent_first.get(eid)
                if first is not None:
                    total += weight * weigh(first[0])
                    evidence.append(first)
            threshold = rule.threshold * factor
            if total < threshold:
                continue
            score = round(min(1.0, total / (2.0 * threshold)), 3)
            results.append(TopicResult(topic.id, score, sorted(set(evidence))[:12]))
        results.sort(key=lambda r: (-r.score, r.topic_id))
        return results


def _drop_nested_keywords(hits: list[Hit]) -> list[Hit]:
    """Hits without the keywords that lie strictly inside a longer keyword of another topic only.

    Longest match wins across topics as it does for names: «العزلة الغربية» is Russia's isolation
    (russia_west), not the «عزلة» of the Taliban (legitimacy). Inside a longer keyword of its own
    topic a hit stays here; :func:`_first_keyword_hits` counts it once.
    """
    owners: dict[tuple[int, int], set[str]] = defaultdict(set)
    for h in hits:
        if h.target.kind == "keyword":
            owners[(h.start, h.end)].add(h.target.payload[0])
    if len(owners) < 2:
        return hits
    spans = sorted(owners, key=lambda x: (x[0], -x[1]))
    covered_by: dict[tuple[int, int], set[str]] = defaultdict(set)  # topics of the longer hits around a span
    for i, (s, e) in enumerate(spans):
        for s2, e2 in spans[i + 1:]:
            if s2 >= e:
                break
            if e2 <= e:
                covered_by[(s2, e2)] |= owners[(s, e)]
    if not covered_by:
        return hits
    return [
        h for h in hits
        if h.target.kind != "keyword" or (h.start, h.end) not in covered_by
        or h.target.payload[0] in covered_by[(h.start, h.end)]
    ]


def _phrase_weight(scoring: TopicScoring, keyword: str) -> float:
    """1 for a word, more for a phrase (see ``TopicScoring.phrase_bonus``)."""
    extra = keyword.rstrip("*").count(" ")
    return 1.0 + min(scoring.phrase_bonus_max, scoring.phrase_bonus * extra)


def _first_keyword_hits(spans: Iterable[tuple[int, int, str]]) -> dict[str, tuple[int, int]]:
    """First occurrence of each keyword, leaving out hits that lie inside a longer hit of the topic."""
    ordered = sorted(spans, key=lambda x: (x[0], -(x[1] - x[0])))
    first: dict[str, tuple[int, int]] = {}
    cover_end = -1  # end of the longest hit seen so far among those that start earlier
    cover_start = -1
    claimed: set[tuple[int, int]] = set()
    for start, end, kw in ordered:
        inside = cover_start <= start and end <= cover_end and (start, end) != (cover_start, cover_end)
        if end > cover_end:
            cover_start, cover_end = start, end
        # one piece of text is one piece of evidence: «الكهرباء» and «كهرباء» match the same span
        if inside or (start, end) in claimed:
            continue
        claimed.add((start, end))
        first.setdefault(kw, (start, end))
    return first


def _position_weigher(scoring: TopicScoring, title_end: int | None) -> Callable[[int], float]:
    """Weight of evidence at a match-form offset: title, lead, then decaying through the body."""
    text_start = title_end or 0
    lead_end = text_start + scoring.lead_chars

    def weigh(pos: int) -> float:
        if title_end is not None and pos < title_end:
            return scoring.title_weight
        if pos < lead_end:
            return scoring.lead_weight
        return 1.0 / (1.0 + (pos - lead_end) / max(1, scoring.body_half_chars))

    return weigh


def _length_factor(scoring: TopicScoring, length: int) -> float:
    """Threshold multiplier for an item of ``length`` characters: ``short_factor`` up to 1.0."""
    if length <= scoring.short_chars:
        return scoring.short_factor
    if length >= scoring.long_chars:
        return 1.0
    share = (length - scoring.short_chars) / (scoring.long_chars - scoring.short_chars)
    return scoring.short_factor + (1.0 - scoring.short_factor) * share


def build_engine(knowledge: Knowledge) -> TagEngine:
    """Compile a :class:`TagEngine` for ``knowledge``."""
    return TagEngine(knowledge)


__all__ = ["EntityMention", "PatternScanner", "TagEngine", "TopicResult", "build_engine"]
