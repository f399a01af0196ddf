"""The Arabic-aware spaCy tagger: entities and topics with evidence offsets into the original text.

The pipeline is a blank ``ar`` or ``en`` spaCy ``Language`` with three pieces of ours:

- ``rasad.tokenizer.v1`` replaces spaCy's tokenizer. spaCy's own tokenizer sets the pace on
  Arabic (see NOTES.md) and does not split proclitics; ours splits words and punctuation with
  one regular expression and also cuts a proclitic off a known name (``ل|طالبان``,
  ``وب|موسكو``), so every mention is a token-aligned ``Span``. It runs the multi-pattern scan
  once and leaves it on the Doc for the components.
- ``rasad_entities`` writes ``doc.ents`` (flat layer, ``kb_id_`` = entity id) and
  ``doc.spans["rasad_entities"]`` (all mentions, nested layer included: events, «مطار كابل»).
- ``rasad_topics`` writes ``doc.cats`` (topic id -> score) and
  ``doc.spans["rasad_topic_evidence"]`` (label = topic id).

Memory stays flat because :class:`Tagger` replaces a pipeline whose StringStore has grown past
``max_strings`` (novel words keep adding strings); see :meth:`Tagger._reset` for why not
``memory_zone``.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from rasad.core.records import Article, EntityTag, Mention, TopicTag
from rasad.enrich.knowledge import DEFAULT_SEEDS_DIR, Knowledge, load_knowledge, seeds_digest
from rasad.enrich.tagger_engine import EntityMention, TagEngine, TopicResult
from rasad.enrich.tagger_match import KeywordMatcher, ScannedText

# Bump when the code changes what gets tagged; the data hash is added to it.
CODE_VERSION = "tagger-2"  # 2: topic evidence weighted by position, thresholds by length
FIELD_SEPARATOR = "\n\n"
SPAN_KEY_ENTITIES = "rasad_entities"
SPAN_KEY_TOPICS = "rasad_topic_evidence"

_LABELS = {
    "person": "PERSON", "group": "ORG", "organization": "ORG", "institution": "ORG",
    "media": "ORG", "place": "GPE", "event": "EVENT",
}

if not Doc.has_extension("rasad_scan"):
    Doc.set_extension("rasad_scan", default=None)
if not Doc.has_extension("rasad_mentions"):
    Doc.set_extension("rasad_mentions", default=None)
if not Doc.has_extension("rasad_title_end"):
    Doc.set_extension("rasad_title_end", default=None)

_SURROGATE_RE = re.compile("[\ud800-\udfff]")
_ENGINES: dict[str, TagEngine] = {}
_ENGINES_LOCK = threading.Lock()


def get_engine(seeds_dir: str | Path | None = None) -> TagEngine:
    """The compiled engine for a seeds directory (cached per resolved path)."""
    fast = _ENGINES.get(str(seeds_dir))
    if fast is not None:
        return fast
    key = str(Path(seeds_dir).resolve() if seeds_dir else DEFAULT_SEEDS_DIR)
    with _ENGINES_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            engine = TagEngine(load_knowledge(key))
            _ENGINES[key] = engine
        _ENGINES[str(seeds_dir)] = engine
        return engine


# --- tokenizer ---------------------------------------------------------------------------------

# A word keeps its diacritics, tatweel and joiners; any other non-space character is a token.
# Groups: (token, one trailing space) | (a whitespace run that is a token of its own).
_WORD = r"[\w\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640\u200B-\u200F]+"
_TOKEN_RE = re.compile(r"(" + _WORD + r"|[^\w\s])( ?)|(\s+)")


def _split_plain(text: str) -> tuple[list[str], list[bool]]:
    found = _TOKEN_RE.findall(text)
    return [t or w for t, _, w in found], [sp == " " for _, sp, _ in found]


def split_tokens(text: str, cuts: Iterable[int] = ()) -> tuple[list[str], list[bool]]:
    """Words and trailing-space flags for ``Doc``; also cut a word in two at each offset in ``cuts``.

    Only cuts strictly inside a word are used (a proclitic before a name: ``ل|طالبان``).
    """
    inner = sorted({c for c in cuts if 0 < c < len(text) and text[c - 1].isalpha() and text[c].isalpha()})
    if not inner:
        return _split_plain(text)
    words: list[str] = []
    spaces: list[bool] = []
    prev = 0
    for c in [*inner, len(text)]:
        w, s = _split_plain(text[prev:c])
        words.extend(w)
        spaces.extend(s)
        prev = c
    return words, spaces


class RasadTokenizer:
    """Regex tokenizer that also separates proclitics from known names; keeps the scan on the Doc."""

    def __init__(self, vocab: Vocab, seeds_dir: str | None = None) -> None:
        self.vocab = vocab
        self.seeds_dir = seeds_dir

    def __call__(self, text: str) -> Doc:
        engine = get_engine(self.seeds_dir)
        scanned = engine.scan(text)
        cuts: list[int] = []
        for h in scanned.hits:
            if h.target.kind == "entity":
                s, e = scanned.source_span(h.start, h.end)
                cuts.append(s)
                cuts.append(e)
        words, spaces = split_tokens(text, cuts)
        doc = Doc(self.vocab, words=words, spaces=spaces)
        doc._.rasad_scan = scanned
        return doc

    def to_bytes(self, **kwargs: Any) -> bytes:
        """Nothing to serialise: the tokenizer is fully described by its config."""
        return b""

    def from_bytes(self, data: bytes, **kwargs: Any) -> RasadTokenizer:
        """See :meth:`to_bytes`."""
        return self

    def to_disk(self, path: Any, **kwargs: Any) -> None:
        """See :meth:`to_bytes`."""

    def from_disk(self, path: Any, **kwargs: Any) -> RasadTokenizer:
        """See :meth:`to_bytes`."""
        return self


@spacy.registry.tokenizers("rasad.tokenizer.v1")
def create_rasad_tokenizer(seeds_dir: str | None = None) -> Any:
    """spaCy registry entry for :class:`RasadTokenizer`."""

    def make(nlp: Language) -> RasadTokenizer:
        return RasadTokenizer(nlp.vocab, seeds_dir)

    return make


# --- components --------------------------------------------------------------------------------


def _scanned(doc: Doc, engine: TagEngine) -> ScannedText:
    scanned = doc._.rasad_scan
    if scanned is None:  # another tokenizer made this Doc: scan its text now
        scanned = engine.scan(doc.text)
        doc._.rasad_scan = scanned
    return scanned


def _char_span(doc: Doc, start: int, end: int, label: str, kb_id: str = "") -> Span | None:
    span = doc.char_span(start, end, label=label, kb_id=kb_id)
    if span is None:
        span = doc.char_span(start, end, label=label, kb_id=kb_id, alignment_mode="expand")
    return span


class EntityComponent:
    """spaCy component: resolves entity mentions and writes doc.ents and doc.spans."""

    def __init__(self, seeds_dir: str | None) -> None:
        self.seeds_dir = seeds_dir

    def __call__(self, doc: Doc) -> Doc:
        engine = get_engine(self.seeds_dir)
        scanned = _scanned(doc, engine)
        barrier = _title_end_match(scanned, doc._.rasad_title_end)
        mentions = engine.resolve_entities(scanned, barrier)
        doc._.rasad_mentions = mentions
        ents = engine.knowledge.entities
        flat: list[Span] = []
        every: list[Span] = []
        for m in mentions:
            s, e = scanned.source_span(m.start, m.end)
            span = _char_span(doc, s, e, _LABELS.get(ents[m.entity_id].type, "MISC"), m.entity_id)
            if span is None:
                continue
            every.append(span)
            if m.layer == "flat":
                flat.append(span)
        doc.spans[SPAN_KEY_ENTITIES] = every
        doc.set_ents(spacy.util.filter_spans(flat))
        return doc


class TopicComponent:
    """spaCy component: scores taxonomy topics and writes doc.cats and evidence spans."""

    def __init__(self, seeds_dir: str | None) -> None:
        self.seeds_dir = seeds_dir

    def __call__(self, doc: Doc) -> Doc:
        engine = get_engine(self.seeds_dir)
        scanned = _scanned(doc, engine)
        mentions = doc._.rasad_mentions
        if mentions is None:
            mentions = engine.resolve_entities(scanned)
        title_end_src = doc._.rasad_title_end
        results = engine.score_topics(scanned, mentions, _title_end_match(scanned, title_end_src))
        evidence: list[Span] = []
        cats: dict[str, float] = {}
        for r in results:
            cats[r.topic_id] = r.score
            for ms, me in r.evidence:
                s, e = scanned.source_span(ms, me)
                span = _char_span(doc, s, e, r.topic_id)
                if span is not None:
                    evidence.append(span)
        doc.cats = cats
        doc.spans[SPAN_KEY_TOPICS] = evidence
        return doc


def _title_end_match(scanned: ScannedText, title_end_src: int | None) -> int | None:
    # Title length in match-form coordinates: count match-form positions whose source is inside it.
    if title_end_src is None:
        return None
    lo, hi = 0, len(scanned.matchable)
    while lo < hi:
        mid = (lo + hi) // 2
        if scanned.source_span(mid, mid + 1)[0] < title_end_src:
            lo = mid + 1
        else:
            hi = mid
    return lo


@Language.factory("rasad_entities", default_config={"seeds_dir": None})
def create_entity_component(nlp: Language, name: str, seeds_dir: str | None) -> EntityComponent:
    """spaCy factory for :class:`EntityComponent`."""
    return EntityComponent(seeds_dir)


@Language.factory("rasad_topics", default_config={"seeds_dir": None})
def create_topic_component(nlp: Language, name: str, seeds_dir: str | None) -> TopicComponent:
    """spaCy factory for :class:`TopicComponent`."""
    return TopicComponent(seeds_dir)


def build_pipeline(lang: str, seeds_dir: str | Path | None = None) -> Language:
    """A blank ``ar``/``en`` spaCy pipeline with the Rasad tokenizer, entity and topic components."""
    sd = str(Path(seeds_dir).resolve()) if seeds_dir else None
    nlp = spacy.blank(lang, config={"nlp": {"tokenizer": {"@tokenizers": "rasad.tokenizer.v1", "seeds_dir": sd}}})
    nlp.add_pipe("rasad_entities", config={"seeds_dir": sd})
    nlp.add_pipe("rasad_topics", config={"seeds_dir": sd})
    # Every novel word becomes a lexeme, and spaCy computes each lexical attribute getter
    # (shape, like_url, like_num, ...) for it: on news text that was ~40% of tagging time.
    # Our components match on their own normalised text and read none of them; the
    # attributes a later statistical component needs can be restored with
    # ``nlp.vocab.lex_attr_getters.update(nlp.Defaults.lex_attr_getters)``.
    nlp.vocab.lex_attr_getters = {}  # type: ignore[attr-defined]  # a real Vocab attribute spaCy's vocab.pyi leaves out
    return nlp


# --- the public API -----------------------------------------------------------------------------


def guess_language(text: str) -> str:
    """'ar' when Arabic letters outnumber Latin ones, else 'en' (a script guess, not language ID)."""
    arabic = len(re.findall("[\u0621-\u064a]", text[:4000]))
    latin = len(re.findall("[A-Za-z]", text[:4000]))
    return "ar" if arabic >= latin and arabic > 0 else "en"


class Tagger:
    """Tags an article's title and text with entities and topics from the seeds data."""

    def __init__(self, seeds_dir: str | Path | None = None, max_strings: int = 30_000) -> None:
        self.seeds_dir = Path(seeds_dir).resolve() if seeds_dir else DEFAULT_SEEDS_DIR
        self.engine = get_engine(self.seeds_dir)
        self.knowledge: Knowledge = self.engine.knowledge
        self.version = _version(self.knowledge.digest)
        self._nlp: dict[str, Language] = {}
        self.max_strings = max_strings
        self.resets = 0

    def nlp(self, lang: str) -> Language:
        """The spaCy pipeline for ``lang`` ('ar' or 'en'; anything else uses 'ar')."""
        lang = lang if lang in ("ar", "en") else "ar"
        nlp = self._nlp.get(lang)
        if nlp is None:
            nlp = build_pipeline(lang, self.seeds_dir)
            self._nlp[lang] = nlp
        return nlp

    def tag(self, title: str, text: str, language: str | None = None) -> tuple[list[EntityTag], list[TopicTag]]:
        """Entities and topics of one article; mention offsets point into ``title`` or ``text``."""
        title = title or ""
        text = text or ""
        lang = language if language in ("ar", "en") else guess_language(title + " " + text)
        nlp = self.nlp(lang)
        combined = title + FIELD_SEPARATOR + text if title else text
        title_end = len(title) if title else None
        # A lone surrogate (a JSON feed's "\ud800") cannot enter spaCy's UTF-8 StringStore; U+FFFD
        # in its place keeps every offset, and mentions still quote the original text.
        doc = nlp.make_doc(_SURROGATE_RE.sub("\ufffd", combined))
        doc._.rasad_title_end = title_end
        for _, proc in nlp.pipeline:
            doc = proc(doc)
        result = self._extract(doc, combined, title_end)
        if len(nlp.vocab.strings) > self.max_strings:
            self._reset(lang)
        return result

    def _reset(self, lang: str) -> None:
        # spaCy's StringStore and lexeme cache grow with every novel word (NOTES.md: +93 MB per
        # 191k strings). A fresh pipeline drops them; the knowledge lives outside the vocab, so
        # nothing is lost but the cache of common words, rebuilt within a few hundred articles.
        # (nlp.memory_zone() bounds memory too but re-creates every lexeme: 3-5x slower here.)
        # 30,000 strings (~15 MB a language): at 60,000 the two pipelines were still filling up
        # at 2,000 articles, so the main process's peak grew with the cycle's length.
        self._nlp.pop(lang, None)
        self.resets += 1

    def _extract(self, doc: Doc, combined: str, title_end: int | None) -> tuple[list[EntityTag], list[TopicTag]]:
        ents = self.knowledge.entities
        offset = (title_end + len(FIELD_SEPARATOR)) if title_end is not None else 0

        def mention(start: int, end: int) -> Mention:
            if title_end is not None and start < title_end:
                return Mention("title", start, end, combined[start:end])
            return Mention("text", start - offset, end - offset, combined[start:end])

        by_id: dict[str, EntityTag] = {}
        for span in doc.spans[SPAN_KEY_ENTITIES]:
            eid = span.kb_id_
            tag = by_id.get(eid)
            if tag is None:
                ent = ents[eid]
                tag = by_id[eid] = EntityTag(eid, ent.type, ent.name, ent.name_ar)
            tag.mentions.append(mention(span.start_char, span.end_char))
        topics: list[TopicTag] = []
        evidence: dict[str, list[Mention]] = {}
        for span in doc.spans[SPAN_KEY_TOPICS]:
            evidence.setdefault(span.label_, []).append(mention(span.start_char, span.end_char))
        for tid, score in sorted(doc.cats.items(), key=lambda kv: (-kv[1], kv[0])):
            t = self.knowledge.topics[tid]
            topics.append(TopicTag(tid, t.label, score, t.label_ar, evidence.get(tid, [])))
        entities = sorted(by_id.values(), key=lambda e: (-len(e.mentions), e.id))
        return entities, topics


