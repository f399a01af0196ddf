"""Load and validate the seed knowledge: entities (seeds/entities.yaml) and topics (seeds/taxonomy.yaml).

Everything the tagger knows is data. This module turns the YAML into typed records with every
pattern already normalised (and spelling templates expanded), and lists what is wrong with the
data so that ``rasad seeds check`` can refuse a broken file before it reaches production.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rasad.core.shipped import shipped
from rasad.enrich.normalize import is_arabic, normalize_pattern

DEFAULT_SEEDS_DIR = shipped("seeds")  # the repo's seeds/, or its copy in an installed wheel
ENTITY_TYPES = ("person", "group", "organization", "institution", "place", "media", "event")
LAYERS = ("flat", "nested")

# Systematic transliteration variants: one template letter stands for the spellings Arabic
# outlets really use (Egypt writes ج for g, the Levant غ, the Gulf ق/ك, Persian گ which
# normalisation folds into ك).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "{g}": ("غ", "ج", "ق", "ك"),
    "{i}": ("ي", ""),
    "{o}": ("و", ""),
    "{a}": ("ا", ""),
    "{v}": ("ف", "و"),
}
_TEMPLATE_RE = re.compile("|".join(re.escape(k) for k in TEMPLATES))
MAX_VARIANTS = 64


@dataclass(frozen=True)
class Alias:
    """One surface form of an entity, as written in the data and as matched."""

    text: str  # as written (after template expansion)
    pattern: str  # normalised match form
    lang: str
    needs_context: bool = False
    article_ok: bool = True  # may follow the definite article (الطالبان); False for «كابل»
    case_sensitive: bool = False


@dataclass(frozen=True)
class Context:
    """Cues that let an ambiguous alias count: anchor entities in the article, cue words nearby."""

    entities: tuple[str, ...] = ()
    words: tuple[str, ...] = ()  # normalised; a trailing * matches any word ending
    window: int = 60


@dataclass
class Entity:
    """A person, group, organisation, institution, place, media outlet or event we tag."""

    id: str
    type: str
    name: str
    name_ar: str
    aliases: list[Alias]
    layer: str = "flat"  # "nested" mentions may contain flat ones (events, «مطار كابل»)
    context: Context | None = None
    not_in: list[str] = field(default_factory=list)  # normalised blocker phrases
    evidence: list[str] = field(default_factory=list)
    source: str = "seeds"
    note: str = ""


@dataclass
class TopicRule:
    """How a topic is assigned: weighted keyword and entity evidence, requirements, exclusions."""

    keywords: list[str]  # normalised
    keyword_weight: float = 1.0
    # Per-keyword factors for the generic words written ``{text: وفد*, weight: 0.5}``: a delegation
    # or a border is evidence only next to something more specific. Keys normalised.
    keyword_weights: dict[str, float] = field(default_factory=dict)
    entities: dict[str, float] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)  # at least one of these entities
    # Words that satisfy ``requires`` like a required entity does («الأفغانية», Afghan): short
    # items name the country by its adjective more often than by its name. Normalised.
    requires_words: list[str] = field(default_factory=list)
    requires_words_weight: float = 0.0  # evidence the first of them adds (as a named country would)
    requires_keyword: bool = True
    # Entities that make a title about this topic on their own: with one of them in the title the
    # keyword requirement is waived (a headline «داعش خراسان يتبنى ...» is about ISIS-K).
    subjects: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)  # normalised
    threshold: float = 2.0


@dataclass(frozen=True)
class TopicScoring:
    """Where evidence is and how long the item is: the weights of taxonomy.yaml's ``scoring``."""

    title_weight: float = 1.5  # evidence in the title
    lead_weight: float = 1.0  # evidence in the first ``lead_chars`` characters of the text
    lead_chars: int = 300
    # Past the lead, evidence weighs 1 / (1 + distance / body_half_chars): a passing mention deep
    # in a long article counts for little, the same words in the lead for much.
    body_half_chars: int = 600
    # A short item cannot hold an article's worth of evidence: up to ``short_chars`` characters
    # the threshold is multiplied by ``short_factor``, rising linearly to the full threshold at
    # ``long_chars``.
    short_chars: int = 300
    long_chars: int = 1500
    short_factor: float = 0.75
    # A keyword phrase is more specific than a word: each word after the first adds this much to
    # its weight, at most ``phrase_bonus_max`` («السلطة الفعلية» says more than «عزلة»).
    phrase_bonus: float = 0.25
    phrase_bonus_max: float = 0.5


