"""Alert rules (YAML): what an analyst wants to be told about, and how.

A rule matches articles by keywords/phrases (Arabic and English, normalised and
clitic-aware like the tagger) with ``any``/``all``/``none``, entity ids, topic ids,
languages and sources. Validation reports every problem with its file, line and field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

RULE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
EMAIL_RE = re.compile(r"^[^@\s<>,;\"']+@[^@\s<>,;\"']+$")
MODES = ("immediate", "hourly", "daily")
KINDS = ("articles", "new_event", "confirmed_event", "breaking")
KNOWN = {
    "name", "description", "kind", "keywords", "entities", "topics", "languages", "sources",
    "min_relevance", "recipients", "mode", "timezone", "throttle_per_hour", "snooze_until", "enabled",
}  # fmt: skip


class RulesError(ValueError):
    """The rules file has problems; ``problems`` lists each with file, line and field."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Keywords:
    any: tuple[str, ...] = ()
    all: tuple[str, ...] = ()
    none: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not (self.any or self.all)


@dataclass(frozen=True)
class AlertRule:
    name: str
    recipients: tuple[str, ...]
    kind: str = "articles"
    description: str = ""
    keywords: Keywords = field(default_factory=Keywords)
    entities: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    min_relevance: float = 0.0
    mode: str = "immediate"
    timezone: str = "UTC"
    throttle_per_hour: int | None = None
    snooze_until: str | None = None
    enabled: bool = True


def _str_list(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value):
        return tuple(v.strip() for v in value)
    return None


def _lines(text: str) -> dict[int, dict[str, int]]:
    out: dict[int, dict[str, int]] = {}
    try:
        root = yaml.compose(text)
    except yaml.YAMLError:
        return out
    if isinstance(root, yaml.MappingNode):
        for k, v in root.value:
            if k.value == "rules" and isinstance(v, yaml.SequenceNode):
                for i, item in enumerate(v.value):
                    m = {"": item.start_mark.line + 1}
                    if isinstance(item, yaml.MappingNode):
                        m.update({kk.value: kk.start_mark.line + 1 for kk, _ in item.value})
                    out[i] = m
    return out


def validate_rules(text: str, name: str = "<rules>") -> tuple[list[AlertRule], list[str]]:
    """Parse rules text; return the valid rules and every problem found."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        return [], [f"{name}:{mark.line + 1 if mark else 1}: not valid YAML: {getattr(e, 'problem', e)}"]
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        return [], [f"{name}:1: expected a mapping with a 'rules:' list"]
    lines = _lines(text)
    rules: list[AlertRule] = []
    problems: list[str] = []
    names: set[str] = set()
    for i, r in enumerate(data["rules"]):
        at = lines.get(i, {})

        def where(key: str = "", _at: dict = at, _i: int = i) -> str:
            return f"{name}:{_at.get(key) or _at.get('', 0)}: rules[{_i}]" + (f".{key}" if key else "")

        if not isinstance(r, dict):
            problems.append(f"{where()}: expected a mapping")
            continue
        before = len(problems)
        for k in sorted(set(r) - KNOWN):
            problems.append(f"{where(k)}: unknown field (known: {', '.join(sorted(KNOWN))})")
        rname = r.get("name")
        if not isinstance(rname, str) or not RULE_NAME_RE.match(rname):
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
        kind = r.get("kind", "articles")
        if kind not in KINDS:
            problems.append(f"{where('kind')}: kind {kind!r} must be one of {', '.join(KINDS)}")
        mode = r.get("mode", "immediate")
        if mode not in MODES:
            problems.append(f"{where('mode')}: mode {mode!r} must be one of {', '.join(MODES)}")
        kw = r.get("keywords") or {}
        if isinstance(kw, list):
            kw = {"any": kw}
        keywords = Keywords()
        if not isinstance(kw, dict) or set(kw) - {"any", "all", "none"}:
            problems.append(f"{where('keywords')}: keywords must be a list or a mapping with any/all/none lists")
        else:
            parts = {k: _str_list(kw.get(k)) for k in ("any", "all", "none")}
            for k, v in parts.items():
                if v is None:
                    problems.append(f"{where('keywords')}: keywords.{k} must be a list of non-empty strings")
            if all(v is not None for v in parts.values()):
                keywords = Keywords(**parts)  # type: ignore[arg-type]
        lists = {k: _str_list(r.get(k)) for k in ("entities", "topics", "languages", "sources")}
        for k, v in lists.items():
            if v is None:
                problems.append(f"{where(k)}: {k} must be a list of strings")
        if kind == "articles" and keywords.empty and not lists["entities"] and not lists["topics"]:
            problems.append(f"{where()}: an articles rule needs keywords, entities or topics to match on")
        throttle = r.get("throttle_per_hour")
        if throttle is not None and (not isinstance(throttle, int) or throttle < 1):
            problems.append(f"{where('throttle_per_hour')}: must be a positive whole number")
        minrel = r.get("min_relevance", 0.0)
        if not isinstance(minrel, (int, float)) or not 0 <= minrel <= 1:
            problems.append(f"{where('min_relevance')}: must be a number from 0 to 1")
        tz = r.get("timezone", "UTC")
        try:
            from zoneinfo import ZoneInfo  # noqa: PLC0415

            ZoneInfo(str(tz))
        except Exception:
            problems.append(f"{where('timezone')}: unknown time zone {tz!r}")
        if len(problems) > before:
            continue
        rules.append(
            AlertRule(
                name=rname, recipients=recips or (), kind=kind, description=str(r.get("description", "")),
                keywords=keywords, entities=lists["entities"] or (), topics=lists["topics"] or (),
                languages=lists["languages"] or (), sources=lists["sources"] or (), min_relevance=float(minrel),
                mode=mode, timezone=str(tz), throttle_per_hour=throttle,
                snooze_until=str(r["snooze_until"]) if r.get("snooze_until") else None,
                enabled=bool(r.get("enabled", True)),
            )  # fmt: skip
        )
    return rules, problems


def load_rules(path: str | Path) -> list[AlertRule]:
    """Read and validate a rules file; raise RulesError listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError([f"{p}: cannot read: {e.strerror}"]) from None
    rules, problems = validate_rules(text, str(p))
    if problems:
        raise RulesError(problems)
    return [r for r in rules if r.enabled]
