"""Alert rules (YAML): what an analyst wants to be told about, and how.

An ``articles`` rule matches articles by keywords/phrases (Arabic and English, normalised
and clitic-aware like the tagger) with ``any``/``all``/``none``, entity ids, topic ids,
languages, sources and a minimum relevance. A ``new_event``, ``confirmed_event`` or
``breaking`` rule turns the event stage's signals into mails, filtered by topic or entity.
Validation reports every problem with its file, line and field; docs/alerts.md is the
reference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from rasad.core.yamllines import MAX_FLOW_DEPTH, error_line, flow_too_deep, item_key_lines, safe_load, top_key_lines

RULE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s<>,;\"'()\[\]\\]+@[A-Za-z0-9.-]+\.?[A-Za-z0-9-]*$")
SEND_AT_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
MODES = ("immediate", "hourly", "daily")
ARTICLE_KIND = "articles"
EVENT_KINDS = ("new_event", "confirmed_event", "breaking")
KINDS = (ARTICLE_KIND, *EVENT_KINDS)
# Which signal kind (enrich/events/signals.py) each event rule listens to.
SIGNAL_OF_KIND = {"new_event": "new", "confirmed_event": "confirmed", "breaking": "breaking"}
KNOWN = {
    "name",
    "description",
    "kind",
    "keywords",
    "entities",
    "topics",
    "languages",
    "sources",
    "min_relevance",
    "recipients",
    "mode",
    "timezone",
    "send_at",
    "throttle_per_hour",
    "snooze_until",
    "enabled",
}
ARTICLE_ONLY = ("keywords", "languages", "sources", "min_relevance")


class RulesError(ValueError):
    """The rules file has problems; ``problems`` lists each with file, line and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Keywords:
    """Phrases an article must contain: at least one of ``any``, every one of ``all``, none of ``none``."""

    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.any or self.all)


@dataclass(frozen=True)
class AlertRule:
    """One validated rule."""

    name: str
    recipients: tuple[str, ...]
    kind: str = ARTICLE_KIND
    description: str = ""
    keywords: Keywords = field(default_factory=Keywords)
    entities: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    min_relevance: float = 0.0
    mode: str = "immediate"
    timezone: str = "UTC"
    send_at: str = "08:00"  # daily digests: local time of day
    throttle_per_hour: int | None = None
    snooze_until: str | None = None  # ISO 8601 UTC
    enabled: bool = True

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def snoozed(self, now: datetime) -> bool:
        """True while the rule is snoozed (no mail at all; new matches are recorded, not sent)."""
        if not self.snooze_until:
            return False
        return now < datetime.fromisoformat(self.snooze_until.replace("Z", "+00:00"))


def _str_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value.strip(),) if value.strip() else None
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    return None


def parse_snooze(value: Any, tz: str) -> str:
    """A snooze_until value (date or date-time; local to ``tz`` unless it has an offset) as ISO UTC."""
    if isinstance(value, datetime):
        dt = value
    elif hasattr(value, "isoformat") and not isinstance(value, str):  # a YAML date: snooze until its midnight
        dt = datetime.combine(value, time(0, 0))
    else:
        dt = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=ZoneInfo(tz))
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _phrase_problems(phrases: tuple[str, ...]) -> list[str]:
    # A phrase of only punctuation or diacritics normalises to nothing and could never match.
    from rasad.enrich.normalize import normalize_pattern  # noqa: PLC0415 - light, but keeps rules importable alone

    return [p for p in phrases if not normalize_pattern(p.rstrip("*"))]


