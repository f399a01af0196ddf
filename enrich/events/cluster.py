"""Online single-pass story clustering: each article joins an active event or starts one.

Pure: no I/O, no clock of its own. Time is the articles' own time, and the stream
clock is the latest article time seen, so the same articles in the same order always
give the same events, signals and ids. ``export_state``/``from_state`` carry the
whole model across a restart.

The decision rule (docs/events.md explains and tunes it). For an article ``a`` and an
active event ``e``, each similarity the article carries is multiplied by a fade
factor ``0.5 ** (hours since e's last article / fade_half_life_hours)``:

* text: cosine between a's TF-IDF vector (hashed, normalised tokens of title and lead,
  IDF from time-decayed document frequencies) and e's centroid *in a's language*;
* entities: cosine between a's entity ids and e's entity counts, both IDF-weighted;
* topics: the same over topic ids.

``margin = sum(w_i * (s_i - threshold_i)) / sum(w_i)`` over the similarities the article
carries. If e has no centroid in a's language (another language reported it so far),
the text term is absent and the entity threshold is the stricter cross-language one,
with at least ``cross_min_shared_entities`` shared entity ids. The article joins the
candidate with the highest margin if that margin is >= 0, else it starts a new event.
"""

from __future__ import annotations

import dataclasses
import heapq
import math
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from enrich.events.features import DecayedFrequency, hash_feature
from enrich.events.signals import (
    BurstDetector,
    Signal,
    SIGNAL_BREAKING,
    confirmed_signal,
    hour_label,
    new_signal,
)
from enrich.events.tokens import tokenize_text

if TYPE_CHECKING:
    from rasad.records import Article

STATE_VERSION = 1
_HOUR_S = 3600.0
_UNKNOWN_LANGUAGE = "und"
_ENTITY_BITS = 18  # entity and topic ids share one small hashed frequency table


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ClusterItem:
    """What the clusterer needs from an article (UTC time, text, language, tag ids, source)."""

    id: str
    time: datetime
    title: str
    text: str = ""
    language: str = _UNKNOWN_LANGUAGE
    entity_ids: list[str] = field(default_factory=list)
    topic_ids: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        self.time = _to_utc(self.time)
        self.language = (self.language or _UNKNOWN_LANGUAGE).lower()

    @classmethod
    def from_article(cls, article: "Article") -> "ClusterItem":
        """Build an item from an enriched ``Article`` (published time, else fetch time)."""
        from rasad.records import parse_iso

        published = parse_iso(article.published)
        fetched = parse_iso(article.fetched_at)
        # A publication date after the fetch is a feed's clock or timezone error.
        if published is None or (fetched is not None and published > fetched):
            published = fetched
        if published is None:
            raise ValueError(f"article {article.id} has neither a published nor a fetched_at time")
        return cls(
            id=article.id,
            time=published,
            title=article.title,
            text=article.text or article.summary,
            language=article.language or article.language_hint or _UNKNOWN_LANGUAGE,
            entity_ids=[e.id for e in article.entities],
            topic_ids=[t.id for t in article.topics],
            source=article.source or article.feed_id,
        )


@dataclass(frozen=True)
class ClusterConfig:
    """Every knob of the clusterer; docs/events.md says what each does and how to tune it."""

    # Features
    hash_bits: int = 20  # token buckets: 2**20 float32 cells = 4 MB, fixed
    df_half_life_hours: float = 48.0  # document frequencies halve every this many hours
    title_repeat: int = 2  # title tokens count this many times (the title names the story)
    max_body_tokens: int = 200  # only the lead: later paragraphs drift into background
    max_doc_features: int = 48  # an article's vector keeps its top features by weight
    max_centroid_features: int = 96  # per event and language
    max_event_ids: int = 32  # entity and topic ids kept per event (by count)
    # Decision rule
    weight_text: float = 0.6
    weight_entities: float = 0.3
    weight_topics: float = 0.1
    threshold_text: float = 0.15
    threshold_entities: float = 0.5
    threshold_topics: float = 0.5
    cross_threshold_entities: float = 0.6
    cross_min_shared_entities: int = 2
    fade_half_life_hours: float = 24.0
    # Candidate search (speed only, not quality, as long as candidates is not tiny)
    candidates: int = 20
    probe_features: int = 12  # only an article's heaviest features look up candidate events
    max_posting: int = 300  # a feature or id shared by more active events is no lead
    # Bounded state
    window_hours: float = 72.0  # an event with no article for this long leaves the active set
    max_active_events: int = 100_000
    max_member_ids: int = 200
    max_seen_ids: int = 20_000  # repeated article ids recognised (idempotent re-delivery)
    # Signals
    confirm_sources: int = 3
    confirm_window_hours: float = 24.0
    burst_baseline_hours: int = 24
    burst_z: float = 3.0
    burst_min_count: int = 5


