"""``AlertItem``: one thing a rule alerts on (an article or an event signal), ready to render.

An item is a snapshot taken when the rule matched: the fields a mail shows, the snippet
with its highlight offsets, and why it matched. It is stored in the ledger (``payload``),
so a digest sent hours later shows exactly what matched, even if the article changed.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any

from rasad.alerts.labels import entity_names, topic_labels
from rasad.alerts.match import RuleMatch
from rasad.core.records import Article, Mention

SNIPPET_WIDTH = 280
ARTICLE, SIGNAL = "article", "signal"


def alert_key(rule: str, subject_id: str) -> str:
    """Idempotency key of an alert item: one per (rule, article) or (rule, signal)."""
    return hashlib.sha256(f"{rule}\x00{subject_id}".encode()).hexdigest()[:32]


@dataclass
class AlertItem:
    """One alerted article or signal, as stored in the ledger and shown in a mail."""

    key: str
    rule: str
    type: str  # article | signal
    created_at: str  # when the rule matched (ISO UTC): digest windows and throttling count from it
    title: str = ""
    url: str = ""
    source: str = ""
    feed_id: str = ""
    published: str | None = None
    language: str | None = None
    article_id: str | None = None
    duplicate_of: str | None = None
    event_id: str | None = None
    title_spans: list[list[int]] = field(default_factory=list)
    snippet: str = ""
    snippet_spans: list[list[int]] = field(default_factory=list)
    topics: list[dict[str, Any]] = field(default_factory=list)  # {id, label, label_ar}
    entities: list[dict[str, Any]] = field(default_factory=list)  # {id, name, name_ar, type}
    reasons: list[str] = field(default_factory=list)
    signal: dict[str, Any] | None = None  # the event signal (type == signal)
    related: list[dict[str, Any]] = field(
        default_factory=list
    )  # a signal's articles {title, url, source, language}
    folded_into: str | None = None  # key of the item this near-duplicate folded into

    @property
    def own_ids(self) -> list[str]:
        """Ids the ledger indexes this item under: the article, and the article it duplicates."""
        ids = [i for i in (self.article_id, self.duplicate_of) if i]
        return list(dict.fromkeys(ids))

    @property
    def subject_id(self) -> str:
        return self.article_id or (self.signal or {}).get("id", "")

    def to_dict(self) -> dict[str, Any]:
        """JSON form (stored in the ledger payload)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> AlertItem:
        """Inverse of :meth:`to_dict` (unknown keys ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def make_snippet(text: str, hits: list[Mention], width: int = SNIPPET_WIDTH) -> tuple[str, list[list[int]]]:
    """A passage around the first match in ``text``, with the match spans relative to it."""
    if not hits:
        cut = text[:width]
        if len(text) > width:  # end on a word boundary
            cut = cut.rsplit(" ", 1)[0] if " " in cut[width // 2 :] else cut
            return cut + "…", []
        return cut, []
    first = hits[0].start
    start = max(0, first - width // 3)
    # Start at a word boundary so a snippet never begins mid-word.
    while start > 0 and not text[start - 1].isspace() and first - start < width // 2:
        start -= 1
    end = min(len(text), start + width)
    while end < len(text) and not text[end].isspace() and end - start < width + 30:
        end += 1
    prefix = "…" if start > 0 else ""
    spans = [
        [m.start - start + len(prefix), m.end - start + len(prefix)]
        for m in hits
        if m.start >= start and m.end <= end
    ]
    return prefix + text[start:end] + ("…" if end < len(text) else ""), spans


def item_from_match(m: RuleMatch, created_at: str) -> AlertItem:
    """The alert item of a rule's match on an article."""
    a: Article = m.article
    text = a.text or a.summary or ""
    text_hits = [h for h in m.highlights if h.field == "text"] if a.text else []
    snippet, spans = make_snippet(text, text_hits)
    return AlertItem(
        key=alert_key(m.rule, a.id),
        rule=m.rule,
        type=ARTICLE,
        created_at=created_at,
        title=a.title,
        url=a.url,
        source=a.source or a.sitename or a.feed_id,
        feed_id=a.feed_id,
        published=a.published,
        language=a.language,
        article_id=a.id,
        duplicate_of=a.duplicate_of,
        event_id=a.event_id,
        title_spans=[[h.start, h.end] for h in m.highlights if h.field == "title"],
        snippet=snippet,
        snippet_spans=spans,
        topics=[{"id": t.id, "label": t.label, "label_ar": t.label_ar} for t in a.topics[:6]],
        entities=[
            {"id": e.id, "name": e.name, "name_ar": e.name_ar, "type": e.type} for e in a.entities[:12]
        ],
        # Arabic items say why in Arabic (the block reads right-to-left).
        reasons=list(
            m.reasons_ar if (a.language or "") in ("ar", "fa", "ur") and m.reasons_ar else m.reasons
        ),
    )


def item_from_signal(
    rule: str,
    signal: dict[str, Any],
    reasons: list[str],
    created_at: str,
    related: list[dict[str, Any]] | None = None,
) -> AlertItem:
    """The alert item of an event rule firing on a signal."""
    titles = dict(signal.get("titles") or {})
    title = signal.get("title") or next(iter(titles.values()), "") or ""
    lang = next((k for k, v in titles.items() if v == title), None)
    return AlertItem(
        key=alert_key(rule, f"signal:{signal['id']}"),
        rule=rule,
        type=SIGNAL,
        created_at=created_at,
        title=title,
        language=lang,
        published=signal.get("at") or signal.get("time"),
        event_id=signal.get("event_id"),
        reasons=list(reasons),
        related=list(related or [])[:5],
        topics=[topic_labels(t) for t in signal.get("topic_ids") or []],
        entities=[entity_names(e) for e in signal.get("entity_ids") or []],
        signal={
            k: signal.get(k)
            for k in (
                "id",
                "kind",
                "event_id",
                "entity_id",
                "topic_id",
                "at",
                "titles",
                "source_count",
                "article_count",
                "article_ids",
            )
        },
    )

