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

``margin = sum(w_i * (s_i - threshold_i)) / sum(w_i) + bonus`` over the similarities the
article carries, where the bonus grows with the log of e's article count up to a cap (a
story many outlets cover draws more follow-ups). If e has no centroid in a's language
(another language reported it so far), the text term is absent and the entity threshold
is the stricter cross-language one, with at least ``cross_min_shared_entities`` shared
entity ids. The article joins the candidate with the highest margin if that margin is
>= 0, else it starts a new event. Words that many active events carry weigh less in the
article's vector. After a join, events the article nearly joined too are merged with its
event when their centroids have converged (the merged-away event points at the survivor).
"""

from __future__ import annotations

import dataclasses
import math
from array import array
from collections import Counter, OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import repeat
from operator import methodcaller, mul
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from rasad.enrich.events.features import DecayedFrequency, hash_feature
from rasad.enrich.events.signals import (
    SIGNAL_BREAKING,
    BurstDetector,
    Signal,
    confirmed_signal,
    hour_label,
    merged_signal,
    new_signal,
)
from rasad.enrich.events.tokens import leading_tokens

if TYPE_CHECKING:
    from rasad.core.records import Article

# 4: each event's touch_seq (the eviction order as a number, so events stored one per document
# come back in order); 3: merged-event links and Event.merged_ids; 2: title vectors as
# [buckets, weights] like centroids (1: [[bucket, weight], ...]). Versions 1 to 3 still load.
STATE_VERSION = 4
_HOUR_S = 3600.0
_UNKNOWN_LANGUAGE = "und"
_ENTITY_BITS = 18  # entity and topic ids share one small hashed frequency table
_NO_POSTING: dict[int, float] = {}  # the posting of a bucket no event holds (never written to)
_HASH_CACHE_SIZE = 1 << 16  # tokens (and, apart, ids) whose bucket is remembered: ~8 MB each at most


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
    def from_article(cls, article: Article) -> ClusterItem:
        """Build an item from an enriched ``Article`` (published time, else fetch time)."""
        from rasad.core.records import parse_iso  # noqa: PLC0415 - only this adapter needs the record helpers

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
    # A story with many reports draws follow-ups (the "rich get richer" prior of Dirichlet-process
    # clustering): the margin to an event gains size_bonus per e-fold of its article count, at most
    # size_bonus_cap, so a large event never accepts an article that shares nothing with it.
    size_bonus: float = 0.03
    size_bonus_cap: float = 0.11
    # A word that many active events carry ("best", "deal", "week") is weak evidence that two
    # reports are one story: an article's weight on it is scaled by (1 + events carrying it) **
    # -generic_word_gamma, and the vector is brought back to unit length (0 turns this off).
    generic_word_gamma: float = 0.2
    # Merging converged events: after an article joins event e, the merge_candidates events it
    # nearly joined too (margin >= merge_probe_margin, best first) are each merged with e when
    # their centroids in the article's language have a cosine >= merge_threshold
    # (merge_threshold_small if either has at most merge_small_events articles). The larger
    # event survives. merge_threshold 0 turns merging off.
    merge_threshold: float = 0.25
    merge_threshold_small: float = 0.15
    merge_small_events: int = 3
    merge_probe_margin: float = -0.05
    merge_candidates: int = 3  # checking all near misses merged the same events on MStream, only slower
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


class PackedCentroid(Mapping[int, float]):
    """A centroid read from a stored state, kept as two packed arrays (buckets, weights) in the
    stored order until its event changes (then it becomes a dict with that same order).

    A partial model loads over a thousand events late in a long cycle and changes a few of them:
    as a dict, a centroid's int and float objects took ~90 bytes a feature, packed 16. Look-ups by
    bucket are linear: the model reads weights through its postings, not from here.
    """

    __slots__ = ("buckets", "weights")

    def __init__(self, buckets: Iterable[int], weights: Iterable[float]) -> None:
        self.buckets = array("q", buckets)
        self.weights = array("d", weights)
        if len(self.buckets) != len(self.weights):
            raise ValueError(f"a centroid has {len(self.buckets)} buckets but {len(self.weights)} weights")

    def __getitem__(self, bucket: int) -> float:
        try:
            return self.weights[self.buckets.index(bucket)]
        except ValueError:
            raise KeyError(bucket) from None

    def __iter__(self) -> Iterator[int]:
        return iter(self.buckets)

    def __len__(self) -> int:
        return len(self.buckets)

    def __contains__(self, bucket: object) -> bool:
        return bucket in self.buckets

    def items(self) -> Iterable[tuple[int, float]]:  # type: ignore[override]
        return zip(self.buckets, self.weights, strict=True)

    def values(self) -> Iterable[float]:  # type: ignore[override]
        return iter(self.weights)

    def unpacked(self) -> dict[int, float]:
        """The dict ``Event.from_state`` builds for a whole model (same order, same values)."""
        return dict(zip(self.buckets, self.weights, strict=True))


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
    # language -> bucket -> weight; a PackedCentroid until the event changes, in a partial model
    centroids: dict[str, dict[int, float] | PackedCentroid] = field(default_factory=dict)
    norms: dict[str, float] = field(default_factory=dict)
    # Per language, the vector of the title kept in ``titles``: (buckets, weights), heaviest first.
    # Packed arrays, not [[bucket, weight], ...]: 1 KB instead of 3.5 KB per event, and nothing
    # for the garbage collector to walk (48 small lists per event made full collections crawl).
    title_vectors: dict[str, tuple[array, array]] = field(default_factory=dict)
    merged_ids: list[str] = field(default_factory=list)  # events merged into this one (first max_member_ids)
    merged_into: str | None = None  # set on an event merged away: the event that absorbed it
    # Position in the eviction order (least recently updated first): the clusterer's counter at the
    # event's last update. Two events can share last_touch_s; they never share a touch_seq.
    touch_seq: int = 0

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
            "merged_ids": list(self.merged_ids),
            "merged_into": self.merged_into,
        }

    def export_state(self) -> dict[str, Any]:
        """Everything, model state included, as JSON-serialisable data."""
        # Built by hand: dataclasses.asdict deep-copies recursively, ~10x slower at 50k events.
        return {
            "id": self.id,
            "first_seen_s": self.first_seen_s,
            "last_seen_s": self.last_seen_s,
            "last_touch_s": self.last_touch_s,
            "article_count": self.article_count,
            "sources": dict(self.sources),
            "languages": dict(self.languages),
            "titles": dict(self.titles),
            "entities": dict(self.entities),
            "topics": dict(self.topics),
            "member_ids": list(self.member_ids),
            "confirmed": self.confirmed,
            "centroids": {lang: [list(c), list(c.values())] for lang, c in self.centroids.items()},
            "norms": dict(self.norms),
            "title_vectors": {lang: [b.tolist(), w.tolist()] for lang, (b, w) in self.title_vectors.items()},
            "merged_ids": list(self.merged_ids),
            "touch_seq": self.touch_seq,
        }

    def live_centroid(self, lang: str) -> dict[int, float]:
        """The event's centroid in ``lang`` as a dict that may change (unpacked first if need be)."""
        centroid = self.centroids.get(lang)
        if centroid is None:
            centroid = self.centroids[lang] = {}
        elif type(centroid) is PackedCentroid:
            centroid = self.centroids[lang] = centroid.unpacked()
        return centroid  # type: ignore[return-value]

    @classmethod
    def from_state(cls, state: dict[str, Any], version: int = STATE_VERSION, packed: bool = False) -> Event:
        """Inverse of :meth:`export_state` (also reads the layouts of versions 1 and 2); ``packed``
        keeps the centroids as :class:`PackedCentroid` (equal as mappings, smaller, read-only)."""
        kw = dict(state)
        make = PackedCentroid if packed else (lambda keys, vals: dict(zip(keys, vals, strict=True)))
        kw["centroids"] = {lang: make(keys, vals) for lang, (keys, vals) in state["centroids"].items()}
        vectors = state["title_vectors"].items()
        if version == 1:
            vectors = ((lang, ([b for b, _ in pairs], [w for _, w in pairs])) for lang, pairs in vectors)
        kw["title_vectors"] = {lang: (array("q", bs), array("d", ws)) for lang, (bs, ws) in vectors}
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
    merged: list[EventMerge] = field(default_factory=list)  # events merged on this step


