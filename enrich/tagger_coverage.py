"""Seed coverage: is every hand-checked mention of the seed articles (seeds/mentions.yaml) tagged?"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rasad.enrich.knowledge import read_yaml
from rasad.enrich.normalize import normalize_pattern
from rasad.enrich.tagger_match import PatternScanner, scan_text
from rasad.enrich.tagging import Tagger


@dataclass
class CoverageReport:
    """Found/expected occurrences, the misses, and the wrongly tagged negatives."""

    expected: int = 0
    found: int = 0
    misses: list[str] = field(default_factory=list)
    false_tags: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)

    @property
    def share(self) -> float:
        """Share of expected occurrences that were tagged."""
        return self.found / self.expected if self.expected else 1.0


def _occurrences(text: str, forms: dict[str, list[str]]) -> list[tuple[int, int, str, str]]:
    """(start, end, entity id, form) of every clitic-aware occurrence, original-text offsets."""
    scanner = PatternScanner()
    for eid, surfaces in forms.items():
        for surface in surfaces:
            scanner.add(normalize_pattern(surface), "form", (eid, surface))
    scanner.build()
    scanned = scan_text(scanner, text)
    out = []
    for h in scanned.hits:
        s, e = scanned.source_span(h.start, h.end)
        eid, surface = h.target.payload
        out.append((s, e, eid, surface))
    return out


def check_coverage(tagger: Tagger, mentions_path: str | Path | None = None) -> CoverageReport:
    """Tag each seed article and compare with the hand-checked mentions."""
    seeds_dir = tagger.seeds_dir
    path = Path(mentions_path) if mentions_path else seeds_dir / "mentions.yaml"
    data: dict[str, Any] = read_yaml(path)
    report = CoverageReport()
    exceptions = {(x.get("seed"), x.get("surface")): x.get("reason", "") for x in data.get("exceptions") or []}
    negatives = data.get("negatives") or {}
    for seed_name, forms in (data.get("seeds") or {}).items():
        text = (seeds_dir / seed_name).read_text(encoding="utf-8")
        entities, _ = tagger.tag("", text, "ar")
        tagged: dict[str, list[tuple[int, int]]] = {}
        for ent in entities:
            tagged[ent.id] = [(m.start, m.end) for m in ent.mentions]
        occ = _occurrences(text, forms)
        for s, e, eid, surface in occ:
            inside_longer = any(
                (os_ <= s and e <= oe and (oe - os_) > (e - s) and oeid != eid) for os_, oe, oeid, _ in occ
            )
            if inside_longer:
                continue
            report.expected += 1
            if any(ts <= s < te or s <= ts < e for ts, te in tagged.get(eid, ())):
                report.found += 1
            elif (seed_name, surface) in exceptions:
                report.exceptions.append(f"{seed_name}@{s}: {surface} ({eid}): {exceptions[(seed_name, surface)]}")
            else:
                context = text[max(0, s - 30):e + 30].replace("\n", " ")
                report.misses.append(f"{seed_name}@{s}: {surface!r} not tagged as {eid}: …{context}…")
        for s, e, eid, surface in _occurrences(text, negatives.get(seed_name) or {}):
            if any(ts <= s < te or s <= ts < e for ts, te in tagged.get(eid, ())):
                report.false_tags.append(f"{seed_name}@{s}: {surface!r} wrongly tagged as {eid}")
    return report
