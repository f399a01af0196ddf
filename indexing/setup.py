"""Install the index templates (data files in ``indexing/templates/``) and create the indices.

Idempotent: a template whose stored ``version`` equals ours is left alone; a newer one
is put (templates apply to indices created later, and new fields are also added to the
existing indices with put-mapping, which only ever adds). Which analyzer the full-text
fields use is decided here: the ``arabic`` analyzer where the cluster has it (the full
distribution), otherwise only the Python-normalised ``*_search`` fields (the local
integ-test node, which lacks analysis-common). The choice is logged and stored in each
template's ``_meta``.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from elasticsearch import ApiError, BadRequestError, Elasticsearch

from rasad.es import single_index
from rasad.settings import Settings

log = logging.getLogger(__name__)
TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
KINDS = ("articles", "events", "alerts", "feeds", "deadletter")


@dataclass
class SetupReport:
    analyzers: dict[str, str] = field(default_factory=dict)
    templates_changed: list[str] = field(default_factory=list)
    indices_created: list[str] = field(default_factory=list)
    mappings_updated: list[str] = field(default_factory=list)


def load_template(kind: str, prefix: str) -> dict:
    """A template file with ``{prefix}`` substituted."""
    raw = (TEMPLATE_DIR / f"{kind}.json").read_text(encoding="utf-8").replace("{prefix}", prefix)
    data = json.loads(raw)
    data.pop("_comment", None)
    return data


def has_analyzer(es: Elasticsearch, name: str) -> bool:
    """Whether the cluster knows a built-in analyzer (the local node lacks 'arabic')."""
    try:
        es.indices.analyze(analyzer=name, text="test")
        return True
    except BadRequestError:
        return False


def _with_language_fields(tpl: dict, analyzers: dict[str, str]) -> dict:
    tpl = copy.deepcopy(tpl)
    props = tpl["template"]["mappings"]["properties"]
    for name in ("title", "text", "summary"):
        if name in props:
            fields = props[name].setdefault("fields", {})
            for lang, analyzer in analyzers.items():
                fields[lang] = {"type": "text", "analyzer": analyzer}
    meta = tpl["template"]["mappings"].setdefault("_meta", {})
    meta["analyzers"] = analyzers or {"none": "standard only (cluster lacks language analyzers)"}
    return tpl


def setup_indices(es: Elasticsearch, settings: Settings) -> SetupReport:
    """Install/upgrade templates and create missing indices; safe to run any number of times."""
    report = SetupReport()
    analyzers = {lang: lang for lang in ("arabic", "english") if has_analyzer(es, lang)}
    report.analyzers = analyzers
    log.info("full-text analyzers: %s", analyzers or "standard + Python-normalised search fields only")
    for kind in KINDS:
        tpl = load_template(kind, settings.index_prefix)
        if kind == "articles":
            tpl = _with_language_fields(tpl, analyzers)
        name = settings.index(kind)
        try:
            current = es.indices.get_index_template(name=name)["index_templates"][0]["index_template"]
        except ApiError:
            current = None
        if current is None or current.get("version") != tpl["version"] or (
            current.get("template", {}).get("mappings") != tpl["template"]["mappings"]
        ):
            es.indices.put_index_template(name=name, **tpl)
            report.templates_changed.append(name)
        # Existing indices get new fields (put-mapping only adds, never changes a type).
        existing = es.indices.get(index=f"{name}-*", allow_no_indices=True, expand_wildcards="open")
        for idx, body in existing.items():
            have = body["mappings"].get("properties", {})
            want = tpl["template"]["mappings"]["properties"]
            missing = {k: v for k, v in want.items() if k not in have}
            if missing:
                es.indices.put_mapping(index=idx, properties=missing)
                report.mappings_updated.append(idx)
        if kind != "articles":
            index = single_index(settings, kind)
            if not es.indices.exists(index=index):
                try:
                    es.indices.create(index=index)
                    report.indices_created.append(index)
                except BadRequestError as e:
                    if "resource_already_exists" not in str(e):
                        raise
    return report
