"""Arabic-aware text normalisation shared by tagging, alerts and search.

One function family, applied identically to article text and to every pattern
(entity alias, topic keyword, alert phrase), so that a spelling difference the
reader would not notice (hamza forms, taa marbuta, diacritics, tatweel, Persian
letter shapes, Arabic-Indic digits, curly quotes, dashes) never decides a match.

The mapping is one character to at most one character except for Arabic
presentation forms (rare; NFKC expands them), so offsets back into the original
text are cheap: a piecewise-linear :class:`OffsetMap` records only the places
where lengths change.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

from rasad.core.handoff import Handoff

# --- the character table -------------------------------------------------------------------

_DELETE = (
    # Arabic diacritics (harakat, tanwin, shadda, sukun, maddah/hamza marks above/below)
    [chr(c) for c in range(0x064B, 0x0660)]
    + ["\u0670"]  # superscript (dagger) alef
    + [chr(c) for c in range(0x0610, 0x061B)]  # honorific / Quranic signs
    + [chr(c) for c in range(0x06D6, 0x06DD)]
    + [chr(c) for c in range(0x06DF, 0x06E5)]
    + [chr(c) for c in range(0x06E7, 0x06E9)]
    + [chr(c) for c in range(0x06EA, 0x06EE)]
    + ["\u0640"]  # tatweel (kashida)
    # zero-width and bidi controls: invisible, but they split or glue words in matching
    + [chr(c) for c in range(0x200B, 0x2010)]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2060, 0x2070)]
    + ["\ufeff", "\u061c", "\u00ad", "\u034f"]
)

_MAP = {
    # alef and hamza carriers
    "أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ٲ": "ا", "ٳ": "ا", "ٵ": "ا",
    "ؤ": "و", "ٶ": "و", "ئ": "ي", "ٸ": "ي",
    "ى": "ي", "ة": "ه",
    # Persian / Urdu / Kurdish letter forms
    "ک": "ك", "ڪ": "ك", "گ": "ك", "ی": "ي", "ۍ": "ي", "ې": "ي", "ے": "ي", "ێ": "ي", "ۓ": "ي",
    "ھ": "ه", "ە": "ه", "ۀ": "ه", "ۃ": "ه", "ہ": "ه",
    "پ": "ب", "چ": "ج", "ژ": "ز", "ڤ": "ف", "ڨ": "ق", "ٹ": "ت", "ڈ": "د", "ڑ": "ر", "ں": "ن",
    "ۆ": "و", "ۇ": "و", "ۈ": "و", "ۋ": "و",
    # punctuation with a Latin twin
    "،": ",", "؛": ";", "؟": "?", "٪": "%", "٫": ".", "٬": ",", "۔": ".",
    # quotes: one double and one single form
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "‟": '"', "″": '"', "〝": '"', "〞": '"',
    "‹": "'", "›": "'", "‘": "'", "’": "'", "‚": "'", "‛": "'", "′": "'", "`": "'", "´": "'",
    # dashes and minus signs
    "‐": "-", "‑": "-", "‒": "-", "–": "-", "—": "-", "―": "-", "−": "-", "﹣": "-", "－": "-",
    # exotic spaces
    "\u00a0": " ", "\u2000": " ", "\u2001": " ", "\u2002": " ", "\u2003": " ", "\u2004": " ",
    "\u2005": " ", "\u2006": " ", "\u2007": " ", "\u2008": " ", "\u2009": " ", "\u200a": " ",
    "\u202f": " ", "\u205f": " ", "\u3000": " ",
}
for _i in range(10):
    _MAP[chr(0x0660 + _i)] = str(_i)  # Arabic-Indic digits
    _MAP[chr(0x06F0 + _i)] = str(_i)  # Persian digits
for _c in range(ord("A"), ord("Z") + 1):
    _MAP[chr(_c)] = chr(_c + 32)
# Capital sigma: str.lower() picks σ or ς from the context, one character at a time gives σ, so
# the slow (per-character) and fast (whole-string) paths disagreed on "İΣ". Mapped here, the
# result no longer depends on the path or the neighbours.
_MAP["Σ"] = "σ"

_TABLE: dict[int, str | None] = {ord(k): v for k, v in _MAP.items()}
_TABLE.update({ord(c): None for c in _DELETE})

_DELETE_RE = re.compile("[" + "".join(re.escape(c) for c in _DELETE) + "]+")
# Arabic presentation forms (ligatures like ﻻ) need NFKC, which can expand one char to several.
_PRESENTATION_RE = re.compile("[\ufb50-\ufdff\ufe70-\ufefc]")
_NON_ASCII_UPPER_RE = re.compile(r"[^\x00-\x7f]")


class OffsetMap:
    """Piecewise-linear map from positions in a derived string back to its source string.

    ``starts`` are derived-string positions where a new segment begins and ``origins`` the
    matching source positions; inside a segment characters correspond one to one.
    """

    __slots__ = ("origins", "starts")

    def __init__(self, starts: list[int] | None = None, origins: list[int] | None = None) -> None:
        self.starts = starts if starts is not None else [0]
        self.origins = origins if origins is not None else [0]

    def to_source(self, i: int) -> int:
        """Source index of derived index ``i``."""
        k = bisect.bisect_right(self.starts, i) - 1
        return self.origins[k] + (i - self.starts[k])

    def to_source_span(self, start: int, end: int) -> tuple[int, int]:
        """Source span of the derived span [start, end) (end maps through its last character)."""
        if end <= start:
            s = self.to_source(start)
            return s, s
        return self.to_source(start), self.to_source(end - 1) + 1

    def to_list(self, length: int) -> list[int]:
        """Explicit per-character source indices for a derived string of ``length``."""
        return [self.to_source(i) for i in range(length)]


IDENTITY = OffsetMap()


# The slow path's table: every character's whole result, so one translate() does the text.
# A character's result is NFKC (presentation forms only), the table, lower(), the table again.
# Precomputed here for the presentation forms (NFKC expands the ligatures ﻻ and ﷲ to several
# characters) and U+0130 (its lower() is two characters).
_SLOW_TABLE: dict[int, str | None] = dict(_TABLE)
_GROW: list[str] = []  # characters whose result is longer than one character
_SLOW_DELETE = list(_DELETE)
for _c in [*range(0xFB50, 0xFE00), *range(0xFE70, 0xFEFD), 0x0130]:
    _ch = chr(_c)
    _piece = (unicodedata.normalize("NFKC", _ch) if _PRESENTATION_RE.match(_ch) else _ch)
    _piece = _piece.translate(_TABLE).lower().translate(_TABLE)
    _SLOW_TABLE[_c] = _piece or None
    if not _piece:
        _SLOW_DELETE.append(_ch)
    elif len(_piece) > 1:
        _GROW.append(_ch)
_IRREGULAR_RE = re.compile("([" + "".join(re.escape(c) for c in _SLOW_DELETE) + "]+)|(["
                           + "".join(re.escape(c) for c in _GROW) + "])")  # fmt: skip


def _normalize_slow(text: str) -> tuple[str, OffsetMap]:
    # Only used when NFKC or a length-changing lower() is needed. The text is translated whole;
    # the offset map comes from the irregular characters alone (deleted runs, expansions), since
    # every other character maps to exactly one. Same string and map as one character at a time
    # (tests/enrich/test_normalize.py keeps that reference), ~10x faster on a long text.
    out = text.translate(_SLOW_TABLE).lower().translate(_TABLE)
    starts: list[int] = []
    origins: list[int] = []
    pos = 0
    done = 0
    for m in _IRREGULAR_RE.finditer(text):
        i = m.start()
        if i > done:  # a run of one-to-one characters
            if not starts or origins[-1] + (pos - starts[-1]) != done:
                starts.append(pos)
                origins.append(done)
            pos += i - done
        done = m.end()
        if m.group(2):  # an expansion: each of its characters maps to the same source char
            for _k in range(len(_SLOW_TABLE[ord(m.group(2))] or "")):
                starts.append(pos)
                origins.append(i)
                pos += 1
    if done < len(text):
        if not starts or origins[-1] + (pos - starts[-1]) != done:
            starts.append(pos)
            origins.append(done)
        pos += len(text) - done
    if pos != len(out):  # a lower() or table result this does not know: one character at a time
        return _normalize_per_character(text)
    if not starts:
        starts, origins = [0], [0]
    return out, OffsetMap(starts, origins)


def _normalize_per_character(text: str) -> tuple[str, OffsetMap]:
    """The slow path one character at a time: the fallback, and the reference the tests hold it to."""
    out: list[str] = []
    starts: list[int] = []
    origins: list[int] = []
    pos = 0
    for i, ch in enumerate(text):
        piece = ch
        if _PRESENTATION_RE.match(ch):
            piece = unicodedata.normalize("NFKC", ch)
        piece = piece.translate(_TABLE).lower().translate(_TABLE)
        if not piece:
            continue
        if not starts or origins[-1] + (pos - starts[-1]) != i or len(piece) != 1:
            starts.append(pos)
            origins.append(i)
        out.append(piece)
        pos += len(piece)
        if len(piece) != 1:
            for k in range(1, len(piece)):
                starts.append(pos - len(piece) + k)
                origins.append(i)
    if not starts:
        starts, origins = [0], [0]
    return "".join(out), OffsetMap(starts, origins)


def normalize_mapped(text: str) -> tuple[str, OffsetMap]:
    """Normalised text and an :class:`OffsetMap` back to ``text`` (the fast internal form)."""
    if _PRESENTATION_RE.search(text):
        return _normalize_slow(text)
    out = text.translate(_TABLE)
    if _NON_ASCII_UPPER_RE.search(out):
        lowered = out.lower()
        if len(lowered) != len(out):
            return _normalize_slow(text)
        out = lowered
    if len(out) == len(text):
        return out, IDENTITY
    return out, _deletion_map(text)


def _deletion_map(text: str) -> OffsetMap:
    """Offsets back into ``text`` when only deletions happened: one segment per deleted run."""
    starts = [0]
    origins = [0]
    removed = 0
    for m in _DELETE_RE.finditer(text):
        removed += m.end() - m.start()
        starts.append(m.end() - removed)
        origins.append(m.end())
    return OffsetMap(starts, origins)


def normalize_text(text: str) -> str:
    """Normalise Arabic and Latin text for matching (see the module docstring for what changes)."""
    if _PRESENTATION_RE.search(text):
        # what _normalize_slow returns, without the offset map nobody asked for
        return text.translate(_SLOW_TABLE).lower().translate(_TABLE)
    out = text.translate(_TABLE)
    if _NON_ASCII_UPPER_RE.search(out):
        out = out.lower()
    return out


def normalize_with_offsets(text: str) -> tuple[str, list[int]]:
    """Normalised text and, for each of its characters, the index of its source character."""
    out, omap = normalize_mapped(text)
    return out, omap.to_list(len(out))


# --- match form: quotes, dashes and whitespace runs become one space --------------------------

_SPACE_TABLE = {ord('"'): " ", ord("-"): " ", ord("\n"): " ", ord("\t"): " ", ord("\r"): " ",
                ord("\x0b"): " ", ord("\x0c"): " ", ord("\u2028"): " ", ord("\u2029"): " ",
                ord("\x85"): " "}
_MULTISPACE_RE = re.compile(" {2,}")


def match_form(normalized: str) -> tuple[str, OffsetMap]:
    """Normalised text with quotes, dashes and whitespace runs collapsed to one space.

    «داعش – ولاية خراسان», «داعش-خراسان» and «حركة "طالبان"» then look like the plain phrase,
    so one alias covers them. The map points back into ``normalized``.
    """
    spaced = normalized.translate(_SPACE_TABLE)
    if "  " not in spaced:
        return spaced, IDENTITY
    starts = [0]
    origins = [0]
    removed = 0
    for m in _MULTISPACE_RE.finditer(spaced):
        removed += m.end() - m.start() - 1
        starts.append(m.end() - removed)
        origins.append(m.end())
    return _MULTISPACE_RE.sub(" ", spaced), OffsetMap(starts, origins)


_MATCH_TABLE = dict(_TABLE)
_MATCH_TABLE.update(_SPACE_TABLE)
_MATCH_TABLE.update({ord(k): " " for k, v in _MAP.items() if v in ('"', "-")})


def match_mapped(text: str) -> tuple[str, OffsetMap, OffsetMap]:
    """Match form of raw ``text`` in one pass: (matchable, match->normalised map, normalised->original map).

    Same result as ``match_form(normalize_mapped(text)[0])``, about twice as fast on Arabic
    because the text is translated once.
    """
    if _PRESENTATION_RE.search(text):
        normalized, to_original = _normalize_slow(text)
        matchable, to_normalized = match_form(normalized)
        return matchable, to_normalized, to_original
    out = text.translate(_MATCH_TABLE)
    if _NON_ASCII_UPPER_RE.search(out):
        lowered = out.lower()
        if len(lowered) != len(out):
            normalized, to_original = _normalize_slow(text)
            matchable, to_normalized = match_form(normalized)
            return matchable, to_normalized, to_original
        out = lowered
    to_original = IDENTITY if len(out) == len(text) else _deletion_map(text)
    if "  " not in out:
        return out, IDENTITY, to_original
    starts = [0]
    origins = [0]
    removed = 0
    for m in _MULTISPACE_RE.finditer(out):
        removed += m.end() - m.start() - 1
        starts.append(m.end() - removed)
        origins.append(m.end())
    return _MULTISPACE_RE.sub(" ", out), OffsetMap(starts, origins), to_original


def normalize_pattern(phrase: str) -> str:
    """The form a pattern (alias, keyword, alert phrase) takes before it is matched."""
    return match_form(normalize_text(phrase))[0].strip()


# --- clitics ------------------------------------------------------------------------------------

ARABIC_LETTER_RE = re.compile("[\u0621-\u064a]")
_CONJ = ("", "و", "ف")
_PREP = ("", "ب", "ل", "ك")


def _proclitic_sets() -> tuple[frozenset[str], frozenset[str]]:
    plain: set[str] = set()
    article: set[str] = set()
    for c in _CONJ:
        for p in _PREP:
            plain.add(c + p)
            if p == "ل":
                article.add(c + "لل")  # ل + ال is written لل
            else:
                article.add(c + p + "ال")
    return frozenset(plain), frozenset(article)


# PLAIN_PROCLITICS: may stand before a bare name (لطالبان, وبموسكو);
# ARTICLE_PROCLITICS: end with the definite article (والكرملين, للكرملين, بالعاصمة).
PLAIN_PROCLITICS, ARTICLE_PROCLITICS = _proclitic_sets()
MAX_PROCLITIC = 4


def split_proclitic(word: str, min_rest: int = 3) -> tuple[str, str] | None:
    """Split ``word`` (normalised) into the longest valid proclitic sequence and a remainder."""
    for size in range(min(MAX_PROCLITIC, len(word) - min_rest), 0, -1):
        prefix = word[:size]
        if prefix in PLAIN_PROCLITICS or prefix in ARTICLE_PROCLITICS:
            return prefix, word[size:]
    return None


# Names that begin with a letter that is also a proclitic; search_form never strips them.
_PROTECTED_NAMES = {
    "لبنان", "ليبيا", "لندن", "لاهور", "لاوس", "لاتفيا", "ليتوانيا", "لوكسمبورغ", "لافروف", "لوكاشينكو",
    "بريطانيا", "بلجيكا", "بولندا", "بلغاريا", "بيلاروس", "بوتين", "بايدن", "باكستان", "بكين", "بغداد",
    "بيروت", "بنغلاديش", "بورما", "بوليفيا", "برلين", "باريس", "بروكسل", "بخارى", "بلخ", "بدخشان",
    "برادر", "باجور", "بيشاور", "بنجشير", "بشكيك", "باكو", "بلوشستان", "بوروندي", "بنما", "بوركينا",
    "كابل", "كابول", "كابولوف", "كازاخستان", "كندا", "كوبا", "كوريا", "كينيا", "كرواتيا", "كولومبيا",
    "كييف", "كيف", "كشمير", "كراتشي", "كويتا", "كونر", "كروكوس", "كرملين", "كوسوفو", "كامولوف",
    "فرنسا", "فلسطين", "فنزويلا", "فيتنام", "فنلندا", "فيينا", "فاسيلي", "فلاديمير", "فرغانه",
    "والتز", "واشنطن", "وزيرستان", "وارسو", "ويلز", "الله",
}


def _search_token(word: str, protected: frozenset[str] | set[str]) -> str:
    if word in protected or len(word) < 4:
        return word
    first: str | None = None
    for size in range(min(MAX_PROCLITIC, len(word) - 3), 0, -1):
        prefix = word[:size]
        if prefix in PLAIN_PROCLITICS or prefix in ARTICLE_PROCLITICS:
            rest = word[size:]
            if rest in protected:
                return rest  # وبوتين -> بوتين, never وتين
            if first is None:
                first = rest
    return first if first is not None else word


_ARABIC_TOKEN_RE = re.compile("[\u0621-\u064a]+")
_SEARCH_CACHE: dict[str, str] = {}
# ~170 bytes an entry: 50,000 words (~8 MB) hold a day of one story's vocabulary; more only
# grew the main process with the cycle's length (bench/bench_e2e.py, 500 -> 8,000 articles).
_SEARCH_CACHE_MAX = 50_000
# Whole texts whose search form an extraction worker already computed (enrich.prepare), each
# taken once by the indexing of its article.
_KNOWN_FORMS: Handoff[str] = Handoff()


def remember_search_form(text: str, form: str) -> None:
    """Record ``search_form(text)`` computed elsewhere (the next call for ``text`` returns it once)."""
    _KNOWN_FORMS.put(text, form)


def search_form(text: str, protected: frozenset[str] | set[str] | None = None) -> str:
    """Normalised text with proclitics stripped from each Arabic word, for a plain search index.

    Index and query both go through this function, so «طالبان» finds «لطالبان» and «وطالبان»,
    «موسكو» finds «بموسكو». Stripping is light and name-safe: at most one conjunction, one
    preposition and the article; at least three letters stay; known names are never cut.
    """
    if protected is None:
        known = _KNOWN_FORMS.take(text)
        if known is not None:
            return known
    prot = protected if protected is not None else _PROTECTED_NAMES
    cache = _SEARCH_CACHE if protected is None else {}
    if len(cache) > _SEARCH_CACHE_MAX:
        cache.clear()

    def _sub(m: re.Match[str]) -> str:
        w = m.group()
        r = cache.get(w)
        if r is None:
            r = _search_token(w, prot)
            cache[w] = r
        return r

    return _ARABIC_TOKEN_RE.sub(_sub, normalize_text(text))


def is_arabic(text: str) -> bool:
    """True when ``text`` contains at least one Arabic letter."""
    return ARABIC_LETTER_RE.search(text) is not None
