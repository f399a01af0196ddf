"""Arabic search on the real node: clitic forms found, filters, highlights, the CLI table and JSON."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timezone

import pytest

from rasad.core.records import EntityTag, TopicTag
from rasad.indexing.bulk import index_articles
from rasad.indexing.cli_index import add_index_parsers
from rasad.indexing.search import (
    SearchError,
    SearchQuery,
    highlight_text,
    parse_since,
    query_terms,
    render_table,
    search_articles,  # fmt: skip
    visual,
)
from rasad.indexing.setup import setup_indices
from tests.indexing.conftest import make_article

NOW = datetime(2025, 5, 10, 12, 0, tzinfo=timezone.utc)


def _corpus(seeds):
    # Each hand-made article holds the name ONLY in a clitic form, so a hit proves the
    # normalisation works (the seeds add real, longer text around them).
    lam = make_article("lam", "اجتماع في الدوحة", "وقال المبعوث إن رسالة موسكو لطالبان كانت واضحة هذه المرة.",
                       published="2025-05-09T10:00:00Z", fetched_at="2025-05-09T10:05:00Z")
    waw = make_article("waw", "محادثات إقليمية", "اجتمع ممثلو الصين وطالبان في بكين لبحث ملف الحدود.",
                       published="2025-05-03T10:00:00Z", fetched_at="2025-05-03T10:05:00Z",
                       entities=[EntityTag(id="china", type="place", name="China", name_ar="الصين")])
    ba = make_article("ba", "زيارة رسمية", "عقد الوزير لقاءات مطولة بموسكو مع نظيره الروسي.",
                      published="2025-05-08T10:00:00Z", fetched_at="2025-05-08T10:05:00Z",
                      topics=[TopicTag(id="diplomacy.rapprochement", label="Rapprochement", score=0.9)])
    other = make_article("other", "أسعار النفط", "ارتفعت أسعار النفط في الأسواق العالمية اليوم.",
                         published="2025-05-09T11:00:00Z", fetched_at="2025-05-09T11:05:00Z")
    en = make_article("en", "Taliban delegation in Moscow", "A Taliban delegation met officials in Moscow.",
                      language="en", published="2025-05-09T09:00:00Z", fetched_at="2025-05-09T09:05:00Z")
    for a, absent in ((lam, "طالبان"), (waw, "طالبان"), (ba, "موسكو")):
        assert absent not in a.text.replace("ل" + absent, "").replace("و" + absent, "").replace("ب" + absent, "")
    return [lam, waw, ba, other, en, *seeds]


@pytest.fixture
def loaded(es, settings, seeds):
    setup_indices(es, settings)
    articles = _corpus(seeds)
    rep = index_articles(es, settings, articles)
    assert rep.indexed == len(articles) and rep.errors == []
    return {a.url.rsplit("/", 1)[-1]: a.id for a in articles}


def _ids(es, settings, **kw) -> set[str]:
    res = search_articles(es, settings, SearchQuery(limit=100, **kw), now=NOW)
    return {h.id for h in res.hits}


def test_taliban_finds_lam_and_waw_forms(es, settings, loaded):
    found = _ids(es, settings, text="طالبان")
    assert loaded["lam"] in found and loaded["waw"] in found
    assert loaded["other"] not in found and loaded["ba"] not in found


def test_moscow_finds_ba_form(es, settings, loaded):
    found = _ids(es, settings, text="موسكو")
    assert loaded["ba"] in found and loaded["lam"] in found
    assert loaded["other"] not in found


def test_query_with_clitic_finds_bare_form_and_latin_too(es, settings, loaded):
    assert loaded["ba"] in _ids(es, settings, text="وموسكو")
    assert loaded["en"] in _ids(es, settings, text="taliban moscow")
    # every word is required
    assert loaded["other"] not in _ids(es, settings, text="النفط طالبان")


def test_filters(es, settings, loaded):
    assert _ids(es, settings, text="Taliban", lang="en") == {loaded["en"]}
    assert _ids(es, settings, text="طالبان", lang="en") == set()
    assert _ids(es, settings, topic="diplomacy") == {loaded["ba"]}  # parent finds sub-topic
    assert _ids(es, settings, entity="China") == {loaded["waw"]}
    assert _ids(es, settings, entity="الصين") == {loaded["waw"]}
    recent = _ids(es, settings, since="30h")
    assert loaded["lam"] in recent and loaded["waw"] not in recent


def test_highlights_mark_the_original_words(es, settings, loaded):
    res = search_articles(es, settings, SearchQuery(text="طالبان"), now=NOW)
    lam = next(h for h in res.hits if h.id == loaded["lam"])
    assert "<em>لطالبان</em>" in lam.highlights["text"][0]
    waw = next(h for h in res.hits if h.id == loaded["waw"])
    assert "<em>وطالبان</em>" in waw.highlights["text"][0]


def test_highlight_text_fragments():
    text = "كلمة " * 100 + "وصل وفد طالبان إلى موسكو" + " كلمة" * 100
    frags = highlight_text(text, set(query_terms("طالبان موسكو")))
    assert len(frags) == 1 and frags[0].startswith("… ") and frags[0].endswith(" …")
    assert "<em>طالبان</em>" in frags[0] and "<em>موسكو</em>" in frags[0]
    assert highlight_text("لا شيء هنا", {"طالبان"}) == []


def test_parse_since():
    assert parse_since("24h", NOW) == datetime(2025, 5, 9, 12, 0, tzinfo=timezone.utc)
    assert parse_since("2w", NOW).day == 26
    assert parse_since("2025-05-01", NOW) == datetime(2025, 5, 1, tzinfo=timezone.utc)
    with pytest.raises(SearchError):
        parse_since("yesterday", NOW)


def _cli(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="rasad")
    add_index_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(argv)
    return args.func(args)


def test_cli_json_and_table(es, settings, loaded, capsys):
    assert _cli(["search", "طالبان", "--json", "--limit", "50"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert loaded["lam"] in {h["id"] for h in out["hits"]}
    assert out["total"] >= 2 and out["query"]["text"] == "طالبان"
    assert any("<em>" in f for h in out["hits"] for f in h["highlights"].get("text", []))

    assert _cli(["search", "موسكو", "--limit", "50"]) == 0
    table = capsys.readouterr().out
    # Right-to-left text is printed in display order (reversed), so a terminal without
    # bidi support shows it correctly; the logical-order title is not there.
    assert visual("زيارة رسمية") in table and "زيارة رسمية" not in table
    assert "news.example.org/ba" in table

    assert _cli(["search", "موسكو", "--no-bidi"]) == 0
    assert "زيارة رسمية" in capsys.readouterr().out
    assert _cli(["search", "x", "--since", "soon"]) == 2


def test_render_table_colours_matches_after_reordering(es, settings, loaded):
    res = search_articles(es, settings, SearchQuery(text="طالبان"), now=NOW, pre="\x00", post="\x01")
    out = render_table(res, bidi=True, color=True, width=100)
    assert f"\x1b[1m{visual('لطالبان')}\x1b[22m" in out
    assert "\x00" not in out and "\x01" not in out