@dataclass(frozen=True)
class EventMerge:
    """Two events found to be one story: ``event_id`` was merged into ``into`` (which survives)."""

    event_id: str
    into: str
    time: datetime  # time of the article whose arrival showed the convergence
    article_id: str
    similarity: float  # cosine of the two centroids when they merged
    doc: dict[str, Any]  # the merged-away event's last record, with ``merged_into`` set


@dataclass
class _Doc:
    """An article turned into the vectors the decision rule compares."""

    language: str
    vector: list[tuple[int, float]]  # unit length, heaviest first
    buckets: list[int]  # vector's buckets and weights apart, for the C-level dot product
    weights: list[float]
    entities: list[tuple[str, float]]  # (id, idf)
    entity_norm: float
    topics: list[tuple[str, float]]
    topic_norm: float


@dataclass
class Preview:
    """An article as ``EventClusterer.preview`` sees it: enough to find its candidate events."""

    item: ClusterItem
    vector: list[tuple[int, float]]  # unit TF-IDF vector before the generic-word weighting
    entities: list[tuple[str, float]]  # (entity id, idf)

    def probes(
        self, config: ClusterConfig, text_counts: Mapping[int, int], lang_events: int, id_counts: Mapping[str, int]
    ) -> tuple[list[tuple[int, float]], list[tuple[str, float]]]:
        """(text buckets, entity ids) that look up candidates, with their weights, as ``_choose`` does.

        The counts are the active events holding each bucket (in the article's language) and each
        "e:" id, and ``lang_events`` those with a centroid in that language.
        """
        vector = self.vector
        if lang_events and config.generic_word_gamma:
            gamma = -config.generic_word_gamma
            counts = [text_counts.get(b, 0) for b, _ in vector]
            vector = [(b, w * (1 + n) ** gamma) if n else (b, w) for (b, w), n in zip(vector, counts, strict=True)]
            norm = math.sqrt(sum(w * w for _, w in vector)) or 1.0
            vector = sorted(((b, w / norm) for b, w in vector), key=lambda bw: (-bw[1], bw[0]))
        text = [
            (b, w) for b, w in vector[: config.probe_features] if 0 < text_counts.get(b, 0) <= config.max_posting
        ]
        entities = [(k, idf) for k, idf in self.entities if 0 < id_counts.get("e:" + k, 0) <= config.max_posting]
        return text, entities


class _BucketCache(dict[str, int]):
    """Token -> hashed bucket, computed on first use (hashing is pure, so caching changes nothing)."""

    def __init__(self, bits: int) -> None:
        super().__init__()
        self.bits = bits

    def __missing__(self, token: str) -> int:
        bucket = self[token] = hash_feature(token, self.bits)
        return bucket


def _top_by_score(slots: np.ndarray, scores: np.ndarray, k: int, event_at: list[str | None]) -> list[str]:
    """Ids of the ``k`` slots with the highest score, ties by event id (not by slot number)."""
    if len(slots) > k:
        # np.partition finds the k-th best score; every slot that ties with it stays in the
        # running, so which of the tied events win is decided by id below, never by slot order.
        kth = -np.partition(-scores, k - 1)[k - 1]
        keep = scores >= kth
        slots, scores = slots[keep], scores[keep]
    ranked = sorted(zip((-scores).tolist(), [event_at[s] for s in slots.tolist()], strict=True))
    return [event_id for _, event_id in ranked[:k]]