@dataclass
class Topic:
    """A node of the taxonomy."""

    id: str
    label: str
    label_ar: str
    description: str
    parent: str | None
    rule: TopicRule | None
    evidence: list[str] = field(default_factory=list)


@dataclass
class Knowledge:
    """Entities and topics loaded from one seeds directory."""

    entities: dict[str, Entity]
    topics: dict[str, Topic]
    digest: str  # sha256 of the data files, part of the tagger version
    seeds_dir: Path
    scoring: TopicScoring = field(default_factory=TopicScoring)


def expand_templates(text: str) -> list[str]:
    """All spellings of an alias written with templates such as ``سير{g}ي`` (at most 64)."""
    parts = _TEMPLATE_RE.split(text)
    keys = _TEMPLATE_RE.findall(text)
    if not keys:
        return [text]
    out: list[str] = []
    for combo in itertools.product(*(TEMPLATES[k] for k in keys)):
        s = parts[0]
        for piece, rest in zip(combo, parts[1:], strict=True):
            s += piece + rest
        if s not in out:
            out.append(s)
        if len(out) >= MAX_VARIANTS:
            break
    return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _parse_context(raw: Any, problems: list[str], where: str) -> Context | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        problems.append(f"{where}: context must be a mapping")
        return None
    words = tuple(_normalize_keyword(w) for w in _as_list(raw.get("words")) if str(w).strip())
    return Context(
        entities=tuple(str(e) for e in _as_list(raw.get("entities"))),
        words=words,
        window=int(raw.get("window", 60)),
    )


def _normalize_keyword(word: Any) -> str:
    w = str(word).strip()
    star = w.endswith("*")
    core = normalize_pattern(w.rstrip("*"))
    return core + "*" if star else core


def _parse_aliases(raw: Any, problems: list[str], where: str) -> list[Alias]:
    aliases: list[Alias] = []
    groups = raw if isinstance(raw, dict) else {"": raw}
    for lang, items in groups.items():
        for item in _as_list(items):
            opts: dict[str, Any] = item if isinstance(item, dict) else {"text": item}
            text = str(opts.get("text", "")).strip()
            if not text:
                problems.append(f"{where}: empty alias")
                continue
            for variant in expand_templates(text):
                pattern = normalize_pattern(variant)
                alang = lang or ("ar" if is_arabic(variant) else "en")
                aliases.append(
                    Alias(
                        text=variant,
                        pattern=pattern,
                        lang=str(alang),
                        needs_context=bool(opts.get("context", False)),
                        article_ok=bool(opts.get("article", True)),
                        case_sensitive=bool(opts.get("case", False)),
                    )
                )
    return aliases


def parse_entities(data: dict[str, Any], problems: list[str]) -> dict[str, Entity]:
    """Typed entities from the parsed entities.yaml; schema problems are appended to ``problems``."""
    entities: dict[str, Entity] = {}
    for i, raw in enumerate(_as_list(data.get("entities"))):
        where = f"entities[{i}]"
        if not isinstance(raw, dict):
            problems.append(f"{where}: not a mapping")
            continue
        eid = str(raw.get("id", "")).strip()
        where = f"entity {eid or i}"
        if not re.fullmatch(r"[a-z0-9_]+", eid):
            problems.append(f"{where}: id must be lower_snake_case")
        if eid in entities:
            problems.append(f"{where}: duplicate id")
        etype = raw.get("type")
        if etype not in ENTITY_TYPES:
            problems.append(f"{where}: type {etype!r} not one of {ENTITY_TYPES}")
        for key in ("name", "name_ar"):
            if not str(raw.get(key, "")).strip():
                problems.append(f"{where}: missing {key}")
        layer = raw.get("layer", "flat")
        if layer not in LAYERS:
            problems.append(f"{where}: layer {layer!r} not one of {LAYERS}")
        aliases = _parse_aliases(raw.get("aliases"), problems, where)
        if not aliases:
            problems.append(f"{where}: no aliases")
        source = str(raw.get("source", "seeds"))
        evidence = [str(e) for e in _as_list(raw.get("evidence"))]
        if source == "seeds" and not evidence:
            problems.append(f"{where}: no seed evidence (set source: curated if it is not from the seeds)")
        entities[eid] = Entity(
            id=eid,
            type=str(etype),
            name=str(raw.get("name", "")),
            name_ar=str(raw.get("name_ar", "")),
            aliases=aliases,
            layer=str(layer),
            context=_parse_context(raw.get("context"), problems, where),
            not_in=[normalize_pattern(p) for p in _as_list(raw.get("not_in"))],
            evidence=evidence,
            source=source,
            note=str(raw.get("note", "")),
        )
    return entities


