"""Publication dates from Arabic (and other) news pages, normalised to UTC.

trafilatura's date engine (htmldate) reads ``<time datetime>``, meta tags, JSON-LD and
«21 نوفمبر 2025», but turned «21 تشرين الثاني 2025» into 2025-01-01 (it keeps the year
and defaults the rest) and misses Arabic-Indic digits in places. A wrong date is worse
than none, so this module:

- parses Arabic dates itself (Egyptian/Gulf, Levantine/Iraqi and Maghrebi month names,
  Arabic-Indic and Persian digits, day/month/year order) and accepts a date only when
  day, month and year are all stated;
- looks for the page date in the order of how much it can be trusted: structured
  metadata (meta tags, JSON-LD, ``<time datetime>``), a visible date next to the
  headline, the URL path, and only then htmldate, whose 1 January answers are dropped
  because they are its fallback when it found a year and nothing else;
- keeps a time without a stated offset *naive* (a wall-clock reading of the site's own
  zone, which the page does not name): it is turned into UTC only with the feed's
  configured ``timezone`` (IANA name in the registry), never by assuming UTC;
- reconciles the page date with the feed's date and says which won and why
  (:func:`resolve_published`, recorded as the article's ``published_source``).

The rules, in order (:func:`resolve_published`):

1. A naive page (or feed) time is read in the feed's ``timezone`` when one is configured.
2. A page time with an offset (stated, or from the configured zone) wins: it is the
   publisher's own record. Exception: when it came from the configured zone and differs
   from the feed's offset-bearing time by a whole number of half hours (the same
   minute read in another zone), the zone is doubtful and the feed's time is kept.
3. A tz-aware date always beats a naive one: without a configured zone, a naive page
   time loses to the feed's time (if that is within a day of the page's date).
4. A day-only page date takes the feed's time when they agree within a day; otherwise
   the page's day is kept.
5. When no time with an offset exists at all, only the day is stored (at 00:00 UTC of
   the local day) and ``published_source`` says the time is unknown: a naive local time
   is never stored as if it were UTC.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lxml.etree import XPath
from lxml.html import HtmlElement

# --- normalisation -------------------------------------------------------------------------

_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_DIACRITICS_RE = re.compile("[\u064b-\u065f\u0670\u0640\u200c-\u200f\u061c]")  # harakat, tatweel, bidi marks
_LETTERS = str.maketrans(
    {
        "أ": "ا",
        "إ": "ا",
        "آ": "ا",
        "ٱ": "ا",
        "ى": "ي",
        "ی": "ي",
        "ک": "ك",
        "٬": ",",
        "،": ",",
        "٫": ".",
        "\u00a0": " ",
    }
)


def normalize_date_text(text: str) -> str:
    """ASCII digits, no diacritics or tatweel, one alef form, ASCII commas, single spaces."""
    text = _DIACRITICS_RE.sub("", text.translate(_DIGITS)).translate(_LETTERS)
    return re.sub(r"\s+", " ", text).strip()


# --- month names (written here in their normalised form: bare alef, ي for ى) ---------------

_MONTHS: dict[str, int] = {
    # Egyptian / Gulf (from the Latin names), with common spellings
    "يناير": 1,
    "فبراير": 2,
    "مارس": 3,
    "ابريل": 4,
    "مايو": 5,
    "يونيو": 6,
    "يونيه": 6,
    "يوليو": 7,
    "يوليه": 7,
    "اغسطس": 8,
    "اغسطوس": 8,
    "سبتمبر": 9,
    "اكتوبر": 10,
    "نوفمبر": 11,
    "نونبر": 11,
    "ديسمبر": 12,
    # Levantine / Iraqi (Syriac names)
    "كانون الثاني": 1,
    "شباط": 2,
    "اذار": 3,
    "نيسان": 4,
    "ايار": 5,
    "حزيران": 6,
    "تموز": 7,
    "اب": 8,
    "ايلول": 9,
    "تشرين الاول": 10,
    "تشرين الثاني": 11,
    "كانون الاول": 12,
    # Maghrebi (Algeria/Tunisia from French; Morocco from Spanish-influenced forms)
    "جانفي": 1,
    "فيفري": 2,
    "افريل": 4,
    "ماي": 5,
    "جوان": 6,
    "جويلية": 7,
    "جويلة": 7,
    "اوت": 8,
    "يوليوز": 7,
    "غشت": 8,
    "شتنبر": 9,
    "دجنبر": 12,
    # English and French, for bilingual bylines
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
    "janvier": 1,
    "fevrier": 2,
    "février": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "aout": 8,
    "août": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "decembre": 12,
    "décembre": 12,
}
# Longest first so «كانون الثاني» wins over a shorter name and «ابريل» over «اب».
_MONTH_ALT = "|".join(re.escape(m) for m in sorted(_MONTHS, key=len, reverse=True))
# Arabic letters are \w, so a month must not sit inside a longer word («اب» in «الاباء»).
_MONTH = rf"(?<!\w)(?P<{{name}}>{_MONTH_ALT})(?!\w)"
# Levantine papers often write both names: «تشرين الثاني/نوفمبر», «11 (نوفمبر)».
_MONTH_PAIR = _MONTH.format(name="month") + r"(?:\s*[/\-(]\s*" + _MONTH.format(name="month2") + r"\s*\)?)?"
_DAY = r"(?P<day>[0-3]?\d)"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
_TIME = (
    r"(?:(?:\s*(?:,|-|–|\||علي|الساعة|at|في|à))*\s*(?P<hour>[0-2]?\d):(?P<minute>[0-5]\d)(?::(?P<second>[0-5]\d))?"
    r"\s*(?P<ampm>ص|م|صباحا|مساء|مساءا|ظهرا|am|pm|a\.m\.|p\.m\.)?(?!\w))?"
)
_NOT_HIJRI = r"(?!\s*(?:هـ|ه\b|ھ))"

_DAY_MONTH_YEAR = re.compile(
    rf"(?<!\d){_DAY}(?:st|nd|rd|th|er)?\s*(?:من\s+)?{_MONTH_PAIR}\s*,?\s*{_YEAR}(?!\d){_NOT_HIJRI}{_TIME}",
    re.IGNORECASE,
)
_MONTH_DAY_YEAR = re.compile(
    rf"{_MONTH_PAIR}\s+{_DAY}(?:st|nd|rd|th)?\s*,?\s*{_YEAR}(?!\d){_NOT_HIJRI}{_TIME}", re.IGNORECASE
)
_NUMERIC_DMY = re.compile(
    rf"(?<![\d/.\-]){_DAY}\s*([/.\-])\s*(?P<month>[01]?\d)\s*\2\s*{_YEAR}(?![\d/.\-]){_NOT_HIJRI}{_TIME}",
    re.IGNORECASE,
)
_NUMERIC_YMD = re.compile(
    rf"(?<![\d/.\-]){_YEAR}\s*([/.\-])\s*(?P<month>[01]?\d)\s*\2\s*{_DAY}(?![\d/.\-]){_NOT_HIJRI}{_TIME}",
    re.IGNORECASE,
)
_PM = {"م", "مساء", "مساءا", "pm", "p.m."}
_NOON = {"ظهرا"}


@dataclass(frozen=True)
class PageDate:
    """A date found on a page: its value, whether a time of day was stated, and where.

    ``value`` is tz-aware (UTC) when the page stated an offset, and *naive* (the site's
    wall-clock reading, zone unknown) when it did not; day-only dates are naive midnight.
    """

    value: datetime
    precise: bool
    source: str  # meta | jsonld | time | text | url | htmldate

    @property
    def aware(self) -> bool:
        """Whether the page stated the offset (the value is a true instant)."""
        return self.value.tzinfo is not None


def _build_datetime(match: re.Match[str], month: int) -> tuple[datetime, bool] | None:
    groups = match.groupdict()
    try:
        day, year = int(groups["day"]), int(groups["year"])
        hour = int(groups["hour"]) if groups.get("hour") else 0
        minute = int(groups["minute"]) if groups.get("minute") else 0
        second = int(groups["second"]) if groups.get("second") else 0
        ampm = (groups.get("ampm") or "").lower()
        if (ampm in _PM and hour < 12) or (ampm in _NOON and hour < 6):
            hour += 12
        elif ampm in {"ص", "صباحا", "am", "a.m."} and hour == 12:
            hour = 0
        value = datetime(year, month, day, hour, minute, second)  # naive: the text names no zone
    except (TypeError, ValueError):
        return None
    return value, bool(groups.get("hour"))


def _month_of(match: re.Match[str]) -> int | None:
    month = _MONTHS.get(match.group("month").lower())
    second = match.groupdict().get("month2")
    # «تشرين الثاني/نوفمبر»: both names must agree, else the date is not trustworthy.
    if month and second and _MONTHS.get(second.lower()) != month:
        return None
    return month


def parse_arabic_date_precise(text: str) -> tuple[datetime, bool] | None:
    """First full date (day, month, year) in ``text`` as (naive local datetime, time-of-day stated)."""
    norm = normalize_date_text(text)
    candidates: list[tuple[int, datetime, bool]] = []
    for pattern in (_DAY_MONTH_YEAR, _MONTH_DAY_YEAR):
        for match in pattern.finditer(norm):
            month = _month_of(match)
            built = _build_datetime(match, month) if month else None
            if built:
                candidates.append((match.start(), *built))
                break
    for pattern in (_NUMERIC_DMY, _NUMERIC_YMD):
        for match in pattern.finditer(norm):
            built = _build_datetime(match, int(match.group("month")))
            if built:
                candidates.append((match.start(), *built))
                break
    if not candidates:
        return None
    _, value, precise = min(candidates, key=lambda c: c[0])
    return value, precise


def parse_arabic_date(text: str) -> datetime | None:
    """Parse the first full Arabic/English/French date in ``text`` (naive, local), or None if incomplete."""
    found = parse_arabic_date_precise(text)
    return found[0] if found else None


# --- ISO values from metadata ---------------------------------------------------------------

_ISO_RE = re.compile(
    r"(?P<y>(?:19|20)\d\d)-?(?P<m>[01]\d)-?(?P<d>[0-3]\d)"
    r"(?:[T ](?P<H>[0-2]\d):?(?P<M>[0-5]\d)(?::?(?P<S>[0-5]\d)(?:[.,]\d+)?)?"
    r"\s*(?P<tz>Z|[+-][01]\d:?[0-5]\d|[+-][01]\d|UTC|GMT)?)?"
)


def parse_iso_datetime(value: str) -> tuple[datetime, bool] | None:
    """An ISO 8601 date or datetime from metadata as (datetime, time-of-day stated).

    With an offset (or Z/UTC/GMT) the value is tz-aware UTC; without one it stays naive.
    """
    match = _ISO_RE.search(value.strip())
    if not match:
        return None
    g = match.groupdict()
    try:
        naive = datetime(
            int(g["y"]), int(g["m"]), int(g["d"]), int(g["H"] or 0), int(g["M"] or 0), int(g["S"] or 0)
        )
    except ValueError:
        return None
    tz = g["tz"]
    if not tz or g["H"] is None:
        # No offset: the site's wall clock, zone unknown. Kept naive for resolve_published.
        return naive, g["H"] is not None
    offset = timedelta(0)
    if tz not in {"Z", "UTC", "GMT"}:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return (naive - offset).replace(tzinfo=UTC), True


# --- finding the date in a page ---------------------------------------------------------------

_META_NAMES = {
    "article:published_time",
    "og:published_time",
    "article:published",
    "datepublished",
    "pubdate",
    "publishdate",
    "publish-date",
    "publish_date",
    "published_time",
    "published-date",
    "date",
    "dc.date",
    "dc.date.issued",
    "dc.date.created",
    "dcterms.created",
    "dcterms.issued",
    "sailthru.date",
    "parsely-pub-date",
    "article.published",
    "cxenseparse:recs:publishtime",
    "originalpublicationdate",
    "dc.date.published",
    "rnews:datepublished",
    "og:article:published_time",
}
_META_XPATH = XPath("//meta[@content][@property or @name or @itemprop]")
_TIME_XPATH = XPath("//time[@datetime]")
_ITEMPROP_XPATH = XPath("//*[@itemprop='datePublished']")
_JSONLD_XPATH = XPath("//script[@type='application/ld+json']/text()")
_JSONLD_DATE_RE = re.compile(r'"datePublished"\s*:\s*"([^"]{8,40})"')
_URL_DATE_RE = re.compile(r"/((?:19|20)\d\d)[/-]([01]?\d)[/-]([0-3]?\d)(?:/|-|$)")
_DATE_CLASS_XPATH = (
    ".//*[contains(@class,'date') or contains(@class,'time') or contains(@class,'publish')"
    " or contains(@class,'posted') or contains(@class,'meta') or contains(@id,'date')"
    " or contains(@class,'byline') or self::time]"
)
# Dates of other stories or of "today" sit in these blocks, not the article's own.
_OTHER_STORY_HINT = re.compile(
    r"related|widget|sidebar|today|comment|recent|popular|footer|topbar|top-bar|ticker", re.IGNORECASE
)


def _structured_dates(tree: HtmlElement) -> PageDate | None:
    """First date from JSON-LD, meta tags, itemprop and ``<time datetime>``, in that order.

    JSON-LD comes first: publishers fill it from the CMS record, while meta tags are
    sometimes template defaults (Metro's article:published_time drops the UTC offset its
    JSON-LD keeps). A candidate with a time of day beats a day-only one.
    """
    candidates: list[PageDate] = []
    for script in _JSONLD_XPATH(tree):
        for raw in _JSONLD_DATE_RE.findall(script):
            parsed = parse_iso_datetime(raw)
            if parsed:
                candidates.append(PageDate(parsed[0], parsed[1], "jsonld"))
                break
        if candidates:
            break
    for element in _META_XPATH(tree):
        key = (element.get("property") or element.get("name") or element.get("itemprop") or "").lower()
        if key in _META_NAMES:
            parsed = parse_iso_datetime(element.get("content", ""))
            if parsed:
                candidates.append(PageDate(parsed[0], parsed[1], "meta"))
                break
    for element in _ITEMPROP_XPATH(tree):
        raw = element.get("content") or element.get("datetime") or ""
        parsed = parse_iso_datetime(raw) if raw else parse_arabic_date_precise(element.text_content())
        if parsed:
            candidates.append(PageDate(parsed[0], parsed[1], "meta"))
            break
    for element in _TIME_XPATH(tree):
        if _inside_other_story(element):
            continue
        parsed = parse_iso_datetime(element.get("datetime", ""))
        if parsed:
            candidates.append(PageDate(parsed[0], parsed[1], "time"))
            break
    if not candidates:
        return None
    first = candidates[0]
    # A time with an offset beats a naive time, which beats a bare day (same day ± 1 as the first).
    near = [c for c in candidates if abs((c.value.date() - first.value.date()).days) <= 1]
    for candidate in near:
        if candidate.precise and candidate.aware:
            return candidate
    for candidate in near:
        if candidate.precise:
            return candidate
    return first


def _inside_other_story(element: HtmlElement) -> bool:
    for ancestor in element.iterancestors():
        marker = f"{ancestor.get('class', '')} {ancestor.get('id', '')}"
        if marker.strip() and _OTHER_STORY_HINT.search(marker):
            return True
        if ancestor.tag in {"aside", "footer"}:
            return True
    return False


def _visible_date_near_title(tree: HtmlElement) -> PageDate | None:
    """A date written next to the headline: the byline block shares an ancestor with the h1."""
    headings = tree.xpath("//h1")
    if not headings:
        return None
    node = headings[0]
    for _ in range(5):
        parent = node.getparent()
        if parent is None:
            break
        node = parent
        for candidate in node.xpath(_DATE_CLASS_XPATH)[:30]:
            if _inside_other_story(candidate):
                continue
            text = candidate.text_content()
            if len(text) > 300:
                continue
            parsed = parse_arabic_date_precise(text)
            if parsed:
                return PageDate(parsed[0], parsed[1], "text")
    return None


def date_from_url(url: str | None) -> PageDate | None:
    """A /YYYY/MM/DD/ date in the URL path, if it is a real calendar date."""
    if not url:
        return None
    match = _URL_DATE_RE.search(url)
    if not match:
        return None
    try:
        value = datetime(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None
    return PageDate(value, False, "url")


def _htmldate_fallback(tree: HtmlElement, url: str | None) -> PageDate | None:
    from htmldate import find_date  # noqa: PLC0415 - only for pages our own date readers could not date

    try:
        found = find_date(tree, url=url, extensive_search=False, original_date=True, outputformat="%Y-%m-%d")
    except Exception:  # htmldate raises on odd trees; a missing date is the safe answer
        return None
    if not found:
        return None
    value = datetime.strptime(found, "%Y-%m-%d")
    # 1 January is htmldate's filler when it found only a year: not a proven date.
    if value.month == 1 and value.day == 1:
        return None
    return PageDate(value, False, "htmldate")


def find_published_date(tree: HtmlElement, url: str | None = None) -> PageDate | None:
    """The page's publication date, from the most trustworthy evidence available, or None."""
    structured = _structured_dates(tree)
    if structured:
        return structured
    visible = _visible_date_near_title(tree)
    from_url = date_from_url(url)
    if visible:
        # A URL date that contradicts the visible one by days means the visible one is another story's.
        if from_url and abs((visible.value.date() - from_url.value.date()).days) > 1:
            return from_url
        return visible
    if from_url:
        return from_url
    return _htmldate_fallback(tree, url)


