"""Kibana saved objects: every field they use exists in the real mapping with a fitting type."""

from __future__ import annotations

import dataclasses
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
import yaml

from rasad.core.es import single_index
from rasad.indexing.bulk import index_articles
from rasad.indexing.events import index_events
from rasad.indexing.kibana import (
    DATA_VIEWS,
    NDJSON_FILE,
    KibanaError,
    build_objects,
    import_objects,
    import_saved_objects,  # fmt: skip
    read_ndjson,
    referenced_fields,
    to_ndjson,
    with_prefix,
)
from rasad.indexing.setup import setup_indices
from tests.conftest import free_port
from tests.indexing.conftest import SEEDS, entity_articles

NUMERIC = {"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float"}


def _store_one_of_each(es, settings, seeds) -> None:
    from rasad.enrich.events.cluster import Event
    from rasad.ingest.store import FeedState

    setup_indices(es, settings)
    assert index_articles(es, settings, [*seeds, *entity_articles()]).errors == []
    ev = Event(id="ev1", first_seen_s=1.746e9, last_seen_s=1.746e9 + 3600, last_touch_s=0.0, article_count=3,
               sources={"a": 1.0, "b": 2.0}, languages={"ar": 2, "en": 1},
               titles={"ar": "روسيا وطالبان", "en": "Russia and the Taliban"}, entities={"taliban": 3},
               topics={"diplomacy.rapprochement": 2}, member_ids=["x", "y", "z"], confirmed=True)  # fmt: skip
    assert index_events(es, settings, [ev.to_doc()], []).errors == []  # the pipeline's path
    es.index(index=single_index(settings, "alerts"), id="k1", refresh=True, document={
        "id": "k1", "rule": "taliban", "kind": "article", "mode": "immediate", "status": "sent",
        "recipients": ["a@example.org"], "subject": "طالبان", "article_ids": ["x"], "event_id": "ev1",
        "message_id": "<k1@rasad>", "attempts": 1, "created_at": "2025-05-02T10:00:00Z",
        "updated_at": "2025-05-02T10:01:00Z", "sent_at": "2025-05-02T10:01:00Z",
        "next_attempt_at": "2025-05-02T10:00:00Z", "payload": {"raw": "..."}})  # fmt: skip
    state = FeedState(feed_id="f1", url="https://example.org/feed", name="Example", last_polled="2025-05-02T10:00:00Z",
                      last_success="2025-05-02T10:00:00Z", next_poll="2025-05-02T10:15:00Z", health="ok")  # fmt: skip
    es.index(index=single_index(settings, "feeds"), id="f1", document=dataclasses.asdict(state), refresh=True)
    es.indices.refresh(index=f"{settings.index_prefix}-*")


def test_every_referenced_field_exists_with_a_suitable_type(es, settings, seeds):
    _store_one_of_each(es, settings, seeds)
    objects = with_prefix(read_ndjson(), settings.index_prefix)
    views = {o["id"]: o["attributes"]["title"] for o in objects if o["type"] == "index-pattern"}
    caps = {vid: es.field_caps(index=title, fields="*")["fields"] for vid, title in views.items()}
    uses = referenced_fields(objects)
    assert len(uses) > 50
    problems = []
    for u in uses:
        spec = caps[u.data_view].get(u.field)
        if not spec:
            problems.append(f"{u.object_id}: {u.field} ({u.use}) not in {views[u.data_view]}")
            continue
        types = {t for t in spec if not t.startswith("_")}
        info = next(iter(spec.values()))
        ok = {
            "time": types <= {"date", "date_nanos"},
            "date_histogram": types <= {"date", "date_nanos"} and info["aggregatable"],
            "aggregate": info["aggregatable"],
            "sort": info["aggregatable"],
            "query": info["searchable"],
            "column": True,
        }[u.use]
        if ok and u.use == "aggregate" and _operation(objects, u) == "sum":
            ok = types <= NUMERIC
        if not ok:
            problems.append(f"{u.object_id}: {u.field} is {types} {info}, unfit for {u.use}")
    assert not problems, "\n".join(problems)


def _operation(objects, use) -> str:
    o = next(o for o in objects if o["id"] == use.object_id)
    cols = o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"]["l1"]["columns"].values()
    return next(c["operationType"] for c in cols if c.get("sourceField") == use.field)


def test_ndjson_is_up_to_date_with_the_seeds():
    assert NDJSON_FILE.read_text(encoding="utf-8") == to_ndjson(build_objects(SEEDS)), (
        "kibana/rasad.ndjson is stale: run .venv/bin/python -m rasad.indexing.kibana")


def test_saved_search_per_topic_and_panels_resolve():
    objects = read_ndjson()
    by_id = {o["id"]: o for o in objects}
    topics = yaml.safe_load((SEEDS / "taxonomy.yaml").read_text(encoding="utf-8"))["topics"]
    for t in topics:
        s = by_id[f"rasad-topic-{t['id']}"]
        query = json.loads(s["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
        assert f'"{t["id"]}"' in query
    dash = by_id["rasad-overview"]
    panels = json.loads(dash["attributes"]["panelsJSON"])
    refs = {r["name"]: r for r in dash["references"]}
    assert len(panels) >= 8
    for p in panels:
        ref = refs[f"{p['panelIndex']}:{p['panelRefName']}"]
        assert ref["id"] in by_id and by_id[ref["id"]]["type"] == ref["type"] == p["type"]
        g = p["gridData"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 48
    for o in objects:
        for r in o["references"]:
            assert r["id"] in by_id, f"{o['id']} references missing {r['id']}"
    assert {vid for vid, _, _ in DATA_VIEWS} <= set(by_id)


def test_import_unreachable_kibana_is_a_clear_error():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(KibanaError, match="not reachable"):
        import_objects(url, "{}\n")


class _Recorder(BaseHTTPRequestHandler):
    seen: ClassVar[list] = []

    def do_POST(self):  # http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Recorder.seen.append((self.path, dict(self.headers), body))
        n = body.count(b'"type": ')
        reply = json.dumps({"success": True, "successCount": n, "successResults": []}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


def test_import_posts_multipart_with_xsrf_and_credentials(settings):
    server = HTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        s = settings.replace(es_user="elastic", es_password="s3cret")
        rep = import_saved_objects(s, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    path, headers, body = _Recorder.seen[-1]
    assert path == "/api/saved_objects/_import?overwrite=true"
    assert headers["kbn-xsrf"] and headers["Content-Type"].startswith("multipart/form-data; boundary=")
    assert headers["Authorization"].startswith("Basic ")
    assert b'name="file"; filename="rasad.ndjson"' in body
    assert f'"title": "{settings.index_prefix}-articles"'.encode() in body  # prefix rewritten
    assert rep["successCount"] > 0
