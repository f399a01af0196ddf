"""The spaCy tagger: clitics, ambiguity, longest match, offsets, the spaCy objects, the article API."""

from pathlib import Path

import pytest

from rasad.core.records import Article
from rasad.enrich.tagging import KeywordMatcher, get_tagger, split_tokens, tag_article

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def tagger():
    return get_tagger()


def ids(entities):
    return {e.id for e in entities}


def test_clitics_are_accepted_before_names(tagger):
    ents, _ = tagger.tag("", "التقى وفد لطالبان بمسؤولين وبموسكو والكرملين للكرملين في أفغانستان", "ar")
    found = {(e.id, m.text) for e in ents for m in e.mentions}
    assert ("taliban", "طالبان") in found
    assert ("moscow", "موسكو") in found
    assert ("kremlin", "الكرملين") in found
    assert ("kremlin", "للكرملين") in found


def test_verbs_and_students_are_not_the_taliban(tagger):
    for text in ["طالب شويجو الولايات المتحدة بإعادة الأصول في أفغانستان",
                 "وطالبا بممارسة المزيد من الضغوط في أفغانستان",
                 "فاز طالبان من جامعة القاهرة بالمركز الأول في أفغانستان",
                 "يطالبان بحقوقهما"]:
        ents, _ = tagger.tag("", text, "ar")
        assert "taliban" not in ids(ents), text


def test_ambiguous_aliases_need_their_cues(tagger):
    assert "kabul" not in ids(tagger.tag("", "انقطع كابل الكهرباء في الحي", "ar")[0])
    assert "kabul" in ids(tagger.tag("", "وصل الوفد إلى كابل عاصمة أفغانستان", "ar")[0])
    assert "isis_k" not in ids(tagger.tag("", "زار الرئيس محافظة خراسان في إيران", "ar")[0])
    assert "al_qaeda" not in ids(tagger.tag("", "افتتحت القاعدة الجوية الجديدة", "ar")[0])
    assert "crocus_city_hall" not in ids(tagger.tag("", "Crocus flowers bloom in spring", "en")[0])
    ents, _ = tagger.tag("", "وحذر مندوب روسيا لدى الأمم المتحدة خلال جلسة مجلس الأمن", "ar")
    assert "un_security_council" in ids(ents) and "russian_security_council" not in ids(ents)
    ents, _ = tagger.tag("", "قال شويغو أمين مجلس الأمن الروسي", "ar")
    assert "russian_security_council" in ids(ents) and "un_security_council" not in ids(ents)


def test_longest_match_wins(tagger):
    ents, _ = tagger.tag("", "دعم تقدمه لمجموعات مثل حركة طالبان باكستان في أفغانستان", "ar")
    assert "ttp" in ids(ents) and "taliban" not in ids(ents) and "pakistan" not in ids(ents)


def test_offsets_point_into_original_title_and_text(tagger):
    title = "روسيا تعترف بـ«طالبان»"
    text = "قال كابولوف إنّ موسكـــو وكابُل قريبتان. ﻻ شك أن بوتين يدعم «طالبان»"
    ents, topics = tagger.tag(title, text, "ar")
    for e in ents:
        for m in e.mentions:
            source = title if m.field == "title" else text
            assert source[m.start:m.end] == m.text
    moscow = next(e for e in ents if e.id == "moscow")
    assert moscow.mentions[0].text == "موسكـــو"
    for t in topics:
        for m in t.evidence:
            source = title if m.field == "title" else text
            assert source[m.start:m.end] == m.text


def test_spacy_doc_has_ents_spans_and_cats(tagger):
    nlp = tagger.nlp("ar")
    assert nlp.pipe_names == ["rasad_entities", "rasad_topics"]
    doc = nlp("قررت المحكمة العليا الروسية شطب حركة طالبان من قائمة المنظمات الإرهابية، وقال بوتين لطالبان")
    assert [t.text for t in doc][-2:] == ["ل", "طالبان"]
    kb = {(e.text, e.kb_id_, e.label_) for e in doc.ents}
    assert ("حركة طالبان", "taliban", "ORG") in kb
    assert ("بوتين", "vladimir_putin", "PERSON") in kb
    assert "diplomacy.delisting" in doc.cats
    assert any(s.label_ == "diplomacy.delisting" for s in doc.spans["rasad_topic_evidence"])


def test_split_tokens_reconstructs_text():
    text = "قال  بوتين\nلطالبان: «موسكو».  \n x"
    words, spaces = split_tokens(text, [text.index("طالبان")])
    assert "".join(w + (" " if s else "") for w, s in zip(words, spaces, strict=True)) == text
    assert "طالبان" in words and "ل" in words


def test_english_aliases_and_case(tagger):
    ents, _ = tagger.tag("", "The US says IS-K attacked Kabul; let us know.", "en")
    usa = next(e for e in ents if e.id == "usa")
    assert [m.text for m in usa.mentions] == ["US"]
    assert "isis_k" in ids(ents)


def test_keyword_matcher_is_clitic_aware():
    km = KeywordMatcher(["طالبان", "صيغة موسكو", "Crocus City Hall"])
    text = "وقال لطالبان إن «صيغة موسكو» مهمة، and the crocus city hall attack; طالب الوزير"
    found = km.find(text)
    assert [(text[s:e], p) for s, e, p in found] == [
        ("طالبان", "طالبان"), ("صيغة موسكو", "صيغة موسكو"), ("crocus city hall", "Crocus City Hall")]


def test_tag_article_fills_fields_and_version(tagger):
    article = Article(url="u", canonical_url="u", feed_id="f", source="s",
                      title="روسيا تعترف رسمياً بحكومة طالبان", text="أعلنت روسيا أنها قبلت أوراق اعتماد سفير جديد لأفغانستان", language="ar")
    tag_article(article, tagger)
    assert "russia" in {e.id for e in article.entities}
    assert "diplomacy.recognition" in {t.id for t in article.topics}
    assert article.tagger_version == tagger.version and len(tagger.version) < 40
    assert Article.from_doc(article.to_doc()).entities == article.entities


def test_get_tagger_is_cached_per_path():
    assert get_tagger() is get_tagger(SEEDS)
