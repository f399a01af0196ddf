"""Evaluate the tagger on a labelled set written in bracket markup (tests/resources/enrich/README.md).

Entity mentions are scored exactly (same entity id, same field, same character span) on the flat
layer; topics are scored as micro-averaged sets of leaf topic ids per item. An item is a text, or a
title (a ``title: `` line) with an optional text under it: headlines and headline + lead items are
tagged the way the pipeline tags a feed item, with the title as the title.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from rasad.enrich.tagging import Tagger

_MARK_RE = re.compile(r"\[([^\[\]|]+)\|([a-z0-9_\-]+)\]")
_HEADER_RE = re.compile(r"^## (\S+) \|(.*)$")
TITLE_PREFIX = "title: "


@dataclass
class LabelledItem:
    """One sentence or short article with its gold mentions and topics."""

    id: str
    text: str
    mentions: set[tuple[str, int, int, str]]  # (field, start, end, entity id); field "title" or "text"
    topics: set[str]
    title: str = ""

    @property
    def kind(self) -> str:
        """'headline', 'headline+lead' or 'text'."""
        if not self.title:
            return "text"
        return "headline+lead" if self.text else "headline"


@dataclass
class Scores:
    """Counts and derived figures for entities and topics."""

    ent_tp: int = 0
    ent_fp: int = 0
    ent_fn: int = 0
    top_tp: int = 0
    top_fp: int = 0
    top_fn: int = 0
    errors: list[str] = field(default_factory=list)

    @staticmethod
    def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
        p = tp / (tp + fp) if tp + fp else 1.0
        r = tp / (tp + fn) if tp + fn else 1.0
        f = 2 * p * r / (p + r) if p + r else 0.0
        return p, r, f

    @property
    def entity_prf(self) -> tuple[float, float, float]:
        """Entity-mention precision, recall, F1."""
        return self._prf(self.ent_tp, self.ent_fp, self.ent_fn)

    @property
    def topic_prf(self) -> tuple[float, float, float]:
        """Topic micro precision, recall, F1."""
        return self._prf(self.top_tp, self.top_fp, self.top_fn)

    def as_dict(self) -> dict[str, float]:
        """The figures pinned by the quality gate."""
        ep, er, ef = self.entity_prf
        tp, tr, tf = self.topic_prf
        return {"entity_precision": round(ep, 4), "entity_recall": round(er, 4), "entity_f1": round(ef, 4),
                "topic_precision": round(tp, 4), "topic_recall": round(tr, 4), "topic_f1": round(tf, 4)}


def parse_markup(line: str) -> tuple[str, set[tuple[int, int, str]]]:
    """Plain text and gold (start, end, entity id) from one marked-up line; ``|-`` marks a non-entity."""
    out: list[str] = []
    gold: set[tuple[int, int, str]] = set()
    pos = 0
    length = 0
    for m in _MARK_RE.finditer(line):
        before = line[pos:m.start()]
        out.append(before)
        length += len(before)
        surface, eid = m.group(1), m.group(2)
        if eid != "-":
            gold.add((length, length + len(surface), eid))
        out.append(surface)
        length += len(surface)
        pos = m.end()
    out.append(line[pos:])
    return "".join(out), gold


def read_labelled(path: str | Path) -> list[LabelledItem]:
    """Items of a labelled file: a ``## id | topic, topic`` header, an optional ``title: `` line, a text line."""
    items: list[LabelledItem] = []
    cur: LabelledItem | None = None
    for n, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if raw.startswith("## "):
            m = _HEADER_RE.match(raw)
            if not m:
                raise ValueError(f"{path}:{n}: bad header: {raw!r}")
            cur = LabelledItem(m.group(1), "", set(), {t.strip() for t in m.group(2).split(",") if t.strip()})
            items.append(cur)
        elif raw.strip() and not raw.startswith("#"):
            if cur is None or cur.text:
                raise ValueError(f"{path}:{n}: a text line without its own ## header")
            if raw.startswith(TITLE_PREFIX):
                if cur.title:
                    raise ValueError(f"{path}:{n}: a second title line in {cur.id}")
                cur.title, gold = parse_markup(raw[len(TITLE_PREFIX):])
                cur.mentions |= {("title", s, e, eid) for s, e, eid in gold}
            else:
                cur.text, gold = parse_markup(raw)
                cur.mentions |= {("text", s, e, eid) for s, e, eid in gold}
    empty = [it.id for it in items if not (it.title or it.text)]
    if empty:
        raise ValueError(f"{path}: items without text: {', '.join(empty)}")
    return items


def evaluate(tagger: Tagger, items: list[LabelledItem], language: str | None = None) -> Scores:
    """Score the tagger against labelled items (flat-layer mentions, leaf topics)."""
    scores = Scores()
    ents = tagger.knowledge.entities
    for item in items:
        entities, topics = tagger.tag(item.title, item.text, language)
        pred = {
            (m.field, m.start, m.end, e.id) for e in entities if ents[e.id].layer == "flat" for m in e.mentions
        }
        fields = {"title": item.title, "text": item.text}
        for f, s, e, eid in sorted(pred - item.mentions):
            scores.errors.append(f"{item.id} FP {eid} {fields[f][s:e]!r}")
        for f, s, e, eid in sorted(item.mentions - pred):
            scores.errors.append(f"{item.id} FN {eid} {fields[f][s:e]!r}")
        scores.ent_tp += len(pred & item.mentions)
        scores.ent_fp += len(pred - item.mentions)
        scores.ent_fn += len(item.mentions - pred)
        ptop = {t.id for t in topics}
        for t in sorted(ptop - item.topics):
            scores.errors.append(f"{item.id} topic FP {t}")
        for t in sorted(item.topics - ptop):
            scores.errors.append(f"{item.id} topic FN {t}")
        scores.top_tp += len(ptop & item.topics)
        scores.top_fp += len(ptop - item.topics)
        scores.top_fn += len(item.topics - ptop)
    return scores


def main(argv: list[str] | None = None) -> int:
    """Print entity and topic figures per labelled file, per item kind, and for all files together."""
    import argparse  # noqa: PLC0415 - only the command line needs it

    from rasad.enrich.tagging import get_tagger  # noqa: PLC0415

    ap = argparse.ArgumentParser(prog="python -m rasad.enrich.tagger_eval", description=main.__doc__)
    ap.add_argument("files", nargs="+", help="labelled files; the language is the name's suffix (_ar, _en) or guessed")
    ap.add_argument("--errors", action="store_true", help="also list every wrong or missed entity and topic")
    args = ap.parse_args(argv)
    tagger = get_tagger()
    total = Scores()
    for name in args.files:
        path = Path(name)
        lang = path.stem.rsplit("_", 1)[-1] if path.stem.rsplit("_", 1)[-1] in ("ar", "en") else None
        items = read_labelled(path)
        scores = evaluate(tagger, items, lang)
        print(f"{path.name}: {len(items)} items, {scores.as_dict()}")
        for kind in ("headline", "headline+lead", "text"):
            sub = [i for i in items if i.kind == kind]
            if sub and len(sub) < len(items):
                print(f"  {kind}: {len(sub)} items, topic F1 {evaluate(tagger, sub, lang).topic_prf[2]:.3f}")
        if args.errors:
            print("\n".join("  " + e for e in scores.errors))
        for attr in ("ent_tp", "ent_fp", "ent_fn", "top_tp", "top_fp", "top_fn"):
            setattr(total, attr, getattr(total, attr) + getattr(scores, attr))
    if len(args.files) > 1:
        print("all:", total.as_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
