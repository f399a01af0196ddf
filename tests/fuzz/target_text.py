"""Arbitrary Unicode -> normalisation (idempotent, offsets in range) and the tagger (mention == field[start:end])."""

from __future__ import annotations

import json
import random
from typing import Any

from tests.fuzz.engine import PropertyFailure, Target
from tests.fuzz.mutate import decorate_arabic, mutate_text, random_unicode
from tests.fuzz.seeds import text_seeds


class TextTarget(Target):
    name = "text"
    extension = "json"

    def setup(self) -> None:
        from rasad.enrich.knowledge import load_knowledge
        from rasad.enrich.tagging import get_tagger

        self.texts = text_seeds()
        kn = load_knowledge()
        self.words = sorted({a.text for e in kn.entities.values() for a in e.aliases})
        self.words += sorted({kw for t in kn.topics.values() if t.rule for kw in t.rule.keywords[:5]})
        self.tagger = get_tagger()
        for t in self.texts[:10]:
            self.check({"title": t[:80], "text": t, "language": None})

    def generate(self, rng: random.Random) -> dict[str, Any]:
        r = rng.random()
        if r < 0.2:
            title, text = random_unicode(rng, rng.randrange(0, 60)), random_unicode(rng, rng.randrange(0, 2000))
        elif r < 0.4:
            words = [decorate_arabic(rng, rng.choice(self.words)) for _ in range(rng.randrange(1, 30))]
            title, text = " ".join(words[:3]), " ".join(words) + random_unicode(rng, rng.randrange(0, 100))
        else:
            base = rng.choice(self.texts)
            cut = base.find("\n")
            title, text = (base[:cut], base[cut + 1 :]) if 0 < cut < 300 else ("", base)
            title = mutate_text(rng, title, self.words, self.texts) if rng.random() < 0.5 else title
            text = mutate_text(rng, text, self.words, self.texts)
        return {"title": title, "text": text, "language": rng.choice([None, None, "ar", "en", "fa", "", "xx"])}

    def encode(self, value: dict[str, Any]) -> bytes:
        return json.dumps(value, ensure_ascii=True).encode()  # \ud800 survives as an escape

    def decode(self, data: bytes) -> dict[str, Any]:
        return json.loads(data)

    def shrink(self, value: dict[str, Any]) -> list[Any]:
        out = [{**value, "text": t} for t in super().shrink(value["text"])]
        return out + [{**value, "title": t} for t in super().shrink(value["title"])] + (
            [{**value, "title": ""}] if value["title"] else [])  # fmt: skip

    def check(self, value: dict[str, Any]) -> None:
        from rasad.enrich.normalize import (
            match_form,
            match_mapped,
            normalize_mapped,
            normalize_text,
            search_form,
        )

        for name in ("title", "text"):
            s = value[name]
            n = normalize_text(s)
            if normalize_text(n) != n:
                raise PropertyFailure(f"normalize_text not idempotent on {name} {s[:80]!r}: {n[:80]!r} -> "
                                      f"{normalize_text(n)[:80]!r}")  # fmt: skip
            mapped, omap = normalize_mapped(s)
            if mapped != n:
                raise PropertyFailure(f"normalize_mapped differs from normalize_text on {name} {s[:80]!r}")
            prev = 0
            for i in range(0, len(mapped), max(1, len(mapped) // 50)):
                src = omap.to_source(i)
                if not prev <= src < max(1, len(s)):
                    raise PropertyFailure(f"offset of normalised char {i} -> {src} outside {name} (len {len(s)})")
                prev = src
            matchable, _to_norm, _to_orig = match_mapped(s)
            if matchable != match_form(n)[0]:
                raise PropertyFailure(f"match_mapped differs from match_form(normalize_text) on {name} {s[:80]!r}")
            search_form(s)
        entities, topics = self.tagger.tag(value["title"], value["text"], value["language"])
        fields = {"title": value["title"] or "", "text": value["text"] or ""}
        mentions = [(e.id, m) for e in entities for m in e.mentions]
        mentions += [(t.id, m) for t in topics for m in t.evidence]
        for tag_id, m in mentions:
            f = fields.get(m.field)
            if f is None:
                raise PropertyFailure(f"{tag_id}: mention in unknown field {m.field!r}")
            if not 0 <= m.start <= m.end <= len(f):
                raise PropertyFailure(f"{tag_id}: mention [{m.start}:{m.end}] outside {m.field} (len {len(f)})")
            if f[m.start : m.end] != m.text:
                raise PropertyFailure(f"{tag_id}: mention text {m.text!r} != {m.field}[{m.start}:{m.end}] "
                                      f"{f[m.start:m.end]!r}")  # fmt: skip
