"""Index templates on the real node: idempotent, versioned, analyzer choice visible."""

from __future__ import annotations

import json

import pytest

from rasad.core.es import replica_count, single_index
from rasad.core.settings import SettingsError
from rasad.indexing.setup import (
    KINDS,
    SetupError,
    describe_analyzers,
    load_template,
    render_template,
    setup_indices,
)


def _snapshot(es, settings) -> tuple[dict, dict]:
    templates = {k: es.indices.get_index_template(name=settings.index(k))["index_templates"][0]["index_template"]
                 for k in KINDS}  # fmt: skip
    mappings = dict(es.indices.get_mapping(index=f"{settings.index_prefix}-*"))
    return templates, mappings


def test_setup_twice_changes_nothing(es, settings):
    first = setup_indices(es, settings)
    assert sorted(first.templates_changed) == sorted(settings.index(k) for k in KINDS)
    assert single_index(settings, "deadletter") in first.indices_created
    assert any(i.startswith(settings.index("articles") + "-") for i in first.indices_created)
    before = _snapshot(es, settings)

    second = setup_indices(es, settings)
    assert second.templates_changed == [] and second.indices_created == [] and second.mappings_updated == []
    assert sorted(second.templates_unchanged) == sorted(settings.index(k) for k in KINDS)
    assert _snapshot(es, settings) == before


def test_analyzer_choice_is_recorded_and_matches_the_cluster(es, settings):
    rep = setup_indices(es, settings)
    try:
        es.indices.analyze(analyzer="arabic", text="x")
        cluster_has_arabic = True
    except Exception:
        cluster_has_arabic = False
    assert ("arabic" in rep.analyzers) == cluster_has_arabic
    assert rep.analyzer_choice == describe_analyzers(rep.analyzers)
    tpl = es.indices.get_index_template(name=settings.index("articles"))["index_templates"][0]["index_template"]
    assert ("arabic" in tpl["_meta"]["analyzers"]) == cluster_has_arabic
    idx = next(iter(es.indices.get_mapping(index=settings.index("articles")).values()))
    props = idx["mappings"]["properties"]
    assert ("arabic" in props["text"].get("fields", {})) == cluster_has_arabic
    assert props["text_search"]["analyzer"] == "standard" and props["title_search"]["analyzer"] == "standard"
    assert idx["mappings"]["_meta"]["analyzers"] == tpl["_meta"]["analyzers"]


def test_rendered_template_with_arabic_adds_subfields(settings):
    tpl = render_template("articles", settings, {"arabic": "arabic"})
    props = tpl["template"]["mappings"]["properties"]
    assert props["title"]["fields"]["arabic"] == {"type": "text", "analyzer": "arabic"}
    assert props["text"]["fields"]["arabic"]["analyzer"] == "arabic"
    assert tpl["_meta"]["analyzers"] == {"arabic": "arabic"}
    plain = render_template("articles", settings, {})
    assert plain["_meta"]["rasad_hash"] != tpl["_meta"]["rasad_hash"]


def test_upgrade_adds_new_fields_to_existing_indices(es, settings):
    # An older release's template: version 1, without the fields this release added.
    old = load_template("articles", settings.index_prefix)
    old["version"] = 1
    for name in ("timestamp", "summary_search"):
        old["template"]["mappings"]["properties"].pop(name)
    es.indices.put_index_template(name=settings.index("articles"), **old)
    index = settings.index("articles") + "-2024.01"
    es.indices.create(index=index)
    assert "timestamp" not in es.indices.get_mapping(index=index)[index]["mappings"]["properties"]

    rep = setup_indices(es, settings)
    assert settings.index("articles") in rep.templates_changed
    assert index in rep.mappings_updated
    props = es.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert props["timestamp"] == {"type": "date"}
    assert props["summary_search"]["type"] == "text"
    assert setup_indices(es, settings).mappings_updated == []


def test_newer_template_on_cluster_is_not_downgraded(es, settings):
    newer = load_template("feeds", settings.index_prefix)
    newer["version"] = 999
    es.indices.put_index_template(name=settings.index("feeds"), **newer)
    rep = setup_indices(es, settings)
    assert settings.index("feeds") not in rep.templates_changed
    assert any("newer than ours" in w for w in rep.warnings)
    got = es.indices.get_index_template(name=settings.index("feeds"))["index_templates"][0]["index_template"]
    assert got["version"] == 999


def test_template_files_are_valid_and_strict():
    for kind in KINDS:
        tpl = load_template(kind, "x")
        assert tpl["template"]["mappings"]["dynamic"] == "strict", kind
        assert isinstance(tpl["version"], int)
        assert tpl["index_patterns"] == [f"x-{kind}-*"]
        json.dumps(tpl)


def _replicas(es, pattern: str) -> dict[str, int]:
    found = es.indices.get_settings(index=pattern, name="index.number_of_replicas", flat_settings=True)
    return {ix: int(b["settings"]["index.number_of_replicas"]) for ix, b in found.items()}


def test_shards_and_replicas_come_from_settings(es, settings):
    data_nodes = es.cluster.health()["number_of_data_nodes"]
    auto = setup_indices(es, settings)
    # auto: no replica on one data node (it could never be placed), one on a cluster.
    assert auto.replicas == (1 if data_nodes > 1 else 0)
    assert set(_replicas(es, f"{settings.index_prefix}-*").values()) == {auto.replicas}

    two = settings.replace(es_replicas="2", es_shards=3)
    tpl = render_template("articles", two, {}, replica_count(es, two))
    assert tpl["template"]["settings"]["number_of_shards"] == 3
    assert tpl["template"]["settings"]["number_of_replicas"] == 2
    assert render_template("events", two, {}, 2)["template"]["settings"]["number_of_shards"] == 1  # small kinds: 1
    rep = setup_indices(es, two)
    assert rep.replicas == 2 and sorted(rep.replicas_updated) == sorted(_replicas(es, f"{settings.index_prefix}-*"))
    assert set(_replicas(es, f"{settings.index_prefix}-*").values()) == {2}
    # A month index created from the new template gets both.
    es.indices.create(index=f"{settings.index('articles')}-2020.01")
    got = es.indices.get_settings(index=f"{settings.index('articles')}-2020.01", flat_settings=True)
    assert next(iter(got.values()))["settings"]["index.number_of_shards"] == "3"

    # auto never lowers what is there (a node down for a moment must not strip every copy) ...
    assert setup_indices(es, settings).replicas_updated == []
    assert set(_replicas(es, f"{settings.index_prefix}-*").values()) == {2}
    # ... a configured number is applied as it is.
    back = setup_indices(es, settings.replace(es_replicas="0"))
    assert back.replicas_updated and set(_replicas(es, f"{settings.index_prefix}-*").values()) == {0}


def test_bad_replica_or_shard_settings_are_named(es, settings):
    with pytest.raises(SettingsError, match="es_replicas = 'many'"):
        replica_count(es, settings.replace(es_replicas="many"))
    with pytest.raises(SetupError, match="es_shards = 0"):
        render_template("articles", settings.replace(es_shards=0), {})