def _version(seeds_digest: str) -> str:
    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:4]
    return f"{CODE_VERSION}-{code}-{seeds_digest[:10]}"


def tagger_version(seeds_dir: str | Path | None = None) -> str:
    """The ``version`` a :class:`Tagger` for ``seeds_dir`` has, without building one (file hashes only)."""
    return _version(seeds_digest(Path(seeds_dir).resolve() if seeds_dir else DEFAULT_SEEDS_DIR))


_TAGGERS: dict[str, Tagger] = {}


def get_tagger(seeds_dir: str | Path | None = None) -> Tagger:
    """The :class:`Tagger` for a seeds directory (default: the project's ``seeds/``), cached per path."""
    key = str(Path(seeds_dir).resolve() if seeds_dir else DEFAULT_SEEDS_DIR)
    tagger = _TAGGERS.get(key)
    if tagger is None:
        tagger = _TAGGERS[key] = Tagger(key)
    return tagger


def tag_article(article: Article, tagger: Tagger | None = None) -> Article:
    """Fill ``article.entities``, ``article.topics`` and ``article.tagger_version``; return it."""
    tagger = tagger or get_tagger()
    entities, topics = tagger.tag(article.title, article.text, article.language)
    article.entities = entities
    article.topics = topics
    article.tagger_version = tagger.version
    return article


__all__ = [
    "EntityMention",
    "KeywordMatcher",
    "Tagger",
    "TopicResult",
    "build_pipeline",
    "get_tagger",
    "guess_language",
    "split_tokens",
    "tag_article",
]
