"""Which articles a rule matches, and where: pure logic over tagged Articles.

Keyword phrases go through the tagger's ``KeywordMatcher`` so they are normalised and
clitic-aware exactly like entity aliases («طالبان» matches «لطالبان», not «طالب»).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from alerts.rules import AlertRule
from rasad.records import Article, Mention


@dataclass
class RuleMatch:
    rule: str
    article: Article
    reasons: list[str] = field(default_factory=list)  # "keyword «طالبان»", "entity org.taliban" ...
    highlights: list[Mention] = field(default_factory=list)  # offsets into the original title/text


@lru_cache(maxsize=256)
def _matcher(phrases: tuple[str, ...]):  # noqa: ANN202 - returns enrich.tagging.KeywordMatcher
    from enrich.tagging import KeywordMatcher  # noqa: PLC0415 - heavy; only when keywords are used

    return KeywordMatcher(list(phrases))


def _find(phrases: tuple[str, ...], article: Article) -> dict[str, list[Mention]]:
    found: dict[str, list[Mention]] = {}
    if not phrases:
        return found
    m = _matcher(phrases)
    for fname in ("title", "text"):
        value = getattr(article, fname) or ""
        for start, end, phrase in m.find(value):
            found.setdefault(phrase, []).append(Mention(fname, start, end, value[start:end]))
    return found


def match_article(rule: AlertRule, article: Article) -> RuleMatch | None:
    """The rule's match on this article, or None."""
    if rule.kind != "articles":
        return None
    if rule.languages and (article.language or "") not in rule.languages:
        return None
    if rule.sources and article.feed_id not in rule.sources and article.source not in rule.sources:
        return None
    match = RuleMatch(rule.name, article)
    kw = rule.keywords
    if kw.none and _find(kw.none, article):
        return None
    if kw.all:
        hits = _find(kw.all, article)
        if any(p not in hits for p in kw.all):
            return None
        for p, ms in hits.items():
            match.reasons.append(f"keyword «{p}»")
            match.highlights.extend(ms)
    if kw.any:
        hits = _find(kw.any, article)
        if not hits:
            return None
        for p, ms in hits.items():
            match.reasons.append(f"keyword «{p}»")
            match.highlights.extend(ms)
    if rule.entities:
        ents = [e for e in article.entities if e.id in rule.entities]
        if not ents:
            return None
        for e in ents:
            match.reasons.append(f"entity {e.name}")
            match.highlights.extend(e.mentions)
    if rule.topics:
        tops = [t for t in article.topics if t.id in rule.topics and t.score >= rule.min_relevance]
        if not tops:
            return None
        for t in tops:
            match.reasons.append(f"topic {t.label}")
            match.highlights.extend(t.evidence)
    match.highlights.sort(key=lambda m: (m.field, m.start))
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
