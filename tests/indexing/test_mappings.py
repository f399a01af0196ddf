"""The articles mapping stays in step with the Article record (strict mapping: a new field must be mapped)."""

from __future__ import annotations

import dataclasses

from rasad.core.records import Article
from rasad.indexing.bulk import article_action
from rasad.indexing.setup import load_template
from tests.indexing.conftest import entity_articles


def _mapped(props: dict, prefix: str = "") -> set[str]:
    out = set()
    for name, spec in props.items():
        out.add(prefix + name)
        out |= _mapped(spec.get("properties", {}), f"{prefix}{name}.")
    return out


def test_every_article_field_is_mapped(settings):
    props = load_template("articles", "x")["template"]["mappings"]["properties"]
    action = article_action(settings, entity_articles()[0])
    missing = set(action["_source"]) - set(props)
    assert not missing, f"Article fields missing from indexing/templates/articles.json: {sorted(missing)}"
    record_fields = {f.name for f in dataclasses.fields(Article)}
    assert record_fields <= set(props)


def test_every_event_field_is_mapped(settings):
    from rasad.enrich.events.cluster import Event

    props = load_template("events", "x")["template"]["mappings"]["properties"]
    ev = Event(id="e1", first_seen_s=1.7e9, last_seen_s=1.7e9 + 60, last_touch_s=0.0, titles={"ar": "عنوان"})
    from rasad.indexing.events import event_document

    doc = event_document(ev.to_doc(), "2025-05-02T10:00:00Z")
    assert set(doc) <= set(props), sorted(set(doc) - set(props))


def test_indexed_article_adds_only_entity_type_fields(es, settings):
    from rasad.indexing.bulk import index_articles
    from rasad.indexing.setup import setup_indices

    setup_indices(es, settings)
    declared = _mapped(load_template("articles", "x")["template"]["mappings"]["properties"])
    rep = index_articles(es, settings, entity_articles())
    assert rep.dead_lettered == 0 and rep.errors == []
    for index, m in es.indices.get_mapping(index=settings.index("articles")).items():
        if not index.endswith("-2025.05"):
            continue
        added = _mapped(m["mappings"]["properties"]) - declared
        assert added and all(f.startswith("entities_by_type.") for f in added), (index, added)
        types = m["mappings"]["properties"]["entities_by_type"]["properties"]
        assert all(t["type"] == "keyword" for t in types.values())
