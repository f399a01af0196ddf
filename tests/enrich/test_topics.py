"""Topic scoring: where the evidence is (title, lead, body), the item's length, and the demo article."""

import shutil
from pathlib import Path

import pytest
import yaml

from rasad.enrich.knowledge import TopicScoring, load_knowledge_with_problems
from rasad.enrich.tagger_engine import _length_factor, _position_weigher
from rasad.enrich.tagging import Tagger, get_tagger
from rasad.ingest.extract.article import extract_article

PROJECT = Path(__file__).resolve().parents[2]
DEMO_SITE = PROJECT / "examples" / "demo" / "site"
RECOGNITION = ["ar/news/2025/07/russia-recognises-taliban-government.html",
               "en/news/2025/07/russia-recognises-taliban-government.html"]

# Plain Arabic news filler (no entity, no keyword of any topic): the body a passing mention hides in.
FILLER = ("وقال المتحدث في مؤتمر صحفي إن الوزارة تتابع التطورات عن كثب وإن اللجان المختصة ستعقد "
          "اجتماعات دورية لمراجعة الخطط المعلنة وتقديم تقارير منتظمة إلى الجهات المعنية في الأسابيع المقبلة. ")


@pytest.fixture(scope="module")
def tagger():
    return get_tagger()


def topic_ids(topics):
    return {t.id for t in topics}


@pytest.mark.parametrize("path", RECOGNITION)
def test_demo_recognition_story_is_not_tagged_terrorist_attacks(tagger, path):
    # The Crocus attack is mentioned in passing, deep in the article; the story is the recognition.
    page = extract_article((DEMO_SITE / path).read_bytes(), "http://127.0.0.1:8765/" + path)
    assert page.status == "ok" and len(page.text) > 1500
    _, topics = tagger.tag(page.title or "", page.text, page.language)
    ids = topic_ids(topics)
    assert "diplomacy.recognition" in ids
    assert "security.attacks" not in ids, [(t.id, t.score) for t in topics]
    # ... while the attack is still read: the same article with it in the headline is about it
    _, topics = tagger.tag("هجوم كروكوس: داعش خراسان يتبنى الهجوم الذي أسفر عن مقتل 145 شخصاً", page.text, "ar")
    assert "security.attacks" in topic_ids(topics)


def test_arabic_headline_of_an_isis_k_attack_gets_both_topics(tagger):
    _, topics = tagger.tag("«داعش خراسان» يتبنى هجوماً على نقطة أمنية لطالبان في بدخشان", "", "ar")
    assert {"security.attacks", "security.iskp_threat"} <= topic_ids(topics)


def test_english_sentence_on_the_delisting_gets_the_delisting_topic(tagger):
    _, topics = tagger.tag("", "The Taliban's removal from Russia's terrorist list clears the way for open contacts.", "en")
    assert "diplomacy.delisting" in topic_ids(topics)


def test_the_same_evidence_counts_by_where_it_is(tagger):
    sentence = "وأعلن تنظيم داعش خراسان مسؤوليته عن الهجوم الذي أسفر عن مقتل عشرات الأشخاص."
    _, in_lead = tagger.tag("", sentence + " " + FILLER * 12, "ar")
    _, deep = tagger.tag("", FILLER * 12 + sentence, "ar")
    assert "security.attacks" in topic_ids(in_lead)
    assert "security.attacks" not in topic_ids(deep)
    # and the title counts more than the lead
    _, as_title = tagger.tag(sentence, FILLER * 3, "ar")
    _, as_lead = tagger.tag("", sentence + " " + FILLER * 3, "ar")
    score = {t.id: t.score for t in as_title}["security.attacks"]
    assert score > {t.id: t.score for t in as_lead}["security.attacks"]


def test_a_short_item_needs_less_evidence_than_an_article(tagger):
    # one keyword and the required entity: enough for a headline, not for an article
    headline = "الولايات المتحدة تفرض عقوبات على طالبان"
    _, short = tagger.tag(headline, "", "ar")
    _, long = tagger.tag("", headline + " " + FILLER * 10, "ar")
    assert "economy.sanctions_assets" in topic_ids(short)
    assert "economy.sanctions_assets" not in topic_ids(long)


