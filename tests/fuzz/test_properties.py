"""Property-based tests (hypothesis) of the pure functions the fuzz targets lean on, with shrinking.

derandomize=True: the same examples on every run (no flaky CI), and no example database on disk.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.mutate import (
    ARABIC_LETTERS,
    CASE_TRAPS,
    CONTROLS,
    DIACRITICS,
    PRESENTATION,
    SURROGATES,
    TATWEEL,
)

HOSTILE = st.text(alphabet=st.sampled_from(ARABIC_LETTERS + DIACRITICS + [TATWEEL] + CONTROLS + PRESENTATION
                                           + SURROGATES + CASE_TRAPS + list("abcXYZ 0123٠١٢.،\"-«»")),
                  max_size=300)  # fmt: skip
SETTINGS = settings(derandomize=True, database=None, max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])  # fmt: skip


@SETTINGS
@given(HOSTILE | st.text(max_size=200))
def test_normalisation_is_idempotent_and_maps_back_into_the_text(s):
    from rasad.enrich.normalize import match_form, match_mapped, normalize_mapped, normalize_text

    n = normalize_text(s)
    assert normalize_text(n) == n
    mapped, omap = normalize_mapped(s)
    assert mapped == n
    assert all(0 <= omap.to_source(i) < len(s) for i in range(len(mapped)))
    assert match_mapped(s)[0] == match_form(n)[0]


@SETTINGS
@given(HOSTILE, HOSTILE)
def test_every_mention_quotes_its_field(title, text):
    from rasad.enrich.tagging import get_tagger

    entities, topics = get_tagger().tag(title, text)
    fields = {"title": title, "text": text}
    for m in [m for e in entities for m in e.mentions] + [m for t in topics for m in t.evidence]:
        assert fields[m.field][m.start : m.end] == m.text


@SETTINGS
@given(st.text(max_size=120))
def test_canonical_urls_are_https_and_stable(tail):
    from rasad.ingest.urls import URLError, canonicalize_url

    for url in (f"http://www.example.org/{tail}", f"https://[::1]:8080/{tail}?utm_source=x&{tail}=1"):
        try:
            canon = canonicalize_url(url)
        except URLError:
            continue
        assert canon.startswith("https://") and canonicalize_url(canon) == canon


@SETTINGS
@given(st.text(max_size=200))
def test_mail_headers_and_links_stay_safe(value):
    from rasad.alerts.render import safe_header, safe_url

    header = safe_header(value)
    assert "\r" not in header and "\n" not in header and len(header) <= 180
    for url in (value, "https://example.org/" + value, "javascript:" + value):
        ok = safe_url(url)
        assert ok is None or ok.split(":", 1)[0] in ("http", "https")