class EventClusterer:
    """Assign articles, in arrival order, to events; emit new/confirmed/breaking signals."""

    def __init__(self, config: ClusterConfig | None = None) -> None:
        self.config = config or ClusterConfig()
        cfg = self.config
        self._events: OrderedDict[str, Event] = OrderedDict()  # least recently updated first
        # Derived indexes (rebuilt by from_state, never exported). Each active event holds an
        # integer slot, so candidate scores accumulate in numpy arrays instead of dicts.
        # Results never depend on which slot an event got: ties are broken by event id.
        self._slot_of: dict[str, int] = {}
        self._event_at: list[str | None] = []
        self._free_slots: list[int] = []
        self._capacity = 0
        self._partial = np.zeros(0)  # text score accumulator, zero between assignments
        self._shared_n = np.zeros(0)  # shared entity count accumulator
        self._shared_idf = np.zeros(0)  # shared entity idf-sum accumulator
        self._norms: dict[str, np.ndarray] = {}  # language -> centroid norm per slot
        # language -> bucket -> {slot: centroid weight}: one look-up per posting entry.
        self._postings: dict[str, dict[int, dict[int, float]]] = {}
        self._id_postings: dict[str, set[int]] = {}  # "e:<entity>" / "t:<topic>" -> slots
        self._id_buckets: dict[str, int] = {}  # cache of hash_feature for id keys (pure function)
        self._token_buckets = _BucketCache(cfg.hash_bits)
        # Each previewed item's tokens, for its assign (the same item object) to use once.
        self._previewed_tokens: dict[str, tuple[ClusterItem, list[str]]] = {}
        self._token_df = DecayedFrequency(cfg.hash_bits, cfg.df_half_life_hours * _HOUR_S)
        self._id_df = DecayedFrequency(_ENTITY_BITS, cfg.df_half_life_hours * _HOUR_S)
        self._bursts = BurstDetector(cfg.burst_baseline_hours, cfg.burst_z, cfg.burst_min_count)
        self._seen: OrderedDict[str, str] = OrderedDict()
        # Merged-away event id -> the event it went into (the last max_seen_ids merges), so an id an
        # article or a record still carries resolves to the event that lives on.
        self._merged: OrderedDict[str, str] = OrderedDict()
        self._clock: float | None = None
        self.stats: Counter[str] = Counter()
        self._touch_seq = 0  # the last touch_seq handed out (eviction order)
        # What changed since take_changes(): events to store again, and events that left.
        self._changed: set[str] = set()
        self._removed: set[str] = set()
        # A partial model (from_parts) holds only some active events. For the rest, which it does not
        # load, it knows what the decision rule reads from them: how many hold each text bucket
        # (per language) and entity id the batch's articles carry, how many have a centroid in each
        # language, and how many there are. Empty for a model that holds every event.
        self._ext_text: dict[str, dict[int, int]] = {}
        self._ext_ids: dict[str, int] = {}
        self._ext_lang: dict[str, int] = {}
        self._ext_active = 0
        # A partial model also indexes only the keys its articles will look up: the text buckets (per
        # language) and entity ids the counts list. The rest of a loaded event's centroid is never
        # read from the postings (only from the event), and late in a long cycle indexing all of it
        # was over half the model's memory. None: everything is indexed (a whole model).
        self._index_text: dict[str, set[int]] | None = None
        self._index_ids: set[str] | None = None

    # ----- public API -------------------------------------------------------------------

    @property
    def events(self) -> Mapping[str, Event]:
        """Active events by id, least recently updated first (read-only view)."""
        return MappingProxyType(self._events)

    def resolve_event(self, event_id: str) -> str:
        """The event that now holds ``event_id``'s articles: itself, or the one it was merged into."""
        seen = 0
        while event_id in self._merged and seen <= len(self._merged):  # the bound only guards a bad state
            event_id = self._merged[event_id]
            seen += 1
        return event_id

    def assign(self, item: ClusterItem) -> Assignment:
        """Put one article into an event (existing or new) and return the signals it fires."""
        t = item.time.timestamp()
        self._clock = t if self._clock is None else max(self._clock, t)
        clock = self._clock
        if item.id in self._seen:
            self.stats["duplicates"] += 1
            return Assignment(self.resolve_event(self._seen[item.id]), False, 1.0, duplicate=True)
        evicted = self._evict(clock)
        doc = self._vectorise(item, clock)
        best_id, best_margin, best_sim, near = self._choose(doc, t)
        signals: list[Signal] = []
        merged: list[EventMerge] = []
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
        if not is_new:
            # A new event's near misses stay apart: its article was found to be a story of its own.
            event = self._merge_converged(event, doc.language, near, item, merged, signals)
        self._check_confirmed(event, item, t, signals)
        signals.extend(self._breaking(item, event.id, t, clock))
        self._remember(item.id, event.id)
        return Assignment(event.id, is_new, best_sim or 0.0, signals, best_margin, False, evicted, merged)

    def _check_confirmed(self, event: Event, item: ClusterItem, t: float, signals: list[Signal]) -> None:
        cfg = self.config
        if not event.confirmed:
            recent = sorted(s for s, ts in event.sources.items() if ts >= t - cfg.confirm_window_hours * _HOUR_S)
            if len(recent) >= cfg.confirm_sources:
                event.confirmed = True
                signals.append(confirmed_signal(event.id, item.id, item.time, recent))

    def export_state(self) -> dict[str, Any]:
        """The whole model as JSON-serialisable data; ``from_state`` continues exactly from it."""
        return {**self.export_globals(), "events": [e.export_state() for e in self._events.values()]}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EventClusterer:
        """Rebuild a clusterer from :meth:`export_state` output (derived indexes are rebuilt)."""
        version = state.get("version")
        if version not in (1, 2, 3, STATE_VERSION):
            raise ValueError(f"unsupported event state version {version!r}")
        clusterer = cls._from_globals(state)
        for i, raw in enumerate(state["events"], start=1):
            event = Event.from_state(raw, version)
            if version < 4:  # no touch_seq yet: the list is in eviction order, so number it
                event.touch_seq = i
            clusterer._events[event.id] = event
            clusterer._index_event(event)
        if version < 4:
            clusterer._touch_seq = len(state["events"])
        return clusterer

    @classmethod
    def _from_globals(cls, state: dict[str, Any]) -> EventClusterer:
        # A state saved before a knob existed gets the knob's default (the dataclass default).
        clusterer = cls(ClusterConfig(**state["config"]))
        clusterer._clock = state["clock"]
        clusterer._token_df = DecayedFrequency.from_state(state["token_df"])
        clusterer._id_df = DecayedFrequency.from_state(state["id_df"])
        clusterer._bursts = BurstDetector.from_state(state["bursts"])
        clusterer._seen = OrderedDict((a, e) for a, e in state["seen"])
        clusterer._merged = OrderedDict((gone, into) for gone, into in state.get("merged", []))
        clusterer.stats = Counter(state["stats"])
        clusterer._touch_seq = state.get("touch_seq", 0)
        return clusterer

    # ----- stored one document per event (enrich.event_store) ------------------------------

    def export_globals(self) -> dict[str, Any]:
        """The shared part of the state: everything but the events (``export_state`` without them)."""
        return {
            "version": STATE_VERSION,
            "config": dataclasses.asdict(self.config),
            "clock": self._clock,
            "token_df": self._token_df.export_state(),
            "id_df": self._id_df.export_state(),
            "bursts": self._bursts.export_state(),
            "seen": [[a, e] for a, e in self._seen.items()],
            "merged": [[gone, into] for gone, into in self._merged.items()],
            "stats": dict(self.stats),
            "touch_seq": self._touch_seq,
        }

    @classmethod
    def from_parts(
        cls,
        shared: dict[str, Any],
        events: Iterable[dict[str, Any]],
        active: int,
        text_counts: Mapping[str, Mapping[int, int]] | None = None,
        id_counts: Mapping[str, int] | None = None,
        lang_counts: Mapping[str, int] | None = None,
    ) -> EventClusterer:
        """A model holding only ``events`` (exported events) of the ``active`` ones.

        The counts are over *all* active events: how many hold each text bucket (language ->
        bucket -> n), each "e:" id, and a centroid in each language. Their keys must be every
        bucket and entity id of the articles this model will assign (zero counts included): the
        model indexes only those. ``events`` must hold every event those articles could be
        compared with or that leaves the window meanwhile (see ``rasad.enrich.event_store``);
        then assigning gives what the whole model would. Without counts, everything is indexed.
        """
        clusterer = cls._from_globals(shared)
        clusterer.load_parts(events, active, text_counts, id_counts, lang_counts, shared.get("version", STATE_VERSION))
        return clusterer

    def load_parts(
        self,
        events: Iterable[dict[str, Any]],
        active: int,
        text_counts: Mapping[str, Mapping[int, int]] | None = None,
        id_counts: Mapping[str, int] | None = None,
        lang_counts: Mapping[str, int] | None = None,
        version: int = STATE_VERSION,
    ) -> None:
        """Add the events of :meth:`from_parts` to a model made by ``from_parts(shared, [], active)``.

        That model's :meth:`preview` leaves it as it was, so a store previews a batch and then
        loads the batch's events into the same model instead of decoding the shared part twice.
        """
        if self._events or self._changed or self._removed:
            raise ValueError("load_parts needs a model that holds no events yet (from_parts(shared, [], active))")
        if text_counts is not None:
            self._index_text = {lang: set(c) for lang, c in text_counts.items()}
            self._index_ids = set(id_counts or ())
        # Each state becomes its Event as it is read (``events`` may be a lazy iterable: a decoded
        # state is several times the Event's size), then they go in eviction order.
        packed = text_counts is not None
        events_in = (Event.from_state(raw, version, packed) for raw in events)
        for event in sorted(events_in, key=lambda e: e.touch_seq):
            self._events[event.id] = event
            self._index_event(event)
        # The model's own postings count the loaded events: the external counts are the rest.
        ext_text = {lang: dict(c) for lang, c in (text_counts or {}).items()}
        ext_ids = dict(id_counts or {})
        ext_lang = dict(lang_counts or {})
        for event in self._events.values():
            for lang, centroid in event.centroids.items():
                if lang in ext_lang:
                    ext_lang[lang] -= 1
                counts = ext_text.get(lang)
                if counts:
                    for bucket in centroid:
                        if bucket in counts:
                            counts[bucket] -= 1
            for key in event.entities:
                if "e:" + key in ext_ids:
                    ext_ids["e:" + key] -= 1
        self._ext_text = {lang: {b: n for b, n in c.items() if n > 0} for lang, c in ext_text.items()}
        self._ext_ids = {k: n for k, n in ext_ids.items() if n > 0}
        self._ext_lang = {k: n for k, n in ext_lang.items() if n > 0}
        self._ext_active = max(0, active - len(self._events))

    @property
    def active_count(self) -> int:
        """Active events, counting those a partial model did not load."""
        return len(self._events) + self._ext_active

    def take_changes(self) -> tuple[list[dict[str, Any]], list[str]]:
        """(exported events changed since the last call, ids of events that left) and start afresh."""
        changed = [self._events[e].export_state() for e in sorted(self._changed) if e in self._events]
        removed = sorted(self._removed - self._changed)
        self._changed, self._removed = set(), set()
        return changed, removed

    def preview(self, items: list[ClusterItem]) -> list[Preview]:
        """What each item will look like when assigned in this order, before any event is consulted.

        Token and id frequencies evolve with the articles alone, so this runs the same arithmetic as
        ``assign`` on copies of them: the buckets and their weights before the generic-word weighting
        (which needs event counts) and the entity ids with their IDFs are those ``assign`` will use.
        """
        token_df, id_df = self._token_df.copy(), self._id_df.copy()
        clock = self._clock
        out = []
        self._previewed_tokens.clear()
        for item in items:
            t = item.time.timestamp()
            clock = t if clock is None else max(clock, t)
            if item.id in self._seen:
                continue
            self._previewed_tokens[item.id] = (item, self._tokens(item))
            vector, entities, _ = self._features(item, clock, token_df, id_df)
            out.append(Preview(item, vector, entities))
        return out

    def state_size(self) -> dict[str, int]:
        """Counts of everything the state holds, to show it stays bounded."""
        return {
            "events": len(self._events),
            "centroid_features": sum(len(c) for e in self._events.values() for c in e.centroids.values()),
            "postings": sum(len(p) for by_bucket in self._postings.values() for p in by_bucket.values()),
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
            if oldest.last_touch_s >= horizon and len(self._events) + self._ext_active < cfg.max_active_events:
                break
            self._events.popitem(last=False)
            self._unindex_event(oldest)
            self._removed.add(oldest_id)
            self._changed.discard(oldest_id)
            evicted.append(oldest_id)
        self.stats["evicted"] += len(evicted)
        return evicted

    def _tokens(self, item: ClusterItem) -> list[str]:
        cfg = self.config
        return leading_tokens(item.title) * cfg.title_repeat + leading_tokens(item.text, cfg.max_body_tokens)

    def _features(
        self, item: ClusterItem, clock: float, token_df: DecayedFrequency, id_df: DecayedFrequency
    ) -> tuple[list[tuple[int, float]], list[tuple[str, float]], list[tuple[str, float]]]:
        """The article's unit TF-IDF vector (before generic-word weighting), entities and topics.

        Counts the article in ``token_df`` and ``id_df``: the model's own, or copies (``preview``).
        """
        cfg = self.config
        previewed = self._previewed_tokens.get(item.id)
        tokens = previewed[1] if previewed is not None and previewed[0] is item else self._tokens(item)
        if len(self._token_buckets) > _HASH_CACHE_SIZE:  # bound the cache; it only saves hashing
            self._token_buckets.clear()
        tf = Counter(map(self._token_buckets.__getitem__, tokens))
        # Count the article in the frequencies before weighting it, so its own rare words
        # get a finite IDF and a first article is comparable to later ones.
        token_df.add_document(tf.keys(), clock)
        buckets = list(tf)
        idfs = token_df.idf_many(buckets, clock)
        # Sorted by (-weight, bucket): heaviest first, ties by bucket.
        weighted = sorted((-(1.0 + math.log(tf[b])) * idf, b) for b, idf in zip(buckets, idfs, strict=True) if idf > 0)
        weighted = weighted[: cfg.max_doc_features]
        norm = math.sqrt(sum(w * w for w, _ in weighted)) or 1.0
        vector = [(b, -w / norm) for w, b in weighted]

        entity_keys = list(dict.fromkeys(item.entity_ids))
        topic_keys = list(dict.fromkeys(item.topic_ids))
        id_buckets = [self._id_bucket("e:" + k) for k in entity_keys]
        id_buckets += [self._id_bucket("t:" + k) for k in topic_keys]
        id_df.add_document(set(id_buckets), clock)
        id_idfs = id_df.idf_many(id_buckets, clock)
        entities = list(zip(entity_keys, id_idfs[: len(entity_keys)], strict=True))
        topics = list(zip(topic_keys, id_idfs[len(entity_keys) :], strict=True))
        return vector, entities, topics

    def _vectorise(self, item: ClusterItem, clock: float) -> _Doc:
        cfg = self.config
        vector, entities, topics = self._features(item, clock, self._token_df, self._id_df)
        self._previewed_tokens.pop(item.id, None)
        lang = item.language
        if self._index_text is not None:  # a partial model: only the previewed articles' keys are indexed
            only_text, only_ids = self._index_text.get(lang, set()), self._index_ids or set()
            if not (only_text.issuperset(b for b, _ in vector) and only_ids.issuperset("e:" + k for k, _ in entities)):
                raise ValueError(f"article {item.id!r} was not among those this partial event model was loaded for")
        postings = self._postings.get(lang)
        ext = self._ext_text.get(lang)
        if (postings or self._ext_lang.get(lang)) and cfg.generic_word_gamma:
            # Back to unit length: weight moves from the words many events share to the article's
            # distinctive ones, so a title whose only link to an event is "best" or "week" no
            # longer clears the threshold, while one that shares a name counts for more.
            gamma = -cfg.generic_word_gamma
            if ext:  # a partial model: the events it did not load count too
                local = postings or {}
                counts = [len(local.get(b, ())) + ext.get(b, 0) for b, _ in vector]
                vector = [(b, w * (1 + n) ** gamma) if n else (b, w) for (b, w), n in zip(vector, counts, strict=True)]
            else:
                local = postings or {}
                vector = [(b, w * (1 + len(local[b])) ** gamma) if b in local else (b, w) for b, w in vector]
            norm = math.sqrt(sum(w * w for _, w in vector)) or 1.0
            vector = sorted(((b, w / norm) for b, w in vector), key=lambda bw: (-bw[1], bw[0]))
        return _Doc(
            language=item.language,
            vector=vector,
            buckets=[b for b, _ in vector],
            weights=[w for _, w in vector],
            entities=entities,
            entity_norm=math.sqrt(sum(i * i for _, i in entities)),
            topics=topics,
            topic_norm=math.sqrt(sum(i * i for _, i in topics)),
        )

    def _id_bucket(self, key: str) -> int:
        bucket = self._id_buckets.get(key)
        if bucket is None:
            if len(self._id_buckets) >= _HASH_CACHE_SIZE:  # bound the cache; it only saves hashing
                self._id_buckets.clear()
            bucket = self._id_buckets[key] = hash_feature(key, _ENTITY_BITS)
        return bucket

    def _choose(
        self, doc: _Doc, t: float
    ) -> tuple[str | None, float | None, float | None, list[tuple[float, str]]]:
        """Best candidate event, its margin and similarity (None when there is none), and the near misses.

        The near misses are (margin, event id) of every other scored candidate whose margin is at least
        ``merge_probe_margin``, best first: the events the article nearly joined too.
        """
        cfg = self.config
        lang = doc.language
        candidates: set[str] = set()
        # Text leads: partial dot products over the article's heaviest buckets. The entries of
        # all probed postings go to numpy at once; np.add.at adds them in order, so each event's
        # sum is the same float sequence as a per-event loop over the buckets.
        postings = self._postings.get(lang)
        if postings:
            ext = self._ext_text.get(lang) or {}
            keys: list[int] = []
            values: list[float] = []
            lengths: list[int] = []
            probe_weights: list[float] = []
            for bucket, weight in doc.vector[: cfg.probe_features]:
                posting = postings.get(bucket)
                if not posting or len(posting) + ext.get(bucket, 0) > cfg.max_posting:
                    continue
                keys += posting
                values += posting.values()
                lengths.append(len(posting))
                probe_weights.append(weight)
            if keys:
                slots = np.array(keys, dtype=np.intp)
                partial = self._partial
                np.add.at(partial, slots, np.repeat(probe_weights, lengths) * np.array(values))
                slots = np.unique(slots)
                scores = partial[slots] / self._norms[lang][slots]
                partial[slots] = 0.0
                candidates.update(_top_by_score(slots, scores, cfg.candidates, self._event_at))
        # Events reached only through entities matter when they may be a cross-language
        # match, which needs cross_min_shared_entities shared ids: count them first.
        keys = []
        idfs: list[float] = []
        ext_ids = self._ext_ids
        for key, idf in doc.entities:
            id_posting = self._id_postings.get("e:" + key)
            if not id_posting or len(id_posting) + ext_ids.get("e:" + key, 0) > cfg.max_posting:
                continue
            keys += id_posting
            idfs += [idf] * len(id_posting)
        if keys:
            slots = np.array(keys, dtype=np.intp)
            shared_n, shared_idf = self._shared_n, self._shared_idf
            np.add.at(shared_n, slots, 1.0)
            np.add.at(shared_idf, slots, np.array(idfs))
            slots = np.unique(slots)
            linked = slots[shared_n[slots] >= cfg.cross_min_shared_entities]
            if len(linked):
                candidates.update(_top_by_score(linked, shared_idf[linked], cfg.candidates, self._event_at))
            shared_n[slots] = 0.0
            shared_idf[slots] = 0.0
        # IDFs of entity and topic ids at this clock, shared by all candidates of this article.
        memos: tuple[dict[str, float], dict[str, float]] = ({}, {})
        # The article's buckets' postings: each candidate's centroid weights are read from them.
        rows = [postings.get(b, _NO_POSTING) for b in doc.buckets] if postings else [_NO_POSTING] * len(doc.buckets)
        best: tuple[float, str, float] | None = None
        near: list[tuple[float, str]] = []
        probe = cfg.merge_probe_margin
        for event_id in candidates:
            scored = self._score(doc, self._events[event_id], t, memos, rows)
            if scored is None:
                continue
            margin, sim = scored
            if margin >= probe:
                near.append((margin, event_id))
            if best is None or margin > best[0] or (margin == best[0] and event_id < best[1]):
                best = (margin, event_id, sim)
        if best is None:
            return None, None, None, []
        near = sorted((-m, e) for m, e in near if e != best[1])
        return best[1], best[0], best[2], [(-m, e) for m, e in near]

    def _cosine_ids(
        self,
        doc: list[tuple[str, float]],
        doc_norm: float,
        counts: dict[str, int],
        prefix: str,
        clock: float,
        memo: dict[str, float],
    ) -> tuple[float, int]:
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
        # The event's norm needs the IDF of each of its ids at this clock (memoised by key).
        total = 0.0
        for key, count in counts.items():
            key_idf = memo.get(key)
            if key_idf is None:
                key_idf = memo[key] = self._id_df.idf(self._id_bucket(prefix + key), clock)
            total += (key_idf * count) ** 2
        return dot / (doc_norm * math.sqrt(total)), shared

    def _score(
        self,
        doc: _Doc,
        event: Event,
        t: float,
        memos: tuple[dict[str, float], dict[str, float]],
        rows: list[dict[int, float]],
    ) -> tuple[float, float] | None:
        """(margin, similarity) of an article against one event, or None if it may not join.

        ``rows`` are the postings of the article's buckets (``doc.buckets``): they hold the weight of
        each bucket in every event's centroid, also for a :class:`PackedCentroid`.
        """
        cfg = self.config
        clock = self._clock if self._clock is not None else t
        fade = 0.5 ** (max(0.0, t - event.last_seen_s) / (cfg.fade_half_life_hours * _HOUR_S))
        cross = doc.language not in event.centroids or not doc.vector
        # margin = sum(w * (s - threshold)) / sum(w) and similarity = sum(w * s) / sum(w) over
        # the terms present, added left to right from 0 as sum() would.
        total: float = 0
        margin: float = 0
        similarity: float = 0
        if not cross:
            # The same products, added in the same order, as over the centroid's own weights.
            dot = sum(map(mul, doc.weights, map(methodcaller("get", self._slot_of[event.id], 0.0), rows)))
            s = fade * dot / event.norms[doc.language]
            w = cfg.weight_text
            total += w
            margin += w * (s - cfg.threshold_text)
            similarity += w * s
        if doc.entities:
            ent, shared = self._cosine_ids(
                doc.entities, doc.entity_norm, event.entities, "e:", clock, memos[0]
            )
            if cross and shared < cfg.cross_min_shared_entities:
                return None
            s = fade * ent
            w = cfg.weight_entities
            total += w
            margin += w * (s - (cfg.cross_threshold_entities if cross else cfg.threshold_entities))
            similarity += w * s
        elif cross:
            return None  # neither shared words nor shared entities: nothing links them
        if doc.topics:
            top, _ = self._cosine_ids(doc.topics, doc.topic_norm, event.topics, "t:", clock, memos[1])
            s = fade * top
            w = cfg.weight_topics
            total += w
            margin += w * (s - cfg.threshold_topics)
            similarity += w * s
        bonus = min(cfg.size_bonus_cap, cfg.size_bonus * math.log(event.article_count)) if cfg.size_bonus else 0.0
        return margin / total + bonus, similarity / total

    def _create_event(self, item: ClusterItem, t: float, clock: float) -> Event:
        event_id = f"ev-{item.id}"
        suffix = 1
        # The same article id started an event before (still active, or merged into another).
        while event_id in self._events or event_id in self._merged:
            suffix += 1
            event_id = f"ev-{item.id}-{suffix}"
        event = Event(event_id, first_seen_s=t, last_seen_s=t, last_touch_s=clock)
        self._events[event_id] = event
        self._take_slot(event_id)
        self._removed.discard(event_id)
        self._touch(event)
        return event

    def _touch(self, event: Event) -> None:
        """Move an event to the young end of the eviction order and mark it for saving."""
        self._touch_seq += 1
        event.touch_seq = self._touch_seq
        self._events.move_to_end(event.id)
        self._changed.add(event.id)

    def _add_member(self, event: Event, item: ClusterItem, doc: _Doc, t: float, clock: float) -> None:
        cfg = self.config
        lang = doc.language
        slot = self._slot_of[event.id]
        event.article_count += 1
        event.first_seen_s = min(event.first_seen_s, t)
        event.last_seen_s = max(event.last_seen_s, t)
        event.last_touch_s = clock
        self._touch(event)
        event.sources[item.source] = max(event.sources.get(item.source, t), t)
        event.languages[lang] = event.languages.get(lang, 0) + 1
        if len(event.member_ids) < cfg.max_member_ids:
            event.member_ids.append(item.id)

        if doc.vector:
            postings = self._postings.setdefault(lang, {})
            centroid = event.live_centroid(lang)
            for bucket, weight in doc.vector:
                value = centroid[bucket] = centroid.get(bucket, 0.0) + weight
                posting = postings.get(bucket)
                if posting is None:
                    posting = postings[bucket] = {}
                posting[slot] = value
            if len(centroid) > 2 * cfg.max_centroid_features:  # amortised: prune to the cap
                heaviest = sorted(centroid.items(), key=lambda bw: (-bw[1], bw[0]))
                kept = dict(heaviest[: cfg.max_centroid_features])
                for bucket in centroid.keys() - kept.keys():
                    self._drop_posting(postings, bucket, slot)
                event.centroids[lang] = centroid = kept
            values = centroid.values()
            norm = event.norms[lang] = math.sqrt(sum(map(mul, values, values)))
            self._lang_norms(lang)[slot] = norm
            self._update_title(event, lang, item.title, doc)

        for key, _ in doc.entities:
            self._count_id(event, event.entities, "e:", key, slot)
        for key, _ in doc.topics:
            self._count_id(event, event.topics, "t:", key, slot)

    def _merge_converged(
        self,
        event: Event,
        lang: str,
        near: list[tuple[float, str]],
        item: ClusterItem,
        merged: list[EventMerge],
        signals: list[Signal],
    ) -> Event:
        """Merge into one the events the article nearly joined that have converged with its event."""
        cfg = self.config
        if not cfg.merge_threshold or not near:
            return event
        for _, other_id in near[: cfg.merge_candidates]:
            other = self._events.get(other_id)
            if other is None or other is event:
                continue
            similarity = self._centroid_cosine(event, other, lang)
            small = min(event.article_count, other.article_count) <= cfg.merge_small_events
            if similarity < (cfg.merge_threshold_small if small else cfg.merge_threshold):
                continue
            keep, gone = (event, other) if self._outranks(event, other) else (other, event)
            self._merge_events(keep, gone)
            self.stats["merged"] += 1
            merged.append(EventMerge(gone.id, keep.id, item.time, item.id, similarity, gone.to_doc()))
            signals.append(merged_signal(gone.id, keep.id, item.id, item.time, similarity))
            event = keep
        return event

    @staticmethod
    def _outranks(a: Event, b: Event) -> bool:
        """Which of two merging events survives: more articles, then the older, then the smaller id."""
        return (-a.article_count, a.first_seen_s, a.id) < (-b.article_count, b.first_seen_s, b.id)

    @staticmethod
    def _centroid_cosine(a: Event, b: Event, lang: str) -> float:
        ca, cb = a.centroids.get(lang), b.centroids.get(lang)
        if not ca or not cb:
            return 0.0
        if len(ca) > len(cb):
            ca, cb = cb, ca
        if type(cb) is PackedCentroid:  # its look-ups are linear: a dict for this one sum
            cb = cb.unpacked()
        dot = sum(map(mul, ca.values(), map(cb.get, ca, repeat(0.0))))
        return dot / (a.norms[lang] * b.norms[lang])

    def _merge_events(self, keep: Event, gone: Event) -> None:
        """Fold ``gone`` into ``keep``: counts, centroids, ids and sources add up; ``gone`` leaves."""
        cfg = self.config
        self._unindex_event(gone)
        self._unindex_event(keep)
        del self._events[gone.id]
        for lang, centroid in gone.centroids.items():
            kept = keep.live_centroid(lang)
            for bucket, weight in centroid.items():
                kept[bucket] = kept.get(bucket, 0.0) + weight
            if len(kept) > 2 * cfg.max_centroid_features:  # the same cap as _add_member's
                heaviest = sorted(kept.items(), key=lambda bw: (-bw[1], bw[0]))
                keep.centroids[lang] = kept = dict(heaviest[: cfg.max_centroid_features])
            values = kept.values()
            keep.norms[lang] = math.sqrt(sum(map(mul, values, values)))
        # Per language, the title closer to the merged centroid stays.
        for lang, vector in gone.title_vectors.items():
            get = keep.centroids[lang].get
            current = keep.title_vectors.get(lang)
            if current is None or sum(map(mul, vector[1], map(get, vector[0], repeat(0.0)))) > sum(
                map(mul, current[1], map(get, current[0], repeat(0.0)))
            ):
                keep.titles[lang] = gone.titles[lang]
                keep.title_vectors[lang] = vector
        for theirs, ours in ((gone.entities, keep.entities), (gone.topics, keep.topics)):
            for key, count in theirs.items():
                ours[key] = ours.get(key, 0) + count
            if len(ours) > 2 * cfg.max_event_ids:
                kept_ids = sorted(ours.items(), key=lambda kv: (-kv[1], kv[0]))[: cfg.max_event_ids]
                ours.clear()
                ours.update(kept_ids)
        for source, ts in gone.sources.items():
            keep.sources[source] = max(keep.sources.get(source, ts), ts)
        for lang, n in gone.languages.items():
            keep.languages[lang] = keep.languages.get(lang, 0) + n
        keep.member_ids = (keep.member_ids + gone.member_ids)[: cfg.max_member_ids]
        keep.merged_ids = [*keep.merged_ids, gone.id, *gone.merged_ids][: cfg.max_member_ids]
        keep.article_count += gone.article_count
        keep.first_seen_s = min(keep.first_seen_s, gone.first_seen_s)
        keep.last_seen_s = max(keep.last_seen_s, gone.last_seen_s)
        keep.last_touch_s = max(keep.last_touch_s, gone.last_touch_s)
        keep.confirmed = keep.confirmed or gone.confirmed
        self._index_event(keep)
        self._touch(keep)
        self._changed.discard(gone.id)
        self._removed.add(gone.id)
        gone.merged_into = keep.id
        self._merged[gone.id] = keep.id
        while len(self._merged) > cfg.max_seen_ids:
            self._merged.popitem(last=False)

    def _count_id(self, event: Event, counts: dict[str, int], prefix: str, key: str, slot: int) -> None:
        if key not in counts and (self._index_ids is None or prefix + key in self._index_ids):
            self._id_postings.setdefault(prefix + key, set()).add(slot)
        counts[key] = counts.get(key, 0) + 1
        if len(counts) > 2 * self.config.max_event_ids:
            kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[: self.config.max_event_ids]
            for dropped in counts.keys() - dict(kept).keys():
                self._drop_posting(self._id_postings, prefix + dropped, slot)
            counts.clear()
            counts.update(kept)

    def _update_title(self, event: Event, lang: str, title: str, doc: _Doc) -> None:
        """Keep, per language, the title of the member closest to the event's centroid."""
        get = event.centroids[lang].get
        current = event.title_vectors.get(lang)
        if current is None or sum(map(mul, doc.weights, map(get, doc.buckets, repeat(0.0)))) > sum(
            map(mul, current[1], map(get, current[0], repeat(0.0)))
        ):
            event.titles[lang] = title
            event.title_vectors[lang] = (array("q", doc.buckets), array("d", doc.weights))

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

    def _take_slot(self, event_id: str) -> int:
        if self._free_slots:
            slot = self._free_slots.pop()
            self._event_at[slot] = event_id
        else:
            slot = len(self._event_at)
            self._event_at.append(event_id)
            if slot >= self._capacity:
                self._grow(max(1024, 2 * self._capacity))
        self._slot_of[event_id] = slot
        return slot

    def _grow(self, capacity: int) -> None:
        def grown(old: np.ndarray) -> np.ndarray:
            new = np.zeros(capacity)
            new[: len(old)] = old
            return new

        self._partial = grown(self._partial)
        self._shared_n = grown(self._shared_n)
        self._shared_idf = grown(self._shared_idf)
        self._norms = {lang: grown(norms) for lang, norms in self._norms.items()}
        self._capacity = capacity

    def _lang_norms(self, lang: str) -> np.ndarray:
        norms = self._norms.get(lang)
        if norms is None:
            norms = self._norms[lang] = np.zeros(self._capacity)
        return norms

    def _index_event(self, event: Event) -> None:
        slot = self._slot_of.get(event.id)
        if slot is None:
            slot = self._take_slot(event.id)
        only_text, only_ids = self._index_text, self._index_ids
        for lang, centroid in event.centroids.items():
            postings = self._postings.setdefault(lang, {})
            if only_text is None:
                for bucket, weight in centroid.items():
                    postings.setdefault(bucket, {})[slot] = weight
            else:
                wanted = only_text.get(lang, set())
                for bucket, weight in centroid.items():
                    if bucket in wanted:
                        postings.setdefault(bucket, {})[slot] = weight
            self._lang_norms(lang)[slot] = event.norms[lang]
        for prefix, counts in (("e:", event.entities), ("t:", event.topics)):
            for key in counts:
                if only_ids is None or prefix + key in only_ids:
                    self._id_postings.setdefault(prefix + key, set()).add(slot)

    def _unindex_event(self, event: Event) -> None:
        slot = self._slot_of.pop(event.id)
        for lang, centroid in event.centroids.items():
            postings = self._postings.get(lang, {})
            for bucket in centroid:
                self._drop_posting(postings, bucket, slot)
            self._norms[lang][slot] = 0.0
        for key in event.entities:
            self._drop_posting(self._id_postings, "e:" + key, slot)
        for key in event.topics:
            self._drop_posting(self._id_postings, "t:" + key, slot)
        self._event_at[slot] = None
        self._free_slots.append(slot)

    @staticmethod
    def _drop_posting(postings: dict[Any, Any], key: Any, slot: int) -> None:
        """Remove a slot from a posting (a text {slot: weight} or an id set of slots)."""
        posting = postings.get(key)
        if posting is not None:
            if type(posting) is dict:
                posting.pop(slot, None)
            else:
                posting.discard(slot)
            if not posting:
                del postings[key]
