"""Kibana saved objects for Rasad: generated here, kept as NDJSON in ``kibana/``, imported over HTTP.

``python -m rasad.indexing.kibana`` regenerates ``kibana/rasad.ndjson`` from the seeds (one saved
search per taxonomy topic, one "top entities" panel per entity type), so the dashboard
follows the seeds instead of drifting from them. ``rasad kibana import`` loads the file
through Kibana's saved-objects API. ``referenced_fields`` lists every field a saved object
uses and how (time field, aggregation, column, sort, query): the tests check each against
the real index mapping.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rasad.core.settings import Settings
from rasad.core.shipped import shipped

KIBANA_DIR = shipped("kibana")
NDJSON_FILE = KIBANA_DIR / "rasad.ndjson"
DEFAULT_PREFIX = "rasad"  # the prefix the NDJSON is written with; import rewrites it
DASHBOARD_ID = "rasad-overview"
# (data view id, index kind, time field or None). Feeds carry current state, not events in
# time, so their data view has no time field: a feed silent for a month must still show.
DATA_VIEWS = [
    ("rasad-articles", "articles", "timestamp"),
    ("rasad-events", "events", "first_seen"),
    ("rasad-alerts", "alerts", "created_at"),
    ("rasad-feeds", "feeds", None),
]
# Migration versions of the saved-object formats written here (Kibana migrates them forward).
MIGRATION = {"index-pattern": "8.0.0", "search": "8.0.0", "lens": "8.9.0", "dashboard": "8.9.0"}
CORE_MIGRATION = "8.8.0"
RECORDS = "___records___"  # Lens's pseudo-field for "count of documents"


class KibanaError(RuntimeError):
    """Kibana could not be reached or refused the import (the message says what to do)."""


# --------------------------------------------------------------------------- building blocks


def _obj(type_: str, id_: str, attributes: dict, references: list[dict] | None = None) -> dict:
    return {
        "type": type_, "id": id_, "attributes": attributes, "references": references or [],
        "managed": False, "coreMigrationVersion": CORE_MIGRATION, "typeMigrationVersion": MIGRATION[type_],
    }  # fmt: skip


def data_view(id_: str, title: str, time_field: str | None, name: str) -> dict:
    """A data view (saved object type ``index-pattern``) over one alias."""
    attrs: dict[str, Any] = {"title": title, "name": name, "allowNoIndex": True}
    if time_field:
        attrs["timeFieldName"] = time_field
    return _obj("index-pattern", id_, attrs)


def saved_search(id_: str, title: str, view: str, columns: list[str], sort: list[list[str]], kuery: str = "",
                 description: str = "") -> dict:  # fmt: skip
    """A Discover saved search on one data view."""
    source = {"query": {"query": kuery, "language": "kuery"}, "filter": [],
              "indexRefName": "kibanaSavedObjectMeta.searchSourceJSON.index"}  # fmt: skip
    attrs = {
        "title": title, "description": description, "columns": columns, "sort": sort, "grid": {},
        "hideChart": False, "isTextBasedQuery": False,
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(source, ensure_ascii=False)},
    }  # fmt: skip
    ref = {"name": "kibanaSavedObjectMeta.searchSourceJSON.index", "type": "index-pattern", "id": view}
    return _obj("search", id_, attrs, [ref])


def col_count(label: str = "Count") -> dict:
    """Lens column: number of documents."""
    return {"label": label, "dataType": "number", "operationType": "count", "sourceField": RECORDS,
            "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}  # fmt: skip


def col_sum(field: str, label: str) -> dict:
    """Lens column: sum of a numeric field."""
    return {"label": label, "dataType": "number", "operationType": "sum", "sourceField": field,
            "isBucketed": False, "scale": "ratio", "params": {"emptyAsNull": True}}  # fmt: skip


def col_date(field: str, label: str) -> dict:
    """Lens column: date histogram on a date field."""
    return {"label": label, "dataType": "date", "operationType": "date_histogram", "sourceField": field,
            "isBucketed": True, "scale": "interval",
            "params": {"interval": "auto", "includeEmptyRows": True, "dropPartials": False}}  # fmt: skip


def col_terms(field: str, label: str, order_by: str, size: int = 10, data_type: str = "string") -> dict:
    """Lens column: top values of a keyword field."""
    return {"label": label, "dataType": data_type, "operationType": "terms", "sourceField": field,
            "isBucketed": True, "scale": "ordinal",
            "params": {"size": size, "orderBy": {"type": "column", "columnId": order_by}, "orderDirection": "desc",
                       "otherBucket": True, "missingBucket": False, "parentFormat": {"id": "terms"}}}  # fmt: skip


def lens(id_: str, title: str, view: str, vis_type: str, columns: dict[str, dict], visualization: dict,
         description: str = "") -> dict:  # fmt: skip
    """A Lens visualization with one layer ``l1`` over ``view``."""
    layer = {"columns": columns, "columnOrder": list(columns), "incompleteColumns": {}, "sampling": 1}
    state = {
        "datasourceStates": {"formBased": {"layers": {"l1": layer}}},
        "visualization": visualization, "query": {"query": "", "language": "kuery"}, "filters": [],
        "internalReferences": [], "adHocDataViews": {},
    }  # fmt: skip
    attrs = {"title": title, "description": description, "visualizationType": vis_type, "state": state}
    ref = {"type": "index-pattern", "id": view, "name": "indexpattern-datasource-layer-l1"}
    return _obj("lens", id_, attrs, [ref])


def xy(series: str, x: str, y: list[str], split: str | None = None) -> dict:
    """Lens XY visualization state for layer ``l1``."""
    layer = {"layerId": "l1", "layerType": "data", "seriesType": series, "xAccessor": x, "accessors": y,
             "position": "top", "showGridlines": False}  # fmt: skip
    if split:
        layer["splitAccessor"] = split
    return {"legend": {"isVisible": True, "position": "right"}, "valueLabels": "hide",
            "preferredSeriesType": series, "layers": [layer]}  # fmt: skip


def pie(group: str, metric: str) -> dict:
    """Lens donut state for layer ``l1``."""
    return {"shape": "donut", "layers": [{"layerId": "l1", "layerType": "data", "primaryGroups": [group],
            "metrics": [metric], "numberDisplay": "percent", "categoryDisplay": "default",
            "legendDisplay": "default", "nestedLegend": False}]}  # fmt: skip


def dashboard(id_: str, title: str, panels: list[tuple[str, str, int, int]], description: str = "") -> dict:
    """A dashboard of saved objects by reference; ``panels`` are (type, id, width, height) laid out in rows."""
    out, refs, x, y, row_h = [], [], 0, 0, 0
    for i, (ptype, pid, w, h) in enumerate(panels, 1):
        if x + w > 48:
            x, y, row_h = 0, y + row_h, 0
        key = f"p{i}"
        out.append({"type": ptype, "panelIndex": key, "gridData": {"x": x, "y": y, "w": w, "h": h, "i": key},
                    "embeddableConfig": {"enhancements": {}}, "panelRefName": f"panel_{key}"})  # fmt: skip
        refs.append({"name": f"{key}:panel_{key}", "type": ptype, "id": pid})
        x, row_h = x + w, max(row_h, h)
    attrs = {
        "title": title, "description": description, "timeRestore": True, "timeFrom": "now-7d", "timeTo": "now",
        "refreshInterval": {"pause": False, "value": 300000},
        "panelsJSON": json.dumps(out, ensure_ascii=False),
        "optionsJSON": json.dumps({"useMargins": True, "syncColors": True, "syncCursor": True,
                                   "syncTooltips": False, "hidePanelTitles": False}),
        "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps({"query": {"query": "", "language": "kuery"},
                                                                  "filter": []})},
    }  # fmt: skip
    return _obj("dashboard", id_, attrs, refs)


# --------------------------------------------------------------------------- the Rasad objects


def load_topics(seeds_dir: Path) -> list[dict]:
    """Topics (id, label, label_ar, parent) from ``seeds/taxonomy.yaml``, in file order."""
    path = seeds_dir / "taxonomy.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [t for t in data.get("topics") or [] if isinstance(t, dict) and t.get("id")]


def load_entity_types(seeds_dir: Path) -> list[str]:
    """Distinct entity types in ``seeds/entities.yaml`` (lower-case, as articles store them)."""
    data = yaml.safe_load((seeds_dir / "entities.yaml").read_text(encoding="utf-8")) or {}
    return sorted({str(e["type"]).lower() for e in data.get("entities") or [] if isinstance(e, dict) and e.get("type")})


def topic_kuery(topic_id: str, has_children: bool) -> str:
    """KQL selecting articles tagged with a topic (and its sub-topics for a parent)."""
    q = f'topic_ids : "{topic_id}"'
    return f"{q} or topic_ids : {topic_id}.*" if has_children else q


def build_objects(seeds_dir: Path, prefix: str = DEFAULT_PREFIX) -> list[dict]:
    """Every saved object: data views, saved searches, Lens panels and the overview dashboard."""
    objs = [data_view(vid, f"{prefix}-{kind}", tf, f"Rasad {kind}") for vid, kind, tf in DATA_VIEWS]
    article_cols = ["title", "source", "language", "topic_ids", "entity_ids", "url"]
    objs.append(saved_search("rasad-search-articles", "Rasad: all articles", "rasad-articles", article_cols,
                             [["timestamp", "desc"]]))  # fmt: skip
    topics = load_topics(seeds_dir)
    parents = {t.get("parent") for t in topics if t.get("parent")}
    for t in topics:
        title = f"Rasad topic: {t.get('label', t['id'])}" + (f" — {t['label_ar']}" if t.get("label_ar") else "")
        objs.append(saved_search(f"rasad-topic-{t['id']}", title, "rasad-articles", article_cols,
                                 [["timestamp", "desc"]], topic_kuery(t["id"], t["id"] in parents),
                                 description=str(t.get("description", ""))))  # fmt: skip
    objs.append(saved_search(
        "rasad-search-events", "Rasad: events", "rasad-events",
        ["title", "article_count", "source_count", "sources", "languages", "topic_ids", "signals"],
        [["last_seen", "desc"]]))  # fmt: skip
    objs.append(saved_search(
        "rasad-search-feed-health", "Rasad: feed health", "rasad-feeds",
        ["feed_id", "health", "consecutive_failures", "last_success", "last_polled", "last_error_kind", "next_poll"],
        [["consecutive_failures", "desc"]]))  # fmt: skip
    objs.append(saved_search(
        "rasad-search-deadletter-alerts", "Rasad: alerts not sent", "rasad-alerts",
        ["rule", "status", "attempts", "last_error", "subject"], [["created_at", "desc"]],
        'status : "failed" or status : "pending"'))  # fmt: skip
    panels: list[tuple[str, str, int, int]] = []

    def add(obj: dict, w: int, h: int) -> None:
        objs.append(obj)
        panels.append((obj["type"], obj["id"], w, h))

    add(lens("rasad-articles-by-topic", "Articles over time by topic", "rasad-articles", "lnsXY",
             {"topic": col_terms("topic_ids", "Topic", "n", 10), "date": col_date("timestamp", "Time"),
              "n": col_count("Articles")}, xy("bar_stacked", "date", ["n"], "topic")), 48, 15)  # fmt: skip
    for etype in load_entity_types(seeds_dir):
        add(lens(f"rasad-top-entities-{etype}", f"Top entities: {etype}", "rasad-articles", "lnsXY",
                 {"ent": col_terms(f"entities_by_type.{etype}", etype.capitalize(), "n", 10),
                  "n": col_count("Articles")}, xy("bar_horizontal", "ent", ["n"])), 16, 12)  # fmt: skip
    add(lens("rasad-sources", "Articles by source", "rasad-articles", "lnsXY",
             {"src": col_terms("source", "Source", "n", 15), "n": col_count("Articles")},
             xy("bar_horizontal", "src", ["n"])), 24, 14)  # fmt: skip
    add(lens("rasad-languages", "Articles by language", "rasad-articles", "lnsPie",
             {"lang": col_terms("language", "Language", "n", 8), "n": col_count("Articles")}, pie("lang", "n")),
        24, 14)  # fmt: skip
    add(lens("rasad-events-timeline", "Events timeline", "rasad-events", "lnsXY",
             {"date": col_date("first_seen", "First seen"), "events": col_count("New events"),
              "articles": col_sum("article_count", "Articles in them")},
             xy("line", "date", ["events", "articles"])), 24, 14)  # fmt: skip
    add(lens("rasad-alerts-sent", "Alerts by status", "rasad-alerts", "lnsXY",
             {"status": col_terms("status", "Status", "n", 5), "date": col_date("created_at", "Created"),
              "n": col_count("Alerts")}, xy("bar_stacked", "date", ["n"], "status")), 24, 14)  # fmt: skip
    add(lens("rasad-feed-health", "Feeds by health", "rasad-feeds", "lnsPie",
             {"health": col_terms("health", "Health", "n", 10), "n": col_count("Feeds")}, pie("health", "n")),
        16, 14)  # fmt: skip
    panels.append(("search", "rasad-search-feed-health", 32, 14))
    panels.append(("search", "rasad-search-events", 48, 14))
    objs.append(dashboard(DASHBOARD_ID, "Rasad overview", panels,
                          "Articles by topic, entities, sources and languages; events; alerts; feed health."))  # fmt: skip
    return objs


def to_ndjson(objects: Iterable[dict]) -> str:
    """One saved object per line (Kibana's export/import format)."""
    return "".join(json.dumps(o, ensure_ascii=False, sort_keys=True) + "\n" for o in objects)


def read_ndjson(path: Path = NDJSON_FILE) -> list[dict]:
    """Saved objects from an NDJSON file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def with_prefix(objects: list[dict], prefix: str) -> list[dict]:
    """The objects with data view titles rewritten for another index prefix."""
    if prefix == DEFAULT_PREFIX:
        return objects
    out = json.loads(json.dumps(objects))
    for o in out:
        if o["type"] == "index-pattern":
            o["attributes"]["title"] = re.sub(rf"^{DEFAULT_PREFIX}-", f"{prefix}-", o["attributes"]["title"])
    return out


# --------------------------------------------------------------------------- field references


@dataclass(frozen=True)
class FieldUse:
    object_id: str
    data_view: str
    field: str
    use: str  # time | date_histogram | aggregate | column | sort | query


_KQL_FIELD_RE = re.compile(r"([A-Za-z_@][\w.@]*)\s*:")


def referenced_fields(objects: list[dict]) -> list[FieldUse]:
    """Every field the saved objects use, with the data view and the use it is put to."""
    uses: list[FieldUse] = []
    for o in objects:
        a, refs = o["attributes"], {r["name"]: r["id"] for r in o.get("references", [])}
        if o["type"] == "index-pattern" and a.get("timeFieldName"):
            uses.append(FieldUse(o["id"], o["id"], a["timeFieldName"], "time"))
        elif o["type"] == "search":
            view = refs["kibanaSavedObjectMeta.searchSourceJSON.index"]
            uses += [FieldUse(o["id"], view, c, "column") for c in a.get("columns", [])]
            uses += [FieldUse(o["id"], view, s[0], "sort") for s in a.get("sort", [])]
            query = json.loads(a["kibanaSavedObjectMeta"]["searchSourceJSON"])["query"]["query"]
            uses += [FieldUse(o["id"], view, f, "query") for f in _KQL_FIELD_RE.findall(query)]
        elif o["type"] == "lens":
            for layer_id, layer in a["state"]["datasourceStates"]["formBased"]["layers"].items():
                view = refs[f"indexpattern-datasource-layer-{layer_id}"]
                for col in layer["columns"].values():
                    if col.get("sourceField") in (None, RECORDS):
                        continue
                    use = "date_histogram" if col["operationType"] == "date_histogram" else "aggregate"
                    uses.append(FieldUse(o["id"], view, col["sourceField"], use))
    return uses


# --------------------------------------------------------------------------- import


def import_objects(url: str, ndjson: str, user: str | None = None, password: str | None = None,
                   timeout: float = 30.0) -> dict:  # fmt: skip
    """POST the NDJSON to Kibana's saved-objects import API (overwrite); returns Kibana's reply."""
    import urllib3  # noqa: PLC0415

    body, content_type = urllib3.encode_multipart_formdata(
        {"file": ("rasad.ndjson", ndjson.encode("utf-8"), "application/ndjson")}
    )
    headers = {"kbn-xsrf": "rasad", "Content-Type": content_type}
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    endpoint = url.rstrip("/") + "/api/saved_objects/_import?overwrite=true"
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=timeout), retries=False)
    try:
        resp = http.request("POST", endpoint, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as e:
        raise KibanaError(f"Kibana is not reachable at {url} ({type(e).__name__}: {e}). Is it running? "
                          "With the docker-compose stack: `docker compose up -d kibana`; "
                          "elsewhere pass --url or set RASAD_KIBANA_URL.") from None  # fmt: skip
    text = resp.data.decode("utf-8", "replace")
    if resp.status in (401, 403):
        raise KibanaError(f"Kibana at {url} refused the credentials (HTTP {resp.status}); "
                          "set RASAD_ES_USER and RASAD_ES_PASSWORD")  # fmt: skip
    if resp.status >= 400:
        raise KibanaError(f"Kibana at {url} answered HTTP {resp.status}: {text[:500]}")
    try:
        reply = json.loads(text)
    except ValueError:
        raise KibanaError(f"{url} did not answer like Kibana (HTTP {resp.status}): {text[:200]}") from None
    if not reply.get("success", False):
        errors = "; ".join(f"{e.get('type')}/{e.get('id')}: {e.get('error', {}).get('type')}"
                           for e in reply.get("errors", [])[:10])  # fmt: skip
        raise KibanaError(f"Kibana imported {reply.get('successCount', 0)} object(s) but refused some: {errors}")
    return reply


def import_saved_objects(settings: Settings, url: str | None = None, folder: Path = KIBANA_DIR) -> dict:
    """Load every ``kibana/*.ndjson`` file into Kibana (data view titles use the configured prefix)."""
    files = sorted(folder.glob("*.ndjson"))
    if not files:
        raise KibanaError(f"no *.ndjson files in {folder}")
    count, names = 0, []
    for f in files:
        objects = with_prefix(read_ndjson(f), settings.index_prefix)
        reply = import_objects(url or settings.kibana_url, to_ndjson(objects), settings.es_user, settings.es_password)
        count += reply.get("successCount", 0)
        names.append(f.name)
    return {"successCount": count, "files": names}


def main() -> None:
    """Regenerate ``kibana/rasad.ndjson`` from the seeds."""
    from rasad.core.settings import load_settings  # noqa: PLC0415

    s = load_settings()
    objects = build_objects(s.path(s.seeds_dir))
    KIBANA_DIR.mkdir(exist_ok=True)
    NDJSON_FILE.write_text(to_ndjson(objects), encoding="utf-8")
    print(f"wrote {len(objects)} saved objects to {NDJSON_FILE}")


if __name__ == "__main__":
    main()
