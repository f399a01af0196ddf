"""Re-tagging stored articles in place from their stored text (the real tagger, the real node)."""

from __future__ import annotations

import argparse
import json

from rasad.indexing.bulk import index_articles
from rasad.indexing.cli_index import add_index_parsers
from rasad.indexing.retag import retag_articles
from rasad.indexing.setup import setup_indices


def _stored(es, settings) -> dict[str, dict]:
    es.indices.refresh(index=settings.index("articles"))
    res = es.search(index=settings.index("articles"), size=100, seq_no_primary_term=True)
    return {h["_id"]: {**h["_source"], "_index": h["_index"], "_seq_no": h["_seq_no"]} for h in res["hits"]["hits"]}


def test_retag_updates_tags_in_place_and_nothing_else(es, settings, seeds):
    setup_indices(es, settings)
    index_articles(es, settings, seeds)  # stored untagged, as if the seeds had been empty
    before = _stored(es, settings)
    assert all(not d["topic_ids"] and not d["entity_ids"] for d in before.values())

    rep = retag_articles(es, settings, progress=False)
    assert rep.retagged == 5 and rep.failed == 0 and rep.changed >= 4
    after = _stored(es, settings)
    assert set(after) == set(before)  # same ids, no new documents
    assert es.count(index=settings.index("articles"))["count"] == 5
    assert sum(1 for d in after.values() if "taliban" in d["entity_ids"]) >= 4
    assert any(d["topic_ids"] for d in after.values())
    for i, d in after.items():
        b = before[i]
        assert d["_index"] == b["_index"] and d["_seq_no"] > b["_seq_no"]
        assert d["tagger_version"] == rep.tagger_version
        for k in ("title", "text", "title_search", "text_search", "indexed_at", "fetched_at", "timestamp", "url"):
            assert d[k] == b[k], k
        by_type = {e["type"] for e in d["entities"]}
        assert set(d["entities_by_type"]) == by_type

    again = retag_articles(es, settings, progress=False)
    assert again.retagged == 0 and again.skipped_current == 5
    forced = retag_articles(es, settings, force=True, progress=False)
    assert forced.retagged == 5 and forced.changed == 0


def test_retag_since_and_cli(es, settings, seeds, capsys):
    setup_indices(es, settings)
    index_articles(es, settings, seeds)  # published 2025-05-01 .. 05
    p = argparse.ArgumentParser(prog="rasad")
    add_index_parsers(p.add_subparsers(dest="command", required=True))
    args = p.parse_args(["retag", "--since", "2025-05-04", "--json"])
    assert args.func(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["retagged"] == 2 and out["failed"] == 0
