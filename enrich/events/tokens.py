"""Tokens for event similarity: normalised, stop-worded, Arabic- and English-aware.

Text is folded by the project's shared normaliser (:func:`rasad.enrich.normalize.normalize_text`:
hamza carriers, alef maqsura, ta marbuta, diacritics, tatweel, Persian letter shapes,
Arabic-Indic digits, case), the same folding the tagger and alerts use. The tokeniser
then strips the definite article and its proclitic combinations, which is enough for
two reports of one story to share tokens. It does not stem: stemmers mangle names
(see NOTES.md).
"""

from __future__ import annotations

import re

from rasad.core.handoff import Handoff
from rasad.enrich.normalize import normalize_text

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# The definite article with the proclitics that attach to it, longest first.
_ARABIC_ARTICLE = ("وبال", "وكال", "وال", "فال", "بال", "كال", "لل", "ال")

_STOP_EN = frozenset(
    ["a", "about", "after", "again", "against", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "between", "both", "but", "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "him", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would", "you", "your", "new", "says", "said", "say", "news", "report", "reports", "update", "live", "via"]
)
_STOP_AR = frozenset(
    ["في", "من", "على", "الى", "إلى", "عن", "مع", "أن", "ان", "إن", "لا", "ما", "لم", "لن", "هذا", "هذه", "ذلك", "تلك", "التي", "الذي", "الذين", "هو", "هي", "هم", "كان", "كانت", "يكون", "قد", "قال", "قالت", "وقال", "وقالت", "كما", "أو", "او", "ثم", "بين", "بعد", "قبل", "حتى", "عند", "كل", "أي", "اي", "غير", "منذ", "خلال", "وفي", "ومن", "وعلى", "وأن", "وان", "به", "بها", "له", "لها", "فيه", "فيها", "عليه", "عليها", "اليوم", "أمس", "امس", "يوم", "وذلك", "إنه", "انه", "أنه", "لكن", "بل", "إذا", "اذا", "حيث", "وهو", "وهي", "ولا", "وما", "تم", "عبر", "ضد", "نحو", "دون", "لدى", "إلا", "الا", "عاجل"]
)
# Stop words are matched after folding, so fold the list the same way.
_STOP_AR = frozenset(normalize_text(word) for word in _STOP_AR)


_ARTICLE_STARTS = frozenset(prefix[0] for prefix in _ARABIC_ARTICLE)


def _strip_article(token: str) -> str:
    if token[:1] not in _ARTICLE_STARTS:  # most tokens: skip the eight prefix tests
        return token
    for prefix in _ARABIC_ARTICLE:
        # Keep at least three letters so short words such as «الله» or «اللد» survive whole.
        if token.startswith(prefix) and len(token) - len(prefix) >= 3:
            return token[len(prefix) :]
    return token


def _content_token(raw: str) -> str:
    """The token a raw word contributes, or "" for a stop word or a 1-letter word."""
    if raw in _STOP_EN or raw in _STOP_AR:
        return ""
    if raw.endswith("'s"):
        raw = raw[:-2]
    token = _strip_article(raw)
    if len(token) < 2 or token in _STOP_AR:
        return ""
    return token


class _TokenCache(dict[str, str]):
    """Raw word -> content token, computed once: news repeats its words, and this is the hot loop."""

    def __missing__(self, raw: str) -> str:
        if len(self) >= _TOKEN_CACHE_SIZE:  # bounded: start over rather than grow
            self.clear()
        token = self[raw] = _content_token(raw)
        return token


_TOKEN_CACHE_SIZE = 1 << 16
_CONTENT_TOKENS = _TokenCache()


def tokenize_text(text: str) -> list[str]:
    """Content tokens of a text, in order: normalised, stop words and 1-letter tokens dropped."""
    return [token for token in map(_CONTENT_TOKENS.__getitem__, _WORD.findall(normalize_text(text))) if token]


# The leading tokens of texts an extraction worker already tokenised (enrich.prepare), each
# taken once, by the clusterer: text -> (its first tokens, all of them?).
_KNOWN_TOKENS: Handoff[tuple[list[str], bool]] = Handoff()


def remember_tokens(text: str, tokens: list[str], complete: bool) -> None:
    """Record ``tokenize_text(text)`` computed elsewhere, or its first tokens (``complete=False``)."""
    _KNOWN_TOKENS.put(text, (tokens, complete))


def leading_tokens(text: str, limit: int | None = None) -> list[str]:
    """``tokenize_text(text)[:limit]`` (all of them for ``None``), from what was remembered when it suffices."""
    known = _KNOWN_TOKENS.take(text)
    if known is not None:
        tokens, complete = known
        if complete or (limit is not None and len(tokens) >= limit):
            return tokens[:limit]
    return tokenize_text(text)[:limit]