def validate_rules(text: str, name: str = "<rules>") -> tuple[list[AlertRule], list[str]]:
    """Parse rules text; return the valid rules and every problem found."""
    deep = flow_too_deep(text)
    if deep:
        return [], [f"{name}:{deep}: not valid YAML: brackets nested more than {MAX_FLOW_DEPTH} levels deep"]
    try:
        data = safe_load(text)
    except yaml.YAMLError as e:
        return [], [f"{name}:{error_line(e, text)}: not valid YAML: {getattr(e, 'problem', None) or e}"]
    except RecursionError:  # PyYAML composes recursively: thousands of nested [ or { exhaust the stack
        return [], [f"{name}:1: not valid YAML: nested too deeply"]
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        return [], [f"{name}:1: expected a mapping with a 'rules:' list"]
    extra = sorted(set(data) - {"version", "rules"}, key=str)  # YAML keys may be numbers, booleans, null
    top = top_key_lines(text) if extra or data.get("version", 1) != 1 else {}
    problems: list[str] = [
        f"{name}:{top.get(str(k), 1)}: {k}: unknown top-level key (known: version, rules)" for k in extra
    ]
    if data.get("version", 1) != 1:
        problems.append(
            f"{name}:{top.get('version', 1)}: version {data.get('version')!r} is not supported "
            "(this Rasad reads version 1)"
        )
    lines, _ = item_key_lines(text, "rules")
    rules: list[AlertRule] = []
    names: set[str] = set()
    for i, r in enumerate(data["rules"]):
        at = lines.get(i, {})

        def where(key: str = "", _at: dict = at, _i: int = i) -> str:
            return f"{name}:{_at.get(key) or _at.get('', 0)}: rules[{_i}]" + (f".{key}" if key else "")

        if not isinstance(r, dict):
            problems.append(f"{where()}: expected a mapping")
            continue
        before = len(problems)
        for k in sorted(set(r) - KNOWN, key=str):
            problems.append(f"{where(k)}: unknown field (known: {', '.join(sorted(KNOWN))})")
        rname = r.get("name")
        if isinstance(rname, (bool, int, float)):  # YAML 1.1 reads off/yes/no as booleans, 1.0 as a number
            problems.append(
                f"{where('name')}: YAML read the name as {type(rname).__name__} {rname!r}: quote it"
            )
        elif not isinstance(rname, str) or not RULE_NAME_RE.match(rname):
            problems.append(f"{where('name')}: name {rname!r} must match {RULE_NAME_RE.pattern}")
        elif rname in names:
            problems.append(f"{where('name')}: duplicate rule name {rname!r}")
        else:
            names.add(rname)
        recips = _str_list(r.get("recipients"))
        if not recips:
            problems.append(f"{where('recipients')}: at least one recipient e-mail address is required")
        else:
            for addr in recips:
                if not EMAIL_RE.match(addr):
                    problems.append(f"{where('recipients')}: {addr!r} is not an e-mail address")
        kind = r.get("kind", ARTICLE_KIND)
        if kind not in KINDS:
            problems.append(f"{where('kind')}: kind {kind!r} must be one of {', '.join(map(str, KINDS))}")
        mode = r.get("mode", "immediate")
        if mode not in MODES:
            problems.append(f"{where('mode')}: mode {mode!r} must be one of {', '.join(MODES)}")
        kw = r.get("keywords") or {}
        if isinstance(kw, list):
            kw = {"any": kw}
        keywords = Keywords()
        if not isinstance(kw, dict) or set(kw) - {"any", "all", "none"}:
            problems.append(
                f"{where('keywords')}: keywords must be a list or a mapping with any/all/none lists"
            )
        else:
            parts = {k: _str_list(kw.get(k)) for k in ("any", "all", "none")}
            for k, v in parts.items():
                if v is None:
                    problems.append(f"{where('keywords')}: keywords.{k} must be a list of non-empty strings")
                elif bad := _phrase_problems(v):
                    problems.append(f"{where('keywords')}: keywords.{k}: {bad} contain no letters or digits")
            if all(v is not None for v in parts.values()):
                keywords = Keywords(**parts)  # type: ignore[arg-type]
        lists = {k: _str_list(r.get(k)) for k in ("entities", "topics", "languages", "sources")}
        for k, v in lists.items():
            if v is None:
                problems.append(f"{where(k)}: {k} must be a list of non-empty strings")
        if kind == ARTICLE_KIND and keywords.empty and not lists["entities"] and not lists["topics"]:
            problems.append(
                f"{where()}: an articles rule needs keywords (any/all), entities or topics to match on"
            )
        if kind in EVENT_KINDS:
            if not lists["entities"] and not lists["topics"]:
                problems.append(f"{where()}: a {kind} rule needs a topics or entities filter")
            for k in ARTICLE_ONLY:
                if k in r:
                    problems.append(f"{where(k)}: {k} is only used by kind 'articles', not {kind}")
        throttle = r.get("throttle_per_hour")
        if throttle is not None:
            if isinstance(throttle, bool) or not isinstance(throttle, int) or throttle < 1:
                problems.append(f"{where('throttle_per_hour')}: must be a positive whole number")
            elif mode != "immediate":
                problems.append(
                    f"{where('throttle_per_hour')}: only immediate rules are throttled "
                    "(a digest already sends at most one mail per period)"
                )
        minrel = r.get("min_relevance", 0.0)
        if isinstance(minrel, bool) or not isinstance(minrel, (int, float)) or not 0 <= minrel <= 1:
            problems.append(f"{where('min_relevance')}: must be a number from 0 to 1")
        tz = str(r.get("timezone", "UTC"))
        try:
            ZoneInfo(tz)
        except Exception:  # ZoneInfo raises several types (ValueError, KeyError, OSError...)
            problems.append(
                f"{where('timezone')}: unknown time zone {tz!r} (use an IANA name such as Asia/Riyadh)"
            )
            tz = "UTC"
        send_at = r.get("send_at", "08:00")
        if isinstance(send_at, int) and 0 <= send_at < 24 * 60:  # YAML 1.1 reads 08:00 as sexagesimal 480
            send_at = f"{send_at // 60:02d}:{send_at % 60:02d}"
        if not isinstance(send_at, str) or not SEND_AT_RE.match(send_at):
            problems.append(f"{where('send_at')}: must be a local time of day HH:MM (quote it: '08:00')")
        elif "send_at" in r and mode != "daily":
            problems.append(f"{where('send_at')}: only daily digests have a send_at time")
        snooze = None
        if r.get("snooze_until") is not None:
            try:
                snooze = parse_snooze(r["snooze_until"], tz)
            except (TypeError, ValueError):
                problems.append(
                    f"{where('snooze_until')}: {r['snooze_until']!r} is not an ISO 8601 date or date-time"
                )
        enabled = r.get("enabled", True)
        if not isinstance(enabled, bool):
            problems.append(f"{where('enabled')}: must be true or false")
        if len(problems) > before:
            continue
        h, m = SEND_AT_RE.match(send_at).groups()  # type: ignore[union-attr]
        rules.append(
            AlertRule(
                name=str(rname),  # checked above: a string matching RULE_NAME_RE
                recipients=recips or (),
                kind=kind,
                description=str(r.get("description") or ""),
                keywords=keywords,
                entities=lists["entities"] or (),
                topics=lists["topics"] or (),
                languages=lists["languages"] or (),
                sources=lists["sources"] or (),
                min_relevance=float(minrel),
                mode=mode,
                timezone=tz,
                send_at=f"{int(h):02d}:{m}",
                throttle_per_hour=throttle,
                snooze_until=snooze,
                enabled=enabled,
            )
        )
    return rules, problems


def read_rules(path: str | Path) -> tuple[list[AlertRule], list[str]]:
    """Read and validate a rules file; return (rules, problems) without raising."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        return [], [f"{p}: cannot read: {e.strerror}"]
    return validate_rules(text, str(p))


def load_rules(path: str | Path) -> list[AlertRule]:
    """Read and validate a rules file; raise RulesError listing every problem; return the enabled rules."""
    rules, problems = read_rules(path)
    if problems:
        raise RulesError(problems)
    return [r for r in rules if r.enabled]


def check_rule_ids(
    rules: list[AlertRule], entity_ids: set[str], topic_ids: set[str], name: str = "<rules>"
) -> list[str]:
    """Entity and topic ids the rules name that the tagger does not know (a typo would never match)."""
    import difflib  # noqa: PLC0415

    problems = []
    for r in rules:
        for kind, ids, known in (("entity", r.entities, entity_ids), ("topic", r.topics, topic_ids)):
            for i in ids:
                if i not in known:
                    close = difflib.get_close_matches(i, sorted(known), n=3)
                    hint = f"; did you mean {', '.join(close)}?" if close else ""
                    problems.append(f"{name}: rule {r.name!r}: unknown {kind} id {i!r}{hint}")
    return problems