@lru_cache(maxsize=256)
def load_timezone(name: str) -> tzinfo:
    """The IANA zone ``name`` (``Asia/Riyadh``); ValueError saying why if there is no such zone."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"must be an IANA time zone name like Asia/Riyadh, got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        pass
    from zoneinfo import available_timezones  # noqa: PLC0415 - only for a zone name in the wrong case

    lowered = {z.lower(): z for z in available_timezones()}
    hint = lowered.get(name.strip().lower())
    if hint:
        raise ValueError(f"{name!r} is not an IANA time zone name (did you mean {hint!r}?)")
    if re.match(r"^(?:UTC|GMT)?\s*[+-]\d", name.strip(), re.IGNORECASE):
        raise ValueError(
            f"{name!r} is an offset, not a zone: offsets change with daylight saving time; "
            "use the IANA name of the site's city (Asia/Riyadh, Africa/Cairo, Asia/Beirut, Asia/Kabul)"
        )
    raise ValueError(f"{name!r} is not an IANA time zone name (like Asia/Riyadh or Africa/Cairo)")


def localize(value: datetime, zone: tzinfo) -> datetime:
    """A naive wall-clock time read in ``zone``, as UTC.

    In the hour that repeats when daylight saving ends the earlier reading is taken
    (fold=0); a time in the hour that is skipped when it starts keeps the offset in force
    before the change. Both are what zoneinfo does, and both are within an hour.
    """
    return value.replace(tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Published:
    """The publication time chosen for an article, and which evidence won and why."""

    value: datetime | None  # UTC; with time_known False only its day means something
    time_known: bool
    source: str | None  # e.g. "page: jsonld time with offset", "feed: page time has no offset …"


# Two readings of one timestamp in different zones differ by whole half hours (Kabul is +4:30),
# up to 14 h; two independent times rarely do to the second.
_ZONE_SLIP = timedelta(minutes=30)
_MAX_ZONE_GAP = timedelta(hours=14)


def _zone_slip(a: datetime, b: datetime) -> bool:
    gap = abs(a - b)
    return _ZONE_SLIP <= gap <= _MAX_ZONE_GAP and gap % _ZONE_SLIP == timedelta(0)


def _day_only(day: datetime, why: str, winner: str = "page_day") -> Published:
    return Published(
        datetime(day.year, day.month, day.day, tzinfo=UTC), False, f"{winner}: {why}; time unknown"
    )


def resolve_published(
    page: PageDate | None, feed: datetime | None, timezone: str | tzinfo | None = None
) -> Published:
    """One UTC publication time from the page's date and the feed's, with the reason (rules above)."""
    zone = load_timezone(timezone) if isinstance(timezone, str) else timezone
    zone_name = getattr(zone, "key", None) or str(zone) if zone else None
    feed_utc: datetime | None = None
    feed_naive: datetime | None = None
    feed_via_zone = False
    if feed is not None:
        if feed.tzinfo is not None:
            feed_utc = feed.astimezone(UTC)
        elif zone is not None:
            feed_utc, feed_via_zone = localize(feed, zone), True
        else:
            feed_naive = feed
    feed_how = f"feed time read in {zone_name}" if feed_via_zone else "feed time with offset"

    if page is None:
        if feed_utc is not None:
            return Published(feed_utc, True, f"feed: no date on the page; {feed_how}")
        if feed_naive is not None:
            return _day_only(feed_naive, "feed time has no offset and no timezone is configured", "feed_day")
        return Published(None, False, None)

    page_utc: datetime | None = None
    page_how = ""
    if page.precise and page.aware:
        page_utc, page_how = page.value.astimezone(UTC), f"{page.source} time with offset"
    elif page.precise and zone is not None:
        page_utc, page_how = localize(page.value, zone), f"{page.source} time read in {zone_name}"

    if page_utc is not None:
        if not page.aware and feed_utc is not None and not feed_via_zone and _zone_slip(page_utc, feed_utc):
            hours = (page_utc - feed_utc).total_seconds() / 3600
            return Published(
                feed_utc,
                True,
                f"feed: page time read in {zone_name} is {hours:+g} h off the feed's; zone doubtful",
            )
        return Published(page_utc, True, f"page: {page_how}")
    if page.precise:
        # A naive page time and no zone to read it in: the offset-bearing feed time wins.
        why = f"{page.source} time has no offset and no timezone is configured"
        if feed_utc is not None and abs((feed_utc.date() - page.value.date()).days) <= 1:
            return Published(feed_utc, True, f"feed: page {why}")
        if feed_utc is not None:
            return _day_only(page.value, f"{why}, the feed's date is days away")
        return _day_only(page.value, why)
    # A day-only page date: the feed's time refines it when they agree within a day.
    if feed_utc is not None:
        feed_day = (feed_utc.astimezone(zone) if zone is not None else feed_utc).date()
        if abs((feed_day - page.value.date()).days) <= 1:
            return Published(
                feed_utc, True, f"feed: page {page.source} gives the day only, the feed's time agrees"
            )
        return _day_only(page.value, f"{page.source} day, the feed's date is days away")
    return _day_only(page.value, f"{page.source} gives the day only")


def reconcile_dates(
    page: PageDate | None, feed: datetime | None, timezone: str | tzinfo | None = None
) -> datetime | None:
    """One UTC publication time from the page's date and the feed's (see :func:`resolve_published`)."""
    return resolve_published(page, feed, timezone).value