def _parse_keywords(raw: list[Any], problems: list[str], where: str) -> tuple[list[str], dict[str, float]]:
    """Normalised keywords and the weights of those written as ``{text: ..., weight: ...}``."""
    keywords: list[str] = []
    weights: dict[str, float] = {}
    for item in raw:
        if isinstance(item, dict):
            text = str(item.get("text", "")).strip()
            try:
                weight = float(item.get("weight", 1.0))
            except (TypeError, ValueError):
                problems.append(f"{where}: keyword {text!r} has a weight that is not a number")
                continue
            if not text or weight <= 0:
                problems.append(f"{where}: keyword {item!r} needs a text and a positive weight")
                continue
            kw = _normalize_keyword(text)
            weights[kw] = weight
        else:
            if not str(item).strip():
                continue
            kw = _normalize_keyword(item)
        keywords.append(kw)
    return keywords, weights


def parse_topics(data: dict[str, Any], problems: list[str]) -> dict[str, Topic]:
    """Typed topics from the parsed taxonomy.yaml; schema problems are appended to ``problems``."""
    topics: dict[str, Topic] = {}
    for i, raw in enumerate(_as_list(data.get("topics"))):
        if not isinstance(raw, dict):
            problems.append(f"topics[{i}]: not a mapping")
            continue
        tid = str(raw.get("id", "")).strip()
        where = f"topic {tid or i}"
        if not re.fullmatch(r"[a-z0-9_.]+", tid):
            problems.append(f"{where}: id must be dotted lower_snake_case")
        if tid in topics:
            problems.append(f"{where}: duplicate id")
        for key in ("label", "label_ar", "description"):
            if not str(raw.get(key, "")).strip():
                problems.append(f"{where}: missing {key}")
        rule = None
        rraw = raw.get("rules")
        if rraw is not None:
            kw_raw = rraw.get("keywords") or {}
            kws = kw_raw if isinstance(kw_raw, list) else [w for v in kw_raw.values() for w in _as_list(v)]
            keywords, kw_weights = _parse_keywords(kws, problems, where)
            rule = TopicRule(
                keywords=keywords,
                keyword_weights=kw_weights,
                keyword_weight=float(rraw.get("keyword_weight", 1.0)),
                entities={str(k): float(v) for k, v in (rraw.get("entities") or {}).items()},
                requires=[str(e) for e in _as_list(rraw.get("requires"))],
                requires_words=[_normalize_keyword(w) for w in _as_list(rraw.get("requires_words")) if str(w).strip()],
                requires_words_weight=float(rraw.get("requires_words_weight", 0.0)),
                requires_keyword=bool(rraw.get("requires_keyword", True)),
                subjects=[str(e) for e in _as_list(rraw.get("subjects"))],
                exclude=[normalize_pattern(p) for p in _as_list(rraw.get("exclude"))],
                threshold=float(rraw.get("threshold", 2.0)),
            )
            if not rule.keywords and not rule.entities:
                problems.append(f"{where}: rules without keywords or entities")
        elif raw.get("parent"):
            problems.append(f"{where}: a leaf topic needs rules")
        topics[tid] = Topic(
            id=tid,
            label=str(raw.get("label", "")),
            label_ar=str(raw.get("label_ar", "")),
            description=str(raw.get("description", "")),
            parent=raw.get("parent"),
            rule=rule,
            evidence=[str(e) for e in _as_list(raw.get("evidence"))],
        )
    return topics


