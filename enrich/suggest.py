"""Mine candidate aliases and entities from recent articles, for a person to review.

Two kinds of suggestion:
- new names: frequent name-like n-grams (1-3 words, no stop words, not already known) that
  co-occur with known entities of the story;
- near misses: words one edit away (after normalisation) from a known single-word alias, e.g.
  a new transliteration «شويكو» next to «شويغو».
Nothing is added automatically: the output is a list to read.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rasad.enrich.normalize import normalize_text, split_proclitic
from rasad.enrich.tagging import Tagger

_WORD_RE = re.compile(r"[\u0621-\u064a]{3,}|[a-z][a-z'-]{2,}")
_STOP = set(normalize_text(
    "في من على الى إلى عن مع ان أن إن او أو ثم قد لقد كان كانت يكون التي الذي الذين هذا هذه ذلك تلك هناك هنا "
    "كما لكن بل حتى اذا إذا لم لن ما لا وقال قال قالت وقالت اليوم امس أمس بعد قبل خلال بين عند منذ حيث عام عاما "
    "العام كل بعض غير ايضا أيضا وفي ومن وعلى اما أما وذلك فيما بينما عبر نحو لدى جميع اكثر أكثر اقل أقل اول أول "
    "the a an of in on at to for from with by and or but is are was were be been has have had this that these those "
    "it its as not said says will would can could about after before over into than then there their they he she we"
).split())


@dataclass
class Suggestion:
    """One candidate for review."""

    kind: str  # "new_name" or "near_miss"
    text: str
    count: int
    detail: str


def _edit_distance_one(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) == 1
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def suggest_candidates(tagger: Tagger, articles: Iterable[tuple[str, str]], top: int = 40) -> list[Suggestion]:
    """Candidates from (title, text) pairs: frequent co-occurring n-grams and near-miss spellings."""
    known_words: set[str] = set()
    single_aliases: dict[str, str] = {}
    for ent in tagger.knowledge.entities.values():
        for alias in ent.aliases:
            words = alias.pattern.split()
            known_words.update(words)
            if len(words) == 1 and len(words[0]) >= 5:
                single_aliases[words[0]] = ent.id
    ngram_counts: Counter[str] = Counter()
    ngram_with: dict[str, Counter[str]] = defaultdict(Counter)
    word_counts: Counter[str] = Counter()
    for title, text in articles:
        entities, _ = tagger.tag(title, text, None)
        if not entities:
            continue
        ids = [e.id for e in entities[:5]]
        words = _WORD_RE.findall(normalize_text(title + " " + text))
        word_counts.update(words)
        seen: set[str] = set()
        for n in (1, 2, 3):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                if any(w in _STOP for w in gram) or all(w in known_words for w in gram):
                    continue
                key = " ".join(gram)
                if key not in seen:
                    seen.add(key)
                    ngram_counts[key] += 1
                    ngram_with[key].update(ids)
    out: list[Suggestion] = []
    for key, count in ngram_counts.most_common(top * 4):
        if count < 3:
            break
        partners = ", ".join(f"{eid}×{c}" for eid, c in ngram_with[key].most_common(3))
        out.append(Suggestion("new_name", key, count, f"co-occurs with {partners}"))
        if len(out) >= top:
            break
    for word, count in word_counts.most_common():
        if count < 2 or word in known_words or len(word) < 5:
            continue
        split = split_proclitic(word)
        if split is not None and split[1] in known_words:
            continue  # a known name behind a clitic (لروسيا) is already matched
        for known, eid in single_aliases.items():
            if _edit_distance_one(word, known):
                out.append(Suggestion("near_miss", word, count, f"one edit from {known!r} ({eid})"))
                break
    return out
