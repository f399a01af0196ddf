"""Which articles and event signals a rule matches, and where: pure logic, no I/O.

Keyword phrases go through the tagger's ``KeywordMatcher`` so they are normalised and
clitic-aware exactly like entity aliases («طالبان» matches «لطالبان», not «يطالبان»).
Highlights are the tagger's own offsets (keyword hits, entity mentions, topic evidence)
into the original title or text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rasad.alerts.labels import entity_names, topic_labels
from rasad.alerts.rules import ARTICLE_KIND, SIGNAL_OF_KIND, AlertRule
from rasad.core.records import Article, Mention


@dataclass
class RuleMatch:
    """A rule's match on one article: why it matched and which words to highlight."""

    rule: str
    article: Article
    reasons: list[str] = field(default_factory=list)  # "keyword «طالبان»", "entity Taliban" ...
    reasons_ar: list[str] = field(default_factory=list)  # the same in Arabic, for Arabic items
    highlights: list[Mention] = field(default_factory=list)  # offsets into the original title/text


@lru_cache(maxsize=256)
def _matcher(phrases: tuple[str, ...]):  # returns enrich.tagging.KeywordMatcher
    from rasad.enrich.tagging import KeywordMatcher  # noqa: PLC0415 - heavy; only when keywords are used

    return KeywordMatcher(list(phrases))


def find_phrases(phrases: tuple[str, ...], article: Article) -> dict[str, list[Mention]]:
    """Each phrase found in the article's title or text, with its mentions."""
    found: dict[str, list[Mention]] = {}
    if not phrases:
        return found
    m = _matcher(phrases)
    for fname in ("title", "text"):
        value = getattr(article, fname) or ""
        for start, end, phrase in m.find(value):
            found.setdefault(phrase, []).append(Mention(fname, start, end, value[start:end]))
    return found


def relevance(rule: AlertRule, article: Article) -> float:
    """Topic score the rule's min_relevance is compared with: its own topics', else the article's best."""
    scores = [t.score for t in article.topics if not rule.topics or t.id in rule.topics]
    return max(scores, default=0.0)


def valid_mentions(article: Article, mentions: list[Mention]) -> list[Mention]:
    """Mentions whose offsets still point at their text (a stale offset must not highlight other words)."""
    out = []
    for m in mentions:
        value = article.title if m.field == "title" else article.text
        if 0 <= m.start < m.end <= len(value or "") and (not m.text or value[m.start : m.end] == m.text):
            out.append(m)
    return out


def match_article(rule: AlertRule, article: Article) -> RuleMatch | None:
    """The rule's match on this article, or None."""
    if rule.kind != ARTICLE_KIND:
        return None
    if rule.languages and (article.language or "") not in rule.languages:
        return None
    if rule.sources and article.feed_id not in rule.sources and article.source not in rule.sources:
        return None
    if rule.min_relevance and relevance(rule, article) < rule.min_relevance:
        return None
    match = RuleMatch(rule.name, article)
    kw = rule.keywords
    if kw.none and find_phrases(kw.none, article):
        return None
    if kw.all:
        hits = find_phrases(kw.all, article)
        if any(p not in hits for p in kw.all):
            return None
        for p in kw.all:
            match.reasons.append(f"keyword «{p}»")
            match.reasons_ar.append(f"كلمة «{p}»")
            match.highlights.extend(hits[p])
    if kw.any:
        hits = find_phrases(kw.any, article)
        if not hits:
            return None
        for p in kw.any:  # rule order, so the reasons read like the rule
            if p in hits:
                match.reasons.append(f"keyword «{p}»")
                match.reasons_ar.append(f"كلمة «{p}»")
                match.highlights.extend(hits[p])
    if rule.entities:
        ents = [e for e in article.entities if e.id in rule.entities]
        if not ents:
            return None
        for e in ents:
            match.reasons.append(f"entity {e.name}")
            match.reasons_ar.append(f"كيان {e.name_ar or e.name}")
            match.highlights.extend(e.mentions)
    if rule.topics:
        tops = [t for t in article.topics if t.id in rule.topics]
        if not tops:
            return None
        for t in tops:
            match.reasons.append(f"topic {t.label} ({t.score:.2f})")
            match.reasons_ar.append(f"موضوع {t.label_ar or t.label} ({t.score:.2f})")
            match.highlights.extend(t.evidence)
    seen: set[tuple[str, int, int]] = set()
    unique = []
    for h in sorted(valid_mentions(article, match.highlights), key=lambda m: (m.field, m.start, -m.end)):
        if (h.field, h.start, h.end) not in seen:
            seen.add((h.field, h.start, h.end))
            unique.append(h)
    match.highlights = unique
    return match


def match_articles(rules: list[AlertRule], articles: list[Article]) -> list[RuleMatch]:
    """Every (rule, article) match, rules in file order, articles in arrival order."""
    out = []
    for rule in rules:
        for a in articles:
            m = match_article(rule, a)
            if m:
                out.append(m)
    return out


def _ids(signal: dict[str, Any], plural: str, single: str) -> set[str]:
    ids = set(signal.get(plural) or [])
    if signal.get(single):
        ids.add(signal[single])
    return ids


def match_signal(rule: AlertRule, signal: dict[str, Any]) -> list[str] | None:
    """Reasons an event rule fires on a signal (``new``/``confirmed``/``breaking``), or None."""
    if rule.kind not in SIGNAL_OF_KIND or signal.get("kind") != SIGNAL_OF_KIND[rule.kind]:
        return None
    reasons = []
    if rule.topics:
        hit = sorted(_ids(signal, "topic_ids", "topic_id") & set(rule.topics))
        if not hit:
            return None
        reasons += [f"topic {topic_labels(t)['label']}" for t in hit]
    if rule.entities:
        hit = sorted(_ids(signal, "entity_ids", "entity_id") & set(rule.entities))
        if not hit:
            return None
        reasons += [f"entity {entity_names(e)['name']}" for e in hit]
    return reasons