def test_position_weights_and_length_factor():
    s = TopicScoring()
    weigh = _position_weigher(s, title_end=50)
    assert weigh(10) == s.title_weight
    assert weigh(60) == s.lead_weight
    assert weigh(50 + s.lead_chars + s.body_half_chars) == pytest.approx(0.5)
    assert weigh(5000) < weigh(1000) < 1.0
    assert _position_weigher(s, None)(0) == s.lead_weight
    assert _length_factor(s, 10) == s.short_factor
    assert _length_factor(s, s.long_chars + 1) == 1.0
    mid = _length_factor(s, (s.short_chars + s.long_chars) // 2)
    assert s.short_factor < mid < 1.0


def test_nested_keyword_is_one_piece_of_evidence(tagger):
    # «مقتل» inside «أسفر عن مقتل», «الكهرباء» and «كهرباء» on one span: each counts once
    engine = tagger.engine
    scanned = engine.scan("أسفر عن مقتل")
    from rasad.enrich.tagger_engine import _first_keyword_hits

    spans = [(h.start, h.end, h.target.payload[1]) for h in scanned.hits
             if h.target.kind == "keyword" and h.target.payload[0] == "security.attacks"]
    assert len(spans) >= 2
    assert len(_first_keyword_hits(spans)) == 1


def test_longest_keyword_wins_across_topics(tagger):
    # «العزلة الغربية» is Russia's isolation (russia_west), not the Taliban's «عزلة» (legitimacy)
    _, topics = tagger.tag("", "تسعى روسيا إلى كسر العزلة الغربية عبر التقارب مع طالبان.", "ar")
    assert "governance.legitimacy" not in topic_ids(topics)


def test_negative_entity_weight_is_counter_evidence(tagger):
    _, yemen = tagger.tag("تنظيم القاعدة يتبنى هجوماً في اليمن", "", "ar")
    _, afghan = tagger.tag("تنظيم القاعدة يحتفظ بمعسكرات تدريب في أفغانستان", "", "ar")
    assert "security.militant_groups" not in topic_ids(yemen)
    assert "security.militant_groups" in topic_ids(afghan)


def test_scoring_section_is_validated(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(PROJECT / "seeds", seeds)
    tax = seeds / "taxonomy.yaml"
    data = yaml.safe_load(tax.read_text(encoding="utf-8"))
    data["scoring"] = {"title_weight": "heavy", "lead_words": 3, "short_chars": 900, "long_chars": 100}
    tax.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, problems = load_knowledge_with_problems(seeds)
    text = "\n".join(problems)
    assert "scoring.title_weight: 'heavy' is not a float" in text
    assert "scoring: unknown key 'lead_words'" in text
    assert "long_chars must be greater than short_chars" in text


def test_scoring_section_changes_the_tagging(tmp_path):
    seeds = tmp_path / "seeds"
    shutil.copytree(PROJECT / "seeds", seeds)
    tax = seeds / "taxonomy.yaml"
    data = yaml.safe_load(tax.read_text(encoding="utf-8"))
    headline = "الولايات المتحدة تفرض عقوبات على طالبان"
    data["scoring"] = dict(data["scoring"], title_weight=1.0, short_factor=1.0)
    tax.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    strict = Tagger(seeds)
    assert strict.knowledge.scoring.short_factor == 1.0
    assert "economy.sanctions_assets" not in topic_ids(strict.tag(headline, "", "ar")[1])
    assert "economy.sanctions_assets" in topic_ids(get_tagger().tag(headline, "", "ar")[1])


def test_a_keyword_that_is_the_entity_mention_counts_once(tagger):
    # «واشنطن» is both a us_policy keyword and the washington entity: one piece of evidence
    _, topics = tagger.tag("واشنطن تتهم طالبان بخرق الاتفاق", "", "ar")
    assert "geopolitics.us_policy" not in topic_ids(topics)
    _, topics = tagger.tag("إدارة ترامب تبحث فتح قناة اتصال مع طالبان", "", "ar")
    assert "geopolitics.us_policy" in topic_ids(topics)


def test_weighted_keywords_are_parsed_and_checked():
    from rasad.enrich.knowledge import parse_topics

    problems: list[str] = []
    topics = parse_topics({"topics": [{
        "id": "t.x", "parent": "t", "label": "x", "label_ar": "س", "description": "d",
        "rules": {"keywords": {"ar": ["شراكة", {"text": "وفد*", "weight": 0.5}, {"text": "زيارة", "weight": "much"}]}},
    }]}, problems)
    rule = topics["t.x"].rule
    assert rule.keywords == ["شراكه", "وفد*"] and rule.keyword_weights == {"وفد*": 0.5}
    assert any("'زيارة' has a weight that is not a number" in p for p in problems)


def test_a_generic_keyword_needs_a_partner(tagger):
    # a delegation alone is not rapprochement; a delegation sent to deepen relations is
    _, alone = tagger.tag("وفد من طالبان يصل إلى موسكو", "", "ar")
    _, with_partner = tagger.tag("وفد من طالبان يصل إلى موسكو لتعزيز العلاقات الثنائية", "", "ar")
    assert "diplomacy.rapprochement" not in topic_ids(alone)
    assert "diplomacy.rapprochement" in topic_ids(with_partner)