@dataclass
class Event:
    """A story: the articles that report it, and the model state needed to match new ones."""

    id: str
    first_seen_s: float
    last_seen_s: float
    last_touch_s: float  # stream clock at the last update (eviction order)
    article_count: int = 0
    sources: dict[str, float] = field(default_factory=dict)  # source -> time of its latest article
    languages: dict[str, int] = field(default_factory=dict)
    titles: dict[str, str] = field(default_factory=dict)  # representative title per language
    entities: dict[str, int] = field(default_factory=dict)
    topics: dict[str, int] = field(default_factory=dict)
    member_ids: list[str] = field(default_factory=list)  # first max_member_ids members
    confirmed: bool = False
    centroids: dict[str, dict[int, float]] = field(default_factory=dict)  # language -> bucket -> weight
    norms: dict[str, float] = field(default_factory=dict)
    title_vectors: dict[str, list[list[float]]] = field(default_factory=dict)  # [[bucket, w], ...]

    @property
    def first_seen(self) -> datetime:
        """Time of the earliest article."""
        return datetime.fromtimestamp(self.first_seen_s, tz=timezone.utc)

    @property
    def last_seen(self) -> datetime:
        """Time of the latest article."""
        return datetime.fromtimestamp(self.last_seen_s, tz=timezone.utc)

    @property
    def source_count(self) -> int:
        """Distinct sources that reported the event."""
        return len(self.sources)

    def top_entities(self, n: int = 10) -> list[str]:
        """Most frequent entity ids, ties by id."""
        return [k for k, _ in sorted(self.entities.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    def top_topics(self, n: int = 5) -> list[str]:
        """Most frequent topic ids, ties by id."""
        return [k for k, _ in sorted(self.topics.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]

    def to_doc(self) -> dict[str, Any]:
        """The event record as stored (no model state): what analysts and alerts read."""
        return {
            "id": self.id,
            "first_seen": _iso(self.first_seen_s),
            "last_seen": _iso(self.last_seen_s),
            "titles": dict(sorted(self.titles.items())),
            "article_count": self.article_count,
            "source_count": self.source_count,
            "sources": sorted(self.sources),
            "languages": sorted(self.languages),
            "top_entities": self.top_entities(),
            "top_topics": self.top_topics(),
            "member_ids": list(self.member_ids),
            "confirmed": self.confirmed,
        }

    def export_state(self) -> dict[str, Any]:
        """Everything, model state included, as JSON-serialisable data."""
        state = dataclasses.asdict(self)
        state["centroids"] = {lang: [list(c), list(c.values())] for lang, c in self.centroids.items()}
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "Event":
        """Inverse of :meth:`export_state`."""
        kw = dict(state)
        kw["centroids"] = {lang: dict(zip(keys, vals)) for lang, (keys, vals) in state["centroids"].items()}
        return cls(**kw)


@dataclass
class Assignment:
    """Where one article went and what it set off."""

    event_id: str
    is_new: bool
    similarity: float  # weighted similarity to the chosen (or, if new, the nearest) event
    signals: list[Signal] = field(default_factory=list)
    margin: float | None = None  # decision margin of the best candidate (None: no candidate)
    duplicate: bool = False  # the article id was already assigned; nothing changed
    evicted: list[str] = field(default_factory=list)  # events that left the active window now


@dataclass
class _Doc:
    """An article turned into the vectors the decision rule compares."""

    language: str
    vector: list[tuple[int, float]]  # unit length, heaviest first
    entities: list[tuple[str, float]]  # (id, idf)
    entity_norm: float
    topics: list[tuple[str, float]]
    topic_norm: float


def _cosine_ids(doc: list[tuple[str, float]], doc_norm: float, counts: dict[str, int], idfs: dict[str, float]) -> tuple[float, int]:
    """IDF-weighted cosine between an article's ids and an event's id counts, and the overlap."""
    if not doc or not counts:
        return 0.0, 0
    dot = 0.0
    shared = 0
    for key, idf in doc:
        count = counts.get(key)
        if count:
            dot += idf * idf * count
            shared += 1
    if not shared:
        return 0.0, 0
    event_norm = math.sqrt(sum((idfs[k] * c) ** 2 for k, c in counts.items()))
    return dot / (doc_norm * event_norm), shared


class EventClusterer:
    """Assign articles, in arrival order, to events; emit new/confirmed/breaking signals."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        cfg = self.config
        self._events: OrderedDict[str, Event] = OrderedDict()  # least recently updated first
        self._postings: dict[int, set[str]] = {}
        self._id_postings: dict[str, set[str]] = {}  # "e:<entity>" / "t:<topic>" -> events
        self._token_df = DecayedFrequency(cfg.hash_bits, cfg.df_half_life_hours * _HOUR_S)
        self._id_df = DecayedFrequency(_ENTITY_BITS, cfg.df_half_life_hours * _HOUR_S)
        self._bursts = BurstDetector(cfg.burst_baseline_hours, cfg.burst_z, cfg.burst_min_count)
        self._seen: OrderedDict[str, str] = OrderedDict()
        self._clock: float | None = None
        self.stats: Counter[str] = Counter()

    # ----- public API -------------------------------------------------------------------

    @property
    def events(self) -> Mapping[str, Event]:
        """Active events by id, least recently updated first (read-only view)."""
        return MappingProxyType(self._events)

    def assign(self, item: ClusterItem) -> Assignment:
        """Put one article into an event (existing or new) and return the signals it fires."""
        cfg = self.config
        t = item.time.timestamp()
        self._clock = t if self._clock is None else max(self._clock, t)
        clock = self._clock
        if item.id in self._seen:
            self.stats["duplicates"] += 1
            return Assignment(self._seen[item.id], False, 1.0, duplicate=True)
        evicted = self._evict(clock)
        doc = self._vectorise(item, clock)
        best_id, best_margin, best_sim = self._choose(doc, t)
        signals: list[Signal] = []
        if best_id is not None and best_margin is not None and best_margin >= 0:
            event = self._events[best_id]
            is_new = False
            self.stats["joined"] += 1
        else:
            event = self._create_event(item, t, clock)
            is_new = True
            signals.append(new_signal(event.id, item.id, item.time))
            self.stats["created"] += 1
        self._add_member(event, item, doc, t, clock)
        if not event.confirmed:
            recent = sorted(s for s, ts in event.sources.items() if ts >= t - cfg.confirm_window_hours * _HOUR_S)
            if len(recent) >= cfg.confirm_sources:
                event.confirmed = True
                signals.append(confirmed_signal(event.id, item.id, item.time, recent))
        signals.extend(self._breaking(item, event.id, t, clock))
        self._remember(item.id, event.id)
        return Assignment(event.id, is_new, best_sim or 0.0, signals, best_margin, False, evicted)

    def export_state(self) -> dict[str, Any]:
        """The whole model as JSON-serialisable data; ``from_state`` continues exactly from it."""
        return {
            "version": STATE_VERSION,
            "config": dataclasses.asdict(self.config),
            "clock": self._clock,
            "events": [e.export_state() for e in self._events.values()],
            "token_df": self._token_df.export_state(),
            "id_df": self._id_df.export_state(),
            "bursts": self._bursts.export_state(),
            "seen": [[a, e] for a, e in self._seen.items()],
            "stats": dict(self.stats),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "EventClusterer":
        """Rebuild a clusterer from :meth:`export_state` output (derived indexes are rebuilt)."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported event state version {state.get('version')!r}")
        clusterer = cls(ClusterConfig(**state["config"]))
        clusterer._clock = state["clock"]
        clusterer._token_df = DecayedFrequency.from_state(state["token_df"])
        clusterer._id_df = DecayedFrequency.from_state(state["id_df"])
        clusterer._bursts = BurstDetector.from_state(state["bursts"])
        clusterer._seen = OrderedDict((a, e) for a, e in state["seen"])
        clusterer.stats = Counter(state["stats"])
        for raw in state["events"]:
            event = Event.from_state(raw)
            clusterer._events[event.id] = event
            clusterer._index_event(event)
        return clusterer

    def state_size(self) -> dict[str, int]:
        """Counts of everything the state holds, to show it stays bounded."""
        return {
            "events": len(self._events),
            "centroid_features": sum(len(c) for e in self._events.values() for c in e.centroids.values()),
            "postings": sum(len(p) for p in self._postings.values()),
            "id_postings": sum(len(p) for p in self._id_postings.values()),
            "token_buckets": self._token_df.nonzero,
            "burst_cells": self._bursts.size,
            "seen_ids": len(self._seen),
        }

    # ----- steps of assign --------------------------------------------------------------

    def _evict(self, clock: float) -> list[str]:
        cfg = self.config
        horizon = clock - cfg.window_hours * _HOUR_S
        evicted: list[str] = []
        while self._events:
            oldest_id, oldest = next(iter(self._events.items()))
            if oldest.last_touch_s >= horizon and len(self._events) < cfg.max_active_events:
                break
            self._events.popitem(last=False)
            self._unindex_event(oldest)
            evicted.append(oldest_id)
        self.stats["evicted"] += len(evicted)
        return evicted

    def _vectorise(self, item: ClusterItem, clock: float) -> _Doc:
        cfg = self.config
        tokens = tokenize_text(item.title) * cfg.title_repeat + tokenize_text(item.text)[: cfg.max_body_tokens]
        tf = Counter(hash_feature(tok, cfg.hash_bits) for tok in tokens)
        # Count the article in the frequencies before weighting it, so its own rare words
        # get a finite IDF and a first article is comparable to later ones.
        self._token_df.add_document(tf.keys(), clock)
        buckets = list(tf)
        idfs = self._token_df.idf_many(buckets, clock)
        weighted = sorted(
            ((b, (1.0 + math.log(tf[b])) * idf) for b, idf in zip(buckets, idfs) if idf > 0),
            key=lambda bw: (-bw[1], bw[0]),
        )[: cfg.max_doc_features]
        norm = math.sqrt(sum(w * w for _, w in weighted)) or 1.0
        vector = [(b, w / norm) for b, w in weighted]

        entity_keys = list(dict.fromkeys(item.entity_ids))
        topic_keys = list(dict.fromkeys(item.topic_ids))
        id_buckets = [hash_feature("e:" + k, _ENTITY_BITS) for k in entity_keys] + [
            hash_feature("t:" + k, _ENTITY_BITS) for k in topic_keys
        ]
        self._id_df.add_document(set(id_buckets), clock)
        id_idfs = self._id_df.idf_many(id_buckets, clock)
        entities = list(zip(entity_keys, id_idfs[: len(entity_keys)]))
        topics = list(zip(topic_keys, id_idfs[len(entity_keys) :]))
        return _Doc(
            language=item.language,
            vector=vector,
            entities=entities,
            entity_norm=math.sqrt(sum(i * i for _, i in entities)),
            topics=topics,
            topic_norm=math.sqrt(sum(i * i for _, i in topics)),
        )

    def _choose(self, doc: _Doc, t: float) -> tuple[str | None, float | None, float | None]:
        """Best candidate event, its margin and similarity (all None when there is none)."""
        cfg = self.config
        lang = doc.language
        partial: dict[str, float] = {}
        for bucket, weight in doc.vector[: cfg.probe_features]:
            posting = self._postings.get(bucket)
            if not posting or len(posting) > cfg.max_posting:
                continue
            for event_id in posting:
                centroid = self._events[event_id].centroids.get(lang)
                if centroid is not None:
                    cw = centroid.get(bucket)
                    if cw:
                        partial[event_id] = partial.get(event_id, 0.0) + weight * cw
        # Events reached only through entities matter when they may be a cross-language
        # match, which needs cross_min_shared_entities shared ids: count them first.
        shared: dict[str, list[float]] = {}
        for key, idf in doc.entities:
            posting = self._id_postings.get("e:" + key)
            if not posting or len(posting) > cfg.max_posting:
                continue
            for event_id in posting:
                acc = shared.get(event_id)
                if acc is None:
                    shared[event_id] = [1.0, idf]
                else:
                    acc[0] += 1.0
                    acc[1] += idf
        linked = [e for e, (n, _) in shared.items() if n >= cfg.cross_min_shared_entities]
        candidates = set(
            heapq.nsmallest(
                cfg.candidates,
                partial,
                key=lambda e: (-partial[e] / self._events[e].norms[lang], e),
            )
        )
        candidates.update(heapq.nsmallest(cfg.candidates, linked, key=lambda e: (-shared[e][1], e)))
        idf_memo: dict[str, float] = {}
        best: tuple[float, str, float] | None = None
        for event_id in candidates:
            scored = self._score(doc, self._events[event_id], t, idf_memo)
            if scored is None:
                continue
            margin, sim = scored
            if best is None or margin > best[0] or (margin == best[0] and event_id < best[1]):
                best = (margin, event_id, sim)
        if best is None:
            return None, None, None
        return best[1], best[0], best[2]

    def _id_idfs(self, counts: dict[str, int], prefix: str, t: float, memo: dict[str, float]) -> dict[str, float]:
        missing = [k for k in counts if prefix + k not in memo]
        if missing:
            idfs = self._id_df.idf_many([hash_feature(prefix + k, _ENTITY_BITS) for k in missing], t)
            memo.update((prefix + k, idf) for k, idf in zip(missing, idfs))
        return {k: memo[prefix + k] for k in counts}

    def _score(self, doc: _Doc, event: Event, t: float, memo: dict[str, float]) -> tuple[float, float] | None:
        """(margin, similarity) of an article against one event, or None if it may not join."""
        cfg = self.config
        clock = self._clock if self._clock is not None else t
        fade = 0.5 ** (max(0.0, t - event.last_seen_s) / (cfg.fade_half_life_hours * _HOUR_S))
        centroid = event.centroids.get(doc.language)
        terms: list[tuple[float, float, float]] = []  # (weight, similarity, threshold)
        cross = centroid is None or not doc.vector
        if not cross:
            assert centroid is not None
            dot = sum(w * centroid.get(b, 0.0) for b, w in doc.vector)
            terms.append((cfg.weight_text, fade * dot / event.norms[doc.language], cfg.threshold_text))
        if doc.entities:
            ent, shared = _cosine_ids(
                doc.entities, doc.entity_norm, event.entities, self._id_idfs(event.entities, "e:", clock, memo)
            )
            if cross and shared < cfg.cross_min_shared_entities:
                return None
            threshold = cfg.cross_threshold_entities if cross else cfg.threshold_entities
            terms.append((cfg.weight_entities, fade * ent, threshold))
        elif cross:
            return None  # neither shared words nor shared entities: nothing links them
        if doc.topics:
            top, _ = _cosine_ids(doc.topics, doc.topic_norm, event.topics, self._id_idfs(event.topics, "t:", clock, memo))
            terms.append((cfg.weight_topics, fade * top, cfg.threshold_topics))
        total = sum(w for w, _, _ in terms)
        margin = sum(w * (s - th) for w, s, th in terms) / total
        similarity = sum(w * s for w, s, _ in terms) / total
        return margin, similarity

    def _create_event(self, item: ClusterItem, t: float, clock: float) -> Event:
        event_id = f"ev-{item.id}"
        suffix = 1
        while event_id in self._events:  # the same article id started an event before
            suffix += 1
            event_id = f"ev-{item.id}-{suffix}"
        event = Event(event_id, first_seen_s=t, last_seen_s=t, last_touch_s=clock)
        self._events[event_id] = event
        return event

    def _add_member(self, event: Event, item: ClusterItem, doc: _Doc, t: float, clock: float) -> None:
        cfg = self.config
        lang = doc.language
        event.article_count += 1
        event.first_seen_s = min(event.first_seen_s, t)
        event.last_seen_s = max(event.last_seen_s, t)
        event.last_touch_s = clock
        self._events.move_to_end(event.id)
        event.sources[item.source] = max(event.sources.get(item.source, t), t)
        event.languages[lang] = event.languages.get(lang, 0) + 1
        if len(event.member_ids) < cfg.max_member_ids:
            event.member_ids.append(item.id)

        if doc.vector:
            centroid = event.centroids.setdefault(lang, {})
            for bucket, weight in doc.vector:
                if bucket not in centroid:
                    self._postings.setdefault(bucket, set()).add(event.id)
                centroid[bucket] = centroid.get(bucket, 0.0) + weight
            if len(centroid) > 2 * cfg.max_centroid_features:  # amortised: prune to the cap
                kept = sorted(centroid.items(), key=lambda bw: (-bw[1], bw[0]))[: cfg.max_centroid_features]
                event.centroids[lang] = dict(kept)
                for bucket in centroid.keys() - event.centroids[lang].keys():
                    # Another language's centroid of the same event may still hold the bucket.
                    if not any(bucket in c for c in event.centroids.values()):
                        self._drop_posting(self._postings, bucket, event.id)
                centroid = event.centroids[lang]
            event.norms[lang] = math.sqrt(sum(w * w for w in centroid.values()))
            self._update_title(event, lang, item.title, doc.vector)

        for key, _ in doc.entities:
            self._count_id(event, event.entities, "e:", key)
        for key, _ in doc.topics:
            self._count_id(event, event.topics, "t:", key)

    def _count_id(self, event: Event, counts: dict[str, int], prefix: str, key: str) -> None:
        if key not in counts:
            self._id_postings.setdefault(prefix + key, set()).add(event.id)
        counts[key] = counts.get(key, 0) + 1
        if len(counts) > 2 * self.config.max_event_ids:
            kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.config.max_event_ids]
            for dropped in counts.keys() - dict(kept).keys():
                self._drop_posting(self._id_postings, prefix + dropped, event.id)
            counts.clear()
            counts.update(kept)

    def _update_title(self, event: Event, lang: str, title: str, vector: list[tuple[int, float]]) -> None:
        """Keep, per language, the title of the member closest to the event's centroid."""
        centroid = event.centroids[lang]

        def closeness(vec: list[tuple[int, float]] | list[list[float]]) -> float:
            return sum(w * centroid.get(int(b), 0.0) for b, w in vec)

        current = event.title_vectors.get(lang)
        if current is None or closeness(vector) > closeness(current):
            event.titles[lang] = title
            event.title_vectors[lang] = [[b, w] for b, w in vector]

    def _breaking(self, item: ClusterItem, event_id: str, t: float, clock: float) -> list[Signal]:
        keys = [f"entity:{k}" for k in dict.fromkeys(item.entity_ids)]
        keys += [f"topic:{k}" for k in dict.fromkeys(item.topic_ids)]
        signals = []
        for burst in self._bursts.observe(keys, t, clock):
            details = {
                "hour": hour_label(burst.hour),
                "count": burst.count,
                "baseline_mean": round(burst.baseline_mean, 4),
                "baseline_std": round(burst.baseline_std, 4),
                "z": round(burst.z, 4),
            }
            signals.append(
                Signal(
                    f"{SIGNAL_BREAKING}:{burst.key}:{hour_label(burst.hour)}",
                    SIGNAL_BREAKING,
                    item.time,
                    item.id,
                    event_id,
                    burst.key,
                    details,
                )
            )
        return signals

    def _remember(self, article_id: str, event_id: str) -> None:
        self._seen[article_id] = event_id
        while len(self._seen) > self.config.max_seen_ids:
            self._seen.popitem(last=False)

    # ----- derived indexes --------------------------------------------------------------

    def _index_event(self, event: Event) -> None:
        for centroid in event.centroids.values():
            for bucket in centroid:
                self._postings.setdefault(bucket, set()).add(event.id)
        for key in event.entities:
            self._id_postings.setdefault("e:" + key, set()).add(event.id)
        for key in event.topics:
            self._id_postings.setdefault("t:" + key, set()).add(event.id)

    def _unindex_event(self, event: Event) -> None:
        for centroid in event.centroids.values():
            for bucket in centroid:
                self._drop_posting(self._postings, bucket, event.id)
        for key in event.entities:
            self._drop_posting(self._id_postings, "e:" + key, event.id)
        for key in event.topics:
            self._drop_posting(self._id_postings, "t:" + key, event.id)

    @staticmethod
    def _drop_posting(postings: dict[Any, set[str]], key: Any, event_id: str) -> None:
        posting = postings.get(key)
        if posting is not None:
            posting.discard(event_id)
            if not posting:
                del postings[key]
