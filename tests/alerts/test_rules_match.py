"""Rules validation and matching (pure logic; keywords through the tagger's real KeywordMatcher)."""

from __future__ import annotations

import textwrap

from rasad.alerts.match import match_article, match_signal
from rasad.alerts.rules import load_rules, validate_rules
from rasad.core.records import EntityTag, Mention, TopicTag
from tests.alerts.conftest import make_article


def one(text: str):
    rules, problems = validate_rules(textwrap.dedent(text))
    assert problems == [], problems
    return rules[0]


def problems_of(text: str) -> list[str]:
    return validate_rules(textwrap.dedent(text), "r.yaml")[1]


def test_keywords_are_normalised_and_clitic_aware_like_the_tagger():
    rule = one("""
        rules:
          - name: t
            keywords: [طالبان, "Islamic State Khorasan"]
            recipients: [a@example.org]
    """)
    for title in (
        "وفد لطالبان في موسكو",
        "وطالبان ترحب",
        "حركة «طالبان»",
        "Talks with the ISLAMIC STATE  KHORASAN",
    ):
        assert match_article(rule, make_article(title)) is not None, title
    for title in ("النواب يطالبان بالتحقيق", "طالب جامعي", "Islamic State"):
        assert match_article(rule, make_article(title)) is None, title
    m = match_article(rule, make_article("خبر", "قالت الحركة إن وفداً لطالبان وصل"))
    assert m is not None and [(h.field, h.text) for h in m.highlights] == [("text", "طالبان")]


def test_any_all_none_languages_sources_and_min_relevance():
    rule = one("""
        rules:
          - name: t
            keywords: {any: [طالبان, Taliban], all: [موسكو], none: [كرة القدم]}
            languages: [ar]
            sources: [feed-a]
            topics: [diplomacy.recognition]
            min_relevance: 0.5
            recipients: [a@example.org]
    """)
    topic = [
        TopicTag("diplomacy.recognition", "Recognition", 0.8, "الاعتراف", [Mention("title", 0, 5, "موسكو")])
    ]
    good = make_article("موسكو تعترف بطالبان", topics=topic)
    m = match_article(rule, good)
    assert m is not None
    assert m.reasons == ["keyword «موسكو»", "keyword «طالبان»", "topic Recognition (0.80)"]
    assert m.reasons_ar == ["كلمة «موسكو»", "كلمة «طالبان»", "موضوع الاعتراف (0.80)"]
    assert match_article(rule, make_article("موسكو تعترف بطالبان")) is None  # no topic
    assert (
        match_article(
            rule, make_article("موسكو تعترف بطالبان", topics=[TopicTag("diplomacy.recognition", "R", 0.4)])
        )
        is None
    )  # below min_relevance
    assert match_article(rule, make_article("طالبان تعترف", topics=topic)) is None  # all: موسكو missing
    assert match_article(rule, make_article("موسكو وطالبان وكرة القدم", topics=topic)) is None  # none
    assert match_article(rule, make_article("موسكو وطالبان", topics=topic, lang="en")) is None  # language
    assert match_article(rule, make_article("موسكو وطالبان", topics=topic, feed="feed-b", source="B")) is None


def test_stale_tagger_offsets_are_not_highlighted():
    rule = one("""
        rules:
          - name: t
            entities: [taliban]
            recipients: [a@example.org]
    """)
    ent = EntityTag(
        "taliban",
        "group",
        "Taliban",
        "طالبان",
        [Mention("title", 0, 6, "طالبان"), Mention("title", 3, 9, "طالبان"), Mention("text", 0, 99, "x")],
    )
    m = match_article(rule, make_article("طالبان في موسكو", entities=[ent]))
    assert m is not None and [(h.start, h.end) for h in m.highlights] == [(0, 6)]


def test_event_rules_match_signals_of_their_kind_by_topic_or_entity():
    rule = one("""
        rules:
          - name: e
            kind: confirmed_event
            topics: [security.attacks]
            entities: [isis_k]
            recipients: [a@example.org]
    """)
    sig = {
        "id": "ev1:confirmed",
        "kind": "confirmed",
        "topic_ids": ["security.attacks"],
        "entity_ids": ["isis_k"],
    }
    assert match_signal(rule, sig) == ["topic Terrorist attacks", "entity Islamic State Khorasan Province"]  # names from the seeds
    assert match_signal(rule, {**sig, "kind": "new"}) is None
    assert match_signal(rule, {**sig, "entity_ids": [], "entity_id": "isis_k"}) is not None
    assert match_signal(rule, {**sig, "topic_ids": ["economy"]}) is None
    assert match_article(rule, make_article("طالبان")) is None


def test_validation_messages_name_file_line_and_field():
    probs = problems_of("""
        rules:
          - name: a
            keywords: ["«»", ok]
            recipients: a@example.org
            mode: hourly
            throttle_per_hour: 3
            send_at: "25:00"
            snooze_until: next week
            enabled: "yes"
            colour: red
          - name: a
            kind: new_event
            keywords: [x]
            recipients: [b@example.org]
    """)
    text = "\n".join(probs)
    assert "r.yaml:4: rules[0].keywords: keywords.any: ['«»'] contain no letters or digits" in text
    assert "r.yaml:7: rules[0].throttle_per_hour: only immediate rules are throttled" in text
    assert "r.yaml:8: rules[0].send_at: must be a local time of day HH:MM" in text
    assert "r.yaml:9: rules[0].snooze_until: 'next week' is not an ISO 8601 date or date-time" in text
    assert "r.yaml:10: rules[0].enabled: must be true or false" in text
    assert "r.yaml:11: rules[0].colour: unknown field" in text
    assert "r.yaml:12: rules[1].name: duplicate rule name 'a'" in text
    assert "r.yaml:14: rules[1].keywords: keywords is only used by kind 'articles', not new_event" in text
    assert "r.yaml:12: rules[1]: a new_event rule needs a topics or entities filter" in text
    assert problems_of("rules:\n  - name: off\n    keywords: [x]\n    recipients: [a@b.org]\n") == [
        "r.yaml:2: rules[0].name: YAML read the name as bool False: quote it"
    ]
    assert problems_of("rules: [") and problems_of("rules: 3") == [
        "r.yaml:1: expected a mapping with a 'rules:' list"
    ]


def test_snooze_and_send_at_are_read_in_the_rule_time_zone(tmp_path):
    f = tmp_path / "rules.yaml"
    f.write_text(
        textwrap.dedent("""
        rules:
          - name: a
            keywords: [x]
            recipients: [a@example.org]
            mode: daily
            send_at: 07:30
            timezone: Asia/Riyadh
            snooze_until: 2025-11-23
          - name: paused
            keywords: [x]
            recipients: [a@example.org]
            enabled: false
    """),
        encoding="utf-8",
    )
    [rule] = load_rules(f)  # the disabled rule is left out
    assert rule.send_at == "07:30"  # unquoted 07:30 is YAML 1.1 sexagesimal 450: read back as a time
    assert rule.snooze_until == "2025-11-22T21:00:00Z"  # midnight in Riyadh