def check_references(entities: dict[str, Entity], topics: dict[str, Topic]) -> list[str]:
    """Cross-file problems: unknown ids, conflicting aliases, ambiguous aliases without cues."""
    problems: list[str] = []
    owners: dict[tuple[str, bool], set[str]] = {}
    for ent in entities.values():
        ctx = ent.context
        if ctx:
            for ref in ctx.entities:
                if ref not in entities:
                    problems.append(f"entity {ent.id}: context names unknown entity {ref!r}")
        for alias in ent.aliases:
            if not alias.pattern:
                problems.append(f"entity {ent.id}: alias {alias.text!r} normalises to nothing")
                continue
            if alias.needs_context and (ctx is None or not (ctx.entities or ctx.words)):
                problems.append(f"entity {ent.id}: ambiguous alias {alias.text!r} has no context cues")
            owners.setdefault((alias.pattern, alias.needs_context), set()).add(ent.id)
    for (pattern, ambiguous), ids in sorted(owners.items()):
        if len(ids) > 1 and not ambiguous:
            problems.append(f"alias {pattern!r} is unconditional for several entities: {sorted(ids)}")
    for (pattern, ambiguous), ids in owners.items():
        if not ambiguous and (pattern, True) in owners:
            others = owners[(pattern, True)] - ids
            if others:
                problems.append(
                    f"alias {pattern!r} is unconditional for {sorted(ids)} and ambiguous for {sorted(others)}"
                )
    for topic in topics.values():
        if topic.parent and topic.parent not in topics:
            problems.append(f"topic {topic.id}: unknown parent {topic.parent!r}")
        if topic.rule:
            for ref in list(topic.rule.entities) + topic.rule.requires + topic.rule.subjects:
                if ref not in entities:
                    problems.append(f"topic {topic.id}: unknown entity {ref!r}")
    return problems


def parse_scoring(raw: Any, problems: list[str]) -> TopicScoring:
    """The ``scoring`` mapping of taxonomy.yaml over the defaults; unknown or non-numeric keys are problems."""
    if raw is None:
        return TopicScoring()
    if not isinstance(raw, dict):
        problems.append("scoring: must be a mapping")
        return TopicScoring()
    defaults = TopicScoring()
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if not hasattr(defaults, str(key)):
            problems.append(f"scoring: unknown key {key!r}")
            continue
        kind = type(getattr(defaults, key))
        try:
            values[key] = kind(value)
        except (TypeError, ValueError):
            problems.append(f"scoring.{key}: {value!r} is not a {kind.__name__}")
            continue
        if values[key] < 0:
            problems.append(f"scoring.{key}: must not be negative")
    scoring = TopicScoring(**values)
    if scoring.long_chars <= scoring.short_chars:
        problems.append("scoring: long_chars must be greater than short_chars")
    return scoring


def read_yaml(path: Path) -> dict[str, Any]:
    """Parse one YAML file into a mapping (empty mapping for an empty file)."""
    with path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: top level must be a mapping")
    return data


def seeds_digest(seeds_dir: str | Path | None = None) -> str:
    """sha256 of a seeds directory's data files (``Knowledge.digest``), without parsing them."""
    root = Path(seeds_dir) if seeds_dir is not None else DEFAULT_SEEDS_DIR
    digest = hashlib.sha256()
    for p in (root / "entities.yaml", root / "taxonomy.yaml"):
        digest.update(p.read_bytes() if p.exists() else b"")
    return digest.hexdigest()


def load_knowledge_with_problems(seeds_dir: str | Path | None = None) -> tuple[Knowledge, list[str]]:
    """Load the seeds directory and return it with every problem found in the data."""
    root = Path(seeds_dir) if seeds_dir is not None else DEFAULT_SEEDS_DIR
    ent_path, tax_path = root / "entities.yaml", root / "taxonomy.yaml"
    digest = seeds_digest(root)
    problems: list[str] = []
    entities = parse_entities(read_yaml(ent_path), problems)
    taxonomy = read_yaml(tax_path) if tax_path.exists() else {}
    topics = parse_topics(taxonomy, problems)
    scoring = parse_scoring(taxonomy.get("scoring"), problems)
    problems.extend(check_references(entities, topics))
    return Knowledge(entities, topics, digest, root, scoring), problems


def load_knowledge(seeds_dir: str | Path | None = None) -> Knowledge:
    """Load the seeds directory; raise ValueError listing the problems if the data is invalid."""
    knowledge, problems = load_knowledge_with_problems(seeds_dir)
    if problems:
        raise ValueError("invalid seeds data:\n  " + "\n  ".join(problems))
    return knowledge
